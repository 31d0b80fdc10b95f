// Private anonymous mappings aligned to a power of two, the shape every userfaultfd range in
// uffdgc has (design: .heap.moving: reservations are aligned so mremap moves whole PMD/PUD
// entries).
// Async-signal-safe (mmap/munmap only), so child-process probes can use it after fork.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace uffdgc::uffd {

// Returns MAP_FAILED on failure, like mmap.
inline void* map_anonymous_aligned(size_t len, size_t align, int prot = PROT_READ | PROT_WRITE) {
  const size_t span = len + align;
  void* raw = mmap(nullptr, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return MAP_FAILED;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = start + span;
  if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
  return reinterpret_cast<void*>(aligned);
}

}  // namespace uffdgc::uffd
