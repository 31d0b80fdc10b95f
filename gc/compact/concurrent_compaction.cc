#include "gc/compact/concurrent_compaction.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "gc/heap_geometry.h"
#include "gc/uffd/aligned_mapping.h"
#include "runtime/monotonic_clock.h"

namespace uffdgc::gc {

namespace {

constexpr uint64_t kRunBytes = ConcurrentCompaction::kRunPages * kPage;
constexpr uint64_t kReleaseBatch = 2ull << 20;  // madvise the from-space in >= 2 MiB steps

// Bounded backoff for a page someone else is producing: spin briefly, then sleep in growing
// steps (nanosleep is async-signal-safe; producing one page takes microseconds).
void backoff(unsigned round) {
  if (round < 16) {
    __builtin_ia32_pause();
    return;
  }
  const long us = round < 64 ? 1 : 10;
  timespec ts{0, us * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

ConcurrentCompaction::ConcurrentCompaction(const CompactionPlan& plan,
                                           const uffd::InstallerConfig& installer,
                                           int64_t from_space_delta)
    : plan_(plan),
      begin_(plan.segments().empty() ? 0 : plan.segments().front().start),
      end_(plan.segments().empty() ? 0 : plan.segments().back().to_space_end()),
      installer_(installer),
      delta_(from_space_delta),
      released_floor_(plan.segments().empty() ? 0 : align_up(plan.segments().back().end, kPage)) {
  const uint64_t pages = (end_ - begin_) / kPage;
  void* states = mmap(nullptr, align_up(pages + 1, kPage), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* scratch = uffd::map_anonymous_aligned(kScratchSlots * kPage, kPage);
  void* gc_buffer = uffd::map_anonymous_aligned(kRunBytes, kRunBytes);
  states_ = states == MAP_FAILED ? nullptr : static_cast<uint8_t*>(states);
  scratch_ = scratch == MAP_FAILED ? nullptr : static_cast<uint8_t*>(scratch);
  gc_buffer_ = gc_buffer == MAP_FAILED ? nullptr : static_cast<uint8_t*>(gc_buffer);
  if (states_ == nullptr) return;
  // Only the segments' to-space pages are produced; everything else in the range is done.
  std::memset(states_, kInstalled, pages);
  for (const Segment& s : plan.segments()) {
    std::memset(states_ + (s.start - begin_) / kPage, kUnprocessed,
                (s.to_space_end() - s.start) / kPage);
  }
}

ConcurrentCompaction::~ConcurrentCompaction() {
  const uint64_t pages = (end_ - begin_) / kPage;
  if (states_ != nullptr) munmap(states_, align_up(pages + 1, kPage));
  if (scratch_ != nullptr) munmap(scratch_, kScratchSlots * kPage);
  if (gc_buffer_ != nullptr) munmap(gc_buffer_, kRunBytes);
}

uint8_t* ConcurrentCompaction::take_scratch() {
  for (unsigned round = 0;; ++round) {
    uint64_t free = scratch_free_.load(std::memory_order_acquire);
    while (free != 0) {
      const int slot = __builtin_ctzll(free);
      if (scratch_free_.compare_exchange_weak(free, free & ~(uint64_t{1} << slot),
                                              std::memory_order_acq_rel)) {
        return scratch_ + static_cast<uint64_t>(slot) * kPage;
      }
    }
    backoff(round);
  }
}

void ConcurrentCompaction::give_scratch(uint8_t* slot) {
  const uint64_t index = static_cast<uint64_t>(slot - scratch_) / kPage;
  scratch_free_.fetch_or(uint64_t{1} << index, std::memory_order_release);
}

void ConcurrentCompaction::record_stall(uint64_t ns) {
  int bucket = 0;
  for (uint64_t us = ns / 1000; us > 1 && bucket < kStallBuckets - 1; us >>= 1) ++bucket;
  stalls_[bucket].fetch_add(1, std::memory_order_relaxed);
}

void ConcurrentCompaction::wait_installed(uint64_t index) const {
  for (unsigned round = 0; load_state(index) != kInstalled; ++round) backoff(round);
}

bool ConcurrentCompaction::handle_fault(uint64_t addr, uffd::InstallResult* failure) {
  const uint64_t start = monotonic_ns();
  const uint64_t page = align_down(addr, kPage);
  const uint64_t index = (page - begin_) / kPage;
  for (unsigned round = 0;; ++round) {
    const uint8_t state = load_state(index);
    if (state == kInstalled) break;
    if (state == kUnprocessed && claim(index)) {
      uint8_t* buffer = take_scratch();
      plan_.compact_page(page, buffer);
      const uffd::InstallResult r = installer_.install(page, reinterpret_cast<uint64_t>(buffer), 1);
      give_scratch(buffer);
      if (r.status != uffd::InstallStatus::kDone) {
        *failure = r;
        return false;
      }
      publish(index);
      by_mutators_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    backoff(round);
  }
  record_stall(monotonic_ns() - start);
  return true;
}

// Frees the from-space from `from` (a pre-compaction address, rounded up to a page) to the
// current floor, once the span is worth a madvise.
void ConcurrentCompaction::release_from_space(uint64_t from) {
  from = align_up(from, kPage);
  if (from >= released_floor_ || released_floor_ - from < kReleaseBatch) return;
  madvise(reinterpret_cast<void*>(static_cast<int64_t>(from) + delta_), released_floor_ - from,
          MADV_DONTNEED);
  released_floor_ = from;
}

bool ConcurrentCompaction::run_gc_thread(uffd::InstallResult* failure) {
  uint64_t hi = end_;  // every page at or above hi is installed
  while (hi > begin_) {
    // The run: aligned to 64K in absolute addresses, so a full run can move one whole folio.
    const uint64_t run_floor = std::max(begin_, align_down(hi - kPage, kRunBytes));
    uint64_t lo = hi;
    while (lo > run_floor && claim((lo - kPage - begin_) / kPage)) lo -= kPage;
    if (lo == hi) {
      // The top page is being produced (or is done) by a mutator: wait, then go on below it.
      wait_installed((hi - kPage - begin_) / kPage);
      hi -= kPage;
      continue;
    }
    uint8_t* buffer = gc_buffer_ + (lo - run_floor);
    for (uint64_t page = lo; page < hi; page += kPage) {
      plan_.compact_page(page, gc_buffer_ + (page - run_floor));
    }
    const uffd::InstallResult r =
        installer_.install(lo, reinterpret_cast<uint64_t>(buffer), (hi - lo) / kPage);
    if (r.status != uffd::InstallStatus::kDone) {
      *failure = r;
      return false;
    }
    for (uint64_t page = lo; page < hi; page += kPage) publish((page - begin_) / kPage);
    hi = lo;
    // Pages below hi read the from-space only below source_begin(hi).
    if (hi > begin_) release_from_space(plan_.source_begin(hi));
  }
  release_from_space(begin_);
  if (released_floor_ > begin_) {
    madvise(reinterpret_cast<void*>(static_cast<int64_t>(begin_) + delta_),
            released_floor_ - begin_, MADV_DONTNEED);
    released_floor_ = begin_;
  }
  return true;
}

}  // namespace uffdgc::gc
