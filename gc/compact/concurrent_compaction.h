// Concurrent compaction (design: .cycle.compaction, .install.ops): after the flip the to-space
// range [begin, end) is empty and registered with userfaultfd (MISSING + SIGBUS). Each page has one
// atomic state word; whoever claims it first (CAS unprocessed -> producing) compacts it with
// CompactionPlan::compact_page into a scratch buffer and installs it with the PageInstaller;
// everyone else waits until it is installed. The GC thread walks the pages from high to low in
// aligned runs of up to 64 pages (one ranged MOVE per run: the kernel flushes the TLB once per
// ioctl, not per page), builds each run in from-space pages it has finished reading (recycling),
// turns the free from-space it does not need for that into the zero-filled free pages above the
// compacted end (up to where the next cycle is due), and gives back only the rest. Mutators get
// here from the SIGBUS handler (runtime/sigbus_handler.h): handle_fault() is async-signal-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "gc/compact/compaction_plan.h"
#include "gc/compact/page_states.h"
#include "gc/compact/scratch_pool.h"
#include "os/swap_prefetcher.h"
#include "os/uffd/page_installer.h"

namespace uffdgc::gc {

class ConcurrentCompaction {
 public:
  // A compaction run: 64 pages (256 KiB). Measured on this machine's 6.18 kernel
  // (uffdgc_bench_page_install, 4K sources): MOVE costs 194 ns a page in runs of 16, 51 ns in
  // runs of 64 and 42 ns in runs of 512; a run longer than 64 pages gains little and makes a
  // mutator that faults on one of its pages wait for all of them.
  static constexpr uint64_t kRunPages = 64;
  static constexpr uint64_t kRunBytes = kRunPages * kPageSize;
  // Recycled sources keep their offset inside a 64K frame (a multiple of every mTHP size the
  // installer moves whole), so a run that covers whole folios moves them whole.
  static constexpr uint64_t kFolioBytes = 64ull << 10;
  // Free pages above the compacted end are installed in runs of up to 2 MiB (one PMD).
  static constexpr uint64_t kTailRunBytes = 2ull << 20;
  // A run of fewer pages than this is copied from the GC thread's buffer rather than moved
  // from recycled from-space, and a run is cut to what the free pool holds when that is at
  // least this many pages. A MOVE call costs one TLB shootdown (an IPI to every other CPU
  // running the process; ~20 us on this 2-vCPU VM with a mutator running) plus ~40 ns a
  // page; a COPY ~0.5 us a page (allocation and copy) and no shootdown: the break-even is
  // ~40 pages here, a few on bare metal. Measured on churn 256 MiB live in a 640 MiB heap
  // (benchmarks/README.md, issue 12): runs of 16+ pages moved 13.9 s, 32+ 12.9 s, 64+ 13.1 s,
  // all moved 15.0 s.
  static constexpr uint64_t kMinMoveRun = 32;

  // Pages between the to-space runs (islands) start out installed. Not signal-safe.
  // Built before the flip pause (mappings, /proc/self/pagemap): covers the segments' pages.
  ConcurrentCompaction(const CompactionPlan& plan, const uffd::InstallerConfig& installer,
                       int64_t from_space_delta, uint64_t space_limit);
  // In the flip pause, once the plan's black block is set: covers its pages too. remapped: the
  // pre-compaction ranges the flip moved to the from-space.
  void cover_block(std::vector<AddressRange> remapped);
  const std::vector<AddressRange>& remapped() const { return remapped_; }
  // In the flip pause, after cover_block: the free pages from the compacted end up to
  // tail_end, registered with the to-space, are handed out zero-filled: ahead of the
  // allocation top by the GC thread, or by whichever mutator touches one first.
  // allocation_top: the moving space's bump pointer. Up to recycle_target the GC thread also
  // fills them from free from-space it would otherwise give back (what the heap is expected
  // to allocate before the next flip: gc/concurrent_cycle.cc flip_pause), so allocation finds
  // them resident and nothing is freed only to be faulted in again (design: .cycle.compaction).
  void cover_tail(uint64_t tail_end, const std::atomic<uint64_t>* allocation_top,
                  uint64_t recycle_target);
  // Before the flip pause (mlock, issue #11 §4): whether the moving space, and so the
  // from-space after the flip, is VM_LOCKED; the flip then locks the emptied to-space the
  // same way (UFFDIO_MOVE refuses a source and destination that differ in VM_LOCKED).
  void set_locked(bool locked) { locked_ = locked; }
  bool locked() const { return locked_; }
  // Installs by UFFDIO_COPY only for this cycle (before publishing; nothing may be
  // installing): no from-space is recycled then, and what the cursor frees goes back at once.
  void use_copy() { installer_.set_mode(uffd::InstallMode::kCopyOnly); }
  uint64_t compacted_end() const { return end_; }
  uint64_t tail_end() const { return tail_end_; }
  ~ConcurrentCompaction();
  bool ok() const { return states_.mapped() && scratch_.mapped() && gc_buffer_ != nullptr; }

  bool covers(uint64_t addr) const { return addr >= begin_ && addr < tail_end_; }
  // Whether this compaction's pages lie in [lo, hi) (a heap's moving-space reservation).
  bool within(uint64_t lo, uint64_t hi) const { return begin_ >= lo && tail_end_ <= hi; }
  // Wakes the threads waiting for a page (wait_for_progress): after pages are installed, and
  // as the GC thread indexes the black block (CompactionPlan::index_block). Async-signal-safe.
  void announce_progress() { states_.announce_progress(); }
  // Mutator fault on `addr` (inside the range): produce or wait. Async-signal-safe. Returns
  // false only when installing failed fatally (the caller aborts with a message).
  bool handle_fault(uint64_t addr, uffd::InstallResult* failure);

  // A mutator with nothing else to do (an allocation waiting for this compaction to end):
  // takes the next kRunPages compacted pages from the bottom up (the GC thread works from the
  // top), produces those nobody has claimed in `buffer` (kRunPages pages of the caller's) and
  // installs each stretch of consecutive ones with one COPY; pages of the black block not
  // indexed yet are left to the GC thread. Returns false when no page is left to look at, or
  // with *ok false when installing failed fatally (*failure says how). Not async-signal-safe
  // (not needed).
  bool assist(uint8_t* buffer, bool* ok, uffd::InstallResult* failure);
  uint64_t pages_by_assists() const { return by_assists_.load(std::memory_order_relaxed); }

  // GC thread: produce every page still unprocessed, wait for the ones mutators produce,
  // free the from-space as the cursor passes. Returns false on an install failure.
  bool run_gc_thread(uffd::InstallResult* failure);
  // Before run_gc_thread: prefetch swapped-out from-space ahead of the cursor (GC thread).
  static constexpr uint64_t kPrefetchWindow = 8ull << 20;
  void enable_prefetch() { prefetch_ = true; }
  uint64_t pages_prefetched() const { return prefetcher_.counters().pages_advised; }
  // Prefetch is paused while the memory cgroup has less room than this (4 windows: the swap-in
  // of one window, its readahead, and the compaction's own pages), checked every
  // kHeadroomRuns runs (1 MiB of to-space). So is filling free pages from free from-space
  // (beyond what allocation is about to use): near the limit that memory goes back instead.
  static constexpr uint64_t kPrefetchHeadroom = 4 * kPrefetchWindow;
  static constexpr uint64_t kHeadroomRuns = 4;
  uint64_t prefetch_pauses() const { return prefetch_paused_; }  // checks that found no room

  // Mutator stalls in the fault path, by duration: bucket i counts stalls in [2^i, 2^(i+1)) us
  // (bucket 0 also takes < 1 us).
  static constexpr int kStallBuckets = 24;
  uint64_t stall_count(int bucket) const { return stalls_[bucket].load(std::memory_order_relaxed); }
  uint64_t pages_by_mutators() const { return by_mutators_.load(std::memory_order_relaxed); }
  // Free pages above the compacted end: zero-filled by the GC thread (of which in recycled
  // from-space pages), and by mutators that touched them first.
  uint64_t free_pages_prefilled() const { return free_prefilled_; }  // after run_gc_thread
  uint64_t free_pages_recycled() const { return free_recycled_; }    // after run_gc_thread
  uint64_t free_pages_by_mutators() const { return free_by_mutators_.load(std::memory_order_relaxed); }
  uint64_t free_fill_cpu_ns() const { return free_fill_cpu_ns_; }  // GC thread, after run_gc_thread
  // The GC thread keeps this much zero-filled above the allocation top, filling at most
  // kFreeStep after each to-space run so the compaction itself keeps going.
  static constexpr uint64_t kFreeAhead = 2ull << 20;
  static constexpr uint64_t kFreeStep = 256ull << 10;
  uint64_t pages_recycled() const { return recycled_pages_; }  // after run_gc_thread
  uint64_t peak_rss() const { return peak_rss_; }              // sampled by run_gc_thread
  // Free from-space kept for recycling below the cursor; the rest is released at once.
  static constexpr uint64_t kRecycleWindow = 4ull << 20;
  // ENOMEM on the GC thread: rounds of release-and-retry before giving up (backoff from 50 us
  // up to 10 ms per round: ~10 s in all).
  static constexpr uint32_t kEnomemRounds = 1000;

 private:
  void record_stall(uint64_t ns);
  // The cursor no longer reads the from-space at or above `from`: it joins the free pool, and
  // what the compaction's runs will not need fills free pages or goes back to the kernel.
  bool release_from_space(uint64_t from, uffd::InstallResult* failure);
  // The free pool's pages usable as one MOVE source: [pool_floor(), recycle_top_), inside one
  // from-space mapping.
  uint64_t pool_floor() const;
  // Gives back the pages of free from-space [from, from + bytes) (moving-space addresses, at
  // most kTailRunBytes) that are not in memory, so that building a run there does not swap
  // garbage in.
  void drop_swapped(uint64_t from, uint64_t bytes) const;
  // Where to build a run of `pages` to-space pages starting at lo: free from-space from the
  // top of the pool (recycled) when it holds enough, else the GC thread's buffer (the run must
  // then lie inside one kRunBytes frame).
  uint8_t* run_buffer(uint64_t lo, uint64_t pages, bool* recycled);
  // The GC thread's own buffer for a run starting at lo (inside one kRunBytes frame): its
  // pages stay resident, the run is copied from it.
  uint8_t* own_buffer(uint64_t lo) const { return gc_buffer_ + lo % (kRunPages * kPageSize); }
  // Builds the claimed pages [lo, hi) with build(page, where) and installs them: the whole
  // kFolioBytes frames among them are moved from recycled from-space when they are at least
  // min_move pages and the pool holds them, the ragged ends (and the rest) are copied from the
  // GC thread's buffer, so no MOVE covers part of a frame: that would split a large folio
  // there on any kernel, where a whole one moves unsplit with kernel-patches/. Either [lo, hi)
  // lies inside one kRunBytes frame, or the pool holds its whole frames and min_move is at
  // most a frame (the free pages' runs). Returns the pages moved from recycled from-space, or
  // -1 with *failure set.
  template <typename Build>
  int64_t install_in_frames(uint64_t lo, uint64_t hi, uint64_t min_move, Build build,
                            uffd::InstallResult* failure);
  // run_gc_thread's steps (concurrent_compaction.cc).
  uint64_t run_floor_below(uint64_t hi) const;
  bool produce_run(uint64_t lo, uint64_t hi, uffd::InstallResult* failure);
  bool keep_free_pages_ahead(uffd::InstallResult* failure);
  bool hand_back_the_rest(uffd::InstallResult* failure);
  // The GC thread's installs: recycled from-space is moved, the GC thread's buffer copied.
  // ENOMEM gives the from-space kept for recycling back to the kernel, then backs off and
  // retries the rest (bounded).
  uffd::InstallResult install_run(uint64_t lo, uint8_t* buffer, uint64_t pages, bool recycled);
  // madvise(MADV_DONTNEED) of from-space, unlocking first where the range is VM_LOCKED.
  void discard_from_space(uint64_t from, uint64_t to) const;
  // Zero-fills and installs the free pages from tail_filled_ up to want; with pool_only, only
  // as far as the free pool holds pages for them.
  bool fill_free_pages(uint64_t want, bool pool_only, uffd::InstallResult* failure);
  // Move mode: runs are built in free from-space and moved. Copy mode (or a cycle that had to
  // copy): runs are built in the GC thread's buffer and copied, the from-space released.
  bool recycling() const { return installer_.config().mode != uffd::InstallMode::kCopyOnly; }
  uint64_t allocation_top() const {
    return allocation_top_ != nullptr ? allocation_top_->load(std::memory_order_acquire) : end_;
  }

  const CompactionPlan& plan_;
  uint64_t begin_, end_;
  uffd::PageInstaller installer_;
  int64_t delta_;
  PageStates states_;    // one per to-space page, from begin_ to the end of the space
  ScratchPool scratch_;  // pages faulting mutators build theirs in
  uint8_t* gc_buffer_ = nullptr; // kRunPages pages, kRunBytes aligned, for the GC thread's runs
  std::atomic<uint64_t> stalls_[kStallBuckets] = {};
  std::atomic<uint64_t> by_mutators_{0};
  std::atomic<uint64_t> assist_next_{0};  // index of the next page an assist looks at
  std::atomic<uint64_t> by_assists_{0};
  // [end_, tail_end_): free pages above the compacted end (kUnprocessed until zero-filled);
  // the GC thread has filled (or found filled) everything below tail_filled_.
  uint64_t tail_end_ = 0;
  uint64_t tail_filled_ = 0;
  uint64_t recycle_target_ = 0;  // free pages are filled from the pool up to here
  bool pool_fill_ = true;        // false while the memory cgroup is near its limit
  const std::atomic<uint64_t>* allocation_top_ = nullptr;
  uint64_t free_prefilled_ = 0, free_recycled_ = 0, free_fill_cpu_ns_ = 0;
  std::atomic<uint64_t> free_by_mutators_{0};
  // GC thread only: the from-space from released_floor_ up is no longer read; of that,
  // [released_floor_, recycle_top_) is kept for recycling and everything above is released
  // (or was moved into the to-space).
  uint64_t released_floor_;
  uint64_t recycle_top_;
  uint64_t recycled_pages_ = 0;
  std::vector<AddressRange> remapped_;
  // The mappings (VMAs) of the from-space inside remapped_ (in moving-space addresses) and of
  // the to-space, read from /proc/self/maps when the GC thread starts. A MOVE's source and
  // destination must each lie inside one mapping, and neither follows from our own ranges:
  // the kernel (6.17+) moves a range spanning several VMAs as several, and registering a range
  // does not merge the VMAs it spans. No run straddles two; when unknown (empty), the GC
  // thread does not recycle and installs page by page.
  std::vector<AddressRange> from_space_mappings_;
  std::vector<AddressRange> to_space_mappings_;
  bool prefetch_ = false;
  bool locked_ = false;
  os::SwapPrefetcher prefetcher_;  // GC thread only (not async-signal-safe)
  static constexpr uint64_t kRssSampleRuns = 64;  // one /proc read per 4 MiB compacted
  uint64_t runs_ = 0, peak_rss_ = 0;
  uint64_t prefetch_paused_ = 0;
};

// Defined here: the GC thread (compaction_gc_thread.cc) and the free pages
// (compaction_free_pages.cc) both install through it.
template <typename Build>
int64_t ConcurrentCompaction::install_in_frames(uint64_t lo, uint64_t hi, uint64_t min_move,
                                                Build build, uffd::InstallResult* failure) {
  const uint64_t move_lo = std::min(align_up(lo, kFolioBytes), hi);
  const uint64_t move_hi = std::max(align_down(hi, kFolioBytes), move_lo);
  // Moved only where the pool can place the source at the frames' offset (run_buffer keeps
  // it when it holds a frame more than the run): a source at another offset splits every
  // large folio it covers.
  bool recycled = false;
  uint8_t* middle = nullptr;
  if (move_hi > move_lo && (move_hi - move_lo) / kPageSize >= min_move && recycling() &&
      recycle_top_ - pool_floor() >= move_hi - move_lo + kFolioBytes) {
    middle = run_buffer(move_lo, (move_hi - move_lo) / kPageSize, &recycled);
  }
  auto install = [&](uint64_t from, uint64_t to, uint8_t* buffer, bool moved) {
    for (uint64_t page = from; page < to; page += kPageSize) build(page, buffer + (page - from));
    const uffd::InstallResult r = install_run(from, buffer, (to - from) / kPageSize, moved);
    if (r.status == uffd::InstallStatus::kDone) return true;
    *failure = r;
    return false;
  };
  if (!recycled) {
    // All copied from the GC thread's buffer, a kRunBytes frame at a time (usually one).
    for (uint64_t from = lo; from < hi;) {
      const uint64_t to = std::min(hi, align_down(from, kRunBytes) + kRunBytes);
      if (!install(from, to, own_buffer(from), false)) return -1;
      from = to;
    }
    return 0;
  }
  // The ragged ends copied (each inside one frame), the whole frames moved.
  if ((hi > move_hi && !install(move_hi, hi, own_buffer(move_hi), false)) ||
      !install(move_lo, move_hi, middle, true) ||
      (move_lo > lo && !install(lo, move_lo, own_buffer(lo), false))) {
    return -1;
  }
  return static_cast<int64_t>((move_hi - move_lo) / kPageSize);
}

}  // namespace uffdgc::gc
