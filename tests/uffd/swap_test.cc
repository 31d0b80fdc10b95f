// Sources that live in zram swap: MOVE moves the swap entries without reading them, COPY has to
// swap them in; both must deliver the exact content. And a real memory cgroup limit that forces
// the source out while it is being written (design: .memory.swap).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/uffd/kernel_abi.h"
#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"
#include "tests/support/system_state.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace uffdgc::test {
namespace {

using uffd::InstallMode;
using uffd::InstallStatus;

class SwappedSource : public ::testing::TestWithParam<InstallMode> {
 protected:
  void SetUp() override {
    if (std::string why = SystemState::instance().ensure_swap(); !why.empty()) {
      UFFDGC_TEST_UNAVAILABLE("swap", why);
    }
  }
};

TEST_P(SwappedSource, IsInstalledAndReadsBack) {
  constexpr size_t kPages = 512;
  InstallSetup s(kPages, 61);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.mode = GetParam();
  ASSERT_EQ(madvise(s.src.data(), s.src.bytes(), MADV_PAGEOUT), 0) << strerror(errno);
  const size_t swapped = count_swapped(s.src.data(), kPages);
  ASSERT_GT(swapped, kPages / 2) << "MADV_PAGEOUT did not push the source to swap";
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  if (GetParam() != InstallMode::kCopyOnly) {
    // Moved as swap entries: the destination is still out in swap until it is touched.
    EXPECT_GT(count_swapped(s.dst.data(), kPages), 0u);
    EXPECT_EQ(s.counts().pages_moved + s.counts().pages_moved_unreported +
                  s.counts().pages_copied_on_ebusy,
              kPages);
  }
  s.expect_installed_and_source_released();
  printf("swapped source pages: %zu of %zu\n", swapped, kPages);
}

INSTANTIATE_TEST_SUITE_P(Modes, SwappedSource,
                         ::testing::Values(InstallMode::kAuto, InstallMode::kCopyOnly),
                         [](const auto& param_info) {
                           return param_info.param == InstallMode::kAuto ? "Move" : "Copy";
                         });

// The whole scenario runs in a child inside a memory cgroup whose limit is a quarter of the
// source, so the kernel swaps the source out while it is written and again during the install.
TEST(SwapUnderCgroupLimit, InstallsEveryPageIntact) {
  SystemState& state = SystemState::instance();
  if (std::string why = state.ensure_swap(); !why.empty()) UFFDGC_TEST_UNAVAILABLE("swap", why);
  constexpr size_t kPages = 16384;  // 64 MiB
  MemoryCgroup cg;
  if (std::string why = state.create_memory_cgroup("uffdgc-swap-test", kPages * kPageSize / 4, &cg);
      !why.empty()) {
    UFFDGC_TEST_UNAVAILABLE("cgroup", why);
  }
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(ready[1]);
    char c;
    while (read(ready[0], &c, 1) < 0) {
    }
    InstallSetup s(kPages, 62);
    if (s.range.error != 0) _exit(2);
    if (count_swapped(s.src.data(), kPages) == 0) _exit(4);  // the limit did not bite
    if (s.install_all().status != InstallStatus::kDone) _exit(5);
    _exit(first_mismatch(s.dst.data(), kPages, s.seed) == -1 ? 0 : 6);
  }
  close(ready[0]);
  ASSERT_EQ(cg.add_process(pid), "");
  close(ready[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  const int code = WEXITSTATUS(status);
  if (code == 2) UFFDGC_TEST_UNAVAILABLE("uffd", "userfaultfd unavailable");
  EXPECT_NE(code, 4) << "the source never reached swap under the cgroup limit";
  EXPECT_EQ(code, 0) << "5: install failed, 6: content mismatch";
  const int64_t peak = cg.peak_bytes();
  // The peak is for the log only: the kernel enforces the limit, the test checks the content.
  printf("cgroup limit %zu MiB, peak %lld MiB\n", kPages * kPageSize / 4 >> 20,
         static_cast<long long>(peak >> 20));
}

}  // namespace
}  // namespace uffdgc::test
