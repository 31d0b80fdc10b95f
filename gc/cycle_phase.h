// Where a concurrent cycle stands (DESIGN.md §4), as seen by the barrier slow path and weak
// loads on mutator threads.
#pragma once

#include <cstdint>

namespace uffdgc::gc {

enum class CyclePhase : uint8_t {
  kIdle,        // no cycle, or a stop-the-world one
  kMarking,     // pause 1 until marking is complete: the barrier logs overwritten references
  kReclaiming,  // marking complete until the flip: weak loads of unmarked referents give 0
};

}  // namespace uffdgc::gc
