// Pinning (uffdgc.h "Roots": uffdgc_pin): a pinned moving-space object stays where it is; the
// compaction leaves an island around it (design: .barrier.pins). Heap lock held by the caller.
#pragma once

#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

class Heap;

enum class PinResult {
  kNotAnObject,  // ref is not the start of an object of the heap: nothing changed
  kPinned,
  kPinnedThreadsMustLogSlots,  // the caller sets every thread's flag to UFFDGC_BARRIER_SLOW
};

// ref: 8-aligned, not 0. Throws std::bad_alloc (nothing changed then).
PinResult pin(Heap& heap, uffdgc_ref ref);
// False when ref is not pinned.
bool unpin(Heap& heap, uffdgc_ref ref);

}  // namespace uffdgc::gc
