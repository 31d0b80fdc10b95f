// MemoryHeadroom (os/memory_headroom.h): the compaction pauses its swap prefetch when
// the process's memory cgroup is close to its limit. Inside a cgroup with a limit it must see
// the limit minus what the process uses; the limit set through the shared system-state fixture
// is the one it reads. And the reclaim statistics watcher (runtime/reclaim_stats_watcher.h)
// that builds on it: memory.stat read only near the limit, only while a heap lives, and again
// in a forked child once it collects.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>


#include <chrono>
#include <thread>

#include "os/memory_headroom.h"
#include "runtime/reclaim_stats_watcher.h"
#include "uffdgc/uffdgc.h"
#include "tests/support/require.h"
#include "tests/support/sanitizers.h"
#include "tests/support/system_state.h"

namespace uffdgc::os {
namespace {

// The child populates with MADV_POPULATE_WRITE, not stores: under a sanitizer, stores would
// also fill shadow memory, charged to the same cgroup.
constexpr uint64_t kLimit = 512ull << 20;
constexpr uint64_t kTouched = 64ull << 20;
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Runs `body` in a child process moved into a memory cgroup of kLimit (made through the shared
// fixture, so it is undone) before `body` starts; the child's exit code goes to *code. Skips
// where no cgroup can be made.
template <typename Body>
void run_in_cgroup(const char* name, Body body, int* code) {
  *code = -1;
  if (!test::running_as_root()) UFFDGC_TEST_UNAVAILABLE("root", "needs root to create a memory cgroup");
  test::MemoryCgroup cg;
  const std::string why = test::SystemState::instance().create_memory_cgroup(name, kLimit, &cg);
  if (!why.empty()) UFFDGC_TEST_UNAVAILABLE("cgroup", why);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char go;
    if (read(pipefd[0], &go, 1) != 1) _exit(10);
    _exit(body());
  }
  const std::string moved = cg.add_process(child);
  ASSERT_EQ(write(pipefd[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(pipefd[0]);
  close(pipefd[1]);
  ASSERT_TRUE(moved.empty()) << moved;
  ASSERT_TRUE(WIFEXITED(status));
  *code = WEXITSTATUS(status);
}

TEST(MemoryHeadroom, SeesTheCgroupLimitAndWhatTheProcessUses) {
  int code = 0;
  run_in_cgroup("uffdgc-headroom-test", [] {
    const MemoryHeadroom headroom;
    const uint64_t before = headroom.bytes();
    void* p = mmap(nullptr, kTouched, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || madvise(p, kTouched, MADV_POPULATE_WRITE) != 0) return 11;
    const uint64_t after = headroom.bytes();
    if (before == MemoryHeadroom::kUnlimited || before > kLimit) return 12;  // limit not seen
    if (after + kTouched / 2 > before) return 13;  // the touched memory is not counted
    return 0;
  }, &code);
  if (HasFatalFailure() || IsSkipped()) return;
  EXPECT_EQ(code, 0)
      << "11: no memory to populate; 12: the limit was not seen; 13: usage was not counted";
}

// Waits up to 5 s for the watcher to read memory.stat more times than `than`.
bool refreshed_beyond(uint64_t than) {
  for (int i = 0; i < 500; ++i) {
    if (runtime::reclaim_stats_refreshes() > than) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A heap with 1 MiB of objects in its moving space (the part the watcher deactivates).
uffdgc_heap* small_heap() {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = UFFDGC_MODE_STW;
  o.heap_limit = 16u << 20;
  uffdgc_heap* heap = nullptr;
  if (uffdgc_heap_create(&o, &heap) != UFFDGC_OK) return nullptr;
  uffdgc_type_info t{};
  t.struct_size = sizeof t;
  t.flags = UFFDGC_TYPE_LEAF;
  t.base_size = 4096;
  t.name = "page";
  uint32_t type = 0;
  uffdgc_mutator* m = nullptr;
  if (uffdgc_type_register(heap, &t, &type) != UFFDGC_OK ||
      uffdgc_mutator_attach(heap, nullptr, &m) != UFFDGC_OK) {
    return nullptr;
  }
  for (int i = 0; i < 256; ++i) {
    uffdgc_ref r = 0;
    if (uffdgc_alloc(m, type, 0, UFFDGC_ALLOC_DEFAULT, &r) != UFFDGC_OK) return nullptr;
  }
  uffdgc_mutator_detach(m);
  return heap;
}

// In a forked child (the caller is near its cgroup's limit, its watcher running): no reads
// until the child collects, then reads again. 0, or the failure's code.
int forked_child_starts_its_own(uffdgc_heap* heap) {
  const pid_t child = fork();
  if (child < 0) return 25;
  if (child == 0) {
    const uint64_t inherited = runtime::reclaim_stats_refreshes();
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * runtime::kReclaimStatsNearInterval / 1000000));
    if (runtime::reclaim_stats_refreshes() != inherited) _exit(1);
    uffdgc_mutator* m = nullptr;
    if (uffdgc_mutator_attach(heap, nullptr, &m) != UFFDGC_OK) _exit(2);
    if (uffdgc_collect(m) != UFFDGC_OK) _exit(3);
    _exit(refreshed_beyond(inherited) ? 0 : 4);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return 26;
  return WEXITSTATUS(status) == 0 ? 0 : 30 + WEXITSTATUS(status);
}

// The child: exit codes name what failed (see the assertion's message).
int watch_in_cgroup() {
  if (runtime::reclaim_stats_refreshes() != 0) return 20;
  uffdgc_heap* heap = small_heap();
  if (heap == nullptr) return 21;
  // Far from the limit: looked at, memory.stat not read.
  std::this_thread::sleep_for(std::chrono::milliseconds(30 * runtime::kReclaimStatsFarInterval / 1000000));
  if (runtime::reclaim_stats_refreshes() != 0) return 22;
  // Within the margin of the limit: read.
  const MemoryHeadroom headroom;
  const uint64_t touch = headroom.bytes() - runtime::kReclaimStatsMargin / 2;
  void* p = mmap(nullptr, touch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || madvise(p, touch, MADV_POPULATE_WRITE) != 0) return 23;
  if (!refreshed_beyond(0)) return 24;
  // A forked child has no watcher thread until it collects. (ThreadSanitizer refuses a thread
  // started in the child of a multithreaded process: that part is not run there.)
  if (!test::kThreadSanitizer) {
    if (const int code = forked_child_starts_its_own(heap); code != 0) return code;
  }
  // The last heap gone: the thread is gone.
  if (uffdgc_heap_destroy(heap) != UFFDGC_OK) return 27;
  const uint64_t after_destroy = runtime::reclaim_stats_refreshes();
  std::this_thread::sleep_for(std::chrono::milliseconds(5 * runtime::kReclaimStatsNearInterval / 1000000));
  if (runtime::reclaim_stats_refreshes() != after_destroy) return 28;
  return 0;
}

TEST(ReclaimStatsWatcher, ReadsMemoryStatNearTheLimitWhileAHeapLivesAndInForkedChildren) {
  int code = 0;
  run_in_cgroup("uffdgc-reclaim-watch-test", &watch_in_cgroup, &code);
  if (HasFatalFailure() || IsSkipped()) return;
  EXPECT_EQ(code, 0)
      << "20: refreshed before any heap; 21: no heap; 22: memory.stat read far from the limit; "
         "23: no memory to populate; 24: not read within the margin; 25/26: fork, wait; "
         "27: destroy; 28: still read after the last heap was destroyed; 31: a forked child "
         "read it before collecting; 32/33: attach/collect in the child; 34: the child did not "
         "read it after collecting";
}

}  // namespace
}  // namespace uffdgc::os
