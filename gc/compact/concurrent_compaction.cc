#include "gc/compact/concurrent_compaction.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "os/memory_headroom.h"
#include "gc/heap_geometry.h"
#include "os/uffd/aligned_mapping.h"
#include "os/clock.h"
#include "os/process_maps.h"
#include "os/resource_usage.h"

namespace uffdgc::gc {

namespace {

constexpr uint64_t kRunBytes = ConcurrentCompaction::kRunPages * kPageSize;
constexpr uint64_t kReleaseBatch = 2ull << 20;  // madvise the from-space in >= 2 MiB steps

// The parts of `ranges` (shifted by delta) that are mappings of their own, shifted back;
// empty if the process's mappings cannot be read.
std::vector<AddressRange> mappings_within(const std::vector<AddressRange>& ranges, int64_t delta) {
  std::vector<AddressRange> out;
  std::vector<os::Mapping> mappings;
  if (os::read_process_mappings(mappings) != 0) return out;
  for (const os::Mapping& m : mappings) {
    for (const AddressRange& r : ranges) {
      const uint64_t b = std::max<uint64_t>(m.begin, static_cast<uint64_t>(static_cast<int64_t>(r.begin) + delta));
      const uint64_t e = std::min<uint64_t>(m.end, static_cast<uint64_t>(static_cast<int64_t>(r.end) + delta));
      if (b < e) {
        out.push_back({static_cast<uint64_t>(static_cast<int64_t>(b) - delta),
                       static_cast<uint64_t>(static_cast<int64_t>(e) - delta)});
      }
    }
  }
  return out;
}

// The mapping in `mappings` (sorted) that holds the page at `page`, or nullptr (unknown
// mappings: the callers then keep a run to that single page).
const AddressRange* mapping_holding(const std::vector<AddressRange>& mappings, uint64_t page) {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), page,
                             [](uint64_t a, const AddressRange& r) { return a < r.end; });
  return it != mappings.end() && it->begin <= page ? &*it : nullptr;
}

}  // namespace

ConcurrentCompaction::ConcurrentCompaction(const CompactionPlan& plan,
                                           const uffd::InstallerConfig& installer,
                                           int64_t from_space_delta, uint64_t space_limit)
    : plan_(plan),
      begin_(plan.segments().empty() ? plan.block_dst_begin() : plan.segments().front().start),
      end_(begin_),
      installer_(installer),
      delta_(from_space_delta),
      released_floor_(0),
      recycle_top_(0) {
  // One state byte per page up to the end of the space (the black block's extent is known
  // only at the flip), populated now: the flip pause's cover_block then writes resident
  // memory (first-touch faults cost that pause ~55 us for a 434 MiB block).
  states_bytes_ = align_up((space_limit - begin_) / kPageSize + 1, kPageSize);
  void* states = mmap(nullptr, states_bytes_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
  void* scratch = uffd::map_anonymous_aligned(kScratchSlots * kPageSize, kPageSize);
  void* gc_buffer = uffd::map_anonymous_aligned(kRunBytes, kRunBytes);
  states_ = states == MAP_FAILED ? nullptr : static_cast<uint8_t*>(states);
  scratch_ = scratch == MAP_FAILED ? nullptr : static_cast<uint8_t*>(scratch);
  gc_buffer_ = gc_buffer == MAP_FAILED ? nullptr : static_cast<uint8_t*>(gc_buffer);
  if (states_ == nullptr) return;
  // Only the segments' to-space pages are produced; the rest of the range (islands) is done.
  const uint64_t segments_end =
      plan.segments().empty() ? begin_ : plan.segments().back().to_space_end();
  std::memset(states_, kInstalled, (segments_end - begin_) / kPageSize);
  for (const Segment& s : plan.segments()) {
    std::memset(states_ + (s.start - begin_) / kPageSize, kUnprocessed,
                (s.to_space_end() - s.start) / kPageSize);
  }
  end_ = tail_end_ = tail_filled_ = segments_end;
}

void ConcurrentCompaction::cover_block(std::vector<AddressRange> flipped) {
  const BlackBlock& b = plan_.block();
  if (b.dst_end() > b.dst_begin) {
    if (b.dst_begin > end_) std::memset(states_ + (end_ - begin_) / kPageSize, kInstalled, (b.dst_begin - end_) / kPageSize);
    std::memset(states_ + (b.dst_begin - begin_) / kPageSize, kUnprocessed,
                (b.dst_end() - b.dst_begin) / kPageSize);
    end_ = b.dst_end();
  }
  released_floor_ = recycle_top_ =
      b.src_end > b.src_begin
          ? b.src_end
          : (plan_.segments().empty() ? 0 : align_up(plan_.segments().back().end, kPageSize));
  flipped_ = std::move(flipped);
}

void ConcurrentCompaction::cover_tail(uint64_t tail_end,
                                      const std::atomic<uint64_t>* allocation_top,
                                      uint64_t recycle_target) {
  // The states above end_ are still zero (kUnprocessed) from the mapping.
  tail_end_ = std::max(end_, tail_end);
  tail_filled_ = end_;
  recycle_target_ = std::min(tail_end_, recycle_target);
  allocation_top_ = allocation_top;
}

ConcurrentCompaction::~ConcurrentCompaction() {
  if (states_ != nullptr) munmap(states_, states_bytes_);
  if (scratch_ != nullptr) munmap(scratch_, kScratchSlots * kPageSize);
  if (gc_buffer_ != nullptr) munmap(gc_buffer_, kRunBytes);
}

// All kScratchSlots slots taken (that many threads faulting at once): a few spins, then a
// wait on the event count every returned slot notifies (os/event_count.h). Async-signal-safe.
uint8_t* ConcurrentCompaction::take_scratch() {
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = scratch_returned_.epoch();
    uint64_t free = scratch_free_.load(std::memory_order_acquire);
    while (free != 0) {
      const int slot = __builtin_ctzll(free);
      if (scratch_free_.compare_exchange_weak(free, free & ~(uint64_t{1} << slot),
                                              std::memory_order_acq_rel)) {
        return scratch_ + static_cast<uint64_t>(slot) * kPageSize;
      }
    }
    if (round < 16) {
      __builtin_ia32_pause();
      continue;
    }
    scratch_returned_.wait(epoch, kSafetyNetNs);
  }
}

void ConcurrentCompaction::give_scratch(uint8_t* slot) {
  const uint64_t index = static_cast<uint64_t>(slot - scratch_) / kPageSize;
  scratch_free_.fetch_or(uint64_t{1} << index, std::memory_order_release);
  scratch_returned_.notify(1);
}

void ConcurrentCompaction::record_stall(uint64_t ns) {
  int bucket = 0;
  for (uint64_t us = ns / 1000; us > 1 && bucket < kStallBuckets - 1; us >>= 1) ++bucket;
  stalls_[bucket].fetch_add(1, std::memory_order_relaxed);
}

void ConcurrentCompaction::wait_installed(uint64_t index) const {
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = progress_epoch();
    if (load_state(index) == kInstalled) return;
    wait_for_progress(round, epoch);
  }
}

// A few spins, then the event count (os/event_count.h): a publication after epoch_seen was
// read is never slept through; the caller looks at its page again either way.
void ConcurrentCompaction::wait_for_progress(unsigned round, uint32_t epoch_seen) const {
  if (round < 64) {
    __builtin_ia32_pause();
    return;
  }
  progress_.wait(epoch_seen, kSafetyNetNs);
}

void ConcurrentCompaction::announce_progress() { progress_.notify(os::EventCount::kWakeAll); }

bool ConcurrentCompaction::handle_fault(uint64_t addr, uffd::InstallResult* failure) {
  const uint64_t start = os::monotonic_ns();
  const uint64_t page = align_down(addr, kPageSize);
  const uint64_t index = (page - begin_) / kPageSize;
  const bool free_page = page >= end_;  // above the compacted end: handed out zero-filled
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = progress_epoch();
    const uint8_t state = load_state(index);
    if (state == kInstalled) break;
    if (state == kUnprocessed && plan_.block().contains_dst(page) &&
        !plan_.block_page_indexed(page)) {
      wait_for_progress(round, epoch);  // the GC thread is still indexing the black block
      continue;
    }
    if (state == kUnprocessed && claim(index)) {
      uint8_t* buffer = take_scratch();
      if (free_page) {
        __builtin_memset(buffer, 0, kPageSize);
      } else {
        plan_.compact_page(page, buffer);
      }
      // Copied, not moved: the scratch page stays for the next fault (design: .install.move-cost).
      const uffd::InstallResult r = installer_.copy(page, reinterpret_cast<uint64_t>(buffer), 1);
      give_scratch(buffer);
      if (free_page && r.status == uffd::InstallStatus::kRangeGone) {
        // The GC thread unregistered the free pages meanwhile (the phase is ending): the
        // access, retried, takes an ordinary fault.
        publish(index);
        announce_progress();
        break;
      }
      if (r.status != uffd::InstallStatus::kDone) {
        *failure = r;
        return false;
      }
      publish(index);
      announce_progress();
      (free_page ? free_by_mutators_ : by_mutators_).fetch_add(1, std::memory_order_relaxed);
      break;
    }
    wait_for_progress(round, epoch);
  }
  record_stall(os::monotonic_ns() - start);
  return true;
}

// The same production as a fault's, without waiting: a page someone else claimed, or one of
// the black block the GC thread has not indexed yet, is skipped (design: .cycle.compaction).
bool ConcurrentCompaction::assist(uint8_t* buffer, bool* ok, uffd::InstallResult* failure) {
  *ok = true;
  const uint64_t pages = (end_ - begin_) / kPageSize;
  const uint64_t first = assist_next_.fetch_add(kRunPages, std::memory_order_relaxed);
  if (first >= pages) return false;
  const uint64_t last = std::min(pages, first + kRunPages);
  uint64_t run = 0;  // claimed pages built in buffer, ending before index
  auto install = [&](uint64_t end_index) {
    if (run == 0) return true;
    const uint64_t lo = begin_ + (end_index - run) * kPageSize;
    const uffd::InstallResult r = installer_.copy(lo, reinterpret_cast<uint64_t>(buffer), run);
    if (r.status != uffd::InstallStatus::kDone) {
      *failure = r;
      return false;
    }
    for (uint64_t i = end_index - run; i < end_index; ++i) publish(i);
    announce_progress();
    by_assists_.fetch_add(run, std::memory_order_relaxed);
    run = 0;
    return true;
  };
  for (uint64_t index = first; index < last; ++index) {
    const uint64_t page = begin_ + index * kPageSize;
    const bool take = load_state(index) == kUnprocessed &&
                      !(plan_.block().contains_dst(page) && !plan_.block_page_indexed(page)) &&
                      claim(index);
    if (take) {
      plan_.compact_page(page, buffer + run * kPageSize);
      ++run;
    } else if (!install(index)) {
      *ok = false;
      return true;
    }
  }
  if (!install(last)) *ok = false;
  return true;
}

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
    while (hi < ceiling && claim((hi - begin_) / kPageSize)) hi += kPageSize;
    if (hi == lo) {  // a mutator touched it first
      tail_filled_ += kPageSize;
      continue;
    }
    const uint64_t pages = (hi - lo) / kPageSize;
    const int64_t recycled = install_in_frames(
        lo, hi, kFolioBytes / kPageSize, [](uint64_t, uint8_t* where) { std::memset(where, 0, kPageSize); },
        failure);
    if (recycled < 0) return false;
    for (uint64_t page = lo; page < hi; page += kPageSize) publish((page - begin_) / kPageSize);
    announce_progress();
    free_prefilled_ += pages;
    free_recycled_ += static_cast<uint64_t>(recycled);
    tail_filled_ = hi;
  }
  return true;
}

bool ConcurrentCompaction::run_gc_thread(uffd::InstallResult* failure) {
  peak_rss_ = os::resident_bytes();
  from_space_mappings_ = mappings_within(flipped_, delta_);
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
    while (lo > lowest && claim((lo - kPageSize - begin_) / kPageSize)) lo -= kPageSize;
    if (lo == hi) {
      // The top page is being produced (or is done) by a mutator: wait, then go on below it.
      // Across pages an assisting thread produced (ConcurrentCompaction::assist, from the
      // bottom up) the from-space they read joins the free pool a run's worth at a time.
      wait_installed((hi - kPageSize - begin_) / kPageSize);
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
  for (uint64_t page = lo; page < hi; page += kPageSize) publish((page - begin_) / kPageSize);
  announce_progress();
  if (++runs_ % kRssSampleRuns == 0) peak_rss_ = std::max(peak_rss_, os::resident_bytes());
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
