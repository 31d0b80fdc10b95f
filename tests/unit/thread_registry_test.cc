// ThreadRegistry checkpoints requested by a thread that is not a mutator (the GC thread hands
// the barrier logs over this way before each mark-end pause, design: .barrier.hand-over): every
// attached thread runs the function once, running ones on their own thread at a safepoint,
// parked ones on the requester's, and the requester returns only when all have.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/thread_registry.h"

namespace uffdgc::runtime {
namespace {

struct Record {
  std::mutex mu;
  std::vector<std::pair<uffdgc_mutator*, std::thread::id>> runs;
};

void record_run(uffdgc_mutator* m, void* arg) {
  auto* r = static_cast<Record*>(arg);
  std::lock_guard<std::mutex> lock(r->mu);
  r->runs.emplace_back(m, std::this_thread::get_id());
}

// A mutator thread that polls until told to stop (or stays parked).
struct PollingThread {
  uffdgc_mutator m;
  std::thread::id id;
  std::thread thread;
};

void start(ThreadRegistry& reg, PollingThread& t, bool parked, std::atomic<bool>& stop,
           std::atomic<int>& attached) {
  t.thread = std::thread([&reg, &t, parked, &stop, &attached] {
    t.m.owner = pthread_self();
    t.id = std::this_thread::get_id();
    ASSERT_TRUE(reg.attach(&t.m));
    if (parked) reg.park(&t.m);
    attached.fetch_add(1);
    while (!stop.load()) {
      if (!parked && __atomic_load_n(&t.m.fast.poll_flag, __ATOMIC_SEQ_CST) != 0) {
        reg.safepoint(&t.m);
      }
      std::this_thread::yield();
    }
    if (parked) reg.unpark(&t.m);
    reg.detach(&t.m);
  });
}

TEST(ThreadRegistryCheckpoint, WithoutRequesterEveryMutatorRunsItOnce) {
  ThreadRegistry reg;
  std::atomic<bool> stop{false};
  std::atomic<int> attached{0};
  PollingThread running[2], parked;
  for (PollingThread& t : running) start(reg, t, false, stop, attached);
  start(reg, parked, true, stop, attached);
  while (attached.load() < 3) std::this_thread::yield();

  for (int round = 0; round < 50; ++round) {
    Record rec;
    reg.run_checkpoint(nullptr, record_run, &rec);
    std::lock_guard<std::mutex> lock(rec.mu);
    ASSERT_EQ(rec.runs.size(), 3u) << "round " << round;
    for (PollingThread& t : running) {
      int seen = 0;
      for (const auto& [m, id] : rec.runs) {
        if (m == &t.m) {
          ++seen;
          EXPECT_EQ(id, t.id) << "a running thread runs its checkpoint itself";
        }
      }
      EXPECT_EQ(seen, 1);
    }
    int seen_parked = 0;
    for (const auto& [m, id] : rec.runs) {
      if (m == &parked.m) {
        ++seen_parked;
        EXPECT_EQ(id, std::this_thread::get_id()) << "the requester runs it for a parked thread";
      }
    }
    EXPECT_EQ(seen_parked, 1);
  }
  stop.store(true);
  for (PollingThread& t : running) t.thread.join();
  parked.thread.join();
  EXPECT_EQ(reg.count(), 0u);
}

TEST(ThreadRegistryCheckpoint, WithoutRequesterWaitsForAStopToEnd) {
  ThreadRegistry reg;
  std::atomic<bool> stop{false};
  std::atomic<int> attached{0};
  PollingThread t;
  start(reg, t, false, stop, attached);
  while (attached.load() < 1) std::this_thread::yield();

  reg.stop_the_world(nullptr);
  Record rec;
  std::atomic<bool> returned{false};
  std::thread requester([&] {
    reg.run_checkpoint(nullptr, record_run, &rec);
    returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load()) << "a checkpoint must not run while the world is stopped";
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    EXPECT_TRUE(rec.runs.empty());
  }
  reg.resume_the_world();
  requester.join();
  EXPECT_EQ(rec.runs.size(), 1u);
  stop.store(true);
  t.thread.join();
}

}  // namespace
}  // namespace uffdgc::runtime
