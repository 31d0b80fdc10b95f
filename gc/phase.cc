#include "gc/phase.h"

namespace uffdgc::gc {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kIdle: return "idle";
    case Phase::kMark: return "mark";
    case Phase::kWeak: return "weak";
    case Phase::kPlan: return "plan";
    case Phase::kCompact: return "compact";
    case Phase::kUpdate: return "update";
    case Phase::kVerify: return "verify";
    case Phase::kMarkStart: return "mark-start";
    case Phase::kConcurrentMark: return "concurrent-mark";
    case Phase::kMarkEnd: return "mark-end";
    case Phase::kFlip: return "flip";
    case Phase::kFlipStw: return "flip-stw";
    case Phase::kConcurrentCompact: return "concurrent-compact";
  }
  return "?";
}

bool phase_reported(Phase phase) {
  return phase != Phase::kIdle && phase != Phase::kConcurrentMark &&
         phase != Phase::kConcurrentCompact;
}

bool phase_may_follow(Phase from, Phase to) {
  switch (from) {
    // A stop-the-world collection without memory for its side tables ends before it starts.
    case Phase::kIdle:
      return to == Phase::kMark || to == Phase::kMarkStart || to == Phase::kIdle;
    case Phase::kMark: return to == Phase::kWeak;
    case Phase::kWeak: return to == Phase::kPlan;
    // A concurrent cycle plans again when a pin came between the plan and the flip.
    case Phase::kPlan:
      return to == Phase::kCompact || to == Phase::kPlan || to == Phase::kFlip ||
             to == Phase::kFlipStw;
    // A stop-the-world collection whose first mremap failed is abandoned.
    case Phase::kCompact: return to == Phase::kUpdate || to == Phase::kIdle;
    case Phase::kUpdate: return to == Phase::kVerify || to == Phase::kIdle;
    case Phase::kVerify: return to == Phase::kIdle;
    case Phase::kMarkStart: return to == Phase::kConcurrentMark;
    case Phase::kConcurrentMark: return to == Phase::kMarkEnd;
    case Phase::kMarkEnd: return to == Phase::kConcurrentMark || to == Phase::kWeak;
    // A flip whose to-space could not be registered produces every page in the pause; one
    // without a userfaultfd or with faults not routed to us finishes stop-the-world.
    case Phase::kFlip:
      return to == Phase::kConcurrentCompact || to == Phase::kIdle || to == Phase::kFlipStw ||
             to == Phase::kVerify;  // nothing slid (flip_in_place): test builds verify
    case Phase::kFlipStw: return to == Phase::kCompact;
    case Phase::kConcurrentCompact: return to == Phase::kVerify || to == Phase::kIdle;
  }
  return false;
}

}  // namespace uffdgc::gc
