// The moving space and its from-space (design: .heap.moving, .heap.from-space): two
// reservations of the same size, each aligned to 1 GiB so that the flip's mremap moves whole
// PUD entries (design: .cycle.flip.order).
// Allocation is a bump pointer handing out TLABs. The from-space is empty between cycles.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace uffdgc::gc {

class MovingSpace {
 public:
  MovingSpace() = default;
  MovingSpace(const MovingSpace&) = delete;
  MovingSpace& operator=(const MovingSpace&) = delete;
  ~MovingSpace();

  // Reserves `capacity` bytes (rounded up to 1 GiB for the reservation, `capacity` usable) of
  // moving space and as much from-space. Returns 0 or an errno. In a process that called
  // mlockall(MCL_FUTURE) the moving space is locked on fault (mlock2 MLOCK_ONFAULT) instead
  // of populated whole, and the from-space is PROT_NONE (never populated by mlockall).
  int reserve(size_t capacity, bool nohugepage);

  uint64_t begin() const { return begin_; }
  // top_ is written under the heap lock and read by any thread (range checks), hence atomic.
  uint64_t top() const { return top_.load(std::memory_order_acquire); }
  uint64_t limit() const { return begin_ + capacity_; }
  uint64_t capacity() const { return capacity_; }
  uint64_t used() const { return top() - begin_; }
  bool contains(uint64_t addr) const { return addr >= begin_ && addr < top(); }
  bool in_reservation(uint64_t addr) const { return addr >= begin_ && addr < begin_ + capacity_; }
  // Distance from a moving-space address to its from-space copy during a cycle.
  int64_t from_space_delta() const { return static_cast<int64_t>(from_begin_ - begin_); }

  // Bumps `bytes` (8-aligned); 0 when the space is full. Caller holds the heap lock.
  uint64_t bump(uint64_t bytes);
  void set_top(uint64_t top) { top_.store(top, std::memory_order_release); }
  // The bump pointer itself, for a reader that follows allocation (the concurrent compaction
  // fills free pages ahead of it).
  const std::atomic<uint64_t>* top_word() const { return &top_; }

  // Moves the pages of [start, end) (page-aligned) to the same offsets of the from-space with
  // mremap(MREMAP_DONTUNMAP): the moving range stays mapped and empty. Returns 0 or an errno.
  int remap_to_from_space(uint64_t start, uint64_t end);
  // The 1 GiB boundary at or above `end` (inside the reservation): a remap that extends over
  // empty space up to it moves whole PUD entries (design: .cycle.flip.order).
  uint64_t pud_aligned_end(uint64_t end) const;
  // Frees the from-space pages of [start, end) and their page tables after compaction.
  void release_from_space(uint64_t start, uint64_t end);

  // mlock (issue #11 §4): is the moving space's mapping VM_LOCKED (the process called
  // mlockall(MCL_CURRENT) since it was mapped, or mlockall(MCL_FUTURE) before)? Asked of the
  // guard page above the reservation, which is never flipped, registered or used: one
  // madvise(MADV_COLD), which the kernel refuses with EINVAL on a VM_LOCKED mapping and
  // otherwise only ages pages (the guard has none).
  bool locked() const;
  // After a flip of a locked moving space: mlock2(MLOCK_ONFAULT) on the whole mapping. A
  // flip's mremap(MREMAP_DONTUNMAP) carries VM_LOCKED to the from-space, and clears it on the
  // whole mapping the moved range lies in (6.18 clears the flag on the VMA without splitting
  // it: the emptied range, the islands and the guard all lose it). ONFAULT: VM_LOCKED without
  // populating, since the emptied to-space must stay empty for userfaultfd; each page is
  // locked as it is installed. Returns 0 or an errno.
  int relock() const;
  // Gives back the pages of the mapping from `addr` (rounded up to a page) to its end, which
  // hold no objects (above the bump pointer): mlockall(MCL_CURRENT) populates the whole
  // reservation. Unlocks them first (a locked range refuses MADV_DONTNEED); relock() after.
  void discard_above(uint64_t addr) const;

 private:
  uint64_t begin_ = 0, capacity_ = 0;
  std::atomic<uint64_t> top_{0};
  uint64_t from_begin_ = 0;
  size_t reservation_ = 0;
  void* moving_map_ = nullptr;
  void* from_map_ = nullptr;
  size_t moving_map_len_ = 0, from_map_len_ = 0;
  bool nohugepage_ = false;
};

}  // namespace uffdgc::gc
