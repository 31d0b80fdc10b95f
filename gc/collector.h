// Collection (design: .cycle.phases): the stop-the-world cycle of the stw mode, or the concurrent
// cycle of the move and copy modes (gc/cycle.h, gc/concurrent_cycle.cc).
#pragma once

#include <cstdint>

#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

class Heap;

// Runs a cycle for `requester` (attached, running, owner thread). World stopped inside.
// UFFDGC_OK, or UFFDGC_ENOMEM when the side tables cannot be mapped, or UFFDGC_EINTERNAL when
// the flip's mremap fails (the heap is left unchanged in both cases).
// With `unless_after` set to a collection count, the cycle is skipped when another thread
// completed a collection since that count was read (two allocating threads that hit the
// trigger together collect once).
// An allocation that hit a trigger (unless_after set) does not wait in a concurrent mode: it
// returns once pause 1 has started the cycle, or at once if a cycle is already running, and
// the allocation goes on in the free space (wait_for_space() if there is none).
inline constexpr uint64_t kAlwaysCollect = UINT64_MAX;
// Which generations a collection covers in a generational heap (design: .cycle.young); other
// heaps always run a full one.
enum class CycleKind : uint8_t {
  kFull,     // every space (uffdgc_collect)
  kYoung,    // the young generation (uffdgc_collect_young)
  kByPolicy, // young while the old generation fits (Heap::young_collection_fits), else full
};
uffdgc_result collect(Heap* heap, uffdgc_mutator* requester,
                      uint64_t unless_after = kAlwaysCollect, CycleKind kind = CycleKind::kFull);

// Parks the requester until the concurrent cycle in progress (if any) has flipped, so that
// the space it frees can be allocated. Returns false if no cycle was in progress.
bool wait_for_space(Heap* heap, uffdgc_mutator* requester);

}  // namespace uffdgc::gc
