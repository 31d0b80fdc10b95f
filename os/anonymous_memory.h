// OS layer (design: .os.contract): private anonymous mappings for side tables, zero-filled and
// reserved lazily (MAP_NORESERVE: pages that are never touched cost nothing).
// Contract: map_zeroed returns nullptr on failure (errno set by mmap); unmap accepts nullptr.
// Async-signal-safe (mmap and munmap only), though no signal handler maps tables.
#pragma once

#include <sys/mman.h>

#include <cstddef>

namespace uffdgc::os {

inline void* map_zeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

inline void unmap(void* p, size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}

}  // namespace uffdgc::os
