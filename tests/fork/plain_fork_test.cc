// A plain fork() with no atfork calls of the runtime's (issue 11 §6): every heap registers
// process-wide fork handlers at creation, so fork() waits for a concurrent compaction in
// progress to end and the child walks an intact graph. The GC thread is held right after the
// flip (to-space empty) when the test forks; a thread releases it shortly after, which is what
// lets the fork proceed. The same with UFFDGC_HEAP_NO_FORK_HANDLERS shows what the handlers
// prevent: the child reads the unproduced to-space as zeros.
#include <sys/wait.h>
#include <unistd.h>

#include "../heap/heap_test_support.h"
#include "runtime/heap.h"
#include "runtime/test_access.h"
#include "tests/support/flip_gate.h"

namespace heaptest {
namespace {

constexpr uint64_t kNodes = 20000;
constexpr int kChildIntact = 0, kChildCorrupt = 1;

using uffdgc::test::FlipGate;

class PlainFork : public HeapFixture, public ::testing::WithParamInterface<uint32_t> {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options(64u << 20);
    o.mode = GetParam();
    o.trigger_allocated = 1ull << 40;  // collections only when asked
    o.flags |= extra_flags_;
    return o;
  }
  // A list of kNodes nodes (ids kNodes-1 .. 0) with garbage between them.
  void Build() {
    list_ = H(0);
    for (uint64_t i = 0; i < kNodes; ++i) {
      Garbage(64);
      uffdgc_ref n = AllocId(types_.node, i);
      Store(n, kNodeRefs[0], *list_);
      *list_ = n;
    }
  }
  // Child side: walks the list; exits kChildIntact or kChildCorrupt.
  [[noreturn]] void WalkAndExit() {
    uint64_t expect = kNodes;
    for (uffdgc_ref p = *list_; p != 0; p = *Slot(p, kNodeRefs[0])) {
      --expect;
      if (Id(p) != expect || Word(p, kNodeScalar) != ScalarFor(expect)) _exit(kChildCorrupt);
    }
    _exit(expect == 0 ? kChildIntact : kChildCorrupt);
  }
  // Collects, holds the GC thread after the flip, forks with a plain fork() while a thread
  // releases the GC thread after `release_after`; returns the child's exit code.
  int ForkAtTheFlip(std::chrono::milliseconds release_after) {
    FlipGate gate;
    // The previous cycle must not find the hook; parked, since its end stops the world.
    EXPECT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
    heap_->gc_thread.wait_idle();
    EXPECT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
    gate.install(heap_);
    EXPECT_EQ(uffdgc_collect(mut_), UFFDGC_OK);
    // (Stop-the-world: the cycle is over when collect returns; there is nothing to hold.)
    while (GetParam() != UFFDGC_MODE_STW && !gate.held.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::thread releaser([&] {
      std::this_thread::sleep_for(release_after);
      gate.release.store(true);
    });
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) WalkAndExit();
    releaser.join();
    gate.wait_left();
    uffdgc::test_access::set_after_flip_hook(heap_, nullptr, nullptr);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  uint32_t extra_flags_ = 0;
  uffdgc_ref* list_ = nullptr;
};

TEST_P(PlainFork, TheChildOfAForkAtTheFlipSeesAnIntactGraph) {
  Watchdog dog("PlainFork", 120);
  Build();
  EXPECT_EQ(ForkAtTheFlip(std::chrono::milliseconds(100)), kChildIntact);
  // The parent goes on collecting, and forking, as before.
  Collect();
  EXPECT_EQ(ForkAtTheFlip(std::chrono::milliseconds(0)), kChildIntact);
  Collect();
}

class PlainForkWithoutHandlers : public PlainFork {
 protected:
  void SetUp() override {
    extra_flags_ = UFFDGC_HEAP_NO_FORK_HANDLERS;
    PlainFork::SetUp();
  }
};

TEST_P(PlainForkWithoutHandlers, TheChildReadsUnproducedPagesAsZeros) {
  Watchdog dog("PlainForkWithoutHandlers", 120);
  Build();
  // Released only after the child has walked: its to-space stays empty.
  EXPECT_EQ(ForkAtTheFlip(std::chrono::milliseconds(300)), kChildCorrupt);
}

std::string ModeName(const ::testing::TestParamInfo<uint32_t>& param_info) {
  return param_info.param == UFFDGC_MODE_MOVE   ? "Move"
         : param_info.param == UFFDGC_MODE_COPY ? "Copy"
                                                : "Stw";
}
INSTANTIATE_TEST_SUITE_P(Modes, PlainFork,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY, UFFDGC_MODE_STW),
                         ModeName);
// Stop-the-world has no concurrent phase to lose.
INSTANTIATE_TEST_SUITE_P(Modes, PlainForkWithoutHandlers,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY), ModeName);

}  // namespace
}  // namespace heaptest
