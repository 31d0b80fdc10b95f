#include "gc/space/moving_space.h"

#include <sys/mman.h>

#include <cerrno>

#include "gc/heap_geometry.h"

namespace uffdgc::gc {

namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
// The moving space's mapping reaches this far past its reservation, never used: a flip then
// never moves the whole mapping, and mremap(MREMAP_DONTUNMAP) keeps the anon_vma of a mapping
// it does not move entirely. Without one, registering the to-space splits the emptied
// mapping, the part above the compacted end gets an anon_vma of its own at its first
// allocation fault, the two never merge again, and that boundary at an arbitrary page makes
// every later flip move PMD by PMD and PTE by PTE around it (measured at 576 MiB: 56-200 us
// instead of ~50 us) (design: .cycle.flip.order).
constexpr uint64_t kGuard = uint64_t{2} << 20;

// Maps `len` bytes aligned to `align`; returns the aligned start and the raw mapping.
uint64_t map_aligned(size_t len, size_t align, int prot, void** raw, size_t* raw_len) {
  const size_t span = len + align;
  void* p = mmap(nullptr, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return 0;
  const uint64_t start = reinterpret_cast<uint64_t>(p);
  const uint64_t aligned = align_up(start, align);
  if (aligned > start) munmap(p, aligned - start);
  const uint64_t end = start + span;
  if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
  *raw = reinterpret_cast<void*>(aligned);
  *raw_len = len;
  return aligned;
}

// Whether the mapping holding `page` is VM_LOCKED: MADV_COLD refuses those with EINVAL (and
// only ages the pages of any other).
bool locked_mapping(const void* page) {
  return madvise(const_cast<void*>(page), kPageSize, MADV_COLD) != 0 && errno == EINVAL;
}

}  // namespace

MovingSpace::~MovingSpace() {
  if (moving_map_ != nullptr) munmap(moving_map_, moving_map_len_);
  if (from_map_ != nullptr) munmap(from_map_, from_map_len_);
}

int MovingSpace::reserve(size_t capacity, bool nohugepage) {
  capacity_ = align_up(capacity, kPageSize);
  reservation_ = align_up(capacity_, kGiB);
  nohugepage_ = nohugepage;
  // Mapped PROT_NONE first: under mlockall(MCL_FUTURE) an accessible mapping is populated
  // whole at mmap (1 GiB of zero pages per space for any heap), a PROT_NONE one is not. A
  // reservation is address space, not memory: when the new mapping comes out VM_LOCKED it is
  // locked on fault instead, so every page the heap touches is locked, as the process asked,
  // and nothing else is populated (mprotect then populates nothing either).
  begin_ = map_aligned(reservation_ + kGuard, kGiB, PROT_NONE, &moving_map_, &moving_map_len_);
  if (begin_ == 0) return errno;
  if (locked_mapping(moving_map_) && mlock2(moving_map_, moving_map_len_, MLOCK_ONFAULT) != 0) {
    return errno;
  }
  if (mprotect(moving_map_, moving_map_len_, PROT_READ | PROT_WRITE) != 0) return errno;
  // The from-space only ever receives pages through mremap (which brings the moving space's
  // protection along); it holds no memory otherwise and stays PROT_NONE, so mlockall() never
  // populates it either.
  from_begin_ = map_aligned(reservation_, kGiB, PROT_NONE, &from_map_, &from_map_len_);
  if (from_begin_ == 0) return errno;
  if (nohugepage_) {
    madvise(moving_map_, moving_map_len_, MADV_NOHUGEPAGE);
    madvise(from_map_, from_map_len_, MADV_NOHUGEPAGE);
  }
  set_top(begin_);
  return 0;
}

uint64_t MovingSpace::bump(uint64_t bytes) {
  const uint64_t p = top();
  if (bytes > begin_ + capacity_ - p) return 0;
  set_top(p + bytes);
  return p;
}

int MovingSpace::remap_to_from_space(uint64_t start, uint64_t end) {
  if (end <= start) return 0;
  void* target = reinterpret_cast<void*>(start + from_space_delta());
  void* moved = mremap(reinterpret_cast<void*>(start), end - start, end - start,
                       MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, target);
  if (moved == MAP_FAILED) return errno;
  return 0;
}

uint64_t MovingSpace::pud_aligned_end(uint64_t end) const {
  return begin_ + align_up(end - begin_, kGiB);  // begin_ is 1 GiB-aligned, so is reservation_
}

// A fresh mapping rather than MADV_DONTNEED: it frees the page tables too. Empty page tables
// left in the from-space make the next flip's mremap move page tables PTE by PTE instead of
// whole PMDs (measured: 2-7.5 ms instead of 47 us for 576 MiB, design: .cycle.flip.order).
// PROT_NONE like the reservation (see reserve()).
void MovingSpace::release_from_space(uint64_t start, uint64_t end) {
  if (end <= start) return;
  void* from = reinterpret_cast<void*>(start + from_space_delta());
  if (mmap(from, end - start, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
           -1, 0) == MAP_FAILED) {
    // (ENOMEM for a VMA: the pages still go; a locked range must be unlocked first.)
    if (madvise(from, end - start, MADV_DONTNEED) != 0 && errno == EINVAL) {
      munlock(from, end - start);
      madvise(from, end - start, MADV_DONTNEED);
    }
    return;
  }
  if (nohugepage_) madvise(from, end - start, MADV_NOHUGEPAGE);
}

bool MovingSpace::locked() const {
  return moving_map_ != nullptr &&
         locked_mapping(static_cast<const uint8_t*>(moving_map_) + reservation_);
}

void MovingSpace::discard_above(uint64_t addr) const {
  const uint64_t from = align_up(addr, kPageSize);
  const uint64_t end = reinterpret_cast<uint64_t>(moving_map_) + moving_map_len_;
  if (moving_map_ == nullptr || from >= end) return;
  munlock(reinterpret_cast<void*>(from), end - from);
  madvise(reinterpret_cast<void*>(from), end - from, MADV_DONTNEED);
}

int MovingSpace::relock() const {
  if (moving_map_ == nullptr) return 0;
  return mlock2(moving_map_, moving_map_len_, MLOCK_ONFAULT) == 0 ? 0 : errno;
}

}  // namespace uffdgc::gc
