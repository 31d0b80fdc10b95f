#include "gc/allocation_pacer.h"

namespace uffdgc::gc {

void AllocationPacer::start(uint64_t top, uint64_t limit, uint64_t expected_live) {
  begin_.store(top, std::memory_order_relaxed);
  headroom_.store(limit > top ? limit - top : 0, std::memory_order_relaxed);
  marked_.store(0, std::memory_order_relaxed);
  expected_.store(expected_live, std::memory_order_release);
}

void AllocationPacer::progress(uint64_t marked_bytes) {
  marked_.store(marked_bytes, std::memory_order_relaxed);
  wake();
}

void AllocationPacer::stop() {
  expected_.store(0, std::memory_order_release);
  wake();
}

bool AllocationPacer::over_budget(uint64_t top) const {
  const uint64_t expected = expected_.load(std::memory_order_acquire);
  if (expected == 0) return false;
  const uint64_t begin = begin_.load(std::memory_order_relaxed);
  if (top <= begin) return false;
  const double progress =
      std::min(1.0, static_cast<double>(marked_.load(std::memory_order_relaxed)) / expected);
  const double budget =
      static_cast<double>(headroom_.load(std::memory_order_relaxed)) * (kFloor + kSpan * progress);
  return static_cast<double>(top - begin) > budget;
}

// The epoch is read as the wait starts: a publication between the caller's budget check and
// that read is slept through for at most kStepNs, after which the caller checks again.
void AllocationPacer::wait() const { published_.wait(published_.epoch(), kStepNs); }

void AllocationPacer::wake() { published_.notify(os::EventCount::kWakeAll); }

}  // namespace uffdgc::gc
