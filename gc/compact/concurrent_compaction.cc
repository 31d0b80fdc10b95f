// A concurrent compaction's setup (the page states of its range, the black block, the free
// pages' extent), the mutators' fault path (handle_fault, async-signal-safe) and the assists of
// threads waiting for the cycle. The GC thread's producer, the recycling pool and the free pages
// are in compaction_gc_thread.cc, compaction_recycling.cc and compaction_free_pages.cc.
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
#include "os/resource_usage.h"

namespace uffdgc::gc {

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
  const bool states = states_.map((space_limit - begin_) / kPageSize + 1);
  scratch_.map();
  void* gc_buffer = uffd::map_anonymous_aligned(kRunBytes, kRunBytes);
  gc_buffer_ = gc_buffer == MAP_FAILED ? nullptr : static_cast<uint8_t*>(gc_buffer);
  if (!states) return;
  // Only the segments' to-space pages are produced; the rest of the range (islands) is done.
  const uint64_t segments_end =
      plan.segments().empty() ? begin_ : plan.segments().back().to_space_end();
  states_.set(0, (segments_end - begin_) / kPageSize, PageStates::kInstalled);
  for (const Segment& s : plan.segments()) {
    states_.set((s.start - begin_) / kPageSize, (s.to_space_end() - s.start) / kPageSize,
                PageStates::kUnprocessed);
  }
  end_ = tail_end_ = tail_filled_ = segments_end;
}

void ConcurrentCompaction::cover_block(std::vector<AddressRange> remapped) {
  const BlackBlock& b = plan_.block();
  if (b.dst_end() > b.dst_begin) {
    if (b.dst_begin > end_) {
      states_.set((end_ - begin_) / kPageSize, (b.dst_begin - end_) / kPageSize,
                  PageStates::kInstalled);
    }
    states_.set((b.dst_begin - begin_) / kPageSize, (b.dst_end() - b.dst_begin) / kPageSize,
                PageStates::kUnprocessed);
    end_ = b.dst_end();
  }
  released_floor_ = recycle_top_ =
      b.src_end > b.src_begin
          ? b.src_end
          : (plan_.segments().empty() ? 0 : align_up(plan_.segments().back().end, kPageSize));
  remapped_ = std::move(remapped);
}

void ConcurrentCompaction::cover_tail(uint64_t tail_end,
                                      const std::atomic<uint64_t>* allocation_top,
                                      uint64_t recycle_target) {
  // The states above end_ are still zero (PageStates::kUnprocessed) from the mapping.
  tail_end_ = std::max(end_, tail_end);
  tail_filled_ = end_;
  recycle_target_ = std::min(tail_end_, recycle_target);
  allocation_top_ = allocation_top;
}

ConcurrentCompaction::~ConcurrentCompaction() {
  if (gc_buffer_ != nullptr) munmap(gc_buffer_, kRunBytes);
}

void ConcurrentCompaction::record_stall(uint64_t ns) {
  int bucket = 0;
  for (uint64_t us = ns / 1000; us > 1 && bucket < kStallBuckets - 1; us >>= 1) ++bucket;
  stalls_[bucket].fetch_add(1, std::memory_order_relaxed);
}

bool ConcurrentCompaction::handle_fault(uint64_t addr, uffd::InstallResult* failure) {
  const uint64_t start = os::monotonic_ns();
  const uint64_t page = align_down(addr, kPageSize);
  const uint64_t index = (page - begin_) / kPageSize;
  const bool free_page = page >= end_;  // above the compacted end: handed out zero-filled
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = states_.progress_epoch();
    const uint8_t state = states_.load(index);
    if (state == PageStates::kInstalled) break;
    if (state == PageStates::kUnprocessed && plan_.block().contains_dst(page) &&
        !plan_.block_page_indexed(page)) {
      states_.wait_for_progress(round, epoch);  // the GC thread is still indexing the black block
      continue;
    }
    if (state == PageStates::kUnprocessed && states_.claim(index)) {
      uint8_t* buffer = scratch_.take();
      if (free_page) {
        __builtin_memset(buffer, 0, kPageSize);
      } else {
        plan_.compact_page(page, buffer);
      }
      // Copied, not moved: the scratch page stays for the next fault (design: .install.move-cost).
      const uffd::InstallResult r = installer_.copy(page, reinterpret_cast<uint64_t>(buffer), 1);
      scratch_.give(buffer);
      if (free_page && r.status == uffd::InstallStatus::kRangeGone) {
        // The GC thread unregistered the free pages meanwhile (the phase is ending): the
        // access, retried, takes an ordinary fault.
        states_.publish(index);
        states_.announce_progress();
        break;
      }
      if (r.status != uffd::InstallStatus::kDone) {
        *failure = r;
        return false;
      }
      states_.publish(index);
      states_.announce_progress();
      (free_page ? free_by_mutators_ : by_mutators_).fetch_add(1, std::memory_order_relaxed);
      break;
    }
    states_.wait_for_progress(round, epoch);
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
    for (uint64_t i = end_index - run; i < end_index; ++i) states_.publish(i);
    states_.announce_progress();
    by_assists_.fetch_add(run, std::memory_order_relaxed);
    run = 0;
    return true;
  };
  for (uint64_t index = first; index < last; ++index) {
    const uint64_t page = begin_ + index * kPageSize;
    const bool take = states_.load(index) == PageStates::kUnprocessed &&
                      !(plan_.block().contains_dst(page) && !plan_.block_page_indexed(page)) &&
                      states_.claim(index);
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

}  // namespace uffdgc::gc
