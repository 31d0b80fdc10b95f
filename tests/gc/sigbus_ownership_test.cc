// Who owns a SIGBUS (issue 11 §3, runtime/sigbus_handler.h): only a kernel fault on a heap page
// (si_code BUS_ADRERR) is uffdgc's; kill/tgkill/sigqueue and hardware memory errors go to the
// handler installed before ours or to the default action; a page that keeps faulting aborts
// naming it; a handler installed over ours makes the flip finish stop-the-world; a runtime that
// owns SIGBUS (UFFDGC_HEAP_EXTERNAL_SIGNALS) calls uffdgc_handle_sigbus, which keeps errno; a
// thread with SIGBUS blocked cannot attach to a concurrent heap; an event listener that touches
// the heap during the flip aborts with a message instead of waiting for itself.
//
// The scenarios that depend on what was installed before uffdgc's handler run in death-test
// children ("threadsafe" style: a fresh process per scenario), where that order is controlled.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "runtime/heap.h"
#include "runtime/test_access.h"
#include "tests/support/flip_gate.h"
#include "tests/support/require.h"
#include "uffdgc/uffdgc.h"

namespace {

struct Node {
  uint64_t header;
  uffdgc_ref next;
  uint64_t id;
  uint64_t payload[5];
};

// A MOVE-mode heap with one type, the calling thread attached and a handle scope open.
struct MoveHeap {
  explicit MoveHeap(uint32_t flags = UFFDGC_HEAP_VERIFY) {
    uffdgc_heap_options o{};
    o.struct_size = sizeof o;
    o.mode = UFFDGC_MODE_MOVE;
    o.flags = flags;
    o.heap_limit = 64u << 20;
    o.trigger_allocated = 1ull << 40;  // collections only when asked
    created = uffdgc_heap_create(&o, &heap);
    if (created != UFFDGC_OK) return;
    static const uint32_t refs[] = {offsetof(Node, next)};
    uffdgc_type_info t{};
    t.struct_size = sizeof t;
    t.base_size = sizeof(Node);
    t.ref_offsets = refs;
    t.num_ref_offsets = 1;
    t.name = "node";
    uffdgc_type_register(heap, &t, &type);
    uffdgc_mutator_attach(heap, nullptr, &m);
    uffdgc_handle_scope_open(m, &scope);
    list = uffdgc_handle_new(m, 0);
  }
  ~MoveHeap() {
    if (created != UFFDGC_OK) return;
    uffdgc_handle_scope_close(m, &scope);
    uffdgc_mutator_detach(m);
    uffdgc_heap_destroy(heap);
  }
  // n more live nodes on the list (ids count on), with n garbage nodes between them.
  void build(uint64_t n) {
    for (uint64_t end = next_id + n; next_id < end; ++next_id) {
      const uint64_t i = next_id;
      uffdgc_ref r = 0, garbage = 0;
      uffdgc_alloc(m, type, 0, UFFDGC_ALLOC_DEFAULT, &garbage);
      uffdgc_alloc(m, type, 0, UFFDGC_ALLOC_DEFAULT, &r);
      auto* node = reinterpret_cast<Node*>(r);
      node->id = i;
      for (uint64_t k = 0; k < 5; ++k) node->payload[k] = i * 7 + k;
      node->next = *list;  // initialising store of a fresh object
      *list = r;
    }
  }
  // Walks the list: every node in order with its payload.
  bool intact(uint64_t n) const {
    uint64_t expect = n;
    for (uffdgc_ref p = *list; p != 0; p = reinterpret_cast<const Node*>(p)->next) {
      const auto* node = reinterpret_cast<const Node*>(p);
      --expect;
      if (node->id != expect || node->payload[4] != expect * 7 + 4) return false;
    }
    return expect == 0;
  }
  uffdgc_heap_stats stats() const {
    uffdgc_heap_stats s{};
    s.struct_size = sizeof s;
    uffdgc_heap_get_stats(heap, &s);
    return s;
  }

  uffdgc_result created = UFFDGC_EINTERNAL;
  uffdgc_heap* heap = nullptr;
  uffdgc_mutator* m = nullptr;
  uffdgc_handle_scope scope{};
  uint32_t type = 0;
  uffdgc_ref* list = nullptr;
  uint64_t next_id = 0;
};

// Skips (or fails under UFFDGC_TEST_REQUIRE=move) where move mode is unavailable. Asks the
// probe rather than creating a heap: the death-test children rerun the test body from its
// start, and a heap would install uffdgc's handler before the scenario sets up its own.
bool move_mode_available() {
  uffdgc_probe_options po{};
  po.struct_size = sizeof po;
  po.requested_mode = UFFDGC_MODE_MOVE;
  po.flags = UFFDGC_PROBE_SKIP_FOLIO_TEST;
  uffdgc_probe_report r{};
  r.struct_size = sizeof r;
  return uffdgc_probe_kernel(&po, &r) == UFFDGC_OK && r.mode == UFFDGC_MODE_MOVE;
}
#define REQUIRE_MOVE_MODE()                                                                 \
  do {                                                                                      \
    if (!move_mode_available()) {                                                           \
      UFFDGC_TEST_UNAVAILABLE("move", "move mode is not supported here (uffdgc-probe)");    \
    }                                                                                       \
  } while (0)

// Queues a SIGBUS with a forged siginfo to the calling thread; delivered before this returns.
void send_forged_sigbus(int si_code, uint64_t addr) {
  siginfo_t info{};
  info.si_signo = SIGBUS;
  info.si_code = si_code;
  info.si_addr = reinterpret_cast<void*>(addr);
  syscall(SYS_rt_tgsigqueueinfo, getpid(), static_cast<pid_t>(syscall(SYS_gettid)), SIGBUS, &info);
}

std::atomic<int> g_previous_calls{0};
std::atomic<int> g_previous_code{0};
void previous_handler(int, siginfo_t* info, void*) {
  g_previous_calls.fetch_add(1);
  g_previous_code.store(info->si_code);
}

// In a death-test child: a handler of the runtime's own, then the heap (which chains to it),
// then a forged SIGBUS that names a heap address. Exits 0 iff the previous handler got it.
void forged_signal_reaches_previous_handler(int si_code) {
  struct sigaction sa {};
  sa.sa_sigaction = previous_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
  MoveHeap h;
  if (h.created != UFFDGC_OK) _exit(3);
  h.build(10);
  send_forged_sigbus(si_code, *h.list);
  _exit(g_previous_calls.load() == 1 && g_previous_code.load() == si_code ? 0 : 1);
}

class SigbusOwnership : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(SigbusOwnership, AsynchronousSigbusGoesToThePreviousHandler) {
  REQUIRE_MOVE_MODE();
  EXPECT_EXIT(forged_signal_reaches_previous_handler(SI_QUEUE), ::testing::ExitedWithCode(0), "")
      << "sigqueue";
  EXPECT_EXIT(forged_signal_reaches_previous_handler(SI_TKILL), ::testing::ExitedWithCode(0), "")
      << "tgkill";
  EXPECT_EXIT(forged_signal_reaches_previous_handler(SI_USER), ::testing::ExitedWithCode(0), "")
      << "kill";
}

TEST_F(SigbusOwnership, HardwareMemoryErrorsGoToThePreviousHandler) {
  REQUIRE_MOVE_MODE();
  EXPECT_EXIT(forged_signal_reaches_previous_handler(BUS_MCEERR_AR),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(forged_signal_reaches_previous_handler(BUS_MCEERR_AO),
              ::testing::ExitedWithCode(0), "");
}

TEST_F(SigbusOwnership, WithoutAPreviousHandlerAnAsynchronousSigbusTerminates) {
  REQUIRE_MOVE_MODE();
  EXPECT_EXIT(
      {
        signal(SIGBUS, SIG_DFL);
        MoveHeap h;
        h.build(10);
        send_forged_sigbus(SI_QUEUE, *h.list);
        _exit(0);  // swallowed: the bug this test is about
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

TEST_F(SigbusOwnership, APageThatKeepsFaultingAbortsNamingIt) {
  REQUIRE_MOVE_MODE();
  EXPECT_DEATH(
      {
        MoveHeap h;
        h.build(10);
        // A "kernel" fault on a heap page with no compaction covering it is taken for the race
        // with a phase that just ended, and retried; the same page again and again is not.
        for (int i = 0; i < 100; ++i) send_forged_sigbus(BUS_ADRERR, *h.list);
        _exit(0);
      },
      "faulted 64 times in a row");
}

void other_handler(int, siginfo_t*, void*) { _exit(99); }

TEST_F(SigbusOwnership, AHandlerInstalledOverOursMakesTheFlipFinishInThePause) {
  MoveHeap h;
  if (h.created == UFFDGC_EUNSUPPORTED) {
    UFFDGC_TEST_UNAVAILABLE("move", "move mode is not supported here (uffdgc-probe)");
  }
  ASSERT_EQ(h.created, UFFDGC_OK);
  h.build(20000);
  // No compaction runs yet (the heap has not collected): nothing can fault into `other`.
  const uint64_t in_pause_before = h.stats().flips_finished_in_pause;
  struct sigaction ours {}, other {};
  other.sa_sigaction = other_handler;  // a fault reaching it ends the test with status 99
  other.sa_flags = SA_SIGINFO;
  sigemptyset(&other.sa_mask);
  ASSERT_EQ(sigaction(SIGBUS, &other, &ours), 0);
  h.build(1000);
  ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);
  EXPECT_TRUE(h.intact(21000));
  EXPECT_EQ(h.stats().flips_finished_in_pause, in_pause_before + 2);
  ASSERT_EQ(sigaction(SIGBUS, &ours, nullptr), 0);
  ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);
  EXPECT_EQ(h.stats().flips_finished_in_pause, in_pause_before + 2) << "ours is back: concurrent";
  EXPECT_TRUE(h.intact(21000));
}

using uffdgc::test::FlipGate;

std::atomic<int> g_external_calls{0}, g_external_handled{0}, g_errno_changed{0};
void external_handler(int sig, siginfo_t* info, void* ucontext) {
  g_external_calls.fetch_add(1);
  errno = EDOM;
  const int handled = uffdgc_handle_sigbus(sig, info, ucontext);
  if (errno != EDOM) g_errno_changed.fetch_add(1);
  if (handled == 1) {
    g_external_handled.fetch_add(1);
    return;
  }
  _exit(98);  // a fault that was not uffdgc's: the runtime's own business (none in this test)
}

TEST_F(SigbusOwnership, ExternalSignalsRuntimeCallsHandleSigbusWhichKeepsErrno) {
  struct sigaction sa {}, saved {};
  sa.sa_sigaction = external_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGBUS, &sa, &saved), 0);
  {
    MoveHeap h(UFFDGC_HEAP_VERIFY | UFFDGC_HEAP_EXTERNAL_SIGNALS);
    if (h.created == UFFDGC_EUNSUPPORTED) {
      sigaction(SIGBUS, &saved, nullptr);
      UFFDGC_TEST_UNAVAILABLE("move", "move mode is not supported here (uffdgc-probe)");
    }
    ASSERT_EQ(h.created, UFFDGC_OK);
    FlipGate gate;
    gate.install(h.heap);
    h.build(20000);
    ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);  // returns after the flip
    gate.wait_held();
    // Nothing is produced yet: the walk faults on every to-space page and produces it.
    EXPECT_TRUE(h.intact(20000));
    gate.release.store(true);
    gate.wait_left();
    ASSERT_EQ(uffdgc_collect(h.m), UFFDGC_OK);
    uffdgc::test_access::set_after_flip_hook(h.heap, nullptr, nullptr);
    EXPECT_TRUE(h.intact(20000));
    EXPECT_GT(h.stats().pages_by_mutators, 0u);
  }
  ASSERT_EQ(sigaction(SIGBUS, &saved, nullptr), 0);
  EXPECT_GT(g_external_handled.load(), 0);
  EXPECT_EQ(g_external_handled.load(), g_external_calls.load());
  EXPECT_EQ(g_errno_changed.load(), 0) << "uffdgc_handle_sigbus must keep errno";
}

TEST_F(SigbusOwnership, AThreadWithSigbusBlockedCannotAttachToAConcurrentHeap) {
  REQUIRE_MOVE_MODE();
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = UFFDGC_MODE_MOVE;
  uffdgc_heap* move_heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &move_heap), UFFDGC_OK);
  o.mode = UFFDGC_MODE_STW;
  uffdgc_heap* stw_heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &stw_heap), UFFDGC_OK);
  std::thread([&] {
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &bus, nullptr);
    uffdgc_mutator* m = nullptr;
    EXPECT_EQ(uffdgc_mutator_attach(move_heap, nullptr, &m), UFFDGC_ESTATE);
    EXPECT_EQ(m, nullptr);
    // Stop-the-world never raises SIGBUS: no reason to refuse.
    EXPECT_EQ(uffdgc_mutator_attach(stw_heap, nullptr, &m), UFFDGC_OK);
    EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
    pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
    EXPECT_EQ(uffdgc_mutator_attach(move_heap, nullptr, &m), UFFDGC_OK);
    EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  }).join();
  EXPECT_EQ(uffdgc_heap_destroy(move_heap), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(stw_heap), UFFDGC_OK);
}

// The listener runs at the end of the flip pause on the GC thread, before that thread produces
// any page: a listener that reads a moved object would wait for itself.
uffdgc_ref* g_listener_reads = nullptr;
void heap_reading_listener(const uffdgc_event* e, void*) {
  if (e->kind == UFFDGC_EVENT_PHASE && e->phase != nullptr && std::string(e->phase) == "flip") {
    volatile uint64_t id = reinterpret_cast<const Node*>(*g_listener_reads)->id;
    (void)id;
  }
}

TEST_F(SigbusOwnership, AListenerThatTouchesTheHeapAtTheFlipAbortsWithAMessage) {
  REQUIRE_MOVE_MODE();
  EXPECT_DEATH(
      {
        MoveHeap h;
        h.build(20000);
        g_listener_reads = h.list;
        uffdgc_set_event_listener(h.heap, &heap_reading_listener, nullptr);
        uffdgc_collect(h.m);
        uffdgc_collect(h.m);
        _exit(0);
      },
      "the event listener touched the heap page");
}

}  // namespace
