// fork() while a concurrent cycle runs (uffdgc.h "fork", design: .embedder.fork), in MOVE and
// COPY mode, with a collector thread running cycles back to back and a second mutator thread
// mutating its own structure meanwhile:
//
//  * ForkWhileMarking / ForkWhileCompacting: the forking mutator waits for the "mark-start"
//    (resp. "flip") event, then calls uffdgc_atfork_prepare + fork. The header promises that
//    prepare waits for the concurrent phase to end and blocks collections: checked (no GC-thread
//    job after prepare; most forks really had to wait). The child keeps only the forking
//    thread: it checks its big graph, allocates past the trigger and runs a collection of its
//    own (a new GC thread and userfaultfd in the child), checks again and tears the heap down.
//    The parent's next cycles must succeed and its graph stay intact.
//  * RepeatedForksFromAnUnattachedThread: a thread that is not attached forks in a loop (with
//    the hooks) while cycles run; each child attaches, allocates, collects and exits.
//  * ChildThatNeverTouchesTheHeap: plain fork() without the hooks (as system() or a spawn
//    helper would) during marking and compaction, the child lives a few ms without touching
//    the heap: pages shared with it may make MOVE say EBUSY (COPY fallback); the parent's
//    cycles and graph must not notice.
//
// A Watchdog turns any deadlock into a failure; children run under alarm().
// Under ThreadSanitizer a child must not start threads (a multi-threaded parent), so there the
// child checks the heap, runs a checkpoint and tears it down, but neither allocates nor collects.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <random>

#include "tests/support/sanitizers.h"
#include "tests/support/require.h"
#include "../heap/heap_test_support.h"
#include "runtime/heap.h"


namespace heaptest {
namespace {

#define CHILD_CHECK(cond)                                                                  \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "child: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fflush(stderr);                                                                 \
      _exit(10);                                                                           \
    }                                                                                      \
  } while (0)

constexpr uint64_t kChain = 60000;  // nodes in the forking thread's graph (~8 MiB with payloads)
constexpr uint64_t kPayload = 80;

void ExpectChildOk(pid_t pid, const std::string& what) {
  ASSERT_GT(pid, 0) << what << ": fork failed";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status)) {
    ADD_FAILURE() << what << ": child killed by signal " << WTERMSIG(status)
                  << (WTERMSIG(status) == SIGALRM ? " (hung: alarm)" : "");
    return;
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << what << ": child failed (see its stderr)";
}

struct Events {
  std::atomic<uint64_t> mark_start{0}, flip{0}, cycle_end{0};
};

void OnEvent(const uffdgc_event* e, void* arg) {
  Events* ev = static_cast<Events*>(arg);
  if (e->kind == UFFDGC_EVENT_CYCLE_END) ev->cycle_end.fetch_add(1);
  if (e->kind != UFFDGC_EVENT_PHASE || e->phase == nullptr) return;
  if (std::strcmp(e->phase, "mark-start") == 0) ev->mark_start.fetch_add(1);
  if (std::strcmp(e->phase, "flip") == 0) ev->flip.fetch_add(1);
}

class ForkDuringCycle : public HeapFixture, public ::testing::WithParamInterface<uint32_t> {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options(128u << 20);
    o.mode = GetParam();
    o.trigger_allocated = 8u << 20;
    o.flags |= UFFDGC_HEAP_NO_FORK_HANDLERS;  // the test calls uffdgc_atfork_* itself
    return o;
  }

  void SetUp() override {
    if (uffdgc::test::kAddressSanitizer) {
      // GCC 12's ASan allocator takes no lock around fork(): a child forked while another
      // thread is inside malloc deadlocks on the allocator's lock (seen in CI as children
      // killed by their alarm). These tests fork while helper threads allocate; they run in
      // the Release and TSan builds.
      GTEST_SKIP() << "ASan (GCC 12) is not fork-safe while other threads allocate";
    }
    uffdgc_heap_options o = MakeOptions();
    uffdgc_heap* probe = nullptr;
    const uffdgc_result rc = uffdgc_heap_create(&o, &probe);
    if (rc == UFFDGC_EUNSUPPORTED) {
      UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(o.mode),
                              std::string(uffdgc_mode_name(o.mode)) + " mode is not supported here (uffdgc-probe)");
    }
    ASSERT_EQ(rc, UFFDGC_OK);
    ASSERT_EQ(uffdgc_heap_destroy(probe), UFFDGC_OK);
    HeapFixture::SetUp();
    ASSERT_EQ(uffdgc_set_event_listener(heap_, &OnEvent, &events_), UFFDGC_OK);
  }

  void TearDown() override {
    StopHelpers();
    if (heap_ != nullptr) uffdgc_set_event_listener(heap_, nullptr, nullptr);
    HeapFixture::TearDown();
  }

  // The forking thread's graph: a chain of nodes (ids 1..kChain), each with a byte payload,
  // with garbage in between so that every cycle slides it.
  void BuildChain() {
    chain_ = H(0);
    payload_ = H(0);
    for (uint64_t i = 1; i <= kChain; ++i) {
      *payload_ = AllocId(types_.bytes, i | (1ull << 40), kPayload);
      if (i % 3 == 0) Garbage(100);
      uffdgc_ref n = AllocId(types_.node, i);
      ASSERT_NE(n, 0u);
      Store(n, kNodeRefs[0], *chain_);
      Store(n, kNodeRefs[1], *payload_);
      *chain_ = n;
      if (i % 1024 == 0) uffdgc_poll(mut_);
    }
    *payload_ = 0;
  }

  // Empty string when the chain is intact; usable in a child (no GoogleTest there).
  std::string CheckChain() {
    uint64_t expect = kChain;
    for (uffdgc_ref n = *chain_; n != 0; n = *Slot(n, kNodeRefs[0]), --expect) {
      if (Id(n) != expect || TypeOf(n) != types_.node || Word(n, kNodeScalar) != ScalarFor(expect)) {
        return "node " + std::to_string(expect) + " wrong (id " + std::to_string(Id(n)) + ")";
      }
      const uffdgc_ref p = *Slot(n, kNodeRefs[1]);
      const uint64_t pid = expect | (1ull << 40);
      if (p == 0 || Id(p) != pid || Length(p) != kPayload) {
        return "payload of node " + std::to_string(expect) + " wrong";
      }
      for (uint64_t b = 0; b < kPayload; b += 7) {
        if (Bytes(p)[b] != PatternByte(pid, b)) return "payload byte of " + std::to_string(expect);
      }
    }
    return expect == 0 ? "" : "chain ends early at " + std::to_string(expect);
  }

  // A collector thread running cycles back to back, and a mutator that keeps replacing a small
  // structure of its own and checks it.
  void StartHelpers() {
    collector_ = std::make_unique<MutatorThread>(heap_, [this](uffdgc_mutator* m) {
      while (!stop_.load()) {
        if (uffdgc_collect(m) != UFFDGC_OK) helper_failures_.fetch_add(1);
        collections_.fetch_add(1);
        uffdgc_poll(m);
      }
    });
    mutator_ = std::make_unique<MutatorThread>(heap_, [this](uffdgc_mutator* m) {
      uffdgc_handle_scope s;
      uffdgc_handle_scope_open(m, &s);
      uffdgc_ref* list = uffdgc_handle_new(m, 0);
      uint64_t round = 0;
      while (!stop_.load()) {
        ++round;
        *list = 0;
        for (uint64_t i = 0; i < 200; ++i) {  // a fresh list of 200 nodes
          uffdgc_ref n = 0;
          if (uffdgc_alloc(m, types_.node, 0, 0, &n) != UFFDGC_OK) {
            helper_failures_.fetch_add(1);
            break;
          }
          Word(n, kIdOffset) = round * 1000 + i;
          uffdgc_store_ref(m, n, Slot(n, kNodeRefs[0]), *list);
          *list = n;
          uffdgc_poll(m);
        }
        uint64_t i = 200;
        for (uffdgc_ref n = *list; n != 0; n = *Slot(n, kNodeRefs[0])) {
          if (Id(n) != round * 1000 + --i) {
            helper_failures_.fetch_add(1);
            break;
          }
        }
        uffdgc_poll(m);
      }
      uffdgc_handle_scope_close(m, &s);
    });
    // Wait parked: a running thread that does not poll would hold up a stop (and attach waits
    // while the world is stopped).
    ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
    const bool attached = collector_->WaitAttached() && mutator_->WaitAttached();
    ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
    ASSERT_TRUE(attached);
  }

  void StopHelpers() {
    if (!collector_ && !mutator_) return;
    stop_.store(true);
    if (mut_ != nullptr) uffdgc_mutator_park(mut_);
    if (collector_) collector_->Join();
    if (mutator_) mutator_->Join();
    if (mut_ != nullptr) uffdgc_mutator_unpark(mut_);
    EXPECT_EQ(helper_failures_.load(), 0) << "a helper thread saw a failure";
    if (collector_) {
      EXPECT_EQ(collector_->detach_result(), UFFDGC_OK);
    }
    if (mutator_) {
      EXPECT_EQ(mutator_->detach_result(), UFFDGC_OK);
    }
    collector_.reset();
    mutator_.reset();
  }

  // Polls until `counter` moves past `seen` (bounded); false on timeout.
  bool AwaitEvent(const std::atomic<uint64_t>& counter, uint64_t seen, int max_ms = 20000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    while (counter.load() == seen) {
      if (std::chrono::steady_clock::now() > until) return false;
      uffdgc_poll(mut_);
    }
    return true;
  }

  // In the child: only the forking thread is left. It checks its graph, uses the heap (and
  // collects, except under TSan), and tears it down.
  [[noreturn]] void ChildUsesTheHeap() {
    alarm(60);
    std::string err = CheckChain();
    if (!err.empty()) std::fprintf(stderr, "child: %s\n", err.c_str());
    CHILD_CHECK(err.empty());
    std::atomic<int> n{0};
    CHILD_CHECK(uffdgc_run_checkpoint(
                    mut_, [](uffdgc_mutator*, void* a) { static_cast<std::atomic<int>*>(a)->fetch_add(1); },
                    &n) == UFFDGC_OK);
    CHILD_CHECK(n.load() == 1);  // the collector and the other mutator are gone
    if (!uffdgc::test::kThreadSanitizer) {
      for (int i = 0; i < 3000; ++i) {
        uffdgc_ref g = 0;
        CHILD_CHECK(uffdgc_alloc(mut_, types_.bytes, 1000, 0, &g) == UFFDGC_OK);
      }
      CHILD_CHECK(uffdgc_collect(mut_) == UFFDGC_OK);
      CHILD_CHECK(uffdgc_collect(mut_) == UFFDGC_OK);
      err = CheckChain();
      if (!err.empty()) std::fprintf(stderr, "child after collecting: %s\n", err.c_str());
      CHILD_CHECK(err.empty());
    }  // (under TSan even an allocation may start a cycle, hence a thread: none there)
    CHILD_CHECK(uffdgc_handle_scope_close(mut_, &scope_) == UFFDGC_OK);
    CHILD_CHECK(uffdgc_mutator_detach(mut_) == UFFDGC_OK);
    CHILD_CHECK(uffdgc_heap_destroy(heap_) == UFFDGC_OK);
    _exit(0);
  }

  // Forks with the hooks each time `counter` moves; returns how many forks found a GC-thread
  // job in progress when they started (and so had to wait in prepare).
  int ForkOnEvents(const std::atomic<uint64_t>& counter, int forks, const char* what) {
    int waited = 0;
    for (int i = 0; i < forks; ++i) {
      const uint64_t seen = counter.load();
      if (!AwaitEvent(counter, seen)) {
        ADD_FAILURE() << what << ": no event within 20 s";
        break;
      }
      const bool busy_before = heap_->gc_thread.busy();
      std::fflush(nullptr);
      uffdgc_atfork_prepare(heap_);
      const bool busy_after = heap_->gc_thread.busy();
      const pid_t pid = fork();
      if (pid == 0) {
        uffdgc_atfork_child(heap_);
        ChildUsesTheHeap();
      }
      uffdgc_atfork_parent(heap_);
      EXPECT_FALSE(busy_after) << what << ": prepare returned while a concurrent phase ran";
      waited += busy_before ? 1 : 0;
      uffdgc_mutator_park(mut_);  // cycles go on while the child runs
      ExpectChildOk(pid, std::string(what) + " #" + std::to_string(i));
      uffdgc_mutator_unpark(mut_);
      const std::string err = CheckChain();
      EXPECT_EQ(err, "") << what << ": parent's graph after fork #" << i;
      if (!err.empty() || HasFailure()) break;
    }
    return waited;
  }

  void ParentCyclesContinue() {
    const uint64_t before = HeapStats().collections;
    for (int i = 0; i < 3; ++i) {
      Garbage(2u << 20);
      Collect();
    }
    EXPECT_GE(HeapStats().collections, before + 3);
    EXPECT_EQ(CheckChain(), "");
  }

  Events events_;
  uffdgc_ref* chain_ = nullptr;
  uffdgc_ref* payload_ = nullptr;
  std::unique_ptr<MutatorThread> collector_, mutator_;
  std::atomic<bool> stop_{false};
  std::atomic<int> helper_failures_{0};
  std::atomic<uint64_t> collections_{0};
};

TEST_P(ForkDuringCycle, ForkWhileMarking) {
  Watchdog dog("ForkWhileMarking", 240);
  BuildChain();
  ASSERT_EQ(CheckChain(), "");
  StartHelpers();
  const int waited = ForkOnEvents(events_.mark_start, 6, "fork at mark-start");
  std::printf("fork at mark-start: %d of 6 forks waited for the cycle in prepare\n", waited);
  EXPECT_GT(waited, 0) << "no fork happened while a cycle was in progress";
  StopHelpers();
  ParentCyclesContinue();
}

TEST_P(ForkDuringCycle, ForkWhileCompacting) {
  Watchdog dog("ForkWhileCompacting", 240);
  BuildChain();
  StartHelpers();
  const int waited = ForkOnEvents(events_.flip, 6, "fork at flip");
  std::printf("fork at flip: %d of 6 forks waited for the compaction in prepare\n", waited);
  EXPECT_GT(waited, 0) << "no fork happened while compaction was in progress";
  StopHelpers();
  ParentCyclesContinue();
}

TEST_P(ForkDuringCycle, RepeatedForksFromAnUnattachedThread) {
  Watchdog dog("RepeatedForksFromAnUnattachedThread", 240);
  BuildChain();
  StartHelpers();
  std::atomic<bool> done{false};
  std::atomic<int> forks{0};
  std::vector<pid_t> pids;
  std::mutex pids_mu;
  std::thread forker([&] {
    std::mt19937 rng(7);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
      std::fflush(nullptr);
      uffdgc_atfork_prepare(heap_);
      const pid_t pid = fork();
      if (pid == 0) {
        uffdgc_atfork_child(heap_);
        alarm(60);
        uffdgc_mutator* m = nullptr;
        CHILD_CHECK(uffdgc_mutator_attach(heap_, nullptr, &m) == UFFDGC_OK);
        for (int k = 0; k < (uffdgc::test::kThreadSanitizer ? 0 : 3000); ++k) {
          uffdgc_ref g = 0;
          CHILD_CHECK(uffdgc_alloc(m, types_.bytes, 500, 0, &g) == UFFDGC_OK);
        }
        if (!uffdgc::test::kThreadSanitizer) CHILD_CHECK(uffdgc_collect(m) == UFFDGC_OK);
        CHILD_CHECK(uffdgc_mutator_detach(m) == UFFDGC_OK);
        CHILD_CHECK(uffdgc_heap_destroy(heap_) == UFFDGC_OK);
        _exit(0);
      }
      uffdgc_atfork_parent(heap_);
      forks.fetch_add(1);
      std::lock_guard<std::mutex> lock(pids_mu);
      pids.push_back(pid);
    }
    done.store(true);
  });
  // The forking thread's graph is touched meanwhile (faults during compaction).
  while (!done.load()) {
    EXPECT_EQ(CheckChain(), "");
    uffdgc_poll(mut_);
  }
  forker.join();
  for (pid_t pid : pids) ExpectChildOk(pid, "child of the unattached forking thread");
  EXPECT_EQ(forks.load(), 10);
  StopHelpers();
  ParentCyclesContinue();
}

TEST_P(ForkDuringCycle, ChildThatNeverTouchesTheHeap) {
  Watchdog dog("ChildThatNeverTouchesTheHeap", 240);
  BuildChain();
  StartHelpers();
  const uffdgc_heap_stats before = HeapStats();
  std::atomic<bool> done{false};
  std::vector<pid_t> pids;
  std::thread forker([&] {
    for (int i = 0; i < 24; ++i) {
      // Half at the start of compaction, half at the start of marking.
      const std::atomic<uint64_t>& counter = i % 2 == 0 ? events_.flip : events_.mark_start;
      const uint64_t seen = counter.load();
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (counter.load() == seen && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
      }
      const pid_t pid = fork();  // no hooks: the child never touches the heap
      if (pid == 0) {
        struct timespec ts = {0, 3 * 1000 * 1000};
        nanosleep(&ts, nullptr);  // keep the pages shared a little while
        _exit(0);
      }
      pids.push_back(pid);
    }
    done.store(true);
  });
  while (!done.load()) {
    EXPECT_EQ(CheckChain(), "");
    uffdgc_poll(mut_);
  }
  forker.join();
  for (pid_t pid : pids) ExpectChildOk(pid, "child that never touches the heap");
  StopHelpers();
  ParentCyclesContinue();
  const uffdgc_heap_stats after = HeapStats();
  std::printf("plain forks during cycles: %zu children, %" PRIu64 " cycles, %" PRIu64
              " pages copied on EBUSY\n",
              pids.size(), after.collections - before.collections,
              after.pages_copied_on_ebusy - before.pages_copied_on_ebusy);
}

INSTANTIATE_TEST_SUITE_P(Modes, ForkDuringCycle,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) {
                           return std::string(param_info.param == UFFDGC_MODE_MOVE ? "Move"
                                                                                   : "Copy");
                         });

}  // namespace
}  // namespace heaptest
