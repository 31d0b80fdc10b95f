// OS layer (design: .os.contract): page geometry, the one page-size constant of the project.
// uffdgc supports 4 KiB base pages (x86_64, and arm64 with 4K pages); the feature probe refuses
// the concurrent mode if sysconf(_SC_PAGESIZE) disagrees. A constant, not a sysconf() call,
// because the installer runs in signal handlers where sysconf is not async-signal-safe.
// Contract: constants and constexpr functions only; async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uffdgc::os {

inline constexpr size_t kPageSize = 4096;
inline constexpr int kPageShift = 12;

inline constexpr bool is_page_aligned(uint64_t v) { return (v & (kPageSize - 1)) == 0; }

// Rounding to a power-of-two alignment `a` (pages, frames, granules).
inline constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
inline constexpr uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

}  // namespace uffdgc::os

namespace uffdgc::uffd {
using os::is_page_aligned;
using os::kPageShift;
using os::kPageSize;
}  // namespace uffdgc::uffd
