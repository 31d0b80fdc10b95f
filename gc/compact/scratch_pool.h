// The scratch pages of a concurrent compaction (design: .cycle.compaction): a mutator that
// produces a to-space page from its SIGBUS handler builds it in one of kSlots pages taken from
// here and copies it into place, then gives the page back. When every slot is taken (that many
// threads faulting at once) take() spins briefly, then waits on an event count every returned
// slot notifies. Async-signal-safe: a bitmap of free slots, a futex, no allocation after map().
#pragma once

#include <atomic>
#include <cstdint>

#include "os/event_count.h"

namespace uffdgc::gc {

class ScratchPool {
 public:
  static constexpr int kSlots = 64;  // concurrent faulting threads served at once

  ScratchPool() = default;
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;
  ~ScratchPool();

  // Maps the slots; false without memory. Before any take().
  bool map();
  bool mapped() const { return pages_ != nullptr; }
  // A free page of kPageSize bytes; waits while every slot is taken.
  uint8_t* take();
  void give(uint8_t* page);

 private:
  static constexpr uint64_t kSafetyNetNs = 10'000'000;  // longest sleep of a wait: 10 ms
  uint8_t* pages_ = nullptr;
  std::atomic<uint64_t> free_{~uint64_t{0}};  // bit i: slot i is free
  os::EventCount returned_;                   // notified with every returned slot
};

}  // namespace uffdgc::gc
