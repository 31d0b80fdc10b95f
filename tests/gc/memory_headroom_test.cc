// MemoryHeadroom (gc/compact/memory_headroom.h): the compaction pauses its swap prefetch when
// the process's memory cgroup is close to its limit. Inside a cgroup with a limit it must see
// the limit minus what the process uses; the limit set through the shared system-state fixture
// is the one it reads.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>


#include "gc/compact/memory_headroom.h"
#include "tests/support/require.h"
#include "tests/support/system_state.h"

namespace uffdgc::gc {
namespace {

// The child populates with MADV_POPULATE_WRITE, not stores: under a sanitizer, stores would
// also fill shadow memory, charged to the same cgroup.
constexpr uint64_t kLimit = 512ull << 20;
constexpr uint64_t kTouched = 64ull << 20;
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

TEST(MemoryHeadroom, SeesTheCgroupLimitAndWhatTheProcessUses) {
  if (!test::running_as_root()) UFFDGC_TEST_UNAVAILABLE("root", "needs root to create a memory cgroup");
  test::MemoryCgroup cg;
  const std::string why =
      test::SystemState::instance().create_memory_cgroup("uffdgc-headroom-test", kLimit, &cg);
  if (!why.empty()) UFFDGC_TEST_UNAVAILABLE("cgroup", why);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char go;
    if (read(pipefd[0], &go, 1) != 1) _exit(10);
    const MemoryHeadroom headroom;
    const uint64_t before = headroom.bytes();
    void* p = mmap(nullptr, kTouched, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || madvise(p, kTouched, MADV_POPULATE_WRITE) != 0) _exit(11);
    const uint64_t after = headroom.bytes();
    if (before == MemoryHeadroom::kUnlimited || before > kLimit) _exit(12);  // limit not seen
    if (after + kTouched / 2 > before) _exit(13);  // the touched memory is not counted
    _exit(0);
  }
  const std::string moved = cg.add_process(child);
  ASSERT_EQ(write(pipefd[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(pipefd[0]);
  close(pipefd[1]);
  ASSERT_TRUE(moved.empty()) << moved;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "11: no memory to populate; 12: the limit was not seen; 13: usage was not counted";
}

}  // namespace
}  // namespace uffdgc::gc
