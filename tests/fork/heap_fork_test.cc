// fork() with the atfork hooks while other threads are attached (uffdgc.h "fork"): the child
// keeps only the forking thread (others' mutators and handles are gone) and can allocate and
// collect; the parent continues and collects.
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../heap/heap_test_support.h"

namespace heaptest {
namespace {

// In the child nothing of GoogleTest is usable: report and exit with a code.
#define CHILD_CHECK(cond)                                                               \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "child: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::fflush(stderr);                                                              \
      _exit(10);                                                                        \
    }                                                                                   \
  } while (0)

// Waits for the child (killed by its own alarm if it hangs) and checks it exited with 0.
void ExpectChildOk(pid_t pid, const char* what) {
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

uffdgc_ref ChildAlloc(uffdgc_mutator* m, uint32_t type, uint64_t length = 0) {
  uffdgc_ref r = 0;
  CHILD_CHECK(uffdgc_alloc(m, type, length, UFFDGC_ALLOC_DEFAULT, &r) == UFFDGC_OK);
  CHILD_CHECK(r != 0);
  return r;
}

int CountCheckpoint(uffdgc_mutator* m) {
  std::atomic<int> n{0};
  CHILD_CHECK(uffdgc_run_checkpoint(
                  m, [](uffdgc_mutator*, void* arg) { static_cast<std::atomic<int>*>(arg)->fetch_add(1); },
                  &n) == UFFDGC_OK);
  return n.load();
}

// The runtime's own fork protocol (UFFDGC_HEAP_NO_FORK_HANDLERS): these tests call
// uffdgc_atfork_* themselves; plain_fork_test.cc covers the automatic handlers.
class ForkTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    o.flags |= UFFDGC_HEAP_NO_FORK_HANDLERS;
    return o;
  }
  // A second mutator thread: roots an object only it references (id 500) and either polls
  // while allocating garbage (and collecting now and then), or stays parked.
  void StartOther(bool parked, bool collects) {
    other_ = std::make_unique<MutatorThread>(heap_, [this, parked, collects](uffdgc_mutator* m) {
      uffdgc_handle_scope s;
      uffdgc_handle_scope_open(m, &s);
      uffdgc_ref r = 0;
      if (uffdgc_alloc(m, types_.leaf, 0, 0, &r) != UFFDGC_OK) return;
      Word(r, kIdOffset) = 500;
      Word(r, 16) = ScalarFor(500);
      Word(r, 24) = ScalarFor(501);
      uffdgc_ref* h = uffdgc_handle_new(m, r);
      other_obj_.store(h);
      if (parked) {
        uffdgc_mutator_park(m);
        while (!stop_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        uffdgc_mutator_unpark(m);
      } else {
        uint64_t i = 0;
        while (!stop_.load()) {
          uffdgc_ref g = 0;
          if (uffdgc_alloc(m, types_.bytes, 200, 0, &g) != UFFDGC_OK) other_failures_.fetch_add(1);
          if (collects && ++i % 500 == 0 && uffdgc_collect(m) != UFFDGC_OK) other_failures_.fetch_add(1);
          if (Id(*h) != 500 || Word(*h, 16) != ScalarFor(500)) other_failures_.fetch_add(1);
          uffdgc_poll(m);
        }
      }
      uffdgc_handle_scope_close(m, &s);
    });
    while (other_obj_.load() == nullptr) {
      uffdgc_poll(mut_);
      std::this_thread::yield();
    }
  }
  void StopOther() {
    stop_.store(true);
    ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
    other_->Join();
    ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
    EXPECT_EQ(other_failures_.load(), 0);
    EXPECT_EQ(other_->detach_result(), UFFDGC_OK);
  }
  // Main's own structure: a chain of 200 nodes behind garbage, watched object of the other
  // thread.
  void BuildMainGraph() {
    chain_ = H(0);
    for (int i = 0; i < 200; ++i) {
      Garbage(500);
      uffdgc_ref n = AllocId(types_.node, 1000 + i);
      Store(n, kNodeRefs[0], *chain_);
      *chain_ = n;
    }
    watcher_ = Watch(other_obj_.load());
  }
  // Runs in the child: the forking thread's handles are intact; the other thread is gone.
  void ChildChecksChain() {
    int count = 0;
    for (uffdgc_ref n = *chain_; n != 0; n = *Slot(n, kNodeRefs[0])) {
      CHILD_CHECK(Id(n) == static_cast<uint64_t>(1199 - count));
      CHILD_CHECK(Word(n, kNodeScalar) == ScalarFor(Id(n)));
      ++count;
    }
    CHILD_CHECK(count == 200);
  }
  void ChildBody() {
    alarm(30);
    ChildChecksChain();
    CHILD_CHECK(CountCheckpoint(mut_) == 1);  // only the forking thread's mutator remains
    // Allocate well past the trigger and collect.
    for (int i = 0; i < 20000; ++i) ChildAlloc(mut_, types_.bytes, 300);
    CHILD_CHECK(uffdgc_collect(mut_) == UFFDGC_OK);
    ChildChecksChain();
    // The other thread's handles were dropped: its object died.
    CHILD_CHECK(Watched(watcher_) == 0);
    uffdgc_ref* h = uffdgc_handle_new(mut_, ChildAlloc(mut_, types_.leaf));
    CHILD_CHECK(h != nullptr);
    Word(*h, kIdOffset) = 77;
    CHILD_CHECK(uffdgc_collect(mut_) == UFFDGC_OK);
    CHILD_CHECK(Id(*h) == 77);
    // The heap can be torn down with only the forking thread detached.
    CHILD_CHECK(uffdgc_handle_scope_close(mut_, &scope_) == UFFDGC_OK);
    CHILD_CHECK(uffdgc_mutator_detach(mut_) == UFFDGC_OK);
    CHILD_CHECK(uffdgc_heap_destroy(heap_) == UFFDGC_OK);
    _exit(0);
  }
  // After the fork, in the parent: everything continues.
  void ParentContinues() {
    Garbage(100000);
    Collect();
    int count = 0;
    for (uffdgc_ref n = *chain_; n != 0; n = *Slot(n, kNodeRefs[0])) {
      ASSERT_EQ(Id(n), static_cast<uint64_t>(1199 - count));
      ++count;
    }
    EXPECT_EQ(count, 200);
    EXPECT_NE(Watched(watcher_), 0u) << "the other thread's object died in the parent";
    ExpectIntact(Watched(watcher_), 500);
  }

  std::unique_ptr<MutatorThread> other_;
  std::atomic<uffdgc_ref*> other_obj_{nullptr};
  std::atomic<bool> stop_{false};
  std::atomic<int> other_failures_{0};
  uffdgc_ref* chain_ = nullptr;
  uffdgc_ref* watcher_ = nullptr;
};

TEST_F(ForkTest, ChildWithOnlyTheForkingThreadWhileAnotherThreadRuns) {
  Watchdog dog("ChildWithOnlyTheForkingThreadWhileAnotherThreadRuns", 90);
  StartOther(/*parked=*/false, /*collects=*/false);
  BuildMainGraph();
  fflush(nullptr);
  uffdgc_atfork_prepare(heap_);
  pid_t pid = fork();
  if (pid == 0) {
    uffdgc_atfork_child(heap_);
    ChildBody();
  }
  uffdgc_atfork_parent(heap_);
  ExpectChildOk(pid, "running other thread");
  ParentContinues();
  StopOther();
}

TEST_F(ForkTest, ChildWhileAnotherThreadIsParked) {
  Watchdog dog("ChildWhileAnotherThreadIsParked", 90);
  StartOther(/*parked=*/true, false);
  BuildMainGraph();
  fflush(nullptr);
  uffdgc_atfork_prepare(heap_);
  pid_t pid = fork();
  if (pid == 0) {
    uffdgc_atfork_child(heap_);
    ChildBody();
  }
  uffdgc_atfork_parent(heap_);
  ExpectChildOk(pid, "parked other thread");
  ParentContinues();
  StopOther();
}

// Forks repeatedly while another thread keeps collecting: prepare must wait for (or block)
// the other thread's collections without deadlocking the forking mutator.
TEST_F(ForkTest, RepeatedForksWhileAnotherThreadCollects) {
  Watchdog dog("RepeatedForksWhileAnotherThreadCollects", 120);
  StartOther(/*parked=*/false, /*collects=*/true);
  BuildMainGraph();
  for (int i = 0; i < 8; ++i) {
    fflush(nullptr);
    uffdgc_atfork_prepare(heap_);
    pid_t pid = fork();
    if (pid == 0) {
      uffdgc_atfork_child(heap_);
      alarm(30);
      ChildChecksChain();
      for (int k = 0; k < 5000; ++k) ChildAlloc(mut_, types_.bytes, 300);
      CHILD_CHECK(uffdgc_collect(mut_) == UFFDGC_OK);
      ChildChecksChain();
      _exit(0);
    }
    uffdgc_atfork_parent(heap_);
    ExpectChildOk(pid, "fork while the other thread collects");
    for (int k = 0; k < 200; ++k) {
      Garbage(1000);
      uffdgc_poll(mut_);
    }
  }
  ParentContinues();
  StopOther();
  EXPECT_GT(HeapStats().collections, 0u);
}

// Hooks installed with pthread_atfork (they stay installed for the rest of the process, so
// they consult a pointer that is cleared at the end).
std::atomic<uffdgc_heap*> g_fork_heap{nullptr};
void Prepare() {
  if (uffdgc_heap* h = g_fork_heap.load()) uffdgc_atfork_prepare(h);
}
void Parent() {
  if (uffdgc_heap* h = g_fork_heap.load()) uffdgc_atfork_parent(h);
}
void Child() {
  if (uffdgc_heap* h = g_fork_heap.load()) uffdgc_atfork_child(h);
}

TEST_F(ForkTest, PthreadAtforkHooks) {
  Watchdog dog("PthreadAtforkHooks", 90);
  static bool installed = false;
  if (!installed) {
    ASSERT_EQ(pthread_atfork(&Prepare, &Parent, &Child), 0);
    installed = true;
  }
  StartOther(/*parked=*/false, /*collects=*/false);
  BuildMainGraph();
  g_fork_heap.store(heap_);
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) ChildBody();
  g_fork_heap.store(nullptr);
  ExpectChildOk(pid, "pthread_atfork hooks");
  ParentContinues();
  StopOther();
}

// The forking thread is not attached at all: in the child no mutator remains; the thread can
// attach, allocate, collect and tear the heap down.
TEST_F(ForkTest, ForkFromAnUnattachedThread) {
  Watchdog dog("ForkFromAnUnattachedThread", 90);
  StartOther(/*parked=*/false, /*collects=*/false);
  BuildMainGraph();
  pid_t pid = -1;
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  std::thread forker([&] {
    fflush(nullptr);
    uffdgc_atfork_prepare(heap_);
    pid_t p = fork();
    if (p == 0) {
      uffdgc_atfork_child(heap_);
      alarm(30);
      uffdgc_mutator* m = nullptr;
      CHILD_CHECK(uffdgc_mutator_attach(heap_, nullptr, &m) == UFFDGC_OK);
      CHILD_CHECK(CountCheckpoint(m) == 1);
      for (int k = 0; k < 5000; ++k) ChildAlloc(m, types_.bytes, 300);
      CHILD_CHECK(uffdgc_collect(m) == UFFDGC_OK);
      CHILD_CHECK(uffdgc_mutator_detach(m) == UFFDGC_OK);
      CHILD_CHECK(uffdgc_heap_destroy(heap_) == UFFDGC_OK);
      _exit(0);
    }
    uffdgc_atfork_parent(heap_);
    pid = p;
  });
  forker.join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  ExpectChildOk(pid, "unattached forking thread");
  ParentContinues();
  StopOther();
}

// A generational heap (design: .cycle.young): another thread's old-to-young stores sit in its
// remembered-set log, not yet handed over, when the process forks. The child has lost that
// thread, and with it the log: its first collection must be full (a young one would free the
// nodes the old array holds). Asked for a young collection, the child runs a full one, then
// young ones again; the parent's young collection finds the log as usual.
class GenerationalForkTest : public ForkTest {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = ForkTest::MakeOptions();
    o.flags |= UFFDGC_HEAP_GENERATIONAL;
    return o;
  }
};

TEST_F(GenerationalForkTest, ChildCollectsFullFirstWithoutTheOtherThreadsLog) {
  Watchdog dog("ChildCollectsFullFirstWithoutTheOtherThreadsLog", 90);
  constexpr uint64_t kNodes = 100;  // well below a log's 2048 pairs: nothing is handed over
  uffdgc_ref* arr = H(AllocId(types_.ref_array, 1, kNodes));
  Collect();  // the array is old
  const uffdgc_ref old_arr = *arr;
  std::atomic<bool> stored{false}, stop{false};
  MutatorThread other(heap_, [&](uffdgc_mutator* m) {
    for (uint64_t i = 0; i < kNodes; ++i) {
      uffdgc_ref n = 0;
      if (uffdgc_alloc(m, types_.node, 0, 0, &n) != UFFDGC_OK) return;
      Word(n, kIdOffset) = 100 + i;
      Word(n, kNodeScalar) = ScalarFor(100 + i);
      uffdgc_store_ref(m, old_arr, Elem(old_arr, i), n);
    }
    stored.store(true);
    ParkedWait(m, stop);
  });
  PollUntil(mut_, stored);
  const bool young = HeapStats().generational != 0;
  fflush(nullptr);
  uffdgc_atfork_prepare(heap_);
  pid_t pid = fork();
  if (pid == 0) {
    uffdgc_atfork_child(heap_);
    alarm(30);
    for (int round = 0; round < 2; ++round) {
      Garbage(20000);
      CHILD_CHECK(uffdgc_collect_young(mut_) == UFFDGC_OK);
      if (young) CHILD_CHECK(HeapStats().last_cycle_young == (round == 0 ? 0u : 1u));
      for (uint64_t i = 0; i < kNodes; ++i) {
        const uffdgc_ref n = *Elem(*arr, i);
        CHILD_CHECK(n != 0 && Id(n) == 100 + i && Word(n, kNodeScalar) == ScalarFor(100 + i));
      }
    }
    _exit(0);
  }
  uffdgc_atfork_parent(heap_);
  ExpectChildOk(pid, "generational child");
  Garbage(20000);
  CollectYoung();
  if (young) {
    EXPECT_EQ(HeapStats().last_cycle_young, 1u);
  }
  for (uint64_t i = 0; i < kNodes; ++i) ExpectIntact(*Elem(*arr, i), 100 + i);
  stop.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  other.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
}

}  // namespace
}  // namespace heaptest
