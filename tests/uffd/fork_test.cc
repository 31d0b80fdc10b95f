// Pages shared with a forked child are not exclusive, so MOVE says EBUSY (research/kernel.md
// §1.4); the installer copies exactly those pages and the child's view stays untouched.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/installer_fixture.h"

namespace uffdgc::test {
namespace {

using uffd::InstallMode;
using uffd::InstallStatus;

// A child that holds the parent's pages (CoW-shared) until told to check them and exit.
class SharingChild {
 public:
  SharingChild(const Region& shared, uint64_t seed) {
    if (pipe(go_) != 0) abort();
    pid_ = fork();
    if (pid_ == 0) {
      close(go_[1]);
      char c;
      while (read(go_[0], &c, 1) < 0) {
      }
      // The parent's installs must not have changed the child's copy.
      _exit(first_mismatch(shared.data(), shared.pages(), seed) == -1 ? 0 : 3);
    }
    close(go_[0]);
  }
  // Lets the child verify and exit; returns its exit status (0 = its pages were intact).
  int finish() {
    close(go_[1]);
    int status = 0;
    waitpid(pid_, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int go_[2] = {-1, -1};
};

TEST(ForkShared, EbusyFallsBackToCopyPageByPage) {
  InstallSetup s(32, 51);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  SharingChild child(s.src, s.seed);
  const auto r = s.install_all();
  ASSERT_EQ(r.status, InstallStatus::kDone) << uffd::install_status_name(r.status);
  EXPECT_EQ(first_mismatch(s.dst.data(), 32, s.seed), -1);
  const auto c = s.counts();
  EXPECT_EQ(c.move_ebusy, 32u);
  EXPECT_EQ(c.pages_copied_on_ebusy, 32u);
  EXPECT_EQ(c.pages_moved, 0u);
  EXPECT_EQ(child.finish(), 0) << "the child's copy of the pages changed";
}

TEST(ForkShared, OnlyTheSharedPagesAreCopied) {
  InstallSetup s(32, 52);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  SharingChild child(s.src, s.seed);
  // Writing pages 8..15 in the parent breaks CoW: they become exclusive again and can move.
  fill_pattern(s.src.page(8), 8, s.seed, 8);
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  EXPECT_EQ(first_mismatch(s.dst.data(), 32, s.seed), -1);
  const auto c = s.counts();
  EXPECT_EQ(c.pages_moved, 8u);
  EXPECT_EQ(c.pages_copied_on_ebusy, 24u);
  EXPECT_EQ(child.finish(), 0);
}

TEST(ForkShared, MoveOnlyModeReportsBusyWithoutCopying) {
  InstallSetup s(8, 53);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.mode = InstallMode::kMoveOnly;
  SharingChild child(s.src, s.seed);
  const auto r = s.install_all();
  EXPECT_EQ(r.status, InstallStatus::kBusy);
  EXPECT_EQ(r.pages_done, 0u);
  EXPECT_EQ(s.counts().copy_ioctls, 0u);
  EXPECT_EQ(child.finish(), 0);
}

}  // namespace
}  // namespace uffdgc::test
