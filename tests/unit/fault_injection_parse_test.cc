#include <gtest/gtest.h>

#include "gc/uffd/fault_injection.h"

namespace uffdgc::uffd {
namespace {

TEST(FaultInjectionSpec, AcceptsEveryAction) {
  FaultInjector inj;
  EXPECT_TRUE(inj.parse("move:3:errno=16,move:1:partial=2,copy:2:raced,move:4:unreported=3/1"));
  EXPECT_TRUE(inj.parse("zeropage:1:errno=11"));
  EXPECT_FALSE(inj.parse("move:1:errno=1,move:2:errno=1,move:3:errno=1,move:4:errno=1"))
      << "a full table must refuse further rules";
}

TEST(FaultInjectionSpec, RejectsMalformedRules) {
  FaultInjector inj;
  for (const char* bad : {"", "mov:1:errno=16", "move:0:errno=16", "move:1:errno=0",
                          "move:1:partial=0", "move:1:unreported=2/2", "copy:1:unreported=2/1",
                          "move:1:errno=16,", "move:1:bogus", "move:x:raced"}) {
    if (*bad == '\0') continue;  // an empty spec is valid and adds nothing
    EXPECT_FALSE(inj.parse(bad)) << bad;
  }
  EXPECT_TRUE(inj.parse(""));
}

TEST(FaultInjectionSpec, FiresOnlyOnTheNthCallOfItsOp) {
  FaultInjector inj;
  ASSERT_TRUE(inj.parse("copy:2:errno=12"));
  IoctlOutcome out;
  // Calls with a bad fd: when the rule does not fire, intercept() returns false and does nothing.
  EXPECT_FALSE(inj.intercept(UffdOp::kMove, -1, 0, 0, 4096, 0, &out));
  EXPECT_FALSE(inj.intercept(UffdOp::kCopy, -1, 0, 0, 4096, 0, &out));
  EXPECT_TRUE(inj.intercept(UffdOp::kCopy, -1, 0, 0, 4096, 0, &out));
  EXPECT_EQ(out.ret, -1);
  EXPECT_EQ(out.error, 12);
  EXPECT_EQ(out.progress, -12);
  EXPECT_FALSE(inj.intercept(UffdOp::kCopy, -1, 0, 0, 4096, 0, &out));
  EXPECT_EQ(inj.fired(), 1u);
  EXPECT_EQ(inj.calls(UffdOp::kCopy), 3u);
}

}  // namespace
}  // namespace uffdgc::uffd
