// Allocation slow paths (DESIGN.md §3): TLAB refill from the moving space's bump pointer,
// non-moving and large objects, and the collection triggers (allocation volume, occupancy).
// An allocation that fails after a full collection reports out-of-memory to the embedder and
// returns UFFDGC_ENOMEM; nothing in here aborts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

// Allocates `bytes` (rounded, >= the type's size) of the given kind and initialises the header
// and, for variable types, the length field. The caller has validated thread and arguments.
uffdgc_result allocate(uffdgc_mutator* m, uint32_t type_index, size_t bytes, uint64_t length,
                       uint32_t kind, uffdgc_ref* out);

// Turns every attached thread's unused TLAB tail into a filler and empties the TLABs, so the
// moving space parses to its top. World stopped by the caller, heap lock held.
void retire_tlabs(uffdgc_heap& heap);

// Like retire_tlabs, and the top moves up to a page boundary, but no heap page is written:
// the fillers go to heap.pending_fillers (DESIGN.md §4: pauses touch no heap page). Returns
// the new top: everything allocated from now on lies at or above it. World stopped, heap lock.
uint64_t cut_allocation(uffdgc_heap& heap);

// Where the moving space's bump pointer stands when the next collection becomes due (the
// allocation-volume and occupancy triggers), for a heap whose top is `top` and which has
// allocated nothing since its last collection.
uint64_t collection_due_at(const uffdgc_heap& heap, uint64_t top);

}  // namespace uffdgc::runtime
