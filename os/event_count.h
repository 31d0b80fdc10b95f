// OS layer (design: .os.contract, .os.event-count): an event count on a futex word, for waits
// that wake on the event instead of polling. A waiter reads epoch(), checks its condition, and
// if it must wait calls wait(seen): it sleeps until the epoch moves past `seen` or the timeout
// passes. A notifier changes the condition, then calls notify(), which advances the epoch and
// makes the wake system call only when someone may sleep. The waiter counts itself among the
// sleepers before it reads the epoch again, and the notifier advances the epoch before it looks
// for sleepers (all sequentially consistent): a notification that comes between the waiter's
// check and its sleep is never lost. The timeout is a safety net; waiters check their
// condition again after every return.
// Contract: async-signal-safe (atomics and the futex system call; the SIGBUS path waits here);
// no error results (an interrupted or failed wait returns like a wake-up).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

namespace uffdgc::os {

class EventCount {
 public:
  static constexpr int kWakeAll = INT_MAX;

  uint32_t epoch() const { return epoch_.load(std::memory_order_seq_cst); }

  void wait(uint32_t seen, uint64_t timeout_ns) const {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (epoch_.load(std::memory_order_seq_cst) == seen) {
      timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000),
                       static_cast<long>(timeout_ns % 1'000'000'000)};
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAIT_PRIVATE, seen, &timeout,
              nullptr, 0);
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }

  // Wakes up to `waiters` sleepers (kWakeAll: every one).
  void notify(int waiters) {
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&epoch_), FUTEX_WAKE_PRIVATE, waiters,
              nullptr, nullptr, 0);
    }
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  mutable std::atomic<uint32_t> epoch_{0};     // the futex word
  mutable std::atomic<uint32_t> sleepers_{0};  // threads in wait(), or about to be
};

}  // namespace uffdgc::os
