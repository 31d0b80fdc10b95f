// The phases of a collection cycle (design: .cycle.phases), in one enum: the cycle's own
// position (Cycle::enter, checked against the transitions below in test builds) and what
// mutators' slow paths see of it (CycleState::phase: only kIdle, kConcurrentMark and kWeak,
// changed at pause 1, the end of marking and the flip). Names are the ones events report.
#pragma once

#include <cstdint>

namespace uffdgc::gc {

enum class Phase : uint8_t {
  kIdle,
  // Stop-the-world (stw mode, all in one pause; the compaction of a flip that finishes the
  // cycle itself). kWeak and kPlan are concurrent cycles' phases too, with mutators running.
  kMark,     // "mark"
  kWeak,     // "weak": weak references, finalization, sweep
  kPlan,     // "plan": pinned islands, the compaction plan
  kCompact,  // "compact": flip and slide the pages
  kUpdate,   // "update": references from outside the moving space
  kVerify,   // "verify": the heap verifier (test builds), after compaction
  // Concurrent cycles (move and copy modes).
  kMarkStart,          // "mark-start": pause 1
  kConcurrentMark,     // "concurrent-mark": marking with mutators running (no event)
  kMarkEnd,            // "mark-end": pause 2, again while the logs hold unmarked objects
  kFlip,               // "flip": pause 3
  kFlipStw,            // "flip-stw": pause 3 finishing the cycle stop-the-world
  kConcurrentCompact,  // "concurrent-compact": producing the to-space (no event)
};

// The name events report (uffdgc.h UFFDGC_EVENT_PHASE); a static string.
const char* phase_name(Phase phase);
// Whether entering the phase is reported as an event (the concurrent stretches are not: the
// pauses around them and their statistics say when they ran).
bool phase_reported(Phase phase);
// Whether a cycle may go from `from` to `to` (design: .cycle.phases).
bool phase_may_follow(Phase from, Phase to);

}  // namespace uffdgc::gc
