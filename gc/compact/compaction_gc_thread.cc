// The GC thread's producer of a concurrent compaction (design: .cycle.compaction): runs of
// to-space pages from the top down, installed with one ranged MOVE (or COPY) each.
#include "gc/compact/concurrent_compaction.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>

#include "gc/compact/address_mappings.h"
#include "os/memory_headroom.h"
#include "os/resource_usage.h"

namespace uffdgc::gc {

uffd::InstallResult ConcurrentCompaction::install_run(uint64_t lo, uint8_t* buffer, uint64_t pages,
                                                      bool recycled) {
  const uint64_t src = reinterpret_cast<uint64_t>(buffer);
  uint64_t done = 0;
  for (uint32_t round = 0;; ++round) {
    // No ENOMEM retries inside: this thread has memory of its own to give back first.
    // Recycled from-space is moved; the GC thread's own buffer is copied (it stays resident
    // for the next run).
    uffd::InstallResult r =
        recycled ? installer_.install(lo + done * kPageSize, src + done * kPageSize, pages - done,
                                      /*enomem_retry_limit=*/0)
                 : installer_.copy(lo + done * kPageSize, src + done * kPageSize, pages - done,
                                   /*enomem_retry_limit=*/0);
    done += r.pages_done;
    r.pages_done = done;
    if (r.status == uffd::InstallStatus::kDone) return r;
    if (r.status != uffd::InstallStatus::kNoMemory || round >= kEnomemRounds) return r;
    // The memory cgroup is at its limit: the free from-space kept for recycling goes back to
    // the kernel (recycling resumes as the cursor frees more), then a pause, then the rest.
    uffd::InstallCounters& c = *installer_.config().counters;
    c.add(c.enomem_releases, 1);
    c.add(c.enomem_retries, 1);
    discard_from_space(released_floor_, recycle_top_);
    recycle_top_ = released_floor_;
    const long us = round >= 8 ? 10000 : std::min(10000L, 50L << round);
    timespec ts{0, us * 1000};
    nanosleep(&ts, nullptr);
  }
}

bool ConcurrentCompaction::run_gc_thread(uffd::InstallResult* failure) {
  peak_rss_ = os::resident_bytes();
  from_space_mappings_ = mappings_within(remapped_, delta_);
  to_space_mappings_ = mappings_within({{begin_, tail_end_}}, 0);
  // Allocation resumes at the compacted end right after the flip: its first pages first.
  if (!fill_free_pages(allocation_top() + kFreeAhead, /*pool_only=*/false, failure)) return false;
  // Swapped-out from-space below the cursor is brought in asynchronously (io_uring MADVISE),
  // a window ahead of the pages being produced; resident chunks are not submitted.
  os::PrefetchOptions options;
  options.skip_resident_chunks = true;
  options.max_workers = 1;  // swap-in by io-wq takes CPU from mutators: one worker at most
  const bool prefetch = prefetch_ && prefetcher_.init(options);
  os::PrefetchWindow window(&prefetcher_, kPrefetchWindow);
  // Prefetching charges the pages it reads in to the memory cgroup from io-wq workers, where a
  // charge that cannot reclaim OOM-kills: it pauses while the cgroup is close to its limit.
  const os::MemoryHeadroom headroom;
  bool prefetch_room = pool_fill_ = headroom.bytes() >= kPrefetchHeadroom;
  const uint64_t from_floor =
      static_cast<uint64_t>(static_cast<int64_t>(plan_.segments().empty()
                                                     ? plan_.block().src_begin
                                                     : plan_.segments().front().start) +
                            delta_);
  uint64_t hi = end_;  // every page at or above hi is installed
  while (hi > begin_) {
    const uint64_t lowest = run_floor_below(hi);
    uint64_t lo = hi;
    while (lo > lowest && states_.claim((lo - kPageSize - begin_) / kPageSize)) lo -= kPageSize;
    if (lo == hi) {
      // The top page is being produced (or is done) by a mutator: wait, then go on below it.
      // Across pages an assisting thread produced (ConcurrentCompaction::assist, from the
      // bottom up) the from-space they read joins the free pool a run's worth at a time.
      states_.wait_installed((hi - kPageSize - begin_) / kPageSize);
      hi -= kPageSize;
      if (hi > begin_ && hi % kRunBytes == 0 &&
          !release_from_space(plan_.sources_end_below(hi), failure)) {
        return false;
      }
      continue;
    }
    if (runs_ % kHeadroomRuns == 0) {
      prefetch_room = pool_fill_ = headroom.bytes() >= kPrefetchHeadroom;
      if (prefetch && !prefetch_room) ++prefetch_paused_;
    }
    if (prefetch && prefetch_room) {
      window.ahead_of(static_cast<uint64_t>(static_cast<int64_t>(plan_.source_begin(lo)) + delta_),
                      from_floor);
    }
    if (!produce_run(lo, hi, failure)) return false;
    hi = lo;
    if (!keep_free_pages_ahead(failure)) return false;
    // Pages below hi read the from-space only below sources_end_below(hi): source_begin(hi)
    // unless an object straddles hi, which they read whole (a trace callback may read any
    // byte of it), and for a block page not below its own source page.
    if (hi > begin_ && !release_from_space(plan_.sources_end_below(hi), failure)) return false;
  }
  if (prefetch) prefetcher_.wait_idle();
  return hand_back_the_rest(failure);
}

// The lowest page of the next run below hi: aligned to 64K in absolute addresses, so a full
// run can move one whole folio, and inside one to-space mapping (a MOVE destination must lie
// in one VMA). Where objects barely move, the pool stays as small as their slide: a run cut
// to it (if still kMinMoveRun long) is moved, no page allocated for it, where a full run built
// in the GC thread's buffer would be copied into freshly allocated pages.
uint64_t ConcurrentCompaction::run_floor_below(uint64_t hi) const {
  const uint64_t run_floor = std::max(begin_, align_down(hi - kPageSize, kRunBytes));
  const AddressRange* mapping = mapping_holding(to_space_mappings_, hi - kPageSize);
  uint64_t lowest = std::max(run_floor, mapping != nullptr ? mapping->begin : hi - kPageSize);
  const uint64_t pool = recycle_top_ - pool_floor();
  if (recycling() && pool >= kMinMoveRun * kPageSize + kFolioBytes) {
    // starting on a frame boundary (install_in_frames copies a ragged end), and a frame
    // short of the pool, so that its source keeps the frames' offset
    lowest = std::max(lowest, align_up(hi - align_down(pool - kFolioBytes, kPageSize), kFolioBytes));
  }
  return lowest;
}

// Produces the claimed pages [lo, hi) and publishes them. Fewer than kMinMoveRun pages in
// whole frames are copied from the GC thread's buffer: below that, the TLB shootdown a MOVE
// costs outweighs the page allocation and copy it saves.
bool ConcurrentCompaction::produce_run(uint64_t lo, uint64_t hi, uffd::InstallResult* failure) {
  const int64_t recycled = install_in_frames(
      lo, hi, kMinMoveRun,
      [this](uint64_t page, uint8_t* where) { plan_.compact_page(page, where); }, failure);
  if (recycled < 0) return false;
  recycled_pages_ += static_cast<uint64_t>(recycled);
  for (uint64_t page = lo; page < hi; page += kPageSize) states_.publish((page - begin_) / kPageSize);
  states_.announce_progress();
  if (++runs_ % kRssSampleRuns == 0) peak_rss_ = std::max(peak_rss_, os::resident_bytes());
  return true;
}

}  // namespace uffdgc::gc
