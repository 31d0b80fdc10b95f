// Page geometry. uffdgc supports 4 KiB base pages (x86_64, and arm64 with 4K pages); the
// feature probe refuses the concurrent mode if sysconf(_SC_PAGESIZE) disagrees. A constant, not
// a sysconf() call, because the installer runs in signal handlers where sysconf is not
// async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uffdgc::uffd {

inline constexpr size_t kPageSize = 4096;
inline constexpr int kPageShift = 12;

inline constexpr bool is_page_aligned(uint64_t v) { return (v & (kPageSize - 1)) == 0; }

}  // namespace uffdgc::uffd
