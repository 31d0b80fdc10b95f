// The heap walk (uffdgc.h: uffdgc_heap_walk): every user object of the moving and object spaces,
// with the world stopped by `requester` (a running mutator of the heap). fn returns non-zero
// to stop the walk.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

class Heap;

using HeapWalkFn = int (*)(uffdgc_ref ref, uint32_t type, size_t size, void* arg);

void walk_heap(Heap& heap, uffdgc_mutator* requester, HeapWalkFn fn, void* arg);

}  // namespace uffdgc::gc
