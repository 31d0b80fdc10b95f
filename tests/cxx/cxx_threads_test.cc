// The C++ layer with several threads: ParkedScope lets collections proceed without the parked
// thread, a running thread joins them at its poll(), handles of a parked thread are still
// roots and are updated, checkpoints run on every mutator.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "cxx_test_support.h"

namespace cxxtest {
namespace {

using namespace std::chrono_literals;

// Signals between the test thread and a helper mutator thread.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool set = false;
  void Set() {
    {
      std::lock_guard<std::mutex> lock(mu);
      set = true;
    }
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return set; });
  }
};

TEST_F(CxxFixture, ParkedScopeLetsCollectionsProceed) {
  Watchdog watchdog("ParkedScopeLetsCollectionsProceed");
  Latch parked, release;
  std::atomic<int64_t> payload_after{-1};
  std::atomic<bool> moved{false};
  std::thread other([&] {
    uffdgc::MutatorScope thread(*heap_);
    ASSERT_TRUE(thread.ok());
    uffdgc::Mutator m = thread.mutator();
    uffdgc::HandleScope scope(m);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(m.alloc(blob_).ok());  // garbage below
    uffdgc::Handle<Node> mine = scope.handle(m.alloc(node_).value());
    mine->payload = 77;
    uffdgc_ref before = mine.raw();
    {
      uffdgc::ParkedScope p(m);  // blocks below without polling: must be parked
      ASSERT_TRUE(p.ok()) << p.status().name();
      parked.Set();
      release.Wait();
    }  // unpark: waits if a collection were running
    moved = mine.raw() != before;
    payload_after = mine->payload;
  });
  {
    uffdgc::ParkedScope p(m_);  // never block while running: a collection would wait for us
    parked.Wait();
  }
  uint64_t before = heap_->stats()->collections;
  Collect();  // must not wait for the parked thread
  Collect();
  EXPECT_EQ(heap_->stats()->collections, before + 2);
  release.Set();
  {
    uffdgc::ParkedScope p(m_);
    other.join();
  }
  EXPECT_EQ(payload_after.load(), 77) << "the parked thread's handle was a root";
  EXPECT_TRUE(moved.load()) << "and it was updated when the node moved";
}

TEST_F(CxxFixture, ParkedTestThreadWhileAnotherCollects) {
  Watchdog watchdog("ParkedTestThreadWhileAnotherCollects");
  uffdgc::HandleScope scope(m_);
  Garbage(500);
  uffdgc::Handle<Node> h = scope.handle(NewNode(11));
  uffdgc_ref before = h.raw();
  std::atomic<int> collected{0};
  {
    uffdgc::ParkedScope p(m_);
    ASSERT_TRUE(p.ok());
    std::thread([&] {
      uffdgc::MutatorScope thread(*heap_);
      ASSERT_TRUE(thread.ok());
      for (int i = 0; i < 3; ++i) {
        if (thread->collect().ok()) ++collected;
      }
    }).join();
  }
  EXPECT_EQ(collected.load(), 3);
  EXPECT_NE(h.raw(), before);
  EXPECT_EQ(h->payload, 11);
}

TEST_F(CxxFixture, RunningThreadJoinsTheCollectionAtItsPoll) {
  Watchdog watchdog("RunningThreadJoinsTheCollectionAtItsPoll");
  std::atomic<bool> running{false}, stop{false};
  std::atomic<long> polls{0};
  std::thread other([&] {
    uffdgc::MutatorScope thread(*heap_);
    ASSERT_TRUE(thread.ok());
    uffdgc::Mutator m = thread.mutator();
    uffdgc::HandleScope scope(m);
    uffdgc::Handle<Node> mine = scope.handle(m.alloc(node_).value());
    mine->payload = 5;
    running = true;
    while (!stop.load()) {
      ASSERT_EQ(mine->payload, 5);
      ASSERT_TRUE(m.alloc(blob_).ok());  // garbage, and allocation is a safepoint too
      m.poll();
      ++polls;
    }
  });
  while (!running.load()) m_.poll();  // the other thread may already be collecting
  for (int i = 0; i < 5; ++i) Collect();
  stop = true;
  {
    uffdgc::ParkedScope p(m_);
    other.join();
  }
  EXPECT_GE(heap_->stats()->collections, 5u);
  EXPECT_GT(polls.load(), 0);
}

TEST_F(CxxFixture, CheckpointRunsOnEveryMutator) {
  Watchdog watchdog("CheckpointRunsOnEveryMutator");
  constexpr int kThreads = 3;
  std::atomic<int> attached{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::vector<int> tags(kThreads + 1);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      uffdgc::MutatorScope thread(*heap_, &tags[static_cast<size_t>(i)]);
      ASSERT_TRUE(thread.ok());
      ++attached;
      if (i == 0) {  // one parked: the requester runs the checkpoint on its behalf
        uffdgc::ParkedScope p(thread.mutator());
        while (!stop.load()) std::this_thread::sleep_for(1ms);
      } else {
        while (!stop.load()) thread->poll();
      }
    });
  }
  while (attached.load() < kThreads) m_.poll();
  std::mutex mu;
  std::vector<void*> seen;
  auto checkpoint = [&](uffdgc::Mutator target) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(target.vm_thread());
  };
  EXPECT_TRUE(m_.run_checkpoint(checkpoint).ok());
  stop = true;
  {
    uffdgc::ParkedScope p(m_);
    for (auto& t : threads) t.join();
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads + 1));
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), &tags[static_cast<size_t>(i)]), 1);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), static_cast<void*>(this)), 1);
}

TEST_F(CxxFixture, TwoThreadsBuildGraphsThroughCollections) {
  Watchdog watchdog("TwoThreadsBuildGraphsThroughCollections", 120);
  std::atomic<long> bad{0};
  auto work = [&](int seed) {
    uffdgc::MutatorScope thread(*heap_);
    ASSERT_TRUE(thread.ok());
    uffdgc::Mutator m = thread.mutator();
    auto table = uffdgc::Global<Array>::create(*heap_, m.alloc(array_, 16).value()).value();
    std::vector<int64_t> expected(16, 0);
    for (int it = 0; it < 3000; ++it) {
      uffdgc::HandleScope scope(m);
      uffdgc::Handle<Node> head = scope.handle(uffdgc::Ref<Node>());
      int64_t sum = 0;
      for (int i = 0; i < 1 + (it + seed) % 20; ++i) {
        uffdgc::Ref<Node> n = m.alloc(node_).value();
        n->payload = seed * 1000 + i;
        sum += n->payload;
        m.store(n, &Node::left, head);
        m.store(n, &Node::right, head);
        head.set(n);
      }
      size_t slot = static_cast<size_t>((it * 7 + seed) % 16);
      m.store(table.get(), &table->at()[slot], head);
      expected[slot] = sum;
      if (it % 500 == 0 && seed == 1) {
        EXPECT_TRUE(m.collect().ok());
      }
      m.poll();
    }
    EXPECT_TRUE(m.collect().ok());
    for (size_t s = 0; s < 16; ++s) {
      int64_t sum = 0;
      for (uffdgc::Ref<Node> n(table->at()[s]); n; n = uffdgc::load_ref(n->left)) sum += n->payload;
      if (sum != expected[s]) ++bad;
    }
  };
  {
    uffdgc::ParkedScope p(m_);  // the test thread only waits
    std::thread a(work, 1), b(work, 2);
    a.join();
    b.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(heap_->stats()->collections, 2u);
}

}  // namespace
}  // namespace cxxtest
