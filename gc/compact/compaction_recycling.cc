// The recycling pool of a concurrent compaction (design: .memory.recycling): from-space pages
// the cursor has finished reading, kept to build the next runs in, released when not needed.
#include "gc/compact/concurrent_compaction.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "gc/compact/address_mappings.h"

namespace uffdgc::gc {

namespace {

constexpr uint64_t kReleaseBatch = 2ull << 20;  // madvise the from-space in >= 2 MiB steps

}  // namespace

// From-space pages whose objects have all been compacted are free (design: .cycle.compaction). The
// GC thread recycles them: it builds the next runs of to-space pages in them and MOVEs them
// into place, so those pages are neither freshly faulted in nor freed and faulted again. It
// keeps kRecycleWindow of them for its runs; the rest become free pages above the compacted
// end while those are wanted (up to recycle_target_, and not near a memory cgroup's limit),
// and go back to the kernel otherwise.
bool ConcurrentCompaction::release_from_space(uint64_t from, uffd::InstallResult* failure) {
  from = align_up(from, kPageSize);
  if (from >= released_floor_) return true;
  released_floor_ = from;  // [from, recycle_top_) is free from-space
  const uint64_t keep = recycling() ? kRecycleWindow : 0;
  while (recycling() && pool_fill_ && tail_filled_ < recycle_target_ &&
         recycle_top_ - released_floor_ > keep + kTailRunBytes) {
    const uint64_t filled = tail_filled_;
    if (!fill_free_pages(std::min(recycle_target_, tail_filled_ + kTailRunBytes),
                         /*pool_only=*/true, failure)) {
      return false;
    }
    if (tail_filled_ == filled) break;  // the pool's top is cut by a mapping boundary
  }
  // (While the free pages take from the pool, up to a tail run more may wait for them.)
  const uint64_t waiting = recycling() && pool_fill_ ? kTailRunBytes : 0;
  if (recycle_top_ - released_floor_ > keep + waiting + kReleaseBatch) {
    const uint64_t cut = released_floor_ + keep;
    discard_from_space(cut, recycle_top_);
    recycle_top_ = cut;
  }
  return true;
}

// A locked from-space (mlockall) refuses MADV_DONTNEED with EINVAL: those pages are unlocked
// first, which is all right since nothing reads them again (they are never a MOVE source
// again either).
void ConcurrentCompaction::discard_from_space(uint64_t from, uint64_t to) const {
  if (to <= from) return;
  void* p = reinterpret_cast<void*>(static_cast<int64_t>(from) + delta_);
  if (madvise(p, to - from, MADV_DONTNEED) != 0 && errno == EINVAL) {
    munlock(p, to - from);
    madvise(p, to - from, MADV_DONTNEED);
  }
}

// Free from-space that was swapped out is garbage: writing a run into it would read it back
// from swap first (an I/O and, in a memory cgroup at its limit, a charge that may find
// nothing to reclaim). Those pages are given back first (which frees their swap slots; pages
// never populated are left as they are): writing them then faults in fresh zero pages.
void ConcurrentCompaction::drop_swapped(uint64_t from, uint64_t bytes) const {
  // Locked memory is never swapped out (its absent pages were never touched), and giving back
  // part of it would unlock that part first (discard_from_space): a MOVE from it into the
  // locked to-space would then be refused.
  if (locked_) return;
  unsigned char present[kTailRunBytes / kPageSize];
  void* const p = reinterpret_cast<void*>(static_cast<int64_t>(from) + delta_);
  if (bytes > sizeof present * kPageSize || mincore(p, bytes, present) != 0) return;
  const uint64_t pages = bytes / kPageSize;
  for (uint64_t i = 0; i < pages;) {
    if ((present[i] & 1) != 0) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < pages && (present[j] & 1) == 0) ++j;
    discard_from_space(from + i * kPageSize, from + j * kPageSize);
    i = j;
  }
}

uint64_t ConcurrentCompaction::pool_floor() const {
  if (recycle_top_ <= released_floor_) return recycle_top_;
  const AddressRange* mapping = mapping_holding(from_space_mappings_, recycle_top_ - kPageSize);
  return mapping != nullptr ? std::max(released_floor_, mapping->begin) : recycle_top_;
}

uint8_t* ConcurrentCompaction::run_buffer(uint64_t lo, uint64_t pages, bool* recycled) {
  const uint64_t bytes = pages * kPageSize;
  const uint64_t pool = recycle_top_ - pool_floor();
  *recycled = recycling() && pool >= bytes;
  if (!*recycled) return own_buffer(lo);
  // Taken from the top of the pool, so the pool stays contiguous; where the pool has room, the
  // run's offset inside a 64K frame is kept, so a run of whole folios stays folio aligned.
  uint64_t start = recycle_top_ - bytes;
  if (pool >= bytes + kFolioBytes) {
    start = align_down(recycle_top_ - bytes, kFolioBytes) + lo % kFolioBytes;
    if (start + bytes > recycle_top_) start -= kFolioBytes;
  }
  recycle_top_ = start;  // [start, old top) is consumed: MOVE empties it
  drop_swapped(start, bytes);
  return reinterpret_cast<uint8_t*>(static_cast<int64_t>(start) + delta_);
}

}  // namespace uffdgc::gc
