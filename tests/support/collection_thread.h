// A collection asked for on a thread of its own (attached for the purpose, detached after), so
// that a test's own mutator can act while the cycle runs: it must keep polling, or be parked,
// for the cycle's pauses. finish() lets the test's mutator take part in the remaining pauses
// until the collection has returned (after the flip).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::test {

class CollectionThread {
 public:
  explicit CollectionThread(uffdgc_heap* heap)
      : thread_([this, heap] {
          uffdgc_mutator* m = nullptr;
          EXPECT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
          if (m != nullptr) {
            EXPECT_EQ(uffdgc_collect(m), UFFDGC_OK);
            uffdgc_mutator_detach(m);
          }
          done_.store(true);
        }) {}
  CollectionThread(const CollectionThread&) = delete;
  CollectionThread& operator=(const CollectionThread&) = delete;
  ~CollectionThread() {
    if (thread_.joinable()) thread_.join();
  }

  bool done() const { return done_.load(); }
  // Polls with `m` until the collection has returned, then joins the thread.
  void finish(uffdgc_mutator* m) {
    while (!done()) {
      uffdgc_poll(m);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace uffdgc::test
