// Allocation slow paths (design: .heap.moving, .heap.triggers): TLAB refill from the moving
// space's bump pointer, non-moving and large objects, and the collection triggers (allocation
// volume, occupancy: gc/heap.h).
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

}  // namespace uffdgc::runtime
