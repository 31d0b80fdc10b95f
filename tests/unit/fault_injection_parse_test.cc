#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "os/uffd/fault_injection.h"

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


TEST(FaultInjectionSpec, ForeignFillAndMremapRules) {
  FaultInjector inj;
  EXPECT_TRUE(inj.parse("move:4:foreign,copy:every=3:foreign,zeropage:1:foreign"));
  EXPECT_TRUE(inj.parse("mremap:2:errno=12,mremap:from=5,count=2:errno=1"));
  FaultInjector bad;
  for (const char* spec : {"mremap:1:partial=2", "mremap:1:raced", "mremap:1:foreign",
                           "mremap:1:unreported=2/1", "mremap:0:errno=12", "mremap:1:errno=0"}) {
    EXPECT_FALSE(bad.parse(spec)) << spec;
  }
  EXPECT_EQ(bad.rules(), 0);
}

// mremap rules count mremap calls only, and ioctl rules never fire on them.
TEST(FaultInjectionSpec, MremapRulesFireOnTheirOwnCalls) {
  FaultInjector inj;
  ASSERT_TRUE(inj.parse("mremap:2:errno=12,move:1:errno=16"));
  int err = 0;
  EXPECT_FALSE(inj.intercept_mremap(&err));
  EXPECT_TRUE(inj.intercept_mremap(&err));
  EXPECT_EQ(err, 12);
  EXPECT_FALSE(inj.intercept_mremap(&err));
  EXPECT_EQ(inj.mremap_calls(), 3u);
  EXPECT_EQ(inj.calls(UffdOp::kMove), 0u);
  IoctlOutcome out;
  EXPECT_TRUE(inj.intercept(UffdOp::kMove, -1, 0, 0, 4096, 0, &out));
  EXPECT_EQ(out.error, 16);
  EXPECT_EQ(inj.fired(), 2u);
  EXPECT_EQ(inj.fired_rule(0), 1u);
  EXPECT_EQ(inj.fired_rule(1), 1u);
}

// ---- Storm rules: the trigger fires repeatedly ----

// The call numbers (1..calls) of `op` on which the injector fires. Calls use a bad fd: a rule
// with an errno action does nothing real, so the pattern is observed without a kernel.
std::vector<uint64_t> FiringCalls(FaultInjector& inj, uint64_t calls, UffdOp op = UffdOp::kMove) {
  std::vector<uint64_t> fired;
  for (uint64_t c = 1; c <= calls; ++c) {
    IoctlOutcome out;
    if (inj.intercept(op, -1, 0, 0, 4096, 0, &out)) fired.push_back(c);
  }
  return fired;
}

TEST(FaultInjectionStormSpec, AcceptsStormTriggers) {
  for (const char* good :
       {"move:every=3:errno=16", "move:from=10,count=500:errno=11", "move:p=0.2:errno=16",
        "move:p=0.2,seed=7:errno=16", "copy:every=2,count=100:partial=2", "move:p=1:raced",
        "zeropage:every=4,to=40:errno=11", "move:every=2:unreported=3/1",
        "move:seed=3,p=.5,every=2,from=7,to=70,count=9:errno=11",
        "move:every=3:errno=16,move:2:partial=2,copy:from=5,count=1:raced"}) {
    FaultInjector inj;
    EXPECT_TRUE(inj.parse(good)) << good;
  }
}

TEST(FaultInjectionStormSpec, RejectsMalformedStorms) {
  for (const char* bad :
       {"move:every=0:errno=16", "move:every=:errno=16", "move:p=0:errno=16",
        "move:p=1.5:errno=16", "move:p=-0.5:errno=16", "move:p=nan:errno=16",
        "move:p=inf:errno=16", "move:p=0x1p-1:errno=16", "move:p=0.5e-1:errno=16",
        "move:from=0:errno=16", "move:from=5,to=4:errno=16", "move:to=0:errno=16",
        "move:count=0:errno=16", "move:every=3,:errno=16", "move:every=3",
        "move:every=3:", "move:bogus=3:errno=16", "move:every=3,bogus=1:errno=16",
        "move:every=3:errno=0", "copy:every=2:unreported=2/1", "move:every=3;errno=16",
        "move:every=3:errno=16,", "move:seed=x:errno=16"}) {
    FaultInjector inj;
    EXPECT_FALSE(inj.parse(bad)) << bad;
    EXPECT_EQ(inj.rules(), 0) << bad << ": a rejected spec must not add rules";
  }
}

TEST(FaultInjectionStorm, EveryKthCallFires) {
  FaultInjector inj;
  ASSERT_TRUE(inj.parse("move:every=3:errno=16"));
  EXPECT_EQ(FiringCalls(inj, 20), (std::vector<uint64_t>{3, 6, 9, 12, 15, 18}));
  EXPECT_EQ(inj.fired_rule(0), 6u);
  EXPECT_EQ(inj.fired(), 6u);
  EXPECT_EQ(inj.calls(UffdOp::kMove), 20u);
  // Other ops are neither counted against it nor hit.
  EXPECT_TRUE(FiringCalls(inj, 10, UffdOp::kCopy).empty());
  IoctlOutcome out;
  inj.clear();
  ASSERT_TRUE(inj.parse("move:every=1:errno=16"));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(inj.intercept(UffdOp::kMove, -1, 0, 0, 4096, 0, &out));
    EXPECT_EQ(out.ret, -1);
    EXPECT_EQ(out.error, 16);
    EXPECT_EQ(out.progress, -16);
  }
}

TEST(FaultInjectionStorm, WindowAndCountBoundTheStorm) {
  {
    FaultInjector inj;
    ASSERT_TRUE(inj.parse("move:from=10,count=5:errno=11"));
    EXPECT_EQ(FiringCalls(inj, 100), (std::vector<uint64_t>{10, 11, 12, 13, 14}));
    EXPECT_EQ(inj.fired_rule(0), 5u);
  }
  {
    FaultInjector inj;
    ASSERT_TRUE(inj.parse("move:from=10,to=12:errno=11"));
    EXPECT_EQ(FiringCalls(inj, 100), (std::vector<uint64_t>{10, 11, 12}));
  }
  {
    FaultInjector inj;  // every counts from `from`: the 2nd, 4th, 6th call of the window
    ASSERT_TRUE(inj.parse("copy:every=2,from=5,count=3:errno=11"));
    EXPECT_EQ(FiringCalls(inj, 100, UffdOp::kCopy), (std::vector<uint64_t>{6, 8, 10}));
  }
}

TEST(FaultInjectionStorm, ProbabilityIsSeededAndRepeatable) {
  constexpr uint64_t kCalls = 20000;
  FaultInjector a, b, c;
  ASSERT_TRUE(a.parse("move:p=0.2,seed=7:errno=16"));
  ASSERT_TRUE(b.parse("move:p=0.2,seed=7:errno=16"));
  ASSERT_TRUE(c.parse("move:p=0.2,seed=8:errno=16"));
  const auto fa = FiringCalls(a, kCalls), fb = FiringCalls(b, kCalls), fc = FiringCalls(c, kCalls);
  EXPECT_EQ(fa, fb) << "same seed, same calls";
  EXPECT_NE(fa, fc) << "another seed, other calls";
  EXPECT_GT(fa.size(), kCalls * 18 / 100);
  EXPECT_LT(fa.size(), kCalls * 22 / 100);
  // The decision is a pure function of (seed, call number): predictable from call_hash.
  std::vector<uint64_t> predicted;
  const uint64_t threshold = static_cast<uint64_t>(0.2 * 18446744073709551616.0);
  for (uint64_t call = 1; call <= kCalls; ++call) {
    if (FaultInjector::call_hash(7, call) < threshold) predicted.push_back(call);
  }
  EXPECT_EQ(fa, predicted);
  FaultInjector all;
  ASSERT_TRUE(all.parse("move:p=1:errno=11"));
  EXPECT_EQ(FiringCalls(all, 50).size(), 50u);
  FaultInjector combined;  // every 2nd call, half of those
  ASSERT_TRUE(combined.parse("move:every=2,p=0.5,seed=1:errno=11"));
  const auto fcomb = FiringCalls(combined, kCalls);
  for (uint64_t call : fcomb) EXPECT_EQ(call % 2, 0u);
  EXPECT_GT(fcomb.size(), kCalls / 4 * 9 / 10);
  EXPECT_LT(fcomb.size(), kCalls / 4 * 11 / 10);
}

TEST(FaultInjectionStorm, AnExhaustedRuleHandsOverToTheNextOne) {
  FaultInjector inj;
  ASSERT_TRUE(inj.parse("move:count=2:errno=16,move:every=1:errno=11,move:3:partial=2"));
  std::vector<int> errors;
  for (int i = 0; i < 5; ++i) {
    IoctlOutcome out;
    ASSERT_TRUE(inj.intercept(UffdOp::kMove, -1, 0, 0, 4096, 0, &out));
    errors.push_back(out.error);
  }
  // The first matching rule wins: the one-shot rule for call 3 is shadowed by the storm.
  EXPECT_EQ(errors, (std::vector<int>{16, 16, 11, 11, 11}));
  EXPECT_EQ(inj.fired_rule(0), 2u);
  EXPECT_EQ(inj.fired_rule(1), 3u);
  EXPECT_EQ(inj.fired_rule(2), 0u);
  inj.clear();
  EXPECT_EQ(inj.rules(), 0);
  EXPECT_EQ(inj.fired_rule(0), 0u);
  EXPECT_EQ(inj.calls(UffdOp::kMove), 0u);
}

TEST(FaultInjectionStorm, ManyThreadsFireExactlyAsOften) {
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 20000;
  FaultInjector inj;
  ASSERT_TRUE(inj.parse("move:count=1000:errno=11,copy:every=4:errno=11"));
  std::vector<std::thread> threads;
  std::atomic<uint64_t> move_fired{0}, copy_fired{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        IoctlOutcome out;
        if (inj.intercept(UffdOp::kMove, -1, 0, 0, 4096, 0, &out)) move_fired.fetch_add(1);
        if (inj.intercept(UffdOp::kCopy, -1, 0, 0, 4096, 0, &out)) copy_fired.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(move_fired.load(), 1000u);
  EXPECT_EQ(inj.fired_rule(0), 1000u);
  EXPECT_EQ(copy_fired.load(), kThreads * kPerThread / 4);
  EXPECT_EQ(inj.fired_rule(1), kThreads * kPerThread / 4);
  EXPECT_EQ(inj.calls(UffdOp::kMove), kThreads * kPerThread);
}

TEST(FaultInjectionStorm, AddValidatesStormRules) {
  FaultInjector inj;
  InjectionRule r;
  r.error = 16;
  r.every = 0;
  EXPECT_FALSE(inj.add(r)) << "every=0";
  r.every = 2;
  r.from = 9;
  r.to = 8;
  EXPECT_FALSE(inj.add(r)) << "empty window";
  r.to = UINT64_MAX;
  r.threshold = 0;
  EXPECT_FALSE(inj.add(r)) << "probability 0";
  r.threshold = UINT64_MAX;
  r.error = 0;
  EXPECT_FALSE(inj.add(r)) << "errno 0";
  r.error = 16;
  EXPECT_TRUE(inj.add(r));
  EXPECT_EQ(FiringCalls(inj, 14), (std::vector<uint64_t>{10, 12, 14}));
}

}  // namespace
}  // namespace uffdgc::uffd
