// The cycle's phases (gc/phase.h, design: .cycle.phases): the sequences each kind of cycle
// runs are allowed step by step, steps that skip or reorder a phase are not, and every reported
// name is one uffdgc.h documents.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "gc/phase.h"

namespace {

using uffdgc::gc::Phase;
using uffdgc::gc::phase_may_follow;
using uffdgc::gc::phase_name;
using uffdgc::gc::phase_reported;

constexpr Phase kAll[] = {Phase::kIdle,      Phase::kMark,           Phase::kWeak,
                          Phase::kPlan,      Phase::kCompact,        Phase::kUpdate,
                          Phase::kVerify,    Phase::kMarkStart,      Phase::kConcurrentMark,
                          Phase::kMarkEnd,   Phase::kFlip,           Phase::kFlipStw,
                          Phase::kConcurrentCompact};

void ExpectRuns(const std::vector<Phase>& steps) {
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_TRUE(phase_may_follow(steps[i - 1], steps[i]))
        << phase_name(steps[i]) << " after " << phase_name(steps[i - 1]) << " (step " << i << ")";
  }
}

TEST(Phase, EveryKindOfCycleRunsItsSequence) {
  ExpectRuns({Phase::kIdle, Phase::kMark, Phase::kWeak, Phase::kPlan, Phase::kCompact,
              Phase::kUpdate, Phase::kVerify, Phase::kIdle});
  ExpectRuns({Phase::kIdle, Phase::kMark, Phase::kWeak, Phase::kPlan, Phase::kCompact,
              Phase::kUpdate, Phase::kIdle});
  ExpectRuns({Phase::kIdle, Phase::kMarkStart, Phase::kConcurrentMark, Phase::kMarkEnd,
              Phase::kConcurrentMark, Phase::kMarkEnd, Phase::kWeak, Phase::kPlan, Phase::kPlan,
              Phase::kFlip, Phase::kConcurrentCompact, Phase::kVerify, Phase::kIdle});
  ExpectRuns({Phase::kIdle, Phase::kMarkStart, Phase::kConcurrentMark, Phase::kMarkEnd,
              Phase::kWeak, Phase::kPlan, Phase::kFlipStw, Phase::kCompact, Phase::kUpdate,
              Phase::kIdle});
  ExpectRuns({Phase::kPlan, Phase::kFlip, Phase::kFlipStw, Phase::kCompact});  // no uffd
  ExpectRuns({Phase::kPlan, Phase::kFlip, Phase::kIdle});  // to-space produced in the pause
  ExpectRuns({Phase::kPlan, Phase::kFlip, Phase::kVerify, Phase::kIdle});  // nothing slid
}

TEST(Phase, StepsThatSkipOrReorderAreRefused) {
  EXPECT_FALSE(phase_may_follow(Phase::kIdle, Phase::kWeak));
  EXPECT_FALSE(phase_may_follow(Phase::kMarkStart, Phase::kMarkEnd));  // no concurrent marking
  EXPECT_FALSE(phase_may_follow(Phase::kConcurrentMark, Phase::kWeak));  // no mark-end pause
  EXPECT_FALSE(phase_may_follow(Phase::kWeak, Phase::kFlip));            // no plan
  EXPECT_FALSE(phase_may_follow(Phase::kFlip, Phase::kUpdate));
  EXPECT_FALSE(phase_may_follow(Phase::kConcurrentCompact, Phase::kConcurrentMark));
  EXPECT_FALSE(phase_may_follow(Phase::kVerify, Phase::kMark));  // a cycle ends idle first
  int allowed = 0;
  for (Phase from : kAll) {
    for (Phase to : kAll) allowed += phase_may_follow(from, to) ? 1 : 0;
  }
  EXPECT_EQ(allowed, 25);  // the table's size: a new step is a decision, made here too
}

TEST(Phase, ReportedNamesAreTheDocumentedOnes) {
  // include/uffdgc/uffdgc.h, UFFDGC_EVENT_PHASE.
  const std::set<std::string> documented = {"mark", "weak",     "plan",    "compact",
                                            "update", "verify", "mark-start", "mark-end",
                                            "flip",   "flip-stw"};
  std::set<std::string> reported, names;
  for (Phase p : kAll) {
    names.insert(phase_name(p));
    if (phase_reported(p)) reported.insert(phase_name(p));
  }
  EXPECT_EQ(reported, documented);
  EXPECT_EQ(names.size(), std::size(kAll)) << "two phases share a name";
}

}  // namespace
