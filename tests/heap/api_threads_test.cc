// Heap API unit tests: park/unpark, safepoint polls, checkpoints, several mutators.
#include <map>
#include <set>

#include "heap_test_support.h"

namespace heaptest {
namespace {

class ThreadsTest : public HeapFixture {
 protected:
  // Waits for an atomic while taking part in safepoints.
  template <typename T>
  void PollWhile(const std::atomic<T>& v, T value) {
    while (v.load() == value) {
      uffdgc_poll(mut_);
      std::this_thread::yield();
    }
  }
};

TEST_F(ThreadsTest, ParkUnparkRoundTrip) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  }
  uffdgc_poll(mut_);
  uffdgc_safepoint_slow(mut_);  // nothing pending: returns at once
  Collect();
}

TEST_F(ThreadsTest, ParkedThreadDoesNotBlockCollectionsAndItsHandlesAreRoots) {
  Watchdog dog("ParkedThreadDoesNotBlockCollections");
  std::atomic<uffdgc_ref*> handle{nullptr};
  std::atomic<bool> go{false};
  std::atomic<int> t_ok{0};
  MutatorThread t(heap_, [&](uffdgc_mutator* m) {
    uffdgc_handle_scope s;
    ASSERT_EQ(uffdgc_handle_scope_open(m, &s), UFFDGC_OK);
    uffdgc_ref r = 0;
    for (int i = 0; i < 100; ++i) {  // garbage in this thread's TLAB before the object
      ASSERT_EQ(uffdgc_alloc(m, types_.bytes, 500, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    }
    ASSERT_EQ(uffdgc_alloc(m, types_.node, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    Word(r, kIdOffset) = 4711;
    Word(r, kNodeScalar) = ScalarFor(4711);
    uffdgc_ref* h = uffdgc_handle_new(m, r);
    ASSERT_NE(h, nullptr);
    handle.store(h);
    // Parked: the main thread collects without waiting for this thread.
    ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
    EXPECT_EQ(Id(*h), 4711u);
    EXPECT_EQ(Word(*h, kNodeScalar), ScalarFor(4711));
    ASSERT_EQ(uffdgc_handle_scope_close(m, &s), UFFDGC_OK);
    t_ok.store(1);
  });
  PollWhile(handle, static_cast<uffdgc_ref*>(nullptr));
  const uffdgc_ref before = *handle.load();
  Garbage(100000);
  Collect();
  Collect();
  uffdgc_ref now = *handle.load();  // the parked thread's handle was updated
  ExpectIntact(now, 4711);
  EXPECT_NE(now, before) << "object behind garbage did not move";
  EXPECT_GE(HeapStats().collections, 2u);
  go.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);  // do not block a collection while joining
  t.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(t_ok.load(), 1);
  EXPECT_EQ(t.detach_result(), UFFDGC_OK);
}

TEST_F(ThreadsTest, RunningThreadsStopAtPollsWhileMutating) {
  Watchdog dog("RunningThreadsStopAtPollsWhileMutating", 120);
  constexpr int kThreads = 2;
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<int> failures{0};
  std::vector<std::unique_ptr<MutatorThread>> threads;
  for (int ti = 0; ti < kThreads; ++ti) {
    threads.push_back(std::make_unique<MutatorThread>(heap_, [&, ti](uffdgc_mutator* m) {
      uffdgc_handle_scope s;
      if (uffdgc_handle_scope_open(m, &s) != UFFDGC_OK) {
        failures.fetch_add(1);
        return;
      }
      constexpr uint64_t kSlots = 64;
      uffdgc_ref arr = 0;
      if (uffdgc_alloc(m, types_.ref_array, kSlots, 0, &arr) != UFFDGC_OK) {
        failures.fetch_add(1);
        return;
      }
      uffdgc_ref* h = uffdgc_handle_new(m, arr);
      std::vector<uint64_t> model(kSlots, 0);
      uint64_t next = 1;
      ready.fetch_add(1);
      while (!stop.load()) {
        for (int k = 0; k < 50; ++k) {
          uint64_t slot = (next * 7919) % kSlots;
          uffdgc_ref r = 0;
          if (uffdgc_alloc(m, types_.bytes, next % 200, 0, &r) != UFFDGC_OK) {
            failures.fetch_add(1);
            return;
          }
          uint64_t id = (static_cast<uint64_t>(ti) << 32) | next++;
          Word(r, kIdOffset) = id;
          for (uint64_t b = 0; b < Length(r); ++b) Bytes(r)[b] = PatternByte(id, b);
          uffdgc_store_ref(m, *h, Elem(*h, slot), r);
          model[slot] = id;
          uffdgc_poll(m);
        }
        // Check the whole array against the model.
        for (uint64_t i = 0; i < kSlots; ++i) {
          uffdgc_ref r = *Elem(*h, i);
          uint64_t id = r ? Id(r) : 0;
          if (id != model[i]) {
            ADD_FAILURE() << "thread " << ti << " slot " << i << " id " << id << " expected "
                          << model[i];
            failures.fetch_add(1);
            return;
          }
          for (uint64_t b = 0; r && b < Length(r); ++b) {
            if (Bytes(r)[b] != PatternByte(id, b)) {
              ADD_FAILURE() << "thread " << ti << " object " << id << " byte " << b;
              failures.fetch_add(1);
              return;
            }
          }
        }
      }
      uffdgc_handle_scope_close(m, &s);
    }));
  }
  PollWhile(ready, 0);
  PollWhile(ready, 1);
  uffdgc_ref* mine = H(AllocId(types_.leaf, 99));
  for (int i = 0; i < 20; ++i) {
    Garbage(20000);
    Collect();
    ExpectIntact(*mine, 99);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  for (auto& t : threads) t->Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(HeapStats().collections, 20u);
}

TEST_F(ThreadsTest, ConcurrentCollectRequestsFromSeveralThreads) {
  Watchdog dog("ConcurrentCollectRequestsFromSeveralThreads", 120);
  constexpr int kThreads = 3;
  std::atomic<int> failures{0};
  std::atomic<bool> start{false};
  std::vector<std::unique_ptr<MutatorThread>> threads;
  for (int ti = 0; ti < kThreads; ++ti) {
    threads.push_back(std::make_unique<MutatorThread>(heap_, [&, ti](uffdgc_mutator* m) {
      while (!start.load()) uffdgc_poll(m);
      uffdgc_handle_scope s;
      uffdgc_handle_scope_open(m, &s);
      uffdgc_ref r = 0;
      if (uffdgc_alloc(m, types_.leaf, 0, 0, &r) != UFFDGC_OK) {
        failures.fetch_add(1);
        return;
      }
      Word(r, kIdOffset) = 1000 + ti;
      uffdgc_ref* h = uffdgc_handle_new(m, r);
      for (int i = 0; i < 15; ++i) {
        for (int k = 0; k < 100; ++k) uffdgc_alloc(m, types_.bytes, 300, 0, &r);
        if (uffdgc_collect(m) != UFFDGC_OK) failures.fetch_add(1);
        if (Id(*h) != static_cast<uint64_t>(1000 + ti)) failures.fetch_add(1);
      }
      uffdgc_handle_scope_close(m, &s);
    }));
  }
  for (auto& t : threads) t->WaitAttached();
  start.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  for (auto& t : threads) t->Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(HeapStats().collections, 15u);
  for (auto& t : threads) EXPECT_EQ(t->detach_result(), UFFDGC_OK);
}

// A thread that unparks while the world is stopped waits until the pause is over.
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
struct PauseProbe {
  std::atomic<int> in_pause{0};
  std::atomic<int64_t> sleep_done_ns{0};
};
void SlowPauseListener(const uffdgc_event* e, void* arg) {
  PauseProbe* p = static_cast<PauseProbe*>(arg);
  // The first pause only (concurrent cycles have three): the thread unparks during it.
  if (e->kind == UFFDGC_EVENT_PAUSE_BEGIN && p->in_pause.exchange(1) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the world stays stopped
    p->sleep_done_ns.store(NowNs());
  }
}

TEST_F(ThreadsTest, UnparkWaitsWhileTheWorldIsStopped) {
  Watchdog dog("UnparkWaitsWhileTheWorldIsStopped");
  PauseProbe probe;
  ASSERT_EQ(uffdgc_set_event_listener(heap_, &SlowPauseListener, &probe), UFFDGC_OK);
  std::atomic<int64_t> unparked_ns{0};
  std::atomic<bool> parked{false};
  MutatorThread t(heap_, [&](uffdgc_mutator* m) {
    ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
    parked.store(true);
    while (probe.in_pause.load() == 0) std::this_thread::yield();
    ASSERT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
    unparked_ns.store(NowNs());
  });
  while (!parked.load()) std::this_thread::yield();
  Collect();
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  t.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  ASSERT_NE(probe.sleep_done_ns.load(), 0);
  EXPECT_GE(unparked_ns.load(), probe.sleep_done_ns.load())
      << "unpark returned while the world was stopped";
  ASSERT_EQ(uffdgc_set_event_listener(heap_, nullptr, nullptr), UFFDGC_OK);
}

// ---- checkpoints ----

struct CheckpointLog {
  std::mutex mu;
  std::vector<std::pair<uffdgc_mutator*, std::thread::id>> calls;
};
void RecordCheckpoint(uffdgc_mutator* target, void* arg) {
  CheckpointLog* log = static_cast<CheckpointLog*>(arg);
  std::lock_guard<std::mutex> lock(log->mu);
  log->calls.emplace_back(target, std::this_thread::get_id());
}

TEST_F(ThreadsTest, CheckpointRunsOnceForEveryMutator) {
  Watchdog dog("CheckpointRunsOnceForEveryMutator");
  std::atomic<uffdgc_mutator*> running{nullptr}, parked{nullptr};
  std::atomic<bool> stop{false};
  std::thread::id running_tid;
  std::atomic<bool> parked_ready{false};
  MutatorThread t1(heap_, [&](uffdgc_mutator* m) {
    running_tid = std::this_thread::get_id();
    running.store(m);
    PollUntil(m, stop);
  });
  MutatorThread t2(heap_, [&](uffdgc_mutator* m) {
    ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
    parked.store(m);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
  });
  PollWhile(running, static_cast<uffdgc_mutator*>(nullptr));
  PollWhile(parked, static_cast<uffdgc_mutator*>(nullptr));

  CheckpointLog log;
  ASSERT_EQ(uffdgc_run_checkpoint(mut_, &RecordCheckpoint, &log), UFFDGC_OK);
  {
    std::lock_guard<std::mutex> lock(log.mu);
    ASSERT_EQ(log.calls.size(), 3u) << "one call per attached mutator, caller included";
    std::map<uffdgc_mutator*, std::thread::id> by_target;
    for (auto& [target, tid] : log.calls) by_target[target] = tid;
    ASSERT_EQ(by_target.size(), 3u) << "a mutator was visited twice";
    ASSERT_TRUE(by_target.count(mut_));
    ASSERT_TRUE(by_target.count(running.load()));
    ASSERT_TRUE(by_target.count(parked.load()));
    EXPECT_EQ(by_target[mut_], std::this_thread::get_id()) << "the caller runs its own";
    EXPECT_EQ(by_target[parked.load()], std::this_thread::get_id())
        << "a parked thread's checkpoint runs on the calling thread";
    EXPECT_EQ(by_target[running.load()], running_tid)
        << "a running thread runs its checkpoint at its next poll";
  }
  // Again from the running thread while the main thread is parked.
  CheckpointLog log2;
  std::atomic<int> result{1};
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  std::thread caller([&] {
    uffdgc_mutator* m = nullptr;
    // A fourth mutator, attached just to issue the checkpoint.
    if (uffdgc_mutator_attach(heap_, nullptr, &m) != UFFDGC_OK) return;
    result.store(uffdgc_run_checkpoint(m, &RecordCheckpoint, &log2));
    uffdgc_mutator_detach(m);
  });
  caller.join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(result.load(), UFFDGC_OK);
  {
    std::lock_guard<std::mutex> lock(log2.mu);
    EXPECT_EQ(log2.calls.size(), 4u);
    for (auto& [target, tid] : log2.calls) {
      if (target == mut_) {
        EXPECT_NE(tid, std::this_thread::get_id()) << "main was parked";
      }
    }
  }
  stop.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  t1.Join();
  t2.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
}

// "Returns when all have run": a running thread's checkpoint function that takes a while must
// have finished when uffdgc_run_checkpoint returns, also when other threads change state (and
// wake the requester) meanwhile.
struct SlowCheckpoint {
  uffdgc_mutator* caller;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
};
void SlowCheckpointFn(uffdgc_mutator* target, void* arg) {
  SlowCheckpoint* c = static_cast<SlowCheckpoint*>(arg);
  if (target == c->caller) return;
  c->started.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  c->finished.fetch_add(1);
}

TEST_F(ThreadsTest, CheckpointReturnsOnlyAfterEveryFunctionFinished) {
  Watchdog dog("CheckpointReturnsOnlyAfterEveryFunctionFinished", 30);
  // Outlive the threads: a checkpoint function that runs late must not touch a dead object.
  std::vector<std::unique_ptr<SlowCheckpoint>> states;
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  MutatorThread poller(heap_, [&](uffdgc_mutator* m) {
    ready.fetch_add(1);
    PollUntil(m, stop);
  });
  // Noise: a thread that parks and unparks all the time (each change wakes waiters).
  MutatorThread noise(heap_, [&](uffdgc_mutator* m) {
    ready.fetch_add(1);
    while (!stop.load()) {
      uffdgc_mutator_park(m);
      uffdgc_mutator_unpark(m);
      uffdgc_poll(m);
    }
  });
  PollWhile(ready, 0);
  PollWhile(ready, 1);
  int early = 0;
  for (int i = 0; i < 20; ++i) {
    states.push_back(std::make_unique<SlowCheckpoint>());
    SlowCheckpoint& c = *states.back();
    c.caller = mut_;
    ASSERT_EQ(uffdgc_run_checkpoint(mut_, &SlowCheckpointFn, &c), UFFDGC_OK);
    if (c.finished.load() != c.started.load() || c.finished.load() != 2) ++early;
    // Let stragglers finish before the next round.
    while (c.finished.load() < c.started.load()) {
      uffdgc_poll(mut_);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  EXPECT_EQ(early, 0) << "uffdgc_run_checkpoint returned before the checkpoint functions of "
                         "the other mutators had finished, in " << early << " of 20 rounds";
  stop.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  poller.Join();
  noise.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
}

// Two threads issue checkpoints at the same time while a third polls: every checkpoint
// completes (a poll request posted while another checkpoint function runs is not lost).
struct CountingCheckpoint {
  std::atomic<int> calls{0};
};
void CountingCheckpointFn(uffdgc_mutator*, void* arg) {
  static_cast<CountingCheckpoint*>(arg)->calls.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::microseconds(200));
}

TEST_F(ThreadsTest, ConcurrentCheckpointRequesters) {
  Watchdog dog("ConcurrentCheckpointRequesters", 60);
  constexpr int kRounds = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0}, bad{0}, done{0};
  std::mutex hist_mu;
  std::map<int, int> calls_hist;  // calls seen when run_checkpoint returned -> rounds
  MutatorThread poller(heap_, [&](uffdgc_mutator* m) {
    ready.fetch_add(1);
    PollUntil(m, stop);
  });
  auto requester = [&](uffdgc_mutator* m) {
    ready.fetch_add(1);
    while (ready.load() < 3) uffdgc_poll(m);
    for (int i = 0; i < kRounds; ++i) {
      CountingCheckpoint c;
      if (uffdgc_run_checkpoint(m, &CountingCheckpointFn, &c) != UFFDGC_OK) bad.fetch_add(1);
      const int n = c.calls.load();
      if (n != 4) {  // main (parked), poller, both requesters
        bad.fetch_add(1);
        std::lock_guard<std::mutex> lock(hist_mu);
        ++calls_hist[n];
      }
      // A late call must not touch `c` after this scope: wait for stragglers.
      for (int k = 0; k < 1000 && c.calls.load() < 4; ++k) {
        uffdgc_poll(m);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      if (n != 4) {
        std::lock_guard<std::mutex> lock(hist_mu);
        ++calls_hist[100 + c.calls.load()];  // 100 + calls after waiting 100 ms more
      }
      uffdgc_poll(m);
    }
    done.fetch_add(1);
    while (!stop.load()) uffdgc_poll(m);
  };
  MutatorThread r1(heap_, requester);
  MutatorThread r2(heap_, requester);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  while (done.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop.store(true);
  poller.Join();
  r1.Join();
  r2.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  std::string hist;
  for (auto& [n, rounds] : calls_hist) {
    hist += std::to_string(rounds) + (n >= 100 ? " round(s) with, 100 ms later, " : " round(s) with ") +
            std::to_string(n % 100) + " calls; ";
  }
  EXPECT_EQ(bad.load(), 0) << "of " << 2 * kRounds << " checkpoints, returned with a wrong "
                           << "number of functions run (expected 4): " << hist;
}

TEST_F(ThreadsTest, CheckpointWithOnlyTheCaller) {
  CheckpointLog log;
  ASSERT_EQ(uffdgc_run_checkpoint(mut_, &RecordCheckpoint, &log), UFFDGC_OK);
  ASSERT_EQ(log.calls.size(), 1u);
  EXPECT_EQ(log.calls[0].first, mut_);
  EXPECT_EQ(log.calls[0].second, std::this_thread::get_id());
}

}  // namespace
}  // namespace heaptest
