// The free pages above the compacted end of a concurrent compaction (design: .memory.recycling):
// zero-filled ahead of allocation, from the recycling pool where it can, the rest given back.
#include "gc/compact/concurrent_compaction.h"

#include <algorithm>
#include <cstring>

#include "gc/compact/address_mappings.h"
#include "os/clock.h"
#include "os/resource_usage.h"

namespace uffdgc::gc {

// Free pages above the compacted end, zero-filled (design: .cycle.compaction): in recycled
// from-space pages, up to 2 MiB per MOVE, when the pool holds them; otherwise (only ahead of
// the allocation top) copied from the GC thread's buffer into freshly allocated pages.
// Allocation then finds them present instead of faulting into the kernel (and, under a
// memory limit, into reclaim). GC thread.
bool ConcurrentCompaction::fill_free_pages(uint64_t want, bool pool_only,
                                           uffd::InstallResult* failure) {
  want = std::min(align_up(want, kPageSize), tail_end_);
  if (tail_filled_ >= want) return true;
  struct CpuCount {  // this call's CPU, however it returns
    uint64_t start;
    uint64_t* total;
    ~CpuCount() { *total += os::thread_cpu_ns() - start; }
  } count{os::thread_cpu_ns(), &free_fill_cpu_ns_};
  while (tail_filled_ < want) {
    const uint64_t lo = tail_filled_;
    const AddressRange* mapping = mapping_holding(to_space_mappings_, lo);
    uint64_t ceiling = std::min(want, mapping != nullptr ? mapping->end : lo + kPageSize);
    const uint64_t pool = recycling() ? recycle_top_ - pool_floor() : 0;
    // A run from the pool holds at least one whole frame and ends on a frame boundary, so the
    // next run starts on one (install_in_frames moves whole frames only).
    uint64_t pooled = 0;
    if (pool >= kPageSize + kFolioBytes) {
      const uint64_t end = align_down(std::min({ceiling, align_down(lo, kTailRunBytes) + kTailRunBytes,
                                                lo + align_down(pool - kFolioBytes, kPageSize)}),
                                      kFolioBytes);
      if (end >= align_up(lo, kFolioBytes) + kFolioBytes) pooled = end;
    }
    if (pooled != 0) {
      ceiling = pooled;
    } else if (pool_only) {
      return true;
    } else {
      ceiling = std::min(ceiling, align_down(lo, kRunBytes) + kRunBytes);
    }
    uint64_t hi = lo;
    while (hi < ceiling && states_.claim((hi - begin_) / kPageSize)) hi += kPageSize;
    if (hi == lo) {  // a mutator touched it first
      tail_filled_ += kPageSize;
      continue;
    }
    const uint64_t pages = (hi - lo) / kPageSize;
    const int64_t recycled = install_in_frames(
        lo, hi, kFolioBytes / kPageSize, [](uint64_t, uint8_t* where) { std::memset(where, 0, kPageSize); },
        failure);
    if (recycled < 0) return false;
    for (uint64_t page = lo; page < hi; page += kPageSize) states_.publish((page - begin_) / kPageSize);
    states_.announce_progress();
    free_prefilled_ += pages;
    free_recycled_ += static_cast<uint64_t>(recycled);
    tail_filled_ = hi;
  }
  return true;
}

// Keeps kFreeAhead of zero-filled pages above the allocation top, a few runs at a time.
bool ConcurrentCompaction::keep_free_pages_ahead(uffd::InstallResult* failure) {
  if (tail_filled_ >= tail_end_) return true;
  const uint64_t want = allocation_top() + kFreeAhead;
  return want <= tail_filled_ ||
         fill_free_pages(std::min(want, tail_filled_ + kFreeStep), /*pool_only=*/false, failure);
}

// Every page is produced: the window kept for the runs is free now, and free pages still
// wanted take it first; whatever is left of the from-space (recycled pages that were never
// used, pages below the last run's sources) goes back to the kernel.
bool ConcurrentCompaction::hand_back_the_rest(uffd::InstallResult* failure) {
  if (recycling() && pool_fill_ && !fill_free_pages(recycle_target_, /*pool_only=*/true, failure)) return false;
  const uint64_t from_begin = std::min(begin_, plan_.segments().empty()
                                                   ? plan_.block().src_begin
                                                   : plan_.segments().front().start);
  discard_from_space(from_begin, recycle_top_);
  released_floor_ = recycle_top_ = from_begin;
  return true;
}

}  // namespace uffdgc::gc
