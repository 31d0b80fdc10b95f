#include "gc/heap_walk.h"

#include <mutex>

#include "gc/heap.h"

namespace uffdgc::gc {

void walk_heap(Heap& heap, uffdgc_mutator* requester, HeapWalkFn fn, void* arg) {
  heap.mutators.stop_the_world(requester);
  {
    std::lock_guard<std::mutex> lock(heap.lock);
    heap.flush_pending_fillers();
    heap.mutators.retire_tlabs();
    bool stop = false;
    for (uint64_t a = heap.moving.begin(); a < heap.moving.top() && !stop;) {
      const uint64_t header = *reinterpret_cast<const uint64_t*>(a);
      const uint32_t type = static_cast<uint32_t>(header & UFFDGC_HEADER_TYPE_MASK);
      const size_t size = heap.types.object_size(reinterpret_cast<const void*>(a));
      if (type >= kFirstUserType) stop = fn(a, type, size, arg) != 0;
      a += size;
    }
    heap.objects.for_each([&](uint64_t ref, const ObjectPrefix& p) {
      if (stop) return;
      const uint32_t type =
          static_cast<uint32_t>(*reinterpret_cast<const uint64_t*>(ref) & UFFDGC_HEADER_TYPE_MASK);
      stop = fn(ref, type, p.size, arg) != 0;
    });
  }
  heap.mutators.resume_the_world();
}

}  // namespace uffdgc::gc
