#include "runtime/allocator.h"

#include <algorithm>
#include <mutex>

#include "gc/collector.h"
#include "gc/heap_geometry.h"
#include "gc/space/filler.h"
#include "runtime/heap.h"
#include "os/clock.h"
#include "runtime/reclaim_stats_watcher.h"

namespace uffdgc::runtime {

namespace {

bool collection_due(const uffdgc_heap& heap, uint64_t want) {
  if (heap.bytes_since_gc >= heap.config.trigger_allocated) return true;
  return heap.moving.used() + want > heap.occupancy_limit();
}

// Fills the thread's TLAB from the moving space. Returns false when a collection is due or
// the space is full. Heap lock held.
bool refill_tlab(uffdgc_heap& heap, uffdgc_mutator* m, uint64_t bytes, bool allow_trigger) {
  const uint64_t want = bytes > heap.config.tlab_size ? bytes : heap.config.tlab_size;
  if (allow_trigger && collection_due(heap, want)) return false;
  // The new buffer starts where the bump pointer is now: a parse point (gc/space/object_starts.h).
  // Recorded first, so that a failure changes nothing (no memory: as if the space were full).
  if (!heap.starts.add(heap.moving.top())) return false;
  gc::write_filler(m->fast.tlab_cursor, m->fast.tlab_limit);
  uint64_t p = heap.moving.bump(want);
  uint64_t got = want;
  if (p == 0 && want > bytes) {  // the space is nearly full: take just what this object needs
    p = heap.moving.bump(bytes);
    got = bytes;
  }
  if (p == 0) {
    heap.starts.remove_last();
    m->fast.tlab_cursor = m->fast.tlab_limit = 0;
    return false;
  }
  m->fast.tlab_cursor = p;
  m->fast.tlab_limit = p + got;
  heap.bytes_since_gc += got;
  heap.stats.bytes_allocated += got;
  return true;
}

// Writes the header and, for variable types, the length.
void init_object(uint64_t p, uint32_t type_index, const gc::TypeDesc* t, uint64_t length) {
  auto* words = reinterpret_cast<uint64_t*>(p);
  words[0] = type_index;
  if (t->variable()) words[t->length_offset / gc::kWordSize] = length;
}

uint64_t allocate_once(uffdgc_heap& heap, uffdgc_mutator* m, size_t bytes, uint32_t kind,
                       bool allow_trigger, uint64_t* collections_seen, uint32_t type_index,
                       const gc::TypeDesc* t, uint64_t length) {
  std::lock_guard<std::mutex> lock(heap.lock);
  *collections_seen = heap.stats.collections;
  if (kind != UFFDGC_ALLOC_DEFAULT) {
    if (allow_trigger && heap.bytes_since_gc >= heap.config.trigger_allocated) return 0;
    const uint64_t ref = heap.objects.allocate(
        bytes, kind == UFFDGC_ALLOC_LARGE ? gc::ObjectKind::kLarge : gc::ObjectKind::kNonMoving);
    if (ref != 0) {
      // Initialised under the lock: a concurrent cycle's GC thread scans every object of the
      // object spaces it finds in the registry (scan_non_sliding_slots).
      init_object(ref, type_index, t, length);
      heap.bytes_since_gc += bytes;
      heap.stats.bytes_allocated += bytes;
      // Allocated while a concurrent cycle runs: live for this cycle (black allocation).
      if (heap.cycle.objects_black.load(std::memory_order_relaxed)) {
        gc::ObjectSpace::mark(ref, heap.mark_epoch);
      }
    }
    return ref;
  }
  if (m->fast.tlab_limit - m->fast.tlab_cursor < bytes &&
      !refill_tlab(heap, m, bytes, allow_trigger)) {
    return 0;
  }
  const uint64_t p = m->fast.tlab_cursor;
  m->fast.tlab_cursor += bytes;
  return p;
}

}  // namespace

namespace {

// Waits while this thread runs ahead of the marking of a concurrent cycle (allocation_pacer.h),
// parked: a pause never waits for it, and a cycle that ends marking ends the wait.
void pace(uffdgc_heap& heap, uffdgc_mutator* m) {
  const uint64_t start = os::monotonic_ns();
  heap.threads.park(m);
  while (heap.pacer.over_budget(heap.moving.top())) heap.pacer.wait();
  heap.threads.unpark(m);
  const uint64_t waited = os::monotonic_ns() - start;
  std::lock_guard<std::mutex> lock(heap.lock);
  ++heap.stats.alloc_paced;
  heap.stats.alloc_paced_ns += waited;
}

bool last_collection_young(uffdgc_heap& heap) {
  std::lock_guard<std::mutex> lock(heap.lock);
  return heap.stats.last_cycle_young != 0;
}

}  // namespace

uffdgc_result allocate(uffdgc_mutator* m, uint32_t type_index, size_t bytes, uint64_t length,
                       uint32_t kind, uffdgc_ref* out) {
  uffdgc_heap& heap = *m->heap;
  if (heap.pacer.over_budget(heap.moving.top())) pace(heap, m);
  const gc::TypeDesc* t = heap.types.get(type_index);
  if ((t->flags & UFFDGC_TYPE_NONMOVING) != 0 && kind == UFFDGC_ALLOC_DEFAULT) {
    kind = UFFDGC_ALLOC_NONMOVING;
  }
  const bool moves_when_large =
      (heap.config.flags & UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS) != 0 && t->has_refs();
  if (kind == UFFDGC_ALLOC_DEFAULT && bytes >= heap.config.large_object_threshold &&
      !moves_when_large) {
    kind = UFFDGC_ALLOC_LARGE;
  }
  uint64_t seen = 0;
  uint64_t p = allocate_once(heap, m, bytes, kind, /*allow_trigger=*/true, &seen, type_index, t, length);
  if (p == 0) {
    // A trigger fired or the space is full: collect (unless another thread just did), then
    // try once more without triggers.
    ensure_reclaim_stats_watcher();  // a forked child's first collection starts it
    if (const uffdgc_result r = gc::collect(&heap, m, seen, gc::CycleKind::kByPolicy);
        r != UFFDGC_OK && r != UFFDGC_ENOMEM) {
      return r;
    }
    p = allocate_once(heap, m, bytes, kind, /*allow_trigger=*/false, &seen, type_index, t,
                        length);
    // A young collection did not free enough: a full one (design: .cycle.young.policy). A
    // concurrent heap waits for the running cycle's flip first, below.
    if (p == 0 && heap.generational && !heap.concurrent() && last_collection_young(heap)) {
      if (const uffdgc_result r = gc::collect(&heap, m); r != UFFDGC_OK && r != UFFDGC_ENOMEM) {
        return r;
      }
      p = allocate_once(heap, m, bytes, kind, /*allow_trigger=*/false, &seen, type_index, t,
                        length);
    }
    // No space while a concurrent cycle runs: wait for its flip, which frees the space, and
    // if that is not enough, for a whole cycle of our own. The wait is an allocation stall.
    const uint64_t stall_start = p == 0 && heap.concurrent() ? os::monotonic_ns() : 0;
    if (p == 0 && heap.concurrent() && gc::wait_for_space(&heap, m)) {
      p = allocate_once(heap, m, bytes, kind, /*allow_trigger=*/false, &seen, type_index, t,
                        length);
    }
    if (p == 0 && heap.concurrent()) {
      if (const uffdgc_result r = gc::collect(&heap, m); r != UFFDGC_OK && r != UFFDGC_ENOMEM) {
        return r;
      }
      p = allocate_once(heap, m, bytes, kind, /*allow_trigger=*/false, &seen, type_index, t,
                        length);
    }
    if (stall_start != 0) {
      const uint64_t stalled = os::monotonic_ns() - stall_start;
      std::lock_guard<std::mutex> lock(heap.lock);
      ++heap.stats.alloc_stalls;
      heap.stats.alloc_stall_ns += stalled;
    }
  }
  if (p == 0) {
    if (heap.config.has_embedder && heap.config.embedder.out_of_memory != nullptr) {
      heap.config.embedder.out_of_memory(m, bytes, heap.config.embedder.vm);
    }
    return UFFDGC_ENOMEM;
  }
  if (kind == UFFDGC_ALLOC_DEFAULT) init_object(p, type_index, t, length);
  if ((t->flags & UFFDGC_TYPE_HAS_FINALIZER) != 0) {
    std::lock_guard<std::mutex> lock(heap.lock);
    heap.finalizable.push_back(p);
  }
  *out = p;
  return UFFDGC_OK;
}

}  // namespace uffdgc::runtime
