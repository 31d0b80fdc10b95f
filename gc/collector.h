// One collection cycle (DESIGN.md §4). This release runs every phase inside one pause: the
// stop-the-world fallback of §4, already split the way the concurrent collector needs it
// (marking into side tables, a plan, from-space produced by mremap, page-by-page compaction
// with CompactionPlan::compact_page).
#pragma once

#include <cstdint>

#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

// Runs a full cycle for `requester` (attached, running, owner thread). World stopped inside.
// UFFDGC_OK, or UFFDGC_ENOMEM when the side tables cannot be mapped, or UFFDGC_EINTERNAL when
// the flip's mremap fails (the heap is left unchanged in both cases).
// With `unless_after` set to a collection count, the cycle is skipped when another thread
// completed a collection since that count was read (two allocating threads that hit the
// trigger together collect once).
inline constexpr uint64_t kAlwaysCollect = UINT64_MAX;
uffdgc_result collect(uffdgc_heap* heap, uffdgc_mutator* requester,
                      uint64_t unless_after = kAlwaysCollect);

}  // namespace uffdgc::gc
