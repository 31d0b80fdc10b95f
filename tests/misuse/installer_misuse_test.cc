// Bad arguments to the uffd layer get a clear error code, never a crash or a partial install.
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"

namespace uffdgc::test {
namespace {

using uffd::InstallStatus;

TEST(InstallerMisuse, RejectsBadArgumentsBeforeAnyIoctl) {
  InstallSetup s(8, 81);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  auto& in = s.installer();
  const uint64_t d = s.dst.addr(), src = s.src.addr();
  struct Case {
    const char* what;
    uint64_t dst, src, pages;
  } cases[] = {
      {"misaligned destination", d + 8, src, 1},
      {"misaligned source", d, src + 100, 1},
      {"zero pages", d, src, 0},
      {"null destination", 0, src, 1},
      {"null source", d, 0, 1},
      {"length overflows", d, src, UINT64_MAX / 2},
      {"source overlaps destination", d, d + kPageSize, 4},
      {"destination overlaps source", src + kPageSize, src, 4},
      {"range wraps the address space", UINT64_MAX & ~(kPageSize - 1), src, 2},
  };
  for (const auto& c : cases) {
    const auto r = in.install(c.dst, c.src, c.pages);
    EXPECT_EQ(r.status, InstallStatus::kInvalidArgument) << c.what;
    EXPECT_EQ(r.error, EINVAL) << c.what;
  }
  const auto counts = s.counts();
  EXPECT_EQ(counts.move_ioctls + counts.copy_ioctls, 0u);
  EXPECT_EQ(first_mismatch(s.src.data(), 8, s.seed), -1);
}

TEST(InstallerMisuse, UnmappedSourceIsAnInvalidArgument) {
  InstallSetup s(4, 82);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  Region gone(4);
  const uint64_t addr = gone.addr();
  gone.unmap();
  const auto r = s.installer().install(s.dst.addr(), addr, 4);
  EXPECT_EQ(r.status, InstallStatus::kInvalidArgument);
  EXPECT_EQ(r.error, ENOENT);
}

TEST(InstallerMisuse, ClosedDescriptorIsFatalNotACrash) {
  InstallSetup s(4, 83);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.uffd = -1;
  uffd::InstallerConfig config = s.config;
  config.counters = &s.counters;
  uffd::PageInstaller in(config);
  const auto r = in.install(s.dst.addr(), s.src.addr(), 4);
  EXPECT_EQ(r.status, InstallStatus::kFatal);
  EXPECT_EQ(r.error, EBADF);
}

TEST(InstallerMisuse, RegisteringBadRangesReturnsErrno) {
  uffd::Userfaultfd closed;
  Region r(4);
  EXPECT_EQ(closed.register_missing(r.data(), r.bytes()), EBADF);
  uffd::Userfaultfd fd;
  if (fd.open(0) != 0) UFFDGC_TEST_UNAVAILABLE("uffd", "userfaultfd unavailable");
  EXPECT_EQ(fd.register_missing(r.data() + 1, kPageSize), EINVAL);
  EXPECT_EQ(fd.register_missing(r.data(), 0), EINVAL);
  EXPECT_EQ(fd.open(uint64_t{1} << 62), EINVAL) << "unknown feature bits are refused";
}

TEST(InstallerMisuseDeathTest, InstallerWithoutCountersAbortsWithAMessage) {
  uffd::InstallerConfig config;
  EXPECT_DEATH({ uffd::PageInstaller in(config); }, "PageInstaller needs InstallerConfig::counters");
}

}  // namespace
}  // namespace uffdgc::test
