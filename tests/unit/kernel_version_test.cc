#include "os/uffd/kernel_version.h"

#include <gtest/gtest.h>

#include "uffdgc/uffdgc.h"

namespace uffdgc::uffd {
namespace {

TEST(KernelVersion, ParsesReleaseStrings) {
  KernelVersion v;
  ASSERT_TRUE(parse_kernel_version("6.18.44-fc-v669", &v));
  EXPECT_EQ(v, (KernelVersion{6, 18, 44}));
  ASSERT_TRUE(parse_kernel_version("6.12.117", &v));
  EXPECT_EQ(v, (KernelVersion{6, 12, 117}));
  ASSERT_TRUE(parse_kernel_version("6.14-rc3", &v));
  EXPECT_EQ(v, (KernelVersion{6, 14, 0}));
  EXPECT_FALSE(parse_kernel_version("linux", &v));
}

TEST(KernelVersion, RunningKernelIsParsed) {
  KernelVersion v;
  char release[65] = {};
  ASSERT_TRUE(running_kernel_version(&v, release, sizeof(release)));
  EXPECT_GE(v.major, 4u);
  EXPECT_NE(release[0], '\0');
}

TEST(KernelQuirks, SwapCacheFixBoundaries) {
  auto lacks_fix = [](KernelVersion v) {
    return (kernel_quirks(v) & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) != 0;
  };
  EXPECT_FALSE(lacks_fix({6, 7, 0}));  // no MOVE at all
  EXPECT_TRUE(lacks_fix({6, 8, 0}));
  EXPECT_TRUE(lacks_fix({6, 11, 9}));
  EXPECT_TRUE(lacks_fix({6, 12, 19}));
  EXPECT_FALSE(lacks_fix({6, 12, 20}));
  EXPECT_FALSE(lacks_fix({6, 12, 117}));
  EXPECT_TRUE(lacks_fix({6, 13, 7}));
  EXPECT_FALSE(lacks_fix({6, 13, 8}));
  EXPECT_FALSE(lacks_fix({6, 14, 0}));
  EXPECT_FALSE(lacks_fix({7, 0, 0}));
}

TEST(KernelQuirks, LivelockAndUnreportedMoveRanges) {
  EXPECT_TRUE(kernel_quirks({6, 12, 117}) & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK);
  EXPECT_FALSE(kernel_quirks({6, 12, 118}) & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK);
  EXPECT_TRUE(kernel_quirks({6, 13, 12}) & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK);
  EXPECT_FALSE(kernel_quirks({6, 18, 0}) & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK);
  EXPECT_FALSE(kernel_quirks({6, 17, 9}) & UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES);
  EXPECT_TRUE(kernel_quirks({6, 18, 44}) & UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES);
  EXPECT_EQ(kernel_quirks({6, 1, 0}), 0u);
}

}  // namespace
}  // namespace uffdgc::uffd
