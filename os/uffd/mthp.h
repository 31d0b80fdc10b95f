// Large anonymous folios (mTHP): which sizes the kernel may allocate, their sysfs statistics,
// and the test that tells whether UFFDIO_MOVE keeps a covered, aligned folio whole (patched
// kernel, kernel-patches/) or splits it (stock kernels). design: .memory.mthp,
// research/kernel.md §1.3, §2.
#pragma once

#include <cstdint>

namespace uffdgc::uffd {

inline constexpr const char* kThpSysfs = "/sys/kernel/mm/transparent_hugepage";

// Bit n set: folios of (4 KiB << n) may be allocated for anonymous memory, i.e. the size's
// "enabled" is always or madvise, or inherit with the top-level setting always or madvise.
uint32_t enabled_mthp_sizes();

// The PMD size in KiB (hpage_pmd_size), 0 if THP is absent.
uint32_t pmd_size_kib();

// hugepages-<kib>kB/stats/<name> (e.g. "split", "anon_fault_alloc"); -1 when the file is
// missing. Async-signal-safe (open/read/close).
int64_t read_mthp_stat(uint32_t kib, const char* name);

struct FolioMoveTest {
  uint32_t verdict = 0;         // UFFDGC_FOLIO_MOVE_*
  uint32_t kib = 0;             // folio size used
  int64_t split_delta = -1;     // split counter delta across the MOVE
  int64_t folios_allocated = 0; // anon_fault_alloc delta while populating the source
  int error = 0;                // errno of the failing step when verdict is FAILED/BUSY
  char detail[160] = {};
};

// Picks the smallest enabled size below the PMD size and moves eight such folios in one
// UFFDIO_MOVE inside a child process, killed after timeout_ms. Needs UFFD_FEATURE_MOVE.
FolioMoveTest test_folio_move(uint32_t sizes_enabled, int timeout_ms);

}  // namespace uffdgc::uffd
