#include "gc/allocation_pacer.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

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

// As ConcurrentCompaction::wait_for_progress: the waiter counts itself among the sleepers
// before it reads the epoch again, the publisher advances the epoch before it looks for
// sleepers (both sequentially consistent), so a wake-up between the caller's check and its
// sleep is never lost.
void AllocationPacer::wait() const {
  const uint32_t seen = epoch_.load(std::memory_order_seq_cst);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (epoch_.load(std::memory_order_seq_cst) == seen) {
    timespec timeout{0, static_cast<long>(kStepNs)};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAIT_PRIVATE, seen, &timeout,
            nullptr, 0);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
}

void AllocationPacer::wake() {
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) != 0) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }
}

}  // namespace uffdgc::gc
