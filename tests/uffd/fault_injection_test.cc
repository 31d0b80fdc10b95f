// Every error path of the installer, driven deterministically by the fault injector. Injected
// outcomes do the kernel's share of the work for real, so content is still checked byte for
// byte (os/uffd/fault_injection.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "tests/support/installer_fixture.h"

namespace uffdgc::test {
namespace {

using uffd::InstallMode;
using uffd::InstallStatus;
using uffd::UffdOp;

constexpr size_t kPages = 12;

TEST(FaultInjection, EbusyFallsBackToCopyForExactlyThatPage) {
  InstallSetup s(kPages, 21);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:errno=16");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.move_ebusy, 1u);
  EXPECT_EQ(c.pages_copied_on_ebusy, 1u);
  EXPECT_EQ(c.copy_ioctls, 1u);
  EXPECT_EQ(c.pages_moved, kPages - 1);
}

TEST(FaultInjection, EbusyInMoveOnlyModeStopsWithBusy) {
  InstallSetup s(kPages, 22);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.mode = InstallMode::kMoveOnly;
  s.inject("move:2:errno=16,move:1:partial=4");
  const auto r = s.install_all();
  EXPECT_EQ(r.status, InstallStatus::kBusy);
  EXPECT_EQ(r.error, EBUSY);
  EXPECT_EQ(r.pages_done, 4u);
  EXPECT_EQ(r.failed_dst, s.dst.addr() + 4 * kPageSize);
  EXPECT_EQ(first_mismatch(s.dst.data(), 4, s.seed), -1);
  EXPECT_EQ(first_mismatch(s.src.page(4), kPages - 4, s.seed, 4), -1) << "rest of source intact";
}

TEST(FaultInjection, PartialProgressAdvancesAndRetries) {
  InstallSetup s(kPages, 23);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:partial=3,move:2:partial=2");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.move_partial, 2u);
  EXPECT_EQ(c.pages_moved, kPages);
  EXPECT_EQ(c.move_ioctls, 3u);
}

TEST(FaultInjection, EagainWithoutProgressIsRetried) {
  InstallSetup s(kPages, 24);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:errno=11,move:2:errno=11");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  EXPECT_EQ(s.counts().eagain_retries, 2u);
}

TEST(FaultInjection, EagainForeverHitsTheStalledRetryLimit) {
  InstallSetup s(kPages, 25);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.stalled_retry_limit = 2;
  s.inject("move:1:errno=11,move:2:errno=11,move:3:errno=11");
  const auto r = s.install_all();
  EXPECT_EQ(r.status, InstallStatus::kFatal);
  EXPECT_EQ(r.error, EAGAIN);
  EXPECT_EQ(first_mismatch(s.src.data(), kPages, s.seed), -1) << "nothing was consumed";
}

TEST(FaultInjection, RacedInstallCountsAsAlreadyPresent) {
  InstallSetup s(kPages, 26);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:2:raced,move:1:partial=5");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_already_present, 1u);
  EXPECT_EQ(c.pages_moved_unreported, 0u);
  EXPECT_EQ(c.pages_moved, kPages - 1);
}

// The 6.18 kernel bug (research/kernel.md §1.6): five pages moved, two reported. The retries
// meet EEXIST on pages whose source is already gone: nothing copied twice, nothing lost.
TEST(FaultInjection, UnreportedMovesAreRecognisedAfterAPartialResult) {
  InstallSetup s(kPages, 27);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:unreported=5/2");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_moved, 2u + (kPages - 5));
  EXPECT_EQ(c.pages_moved_unreported, 3u);
  EXPECT_EQ(c.pages_already_present, 0u);
  EXPECT_EQ(c.pages_copied_on_ebusy, 0u);
}

TEST(FaultInjection, UnreportedMovesWithNothingReportedComeBackAsEexist) {
  InstallSetup s(kPages, 28);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:unreported=4/0");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_moved_unreported, 4u);
  EXPECT_EQ(c.pages_moved, kPages - 4);
}

// EINVAL from MOVE is not "the range is gone" by itself: MOVE also refuses two mappings that
// differ in VM_LOCKED (mlockall) or protection. A COPY of the page tells: here the range is
// registered, so the page is copied and so is the rest of the call.
TEST(FaultInjection, EinvalWithTheRangeStillRegisteredCopiesTheRest) {
  InstallSetup s(kPages, 29);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:partial=2,move:2:errno=22");
  const auto r = s.install_all();
  ASSERT_EQ(r.status, InstallStatus::kDone) << uffd::install_status_name(r.status);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_moved, 2u);
  EXPECT_EQ(c.pages_copied_on_einval, kPages - 2);
  EXPECT_EQ(c.move_ioctls, 2u) << "no MOVE is tried again after the refusal";
  EXPECT_EQ(c.range_gone, 0u);
}

// Move-only mode may not copy, so it cannot ask: EINVAL stays "the range is gone" there.
TEST(FaultInjection, EinvalInMoveOnlyModeIsRangeGone) {
  InstallSetup s(kPages, 129);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.mode = InstallMode::kMoveOnly;
  s.inject("move:1:partial=2,move:2:errno=22");
  const auto r = s.install_all();
  EXPECT_EQ(r.status, InstallStatus::kRangeGone);
  EXPECT_EQ(r.pages_done, 2u);
  EXPECT_EQ(s.counts().range_gone, 1u);
  EXPECT_EQ(s.counts().copy_ioctls, 0u);
}

TEST(FaultInjection, UnexpectedErrnoIsFatalAndNamesThePage) {
  for (int err : {ESRCH, EFAULT, EINTR, EPERM, ENOSPC}) {
    InstallSetup s(kPages, 30);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    const std::string spec = "move:2:errno=" + std::to_string(err) + ",move:1:partial=3";
    s.inject(spec.c_str());
    const auto r = s.install_all();
    EXPECT_EQ(r.status, InstallStatus::kFatal) << err;
    EXPECT_EQ(r.error, err);
    EXPECT_EQ(r.failed_op, UffdOp::kMove);
    EXPECT_EQ(r.pages_done, 3u);
    EXPECT_EQ(r.failed_dst, s.dst.addr() + 3 * kPageSize);
    EXPECT_EQ(s.counts().fatal_errors, 1u);
  }
}

// ENOMEM (a memory cgroup at its limit) is retried after a pause, in MOVE, COPY and the COPY
// fallback alike, and the retry continues where the progress left off.
TEST(FaultInjection, EnomemIsRetriedWithBackoff) {
  {
    InstallSetup s(kPages, 131);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.inject("move:1:partial=3,move:2:errno=12,move:3:errno=12");
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
    s.expect_installed_and_source_released();
    EXPECT_EQ(s.counts().enomem_retries, 2u);
    EXPECT_EQ(s.counts().pages_moved, kPages);
  }
  {
    InstallSetup s(kPages, 132);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.mode = InstallMode::kCopyOnly;
    s.inject("copy:1:partial=4,copy:2:errno=12");
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
    s.expect_installed_and_source_released();
    EXPECT_EQ(s.counts().enomem_retries, 1u);
    EXPECT_EQ(s.counts().pages_copied, kPages);
  }
  {
    InstallSetup s(kPages, 133);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.inject("move:1:errno=16,copy:1:errno=12");
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
    s.expect_installed_and_source_released();
    EXPECT_EQ(s.counts().enomem_retries, 1u);
    EXPECT_EQ(s.counts().pages_copied_on_ebusy, 1u);
  }
}

// The retries are bounded: then kNoMemory at the page, the source of the rest untouched. A
// limit of 0 (the GC thread, which releases from-space itself first) reports at once.
TEST(FaultInjection, EnomemBeyondTheRetryLimitIsNoMemory) {
  for (uint32_t limit : {3u, 0u}) {
    InstallSetup s(kPages, 134);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.enomem_retry_limit = limit;
    s.inject("move:1:partial=2,move:count=50:errno=12");
    const auto r = s.install_all();
    EXPECT_EQ(r.status, InstallStatus::kNoMemory) << limit;
    EXPECT_EQ(r.error, ENOMEM);
    EXPECT_EQ(r.pages_done, 2u);
    EXPECT_EQ(r.failed_dst, s.dst.addr() + 2 * kPageSize);
    EXPECT_EQ(s.counts().enomem_retries, limit);
    EXPECT_EQ(s.counts().fatal_errors, 0u);
    EXPECT_EQ(first_mismatch(s.src.page(2), kPages - 2, s.seed, 2), -1) << "rest of source intact";
  }
  {
    InstallSetup s(kPages, 135);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    const auto r = s.installer().install(s.dst.addr(), s.src.addr(), kPages, 0);
    EXPECT_EQ(r.status, InstallStatus::kDone) << "no ENOMEM, no effect";
  }
  {
    // The COPY fallback after EBUSY runs out of memory: that page is counted, so the EBUSY a
    // retried MOVE of it meets again is accounted for (tests/gc/fault_storm_test.cc).
    InstallSetup s(kPages, 136);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.inject("move:1:partial=2,move:2:errno=16,copy:1:errno=12");
    const auto r = s.installer().install(s.dst.addr(), s.src.addr(), kPages, 0);
    EXPECT_EQ(r.status, InstallStatus::kNoMemory);
    EXPECT_EQ(r.pages_done, 2u);
    const auto c = s.counts();
    EXPECT_EQ(c.move_ebusy, 1u);
    EXPECT_EQ(c.pages_copied_on_ebusy, 0u);
    EXPECT_EQ(c.ebusy_copies_out_of_memory, 1u);
  }
}

// A foreign fill: somebody else fills a destination page right before our ioctl, which then
// meets EEXIST with our source page still in place. Where destinations are ours alone (the
// collector), nothing in our protocol explains that: kForeignFill, and the junk stays
// visible instead of being counted as our page.
TEST(FaultInjection, ForeignFillIsFatalWhereDestinationsAreExclusive) {
  for (InstallMode mode : {InstallMode::kAuto, InstallMode::kCopyOnly}) {
    InstallSetup s(kPages, 136);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.mode = mode;
    s.config.exclusive_destinations = true;
    s.inject(mode == InstallMode::kCopyOnly ? "copy:1:partial=3,copy:2:foreign"
                                            : "move:1:partial=3,move:2:foreign");
    const auto r = s.install_all();
    EXPECT_EQ(r.status, InstallStatus::kForeignFill) << uffd::install_status_name(r.status);
    EXPECT_EQ(r.error, EEXIST);
    EXPECT_EQ(r.failed_op, mode == InstallMode::kCopyOnly ? UffdOp::kCopy : UffdOp::kMove);
    EXPECT_EQ(r.pages_done, 3u);
    EXPECT_EQ(r.failed_dst, s.dst.addr() + 3 * kPageSize);
    EXPECT_EQ(first_mismatch(s.dst.data(), 3, s.seed), -1);
    const auto* junk = static_cast<const uint8_t*>(s.dst.page(3));
    EXPECT_TRUE(std::all_of(junk, junk + kPageSize,
                            [](uint8_t b) { return b == uffd::kForeignJunkByte; }));
    EXPECT_EQ(first_mismatch(s.src.page(3), kPages - 3, s.seed, 3), -1) << "our source is intact";
    const auto c = s.counts();
    EXPECT_EQ(c.foreign_fills, 1u);
    EXPECT_EQ(c.fatal_errors, 1u);
    EXPECT_EQ(c.pages_already_present, 0u);
  }
}

// A "racer" that installs the same content looks no different to the kernel: where the
// destinations are exclusive there is no racer, so it is a foreign fill too.
TEST(FaultInjection, RacedInstallIsAForeignFillWhereDestinationsAreExclusive) {
  InstallSetup s(kPages, 137);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.exclusive_destinations = true;
  s.inject("move:1:raced");
  EXPECT_EQ(s.install_all().status, InstallStatus::kForeignFill);
  EXPECT_EQ(s.counts().foreign_fills, 1u);
}

// Shared destinations (several installers on overlapping ranges): the page is another
// installer's, as before.
TEST(FaultInjection, ForeignFillOfASharedDestinationCountsAsAnotherInstallersPage) {
  InstallSetup s(kPages, 138);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:foreign");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  const auto c = s.counts();
  EXPECT_EQ(c.pages_already_present, 1u);
  EXPECT_EQ(c.foreign_fills, 0u);
  EXPECT_EQ(c.pages_moved, kPages - 1);
}

// The 6.18 batching quirk (research/kernel.md §1.6) stays explained with exclusive
// destinations: the EEXIST pages are those whose source our own MOVE consumed.
TEST(FaultInjection, UnreportedMovesAreNoForeignFillWhereDestinationsAreExclusive) {
  for (const char* spec : {"move:1:unreported=5/2", "move:1:unreported=4/0",
                           "move:1:unreported=3/0,move:2:errno=16"}) {
    InstallSetup s(kPages, 139);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.exclusive_destinations = true;
    s.inject(spec);
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone) << spec;
    s.expect_installed_and_source_released();
    const auto c = s.counts();
    EXPECT_GT(c.pages_moved_unreported, 0u) << spec;
    EXPECT_EQ(c.foreign_fills, 0u) << spec;
    EXPECT_EQ(c.pages_already_present, 0u) << spec;
  }
}

TEST(FaultInjectionDeathTest, ForeignFillAbortsSayingSo) {
  uffd::InstallResult r;
  r.status = InstallStatus::kForeignFill;
  r.error = EEXIST;
  r.failed_op = UffdOp::kMove;
  r.failed_dst = 0x7f0000456000;
  EXPECT_DEATH(uffd::abort_on_install_failure(r),
               "to-space page at 0x7f0000456000 was filled behind the collector's back: "
               "UFFDIO_MOVE returned EEXIST \\(17\\) with our source page still in place");
}

TEST(FaultInjectionDeathTest, FatalResultAbortsWithAddressAndErrno) {
  uffd::InstallResult r;
  r.status = InstallStatus::kFatal;
  r.error = ENOMEM;
  r.failed_op = UffdOp::kMove;
  r.failed_dst = 0x7f0000123000;
  EXPECT_DEATH(uffd::abort_on_install_failure(r),
               "page at 0x7f0000123000 failed: fatal, UFFDIO_MOVE returned ENOMEM \\(12\\)");
}

TEST(FaultInjection, CopyFallbackFailureIsReportedWithTheCopyOp) {
  InstallSetup s(kPages, 31);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:errno=16,copy:1:errno=1");
  const auto r = s.install_all();
  EXPECT_EQ(r.status, InstallStatus::kFatal);
  EXPECT_EQ(r.failed_op, UffdOp::kCopy);
  EXPECT_EQ(r.error, EPERM);
  EXPECT_EQ(r.pages_done, 0u);
}

TEST(FaultInjection, CopyFallbackRetriesEagainAndAcceptsARacer) {
  InstallSetup s(kPages, 32);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:errno=16,copy:1:errno=11,move:2:errno=16,copy:3:raced");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_copied_on_ebusy, 1u);
  EXPECT_EQ(c.pages_already_present, 1u);
  EXPECT_EQ(c.eagain_retries, 1u);
}

TEST(FaultInjection, CopyFallbackIntoAVanishedRangeIsRangeGone) {
  InstallSetup s(kPages, 33);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:1:errno=16,copy:1:errno=2");
  EXPECT_EQ(s.install_all().status, InstallStatus::kRangeGone);
}

TEST(FaultInjection, CopyOnlyModePathsPartialEagainRacedAndFatal) {
  {
    InstallSetup s(kPages, 34);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.mode = InstallMode::kCopyOnly;
    s.inject("copy:1:partial=4,copy:2:errno=11,copy:3:raced");
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
    s.expect_installed_and_source_released();
    const auto c = s.counts();
    EXPECT_EQ(c.pages_copied, kPages - 1);
    EXPECT_EQ(c.pages_already_present, 1u);
    EXPECT_EQ(c.move_partial, 1u);
    EXPECT_EQ(c.eagain_retries, 1u);
  }
  {
    InstallSetup s(kPages, 35);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    s.config.mode = InstallMode::kCopyOnly;
    s.inject("copy:1:errno=16");
    const auto r = s.install_all();
    EXPECT_EQ(r.status, InstallStatus::kFatal) << "COPY never says EBUSY; if it does, stop";
    EXPECT_EQ(r.failed_op, UffdOp::kCopy);
  }
}

TEST(FaultInjection, ZeroPageForAHoleRetriesAndFailsCleanly) {
  {
    InstallSetup s(kPages, 36);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    madvise(s.src.page(0), kPageSize, MADV_DONTNEED);
    s.inject("zeropage:1:errno=11");
    ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
    EXPECT_TRUE(page_is_zero(s.dst.page(0)));
    EXPECT_EQ(first_mismatch(s.dst.page(1), kPages - 1, s.seed, 1), -1);
    EXPECT_EQ(s.counts().pages_zero_filled, 1u);
  }
  {
    InstallSetup s(kPages, 37);
    UFFDGC_SKIP_WITHOUT_UFFD(s);
    madvise(s.src.page(0), kPageSize, MADV_DONTNEED);
    s.inject("zeropage:1:errno=1");
    const auto r = s.install_all();
    EXPECT_EQ(r.status, InstallStatus::kFatal);
    EXPECT_EQ(r.failed_op, UffdOp::kZeropage);
  }
}


// ---- Storms: rules that fire repeatedly (os/uffd/fault_injection.h) ----

constexpr size_t kStormPages = 48;

// Installs page by page, as faulting mutators do: one MOVE (or COPY) call per page unless a
// storm makes the installer retry or fall back.
void InstallPageByPage(InstallSetup& s) {
  uffd::PageInstaller& inst = s.installer();
  for (size_t i = 0; i < s.src.pages(); ++i) {
    const auto r = inst.install(s.dst.addr() + i * kPageSize, s.src.addr() + i * kPageSize, 1);
    ASSERT_EQ(r.status, InstallStatus::kDone) << "page " << i << ": " << uffd::install_status_name(r.status)
                                              << " errno " << r.error;
  }
}

TEST(InstallerStorm, EbusyOnEveryThirdMoveCopiesExactlyThosePages) {
  InstallSetup s(kStormPages, 41);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:every=3:errno=16");
  InstallPageByPage(s);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.move_ebusy, kStormPages / 3);
  EXPECT_EQ(c.pages_copied_on_ebusy, kStormPages / 3);
  EXPECT_EQ(c.pages_moved, kStormPages - kStormPages / 3);
  EXPECT_EQ(s.injector.fired_rule(0), kStormPages / 3);
}

TEST(InstallerStorm, EbusyOnEveryMoveOfARangeCopiesItAll) {
  InstallSetup s(kStormPages, 42);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:every=1:errno=16");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_copied_on_ebusy, kStormPages);
  EXPECT_EQ(c.pages_moved, 0u);
  EXPECT_EQ(c.move_ioctls, kStormPages);
}

// Partial progress and EAGAIN alternate over one ranged MOVE; a bounded partial storm ends
// in a real MOVE of the rest.
TEST(InstallerStorm, AlternatingPartialAndEagainOverOneRange) {
  InstallSetup s(kStormPages, 43);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:every=2:errno=11,move:count=5:partial=3");
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.move_partial, 5u);
  EXPECT_EQ(c.eagain_retries, 5u);
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported, kStormPages);
  EXPECT_GE(c.move_ioctls, 11u);
}

TEST(InstallerStorm, EagainWindowIsRetriedThrough) {
  InstallSetup s(kStormPages, 44);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:from=10,count=500:errno=11");
  InstallPageByPage(s);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.eagain_retries, 500u) << "page 10 is retried through the whole window";
  EXPECT_EQ(c.pages_moved, kStormPages);
}

TEST(InstallerStorm, RacedInstallOnEverySecondMove) {
  InstallSetup s(kStormPages, 45);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:every=2:raced");
  InstallPageByPage(s);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.pages_already_present, kStormPages / 2);
  EXPECT_EQ(c.move_eexist, kStormPages / 2);
  EXPECT_EQ(c.pages_moved, kStormPages / 2);
}

TEST(InstallerStorm, UnreportedMovesOnEveryThirdRun) {
  InstallSetup s(kStormPages, 46);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:every=3:unreported=4/1");
  uffd::PageInstaller& storm = s.installer();
  for (size_t i = 0; i < kStormPages; i += 8) {  // runs of 8 pages
    const auto r = storm.install(s.dst.addr() + i * kPageSize, s.src.addr() + i * kPageSize, 8);
    ASSERT_EQ(r.status, InstallStatus::kDone);
  }
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_GT(c.pages_moved_unreported, 0u);
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported, kStormPages);
  EXPECT_EQ(c.pages_copied_on_ebusy + c.pages_already_present, 0u);
}

// A seeded probabilistic storm of everything at once, page by page and in runs, from several
// threads on disjoint ranges: every fire is accounted for and the content is intact.
TEST(InstallerStorm, MixedProbabilisticStormFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr size_t kPerThread = 64;
  InstallSetup s(kThreads * kPerThread, 47);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.inject("move:p=0.25,seed=11:errno=16,move:p=0.3,seed=12:errno=11,"
           "copy:p=0.3,seed=13:errno=11,move:p=0.2,seed=14:raced");
  uffd::PageInstaller& inst = s.installer();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      size_t i = t * kPerThread;
      const size_t end = i + kPerThread;
      while (i < end) {
        const size_t n = std::min<size_t>(end - i, (i % 3 == 0) ? 5 : 1);
        if (inst.install(s.dst.addr() + i * kPageSize, s.src.addr() + i * kPageSize, n).status !=
            InstallStatus::kDone) {
          failures.fetch_add(1);
        }
        i += n;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.move_ebusy, s.injector.fired_rule(0));
  EXPECT_EQ(c.pages_copied_on_ebusy, s.injector.fired_rule(0));
  EXPECT_EQ(c.eagain_retries, s.injector.fired_rule(1) + s.injector.fired_rule(2));
  EXPECT_EQ(c.pages_already_present, s.injector.fired_rule(3));
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported + c.pages_copied_on_ebusy +
                c.pages_already_present,
            kThreads * kPerThread);
  EXPECT_GT(s.injector.fired_rule(0), 0u);
  EXPECT_GT(s.injector.fired_rule(1), 0u);
  EXPECT_GT(s.injector.fired_rule(2), 0u);
  EXPECT_GT(s.injector.fired_rule(3), 0u);
}

TEST(InstallerStorm, CopyOnlyModeStorms) {
  InstallSetup s(kStormPages, 48);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  s.config.mode = InstallMode::kCopyOnly;
  s.inject("copy:every=3:errno=11,copy:every=4:raced,copy:every=5,count=4:partial=2");
  for (size_t i = 0; i < kStormPages; i += 4) {
    ASSERT_EQ(s.installer()
                  .install(s.dst.addr() + i * kPageSize, s.src.addr() + i * kPageSize, 4)
                  .status,
              InstallStatus::kDone);
  }
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  EXPECT_EQ(c.eagain_retries, s.injector.fired_rule(0));
  EXPECT_EQ(c.pages_already_present, s.injector.fired_rule(1));
  EXPECT_EQ(c.move_partial, s.injector.fired_rule(2));
  EXPECT_GT(c.eagain_retries, 0u);
  EXPECT_GT(c.pages_already_present, 0u);
  EXPECT_GT(c.move_partial, 0u);
  EXPECT_EQ(c.pages_copied + c.pages_already_present, kStormPages);
}

}  // namespace
}  // namespace uffdgc::test
