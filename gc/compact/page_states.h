// The state of every to-space page of a concurrent compaction (design: .cycle.compaction): one
// byte per page, unprocessed -> producing (claimed by compare-and-swap: whoever claims it
// produces it) -> installed. Threads that need a page someone else produces wait on an event
// count that every publication notifies. Async-signal-safe (atomics, a futex): mutators use it
// from the SIGBUS handler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/event_count.h"

namespace uffdgc::gc {

class PageStates {
 public:
  enum State : uint8_t { kUnprocessed = 0, kProducing = 1, kInstalled = 2 };

  PageStates() = default;
  PageStates(const PageStates&) = delete;
  PageStates& operator=(const PageStates&) = delete;
  ~PageStates();

  // Maps `pages` states, all kUnprocessed, populated now (the flip pause then writes resident
  // memory). False without memory.
  bool map(uint64_t pages);
  bool mapped() const { return states_ != nullptr; }
  // Sets pages [first, first + count) to `state` (before anyone else reads them).
  void set(uint64_t first, uint64_t count, State state);

  uint8_t load(uint64_t index) const { return __atomic_load_n(&states_[index], __ATOMIC_ACQUIRE); }
  bool claim(uint64_t index) {
    uint8_t expected = kUnprocessed;
    return __atomic_compare_exchange_n(&states_[index], &expected, kProducing, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  // The page is in place; announce_progress() wakes its waiters (once per batch).
  void publish(uint64_t index) { __atomic_store_n(&states_[index], kInstalled, __ATOMIC_RELEASE); }
  void announce_progress() { progress_.notify(os::EventCount::kWakeAll); }

  // What a waiter reads before it looks at the state that makes it wait.
  uint32_t progress_epoch() const { return progress_.epoch(); }
  // A few spins, then a wait until a publication after epoch_seen (or the safety net); the
  // caller looks at its page again either way.
  void wait_for_progress(unsigned round, uint32_t epoch_seen) const;
  // Until page `index` is installed.
  void wait_installed(uint64_t index) const;

 private:
  static constexpr uint64_t kSafetyNetNs = 10'000'000;  // longest sleep of a wait: 10 ms
  uint8_t* states_ = nullptr;
  size_t bytes_ = 0;
  os::EventCount progress_;  // notified with every publication
};

}  // namespace uffdgc::gc
