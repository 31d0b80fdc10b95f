// Holds a heap's GC thread between a flip and its compaction (runtime/test_access.h,
// set_after_flip_hook), so a test meets an empty to-space: mutators, the kernel and fork() see
// pages no one has produced yet; or (install_before_flip) between planning the compaction and the
// flip pause. Set the hook while the GC thread is idle (before the cycle), release, then
// wait_left() before the gate goes out of scope.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/heap.h"
#include "runtime/test_access.h"

namespace uffdgc::test {

struct FlipGate {
  std::atomic<bool> held{false}, release{false}, left{false};

  void install(uffdgc_heap* heap) {
    test_access::set_after_flip_hook(heap, &FlipGate::hook, this);
  }
  void install_before_flip(uffdgc_heap* heap) {
    test_access::set_before_flip_hook(heap, &FlipGate::hook, this);
  }
  static void hook(void* arg) {
    auto* gate = static_cast<FlipGate*>(arg);
    gate->held.store(true);
    while (!gate->release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gate->left.store(true);
  }
  void wait_held() const {
    while (!held.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // After release: the GC thread no longer reads the gate.
  void wait_left() const {
    while (held.load() && !left.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
};

}  // namespace uffdgc::test
