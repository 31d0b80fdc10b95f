// Install errors a real process produces (issue #11 §4), end to end through the collector:
//
//  * mlockall(MCL_CURRENT|MCL_FUTURE), before or after the heap exists. UFFDIO_MOVE refuses
//    (EINVAL) a source and destination that differ in VM_LOCKED, and the flip's
//    mremap(MREMAP_DONTUNMAP) leaves the from-space locked and the emptied to-space unlocked:
//    the first concurrent compaction must not take that for "range gone" and abort. The
//    collector locks the to-space and its buffers to match (MLOCK_ONFAULT), so MOVE keeps
//    working and the heap stays locked as the process asked; a heap reserved under
//    MCL_FUTURE is locked on fault rather than populated whole. Forked children (mlockall is
//    for the whole process), RLIMIT_MEMLOCK set explicitly.
//  * A foreign fill of a to-space page (the fault injector fills it right before our ioctl):
//    EEXIST that our protocol does not explain (the page-state CAS admits one installer, and
//    our source page is still there) is fatal, with a message. Death tests.
//  * A failing mremap in a flip: the stop-the-world flip returns UFFDGC_EINTERNAL with the
//    heap unchanged when nothing moved, and aborts with a message once part of the heap is
//    flipped; the concurrent flip and its stop-the-world fallback (flip-stw) abort with a
//    message (roots already point to the compacted heap). Death tests.
//
// ENOMEM and EINVAL storms run in fault_storm_test.cc; the installer's side in tests/uffd.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "os/uffd/fault_injection.h"
#include "os/uffd/install_counters.h"
#include "runtime/heap.h"
#include "runtime/test_access.h"
#include "tests/support/require.h"
#include "tests/support/trace_gate.h"
#include "tests/support/sanitizers.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

struct Node {
  uint64_t header;
  uffdgc_ref next;
  uint64_t id;
  uint64_t payload[3];
};

uint64_t PayloadFor(uint64_t id, int i) { return id * 0x9E3779B97F4A7C15ull + 77 * i + 1; }

std::string ModeName(uint32_t mode) {
  return mode == UFFDGC_MODE_STW ? "stw" : mode == UFFDGC_MODE_MOVE ? "move" : "copy";
}

uffdgc_result CreateHeap(uint32_t mode, uffdgc::uffd::FaultInjector* injector, uffdgc_heap** heap,
                         uint64_t heap_limit = 128u << 20) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = mode;
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = heap_limit;
  o.trigger_allocated = 1ull << 40;  // collections only when asked
  const uffdgc_result rc = uffdgc_heap_create(&o, heap);
  if (rc == UFFDGC_OK) uffdgc::test_access::set_fault_injector(*heap, injector);  // before any cycle
  return rc;
}

// Skips (or fails under UFFDGC_TEST_REQUIRE) when the mode does not work on this kernel.
#define SKIP_UNLESS_MODE_WORKS(mode)                                                       \
  do {                                                                                     \
    uffdgc_heap* probe_heap_ = nullptr;                                                    \
    const uffdgc_result probe_rc_ = CreateHeap((mode), nullptr, &probe_heap_);             \
    if (probe_rc_ == UFFDGC_EUNSUPPORTED) {                                                \
      UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(mode),                         \
                              ModeName(mode) + " mode is not supported here");             \
    }                                                                                      \
    ASSERT_EQ(probe_rc_, UFFDGC_OK);                                                       \
    ASSERT_EQ(uffdgc_heap_destroy(probe_heap_), UFFDGC_OK);                                \
  } while (0)

// Waits for the concurrent compaction of the last cycle (its verify pause needs m parked).
void WaitForCompaction(uffdgc_heap* heap, uffdgc_mutator* m) {
  uffdgc_mutator_park(m);
  heap->gc_thread.wait_idle();
  uffdgc_mutator_unpark(m);
}

// A graph workload: chains of nodes hanging off 32 handles with garbage between the
// survivors, `cycles` collections, every chain checked right after each flip (in the
// concurrent modes the compaction still runs, so these reads fault pages in through the
// SIGBUS path) and once more when the last compaction is done. Returns "" or what is wrong.
std::string RunGraphWorkload(uffdgc_heap* heap, int cycles, uint64_t seed = 1) {
  uint32_t node_t = 0;
  uffdgc_type_info t{};
  t.struct_size = sizeof t;
  t.base_size = sizeof(Node);
  static const uint32_t refs[] = {offsetof(Node, next)};
  t.num_ref_offsets = 1;
  t.ref_offsets = refs;
  t.name = "node";
  if (uffdgc_type_register(heap, &t, &node_t) != UFFDGC_OK) return "type registration failed";
  uffdgc_mutator* m = nullptr;
  if (uffdgc_mutator_attach(heap, nullptr, &m) != UFFDGC_OK) return "attach failed";
  uffdgc_handle_scope scope;
  uffdgc_handle_scope_open(m, &scope);
  constexpr int kChains = 32;
  std::vector<uffdgc_ref*> chains;
  for (int i = 0; i < kChains; ++i) chains.push_back(uffdgc_handle_new(m, 0));
  std::vector<std::vector<uint64_t>> model(kChains);  // ids, newest last
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1, next_id = 1;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::string error;
  auto check = [&](const char* when, int cycle) {
    for (int c = 0; c < kChains && error.empty(); ++c) {
      uffdgc_ref p = *chains[c];
      for (size_t k = model[c].size(); k-- > 0;) {
        const uint64_t id = model[c][k];
        const auto* n = reinterpret_cast<const Node*>(p);
        if (n == nullptr || n->id != id || n->payload[0] != PayloadFor(id, 0) ||
            n->payload[2] != PayloadFor(id, 2)) {
          std::ostringstream os;
          os << when << " cycle " << cycle << ": chain " << c << " node " << id << " at 0x"
             << std::hex << p << " is wrong";
          error = os.str();
          return;
        }
        p = n->next;
      }
      if (p != 0) error = std::string(when) + ": a chain continues past its end";
    }
  };
  for (int cycle = 0; cycle < cycles && error.empty(); ++cycle) {
    // Drop a few chains: their nodes become garbage below the survivors.
    for (int d = 0; d < 4; ++d) {
      const int c = static_cast<int>(next() % kChains);
      *chains[c] = 0;
      model[c].clear();
    }
    for (int i = 0; i < 40000; ++i) {
      uffdgc_ref r = 0;
      if (uffdgc_alloc_fast(m, node_t, sizeof(Node), &r) != UFFDGC_OK) {
        error = "allocation failed";
        break;
      }
      auto* n = reinterpret_cast<Node*>(r);
      const uint64_t id = next_id++;
      n->id = id;
      for (int k = 0; k < 3; ++k) n->payload[k] = PayloadFor(id, k);
      if (next() % 3 != 0) continue;  // garbage
      const int c = static_cast<int>(next() % kChains);
      uffdgc_store_ref(m, r, &n->next, *chains[c]);
      *chains[c] = r;
      model[c].push_back(id);
    }
    const uffdgc_result rc = uffdgc_collect(m);
    if (rc != UFFDGC_OK) {
      error = std::string("uffdgc_collect: ") + uffdgc_result_name(rc);
      break;
    }
    check("after the flip of", cycle);
  }
  if (error.empty()) {
    WaitForCompaction(heap, m);
    check("after the last compaction,", cycles);
  }
  uffdgc_handle_scope_close(m, &scope);
  uffdgc_mutator_detach(m);
  return error;
}

// ---- mlockall -------------------------------------------------------------------------------

uint64_t VmRssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// The mappings overlapping [begin, end) that are not VM_LOCKED ("lo" in VmFlags), as text.
std::string UnlockedMappings(uint64_t begin, uint64_t end) {
  std::ifstream f("/proc/self/smaps");
  std::string line, out;
  bool inside = false;
  std::string range;
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    if (std::sscanf(line.c_str(), "%lx%c%lx", &lo, &dash, &hi) == 3 && dash == '-' &&
        line.find(' ') > line.find('-')) {
      inside = lo < end && hi > begin;
      range = line.substr(0, line.find(' '));
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0 && (line + " ").find(" lo ") == std::string::npos) {
      out += range + " [" + line + "] ";
    }
  }
  return out;
}

enum class LockWhen { kBeforeTheHeap, kAfterTheHeap };

// The child's part: exit 0 when all is well, 77 for an environment skip, otherwise a code
// with a message on `fd`.
int LockedChild(uint32_t mode, LockWhen when, int fd) {
  auto say = [fd](const std::string& s) {
    if (write(fd, s.data(), s.size()) < 0) return;
  };
  // RLIMIT_MEMLOCK set explicitly: unlimited where allowed (CAP_SYS_RESOURCE), else the hard
  // limit. Under CAP_IPC_LOCK (root) the kernel does not apply it to mlock; without, a whole
  // process rarely fits and mlockall fails (an environment skip).
  rlimit limit{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return 77;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
      say(std::string("setrlimit(RLIMIT_MEMLOCK): ") + strerror(errno));
      return 77;
    }
  }
  auto lock_all = [&]() -> bool {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
      say(std::string("mlockall (RLIMIT_MEMLOCK ") +
          (limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                           : std::to_string(limit.rlim_cur)) +
          "): " + strerror(errno));
      return false;
    }
    return true;
  };
  if (when == LockWhen::kBeforeTheHeap && !lock_all()) return 77;
  const uint64_t rss_before_heap = VmRssKiB();
  uffdgc_heap* heap = nullptr;
  const uffdgc_result rc = CreateHeap(mode, nullptr, &heap);
  if (rc == UFFDGC_EUNSUPPORTED) {
    say(ModeName(mode) + " mode is not supported here");
    return 78;
  }
  if (rc != UFFDGC_OK) {
    say(std::string("uffdgc_heap_create: ") + uffdgc_result_name(rc));
    return 2;
  }
  // Both spaces are 1 GiB reservations: populated, they would show here.
  const uint64_t heap_rss_mib = (VmRssKiB() - rss_before_heap) >> 10;
  if (when == LockWhen::kBeforeTheHeap && heap_rss_mib > 64) {
    say("creating the heap under mlockall(MCL_FUTURE) made " + std::to_string(heap_rss_mib) +
        " MiB resident (the reservations were populated)");
    return 14;
  }
  uint64_t moved_before = 0;
  if (when == LockWhen::kAfterTheHeap) {
    if (const std::string e = RunGraphWorkload(heap, 2, 7); !e.empty()) {
      say("before mlockall: " + e);
      return 10;
    }
    moved_before = heap->install_counters.pages_moved.load();
    if (!lock_all()) return 77;
  }
  if (const std::string e = RunGraphWorkload(heap, 6, 9); !e.empty()) {
    say(e);
    return 10;
  }
  const auto c = uffdgc::uffd::read_counters(heap->install_counters);
  if (c.fatal_errors != 0 || c.foreign_fills != 0) {
    say("installer fatal errors: " + std::to_string(c.fatal_errors));
    return 11;
  }
  if (mode == UFFDGC_MODE_MOVE && c.pages_moved <= moved_before) {
    say("no page was moved under mlockall (pages_moved " + std::to_string(c.pages_moved) +
        ", before " + std::to_string(moved_before) + ")");
    return 12;
  }
  if (c.pages_copied_on_einval != 0) {
    say("MOVE was refused for " + std::to_string(c.pages_copied_on_einval) +
        " pages: the to-space and its sources differ in VM_LOCKED");
    return 12;
  }
  const std::string unlocked = UnlockedMappings(heap->moving.begin(), heap->moving.top());
  if (!unlocked.empty()) {
    say("heap mappings not locked after the cycles: " + unlocked);
    return 13;
  }
  // mlockall(MCL_CURRENT) after the heap populated its whole reservation once; the next flip
  // moved that to the from-space, which is released (PROT_NONE: never populated again).
  const uint64_t rss_mib = VmRssKiB() >> 10;
  if (rss_mib > 512) {
    say("resident at the end: " + std::to_string(rss_mib) + " MiB");
    return 15;
  }
  if (uffdgc_heap_destroy(heap) != UFFDGC_OK) {
    say("uffdgc_heap_destroy failed");
    return 16;
  }
  return 0;
}

using uffdgc::test::kSanitizerShadow;

class LockedProcess : public ::testing::TestWithParam<uint32_t> {
 protected:
  void RunChild(LockWhen when) {
    if (kSanitizerShadow) {
      GTEST_SKIP() << "mlockall(MCL_CURRENT) would populate the sanitizer's shadow mappings "
                      "(terabytes)";
    }
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(pipe_fds[0]);
      alarm(200);  // never outlive the test
      _exit(LockedChild(GetParam(), when, pipe_fds[1]));
    }
    close(pipe_fds[1]);
    std::string message;
    char buf[512];
    for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      message.append(buf, static_cast<size_t>(n));
    }
    close(pipe_fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
      UFFDGC_TEST_UNAVAILABLE("root", "the child cannot lock its memory: " + message);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 78) {
      UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(GetParam()), message);
    }
    ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status)
                                   << " (SIGABRT: the collector aborted; see its stderr)";
    EXPECT_EQ(WEXITSTATUS(status), 0) << message;
  }
};

TEST_P(LockedProcess, MlockallBeforeTheHeap) { RunChild(LockWhen::kBeforeTheHeap); }

TEST_P(LockedProcess, MlockallAfterTheHeap) { RunChild(LockWhen::kAfterTheHeap); }

INSTANTIATE_TEST_SUITE_P(Modes, LockedProcess,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY, UFFDGC_MODE_STW),
                         [](const ::testing::TestParamInfo<uint32_t>& p) { return ModeName(p.param); });

// ---- Foreign fill ---------------------------------------------------------------------------

class ConcurrentModes : public ::testing::TestWithParam<uint32_t> {};
using InstallErrorsDeathTest = ConcurrentModes;

void ForeignFillWorkload(uint32_t mode) {
  static uffdgc::uffd::FaultInjector injector;  // outlives the heap: the process dies with it
  // Move mode moves only recycled from-space runs of 32 pages or more (a small heap may have
  // none): the first MOVE is hit if there is one, else the 25th COPY (mutators' pages and
  // short runs are copied). Copy mode copies every page: the 25th.
  if (!injector.parse(mode == UFFDGC_MODE_MOVE ? "move:every=1:foreign,copy:every=25:foreign"
                                               : "copy:every=25:foreign")) {
    std::fprintf(stderr, "bad injector spec\n");
    return;
  }
  uffdgc_heap* heap = nullptr;
  if (CreateHeap(mode, &injector, &heap) != UFFDGC_OK) return;
  const std::string e = RunGraphWorkload(heap, 4);
  std::fprintf(stderr, "the workload ended (%s) without the foreign fill being noticed\n",
               e.c_str());
}

// The injector COPYs a junk page into a to-space page right before our ioctl: the kernel says
// EEXIST while our source page is still in place, which no installer of ours explains.
TEST_P(InstallErrorsDeathTest, ForeignFillOfAToSpacePageAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SKIP_UNLESS_MODE_WORKS(GetParam());
  EXPECT_DEATH(ForeignFillWorkload(GetParam()),
               "uffdgc: the to-space page at 0x[0-9a-f]+ was filled behind the collector's back: "
               "UFFDIO_(MOVE|COPY) returned EEXIST \\(17\\) with our source page still in place");
}

// ---- Flip failures --------------------------------------------------------------------------

// The concurrent flip: mremap fails after the roots were rewritten.
void FailingConcurrentFlip(uint32_t mode) {
  static uffdgc::uffd::FaultInjector injector;
  if (!injector.parse("mremap:every=1:errno=12")) return;
  uffdgc_heap* heap = nullptr;
  if (CreateHeap(mode, &injector, &heap) != UFFDGC_OK) return;
  const std::string e = RunGraphWorkload(heap, 2);
  std::fprintf(stderr, "the workload ended (%s) although every mremap failed\n", e.c_str());
}

TEST_P(InstallErrorsDeathTest, FailingMremapInTheFlipAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SKIP_UNLESS_MODE_WORKS(GetParam());
  EXPECT_DEATH(FailingConcurrentFlip(GetParam()),
               "uffdgc: the flip failed: mremap\\(MREMAP_DONTUNMAP\\) of \\[0x[0-9a-f]+, "
               "0x[0-9a-f]+\\) returned ENOMEM \\(12\\) with 0 of [0-9]+ ranges flipped: roots "
               "already point to the compacted heap, aborting");
}

// The flip-stw fallback of a concurrent cycle (a pin in the black block): the flip pause
// compacts stop-the-world, and its mremap fails. Marking is held up by a trace callback until
// the object is allocated and pinned, so the pin is certainly in the black block.
using uffdgc::test::TraceGate;

// Runs one concurrent cycle whose flip finds a pin in the black block (after a warm-up cycle
// that gives the heap something to flip). Returns "" or an error.
std::string CycleWithAPinInTheBlackBlock(uffdgc_heap* heap,
                                         const std::function<void()>& after_warm_up = {}) {
  uffdgc_type_info gate{};
  gate.struct_size = sizeof gate;
  gate.base_size = 16;
  gate.trace = &TraceGate::callback;
  gate.name = "gate";
  uint32_t gate_t = 0;
  if (uffdgc_type_register(heap, &gate, &gate_t) != UFFDGC_OK) return "type registration failed";
  if (const std::string e = RunGraphWorkload(heap, 1); !e.empty()) return e;  // a heap to flip
  if (after_warm_up) after_warm_up();
  uffdgc_mutator* m = nullptr;
  uffdgc_mutator_attach(heap, nullptr, &m);
  uffdgc_handle_scope scope;
  uffdgc_handle_scope_open(m, &scope);
  uffdgc_ref* gate_h = uffdgc_handle_new(m, 0);
  uffdgc_ref* pinned = uffdgc_handle_new(m, 0);
  if (uffdgc_alloc(m, gate_t, 0, 0, gate_h) != UFFDGC_OK) return "allocation failed";
  TraceGate::arm();
  std::atomic<bool> flipped{false};
  std::thread collector([&] {
    uffdgc_mutator* cm = nullptr;
    if (uffdgc_mutator_attach(heap, nullptr, &cm) == UFFDGC_OK) {
      uffdgc_collect(cm);
      uffdgc_mutator_detach(cm);
    }
    flipped.store(true);
  });
  while (!TraceGate::entered.load() && !flipped.load()) uffdgc_poll(m);
  std::string error;
  if (!TraceGate::entered.load()) error = "marking never traced the gate";
  if (error.empty() && (uffdgc_alloc(m, gate_t, 0, 0, pinned) != UFFDGC_OK ||
                        uffdgc_pin(m, *pinned) != UFFDGC_OK)) {
    error = "allocating or pinning failed";
  }
  TraceGate::released.store(true);
  while (!flipped.load()) uffdgc_poll(m);
  collector.join();
  if (error.empty() && uffdgc_unpin(m, *pinned) != UFFDGC_OK) error = "unpin failed";
  uffdgc_handle_scope_close(m, &scope);
  uffdgc_mutator_detach(m);
  return error;
}

// Without a failure first: the setup really takes the flip-stw path.
TEST_P(ConcurrentModes, APinInTheBlackBlockFinishesTheCycleInTheFlipPause) {
  SKIP_UNLESS_MODE_WORKS(GetParam());
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(CreateHeap(GetParam(), nullptr, &heap), UFFDGC_OK);
  EXPECT_EQ(CycleWithAPinInTheBlackBlock(heap), "");
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(heap, &st), UFFDGC_OK);
  EXPECT_EQ(st.flips_finished_in_pause, 1u);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

void FailingFlipStw(uint32_t mode) {
  static uffdgc::uffd::FaultInjector injector;
  uffdgc_heap* heap = nullptr;
  if (CreateHeap(mode, &injector, &heap) != UFFDGC_OK) return;
  // The warm-up cycle flips normally; every mremap after it fails (the rule is added while
  // the heap is idle).
  const std::string e = CycleWithAPinInTheBlackBlock(heap, [&] {
    const std::string rule = "mremap:from=" + std::to_string(injector.mremap_calls() + 1) + ":errno=12";
    if (!injector.parse(rule.c_str())) std::fprintf(stderr, "bad rule %s\n", rule.c_str());
  });
  std::fprintf(stderr, "the cycle ended (%s) although its mremaps failed\n", e.c_str());
}

TEST_P(InstallErrorsDeathTest, FailingMremapInTheFlipStwFallbackAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SKIP_UNLESS_MODE_WORKS(GetParam());
  EXPECT_DEATH(FailingFlipStw(GetParam()),
               "uffdgc: the stop-the-world flip failed: mremap\\(MREMAP_DONTUNMAP\\) of "
               "\\[0x[0-9a-f]+, 0x[0-9a-f]+\\) returned ENOMEM \\(12\\) with 0 of [0-9]+ ranges "
               "flipped: the cycle cannot be left unfinished, aborting");
}

INSTANTIATE_TEST_SUITE_P(Modes, InstallErrorsDeathTest,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) { return ModeName(p.param); });
INSTANTIATE_TEST_SUITE_P(Modes, ConcurrentModes,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) { return ModeName(p.param); });

// Stop-the-world mode: the first mremap fails. Nothing has moved, so the collection is
// abandoned with UFFDGC_EINTERNAL and a message, the heap exactly as it was (every object at
// its address, intact), and the next collection works.
TEST(StwFlipFailure, FirstMremapFailingLeavesTheHeapAsItWas) {
  uffdgc::uffd::FaultInjector injector;
  ASSERT_TRUE(injector.parse("mremap:1:errno=12"));
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(CreateHeap(UFFDGC_MODE_STW, &injector, &heap), UFFDGC_OK);
  uint32_t node_t = 0;
  uffdgc_type_info t{};
  t.struct_size = sizeof t;
  t.base_size = sizeof(Node);
  static const uint32_t refs[] = {offsetof(Node, next)};
  t.num_ref_offsets = 1;
  t.ref_offsets = refs;
  ASSERT_EQ(uffdgc_type_register(heap, &t, &node_t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);
  uffdgc_ref* head = uffdgc_handle_new(m, 0);
  std::vector<uffdgc_ref> addresses;
  for (uint64_t i = 0; i < 30000; ++i) {
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc_fast(m, node_t, sizeof(Node), &r), UFFDGC_OK);
    auto* n = reinterpret_cast<Node*>(r);
    n->id = i;
    for (int k = 0; k < 3; ++k) n->payload[k] = PayloadFor(i, k);
    if (i % 2 == 0) continue;  // garbage below each survivor
    n->next = *head;
    *head = r;
    addresses.push_back(r);
  }
  auto check = [&](bool same_addresses) {
    size_t k = addresses.size();
    for (uffdgc_ref p = *head; p != 0; p = reinterpret_cast<Node*>(p)->next) {
      ASSERT_GT(k, 0u);
      --k;
      const auto* n = reinterpret_cast<const Node*>(p);
      ASSERT_EQ(n->id, 2 * k + 1);
      ASSERT_EQ(n->payload[1], PayloadFor(n->id, 1));
      if (same_addresses) {
        ASSERT_EQ(p, addresses[k]);
      }
    }
    ASSERT_EQ(k, 0u);
  };
  testing::internal::CaptureStderr();
  EXPECT_EQ(uffdgc_collect(m), UFFDGC_EINTERNAL);
  const std::string message = testing::internal::GetCapturedStderr();
  EXPECT_NE(message.find("mremap(MREMAP_DONTUNMAP) of the moving space failed before anything "
                         "was flipped: ENOMEM (12); the collection is abandoned, the heap "
                         "unchanged"),
            std::string::npos)
      << message;
  EXPECT_EQ(injector.fired(), 1u);
  check(/*same_addresses=*/true);
  EXPECT_EQ(uffdgc_collect(m), UFFDGC_OK);
  check(/*same_addresses=*/false);
  EXPECT_LT(*head, addresses.back()) << "the survivors should have slid";
  uffdgc_handle_scope_close(m, &scope);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

// Stop-the-world mode, a pinned object between two segments: the first segment's mremap
// works, the second fails. Half the heap is in the from-space: abort, saying so.
void HalfFlippedStw() {
  static uffdgc::uffd::FaultInjector injector;
  if (!injector.parse("mremap:2:errno=12")) return;
  uffdgc_heap* heap = nullptr;
  if (CreateHeap(UFFDGC_MODE_STW, &injector, &heap) != UFFDGC_OK) return;
  uint32_t node_t = 0;
  uffdgc_type_info t{};
  t.struct_size = sizeof t;
  t.base_size = sizeof(Node);
  static const uint32_t refs[] = {offsetof(Node, next)};
  t.num_ref_offsets = 1;
  t.ref_offsets = refs;
  uffdgc_type_register(heap, &t, &node_t);
  uffdgc_mutator* m = nullptr;
  uffdgc_mutator_attach(heap, nullptr, &m);
  uffdgc_handle_scope scope;
  uffdgc_handle_scope_open(m, &scope);
  uffdgc_ref* keep = uffdgc_handle_new(m, 0);
  uffdgc_ref r = 0;
  for (int i = 0; i < 20000; ++i) uffdgc_alloc_fast(m, node_t, sizeof(Node), &r);  // garbage
  uffdgc_alloc_fast(m, node_t, sizeof(Node), keep);
  uffdgc_pin(m, *keep);  // an island: segments below and above it
  for (int i = 0; i < 20000; ++i) uffdgc_alloc_fast(m, node_t, sizeof(Node), &r);
  uffdgc_collect(m);
  std::fprintf(stderr, "the collection returned although the second mremap failed\n");
}

TEST(StwFlipFailureDeathTest, HalfFlippedHeapAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(HalfFlippedStw(),
               "uffdgc: the stop-the-world flip failed: mremap\\(MREMAP_DONTUNMAP\\) of "
               "\\[0x[0-9a-f]+, 0x[0-9a-f]+\\) returned ENOMEM \\(12\\) with 1 of 2 ranges "
               "flipped: the heap is half flipped, aborting");
}

}  // namespace
