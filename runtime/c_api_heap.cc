// The heap half of the C ABI (include/uffdgc/uffdgc.h): argument and thread-state checks,
// then a call into the runtime or the collector. Nothing here throws or aborts on misuse; no
// exception leaves an entry point (runtime/c_boundary.h): those that can allocate run through
// guard, guard_or or or_abort; the others (destroy, unpin, finalization_pop, the statistics,
// the listener, attributes, weak loads outside marking) allocate nothing.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>

#include "gc/collector.h"
#include "gc/heap_geometry.h"
#include "gc/mark/marker.h"
#include "gc/space/filler.h"
#include "runtime/allocator.h"
#include "runtime/c_boundary.h"
#include "runtime/fork_handlers.h"
#include "runtime/heap.h"
#include "runtime/reclaim_stats_watcher.h"

using uffdgc::runtime::guard;
using uffdgc::runtime::guard_or;
using uffdgc::runtime::is_owner;
using uffdgc::runtime::MutatorState;
using uffdgc::runtime::or_abort;

namespace {

constexpr uint32_t kStatsV1 = offsetof(uffdgc_heap_stats, pause_mark_start_ns_last);
constexpr uint32_t kAttrsV1 = offsetof(uffdgc_attrs, handle_top_offset);  // ABI 0.1

bool running_owner(const uffdgc_mutator* m) {
  return is_owner(m) && m->state.load() == MutatorState::kRunning;
}

// The result for a call that needs the calling thread's own mutator: EINVAL for null, ESTATE
// for another thread's, a detached or (when `running`) a parked one.
uffdgc_result check_mutator(const uffdgc_mutator* m, bool running) {
  if (m == nullptr) return UFFDGC_EINVAL;
  if (!is_owner(m)) return UFFDGC_ESTATE;
  if (running && m->state.load() != MutatorState::kRunning) return UFFDGC_ESTATE;
  return UFFDGC_OK;
}

bool sigbus_blocked() {
  sigset_t current;
  return pthread_sigmask(SIG_SETMASK, nullptr, &current) == 0 && sigismember(&current, SIGBUS) == 1;
}

bool is_heap_object(uffdgc_heap& heap, uffdgc_ref ref) {
  if (ref == 0 || (ref & 7) != 0) return false;
  if (heap.moving.contains(ref)) return true;
  return heap.objects.contains(ref);
}

// True if a user object (not a filler) starts at ref, an aligned address below the moving
// space's top: a parse from the nearest known start at or below it (gc/space/object_starts.h),
// which is where ref's TLAB began when ref was allocated since the last cycle. Heap lock held
// (no cycle changes the layout meanwhile).
bool moving_object_starts_at(uffdgc_heap& heap, uint64_t ref) {
  // Ranges the pauses owe a filler (retired TLAB tails, page padding) read as zeros until
  // written: write them before parsing, as every parse of the space does (heap lock held).
  heap.flush_pending_fillers();
  const uint64_t top = heap.moving.top();
  uint64_t a = heap.starts.at_or_below(ref, heap.moving.begin());
  while (a < ref) {
    const size_t size = heap.types.object_size(reinterpret_cast<const void*>(a));
    // A word no object starts with: the parse points and the heap disagree. Refused rather
    // than pin what may not be an object (the storms and the graph stress pin under load).
    if (size == 0 || size > top - a) return false;
    a += size;
  }
  if (a != ref) return false;
  const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(ref), __ATOMIC_RELAXED);
  const size_t size = heap.types.object_size(reinterpret_cast<const void*>(ref));
  return (header & UFFDGC_HEADER_TYPE_MASK) >= uffdgc::gc::kFirstUserType && size != 0 &&
         size <= top - ref;
}

}  // namespace

extern "C" {

uffdgc_result uffdgc_heap_create(const uffdgc_heap_options* options, uffdgc_heap** out) {
#if defined(UFFDGC_REQUIRES_POPCNT)
  // Built with -mpopcnt (CMakeLists.txt UFFDGC_X86_POPCNT): no heap on a CPU without it.
  if (!__builtin_cpu_supports("popcnt")) return UFFDGC_EUNSUPPORTED;
#endif
  return guard([&] { return uffdgc::runtime::create_heap(options, out); });
}

uffdgc_result uffdgc_heap_destroy(uffdgc_heap* heap) {
  if (heap == nullptr) return UFFDGC_EINVAL;
  if (heap->threads.count() != 0) return UFFDGC_ESTATE;
  delete heap;
  return UFFDGC_OK;
}

uffdgc_result uffdgc_type_register(uffdgc_heap* heap, const uffdgc_type_info* info,
                                   uint32_t* out_index) {
  if (heap == nullptr || info == nullptr || out_index == nullptr) return UFFDGC_EINVAL;
  return guard([&] { return heap->types.add(*info, out_index); });
}

// ---- threads ----

uffdgc_result uffdgc_mutator_attach(uffdgc_heap* heap, void* vm_thread, uffdgc_mutator** out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  *out = nullptr;
  // In the concurrent modes a mutator's first touch of a to-space page raises SIGBUS; with it
  // blocked the kernel would kill the process instead.
  if (heap->concurrent() && sigbus_blocked()) return UFFDGC_ESTATE;
  return guard([&] {
    auto m = std::make_unique<uffdgc_mutator>();
    m->fast.moving_begin = heap->moving.begin();
    m->fast.moving_size = heap->moving.capacity();
    m->heap = heap;
    m->owner = pthread_self();
    m->vm_thread = vm_thread;
    if (!heap->threads.attach(m.get())) {
      return UFFDGC_ESTATE;  // this thread already has a mutator on this heap
    }
    // Joining while a concurrent cycle runs: the barrier is on for everyone. No cycle can
    // start or end before this thread's next safepoint; a pin can change the flag from
    // another thread meanwhile (uffdgc_pin), so its flag is read again after the store.
    if (heap->cycle.barrier_on()) {
      uint32_t flag = heap->cycle.barrier_flag();
      __atomic_store_n(&m->fast.barrier_flag, flag, __ATOMIC_SEQ_CST);
      if (flag != heap->cycle.barrier_flag()) {
        __atomic_store_n(&m->fast.barrier_flag, UFFDGC_BARRIER_SLOW, __ATOMIC_SEQ_CST);
      }
    }
    *out = m.release();
    return UFFDGC_OK;
  });
}

uffdgc_result uffdgc_mutator_detach(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, false); r != UFFDGC_OK) return r;
  uffdgc_heap& heap = *m->heap;
  // Room in the list of retired mutators first: past this point nothing may fail.
  if (const uffdgc_result r = guard([&] {
        std::lock_guard<std::mutex> lock(heap.lock);
        heap.retired_mutators.reserve(heap.retired_mutators.size() + 1);
        return UFFDGC_OK;
      });
      r != UFFDGC_OK) {
    return r;
  }
  // Running, no collection can start until we leave, so our TLAB tail is ours to turn into a
  // filler. A parked thread first waits for a collection in progress to end.
  if (m->state.load() != MutatorState::kRunning) heap.threads.unpark(m);
  uffdgc::gc::write_filler(m->fast.tlab_cursor, m->fast.tlab_limit);
  m->fast.tlab_cursor = m->fast.tlab_limit = 0;
  heap.threads.detach(m);
  m->handles.clear();
  m->heap = nullptr;  // later calls with this pointer fail with UFFDGC_ESTATE
  std::lock_guard<std::mutex> lock(heap.lock);
  // What the barrier logged must still reach the marker while a concurrent cycle marks;
  // outside marking the log means nothing and is dropped. A lost entry would free a live
  // object (or leave a slot unforwarded): no memory for it ends the process.
  if (heap.cycle.barrier_on()) {
    or_abort("uffdgc_mutator_detach (barrier log)", [&] {
      auto& cycle = heap.cycle;
      cycle.orphan_snapshot.insert(cycle.orphan_snapshot.end(), m->snapshot.begin(),
                                   m->snapshot.end());
      cycle.orphan_slots.insert(cycle.orphan_slots.end(), m->slot_log.begin(), m->slot_log.end());
    });
  }
  m->snapshot.clear();
  m->slot_log.clear();
  heap.retired_mutators.push_back(m);  // reserved above
  return UFFDGC_OK;
}

uffdgc_result uffdgc_mutator_park(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  return guard([&] {
    m->heap->threads.park(m);
    return UFFDGC_OK;
  });
}

uffdgc_result uffdgc_mutator_unpark(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, false); r != UFFDGC_OK) return r;
  if (m->state.load() != MutatorState::kParked && m->state.load() != MutatorState::kCheckpointing) {
    return UFFDGC_ESTATE;
  }
  return guard([&] {
    m->heap->threads.unpark(m);
    return UFFDGC_OK;
  });
}

// Checkpoint functions run here; one that cannot finish (the library's hand over its barrier
// log without throwing) would leave its requester waiting forever.
void uffdgc_safepoint_slow(uffdgc_mutator* m) {
  if (running_owner(m)) or_abort("uffdgc_safepoint_slow", [&] { m->heap->threads.safepoint(m); });
}

uffdgc_result uffdgc_run_checkpoint(uffdgc_mutator* m, void (*fn)(uffdgc_mutator*, void*),
                                    void* arg) {
  if (fn == nullptr) return UFFDGC_EINVAL;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  return guard([&] {
    m->heap->threads.run_checkpoint(m, fn, arg);
    return UFFDGC_OK;
  });
}

void* uffdgc_mutator_vm_thread(const uffdgc_mutator* m) {
  return m != nullptr ? m->vm_thread : nullptr;
}

// ---- allocation ----

uffdgc_result uffdgc_alloc(uffdgc_mutator* m, uint32_t type_index, uint64_t length, uint32_t kind,
                           uffdgc_ref* out) {
  if (out == nullptr || kind > UFFDGC_ALLOC_LARGE) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  const uffdgc::gc::TypeDesc* t = m->heap->types.get(type_index);
  if (t == nullptr || type_index < uffdgc::gc::kFirstUserType) return UFFDGC_ETYPE;
  const size_t bytes = uffdgc::gc::TypeRegistry::size_for(*t, t->variable() ? length : 0);
  if (bytes == 0) return UFFDGC_EOVERFLOW;
  return guard([&] { return uffdgc::runtime::allocate(m, type_index, bytes, length, kind, out); });
}

uffdgc_result uffdgc_alloc_slow(uffdgc_mutator* m, uint32_t type_index, size_t bytes,
                                uffdgc_ref* out) {
  if (out == nullptr) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  const uffdgc::gc::TypeDesc* t = m->heap->types.get(type_index);
  if (t == nullptr || type_index < uffdgc::gc::kFirstUserType || t->variable() ||
      (t->flags & UFFDGC_TYPE_HAS_FINALIZER) != 0 ||
      bytes != uffdgc::gc::TypeRegistry::size_for(*t, 0)) {
    return UFFDGC_ETYPE;  // the fast path is for fixed-size types without finalizers only
  }
  return guard([&] {
    return uffdgc::runtime::allocate(m, type_index, bytes, 0, UFFDGC_ALLOC_DEFAULT, out);
  });
}

size_t uffdgc_object_size(uffdgc_mutator* m, uffdgc_ref ref) {
  if (!running_owner(m) || !is_heap_object(*m->heap, ref)) return 0;
  return m->heap->types.object_size(reinterpret_cast<const void*>(ref));
}

// ---- barriers ----

// The barrier's slow path, while a concurrent cycle runs (DESIGN.md §2 "Barriers", §4):
//  * marking: log the value being overwritten (snapshot-at-the-beginning);
//  * pause 1 to the flip: log the slot itself if the flip must rewrite it and the GC thread's
//    scan may already have passed it: slots of objects that do not slide (object spaces, and
//    pinned islands while pins exist). Objects allocated during the cycle slide with the black
//    block, so their slots need no log. The flip pause rewrites exactly the logged and scanned
//    slots, so it never scans a heap.
// A log entry that cannot be recorded (no memory) would free a live object or leave a slot
// pointing into the from-space: that ends the process (runtime/c_boundary.h).
void uffdgc_store_ref_slow(uffdgc_mutator* m, uffdgc_ref, uffdgc_ref* slot, uffdgc_ref value) {
  if (slot == nullptr || !running_owner(m)) return;  // misuse: refuse rather than corrupt
  if (__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) != 0) {
    or_abort("the write barrier (uffdgc_store_ref_slow)", [&] {
      uffdgc_heap& heap = *m->heap;
      if (heap.cycle.phase.load(std::memory_order_acquire) == uffdgc::gc::CyclePhase::kMarking) {
        if (m->snapshot.full()) uffdgc::runtime::hand_over_snapshot(heap, m);
        if (m->snapshot.full()) throw std::bad_alloc();  // no memory to hand it over
        const uffdgc_ref old = __atomic_load_n(slot, __ATOMIC_RELAXED);
        if (old != 0) m->snapshot.append(old);
      } else {
        // Marking is complete: what the inline path logged since the last mark-end pause
        // names objects marked already (DESIGN.md §4 step 3). The cycle's end drops it too.
        m->snapshot.clear();
      }
      const auto where = reinterpret_cast<uint64_t>(slot);
      if (!heap.moving.in_reservation(where) ||
          heap.cycle.log_all_slots.load(std::memory_order_acquire)) {
        m->slot_log.push_back(slot);
      }
    });
  }
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);  // publishes the object (see inline.h)
}

void uffdgc_store_refs(uffdgc_mutator* m, uffdgc_ref holder, uffdgc_ref* dst, const uffdgc_ref* src,
                       size_t count) {
  if (dst == nullptr || src == nullptr || count == 0 || !running_owner(m)) return;
  if (__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) == 0) {
    std::memmove(dst, src, count * sizeof(uffdgc_ref));
    return;
  }
  // Copy in the direction that reads each source before it is overwritten.
  if (dst < src) {
    for (size_t i = 0; i < count; ++i) uffdgc_store_ref_slow(m, holder, dst + i, src[i]);
  } else {
    for (size_t i = count; i > 0; --i) uffdgc_store_ref_slow(m, holder, dst + i - 1, src[i - 1]);
  }
}

// Weak loads while a concurrent cycle runs (DESIGN.md §2 "Weak references"): during marking
// the referent may be reachable only through this weak slot, so it is handed to the marker
// (under weak_lock, which the end of marking also takes: no referent slips past it); once
// marking is complete an unmarked referent is dead and the load gives 0, even before the GC
// thread has cleared the slot, so nothing found dead is resurrected.
uffdgc_ref uffdgc_load_weak(uffdgc_mutator* m, uffdgc_ref, const uffdgc_ref* slot) {
  if (slot == nullptr || !running_owner(m)) return 0;
  const uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
  if (v == 0 || __atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) == 0) return v;
  uffdgc_heap& heap = *m->heap;
  using uffdgc::gc::CyclePhase;
  if (heap.cycle.phase.load(std::memory_order_acquire) == CyclePhase::kMarking) {
    std::lock_guard<std::mutex> lock(heap.cycle.weak_lock);
    if (heap.cycle.phase.load(std::memory_order_acquire) == CyclePhase::kMarking) {
      // A referent handed out unrecorded could be freed while the caller holds it.
      or_abort("uffdgc_load_weak", [&] { heap.cycle.weak_loaded.push_back(v); });
      return v;
    }
  }
  if (heap.cycle.phase.load(std::memory_order_acquire) == CyclePhase::kReclaiming) {
    const uffdgc::gc::Marker* marker = heap.cycle.marker.load(std::memory_order_acquire);
    if (marker == nullptr) return v;
    if (heap.moving.in_reservation(v)) return marker->is_marked(v) ? v : 0;
    // An object-space referent may be swept (freed) meanwhile: decide under the heap lock,
    // which the sweep holds, and only if it still exists (a slot holding something that is no
    // reference reads as dead).
    std::lock_guard<std::mutex> lock(heap.lock);
    return heap.objects.contains(v) && marker->is_marked(v) ? v : 0;
  }
  return v;
}

// ---- roots ----

uffdgc_result uffdgc_handle_scope_open(uffdgc_mutator* m, uffdgc_handle_scope* scope) {
  if (scope == nullptr) return UFFDGC_EINVAL;
  if (const uffdgc_result r = check_mutator(m, false); r != UFFDGC_OK) return r;
  return m->handles.open(scope) ? UFFDGC_OK : UFFDGC_ELIMIT;
}

uffdgc_result uffdgc_handle_scope_close(uffdgc_mutator* m, uffdgc_handle_scope* scope) {
  if (scope == nullptr) return UFFDGC_EINVAL;
  if (const uffdgc_result r = check_mutator(m, false); r != UFFDGC_OK) return r;
  if (!m->handles.close(scope)) return UFFDGC_ESTATE;
  return UFFDGC_OK;
}

uffdgc_ref* uffdgc_handle_new(uffdgc_mutator* m, uffdgc_ref ref) {
  if (!is_owner(m)) return nullptr;
  return guard_or<uffdgc_ref*>(nullptr, [&] { return m->handles.push(ref); });
}

uffdgc_result uffdgc_handle_scope_open_slow(uffdgc_mutator* m, uffdgc_handle_scope* scope) {
  return guard([&] { return m->handles.open_first(scope) ? UFFDGC_OK : UFFDGC_ESTATE; });
}

uffdgc_ref* uffdgc_handle_new_slow(uffdgc_mutator* m, uffdgc_ref ref) {
  return guard_or<uffdgc_ref*>(nullptr, [&] { return m->handles.push(ref); });
}

uffdgc_result uffdgc_global_create(uffdgc_heap* heap, uffdgc_ref ref, uffdgc_global** out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  return guard([&] {
    std::lock_guard<std::mutex> lock(heap->lock);
    *out = heap->globals.create(ref);
    return UFFDGC_OK;
  });
}

// Atomic: threads that are not running mutators may call these while a pause reads or
// rewrites the slot (the rewrite is a compare-and-swap, gc/cycle.h for_each_root).
uffdgc_ref uffdgc_global_get(const uffdgc_global* g) {
  if (g == nullptr || g->magic != uffdgc::runtime::GlobalRoots::kLiveMagic) return 0;
  return __atomic_load_n(&g->ref, __ATOMIC_ACQUIRE);
}

void uffdgc_global_set(uffdgc_global* g, uffdgc_ref ref) {
  if (g == nullptr || g->magic != uffdgc::runtime::GlobalRoots::kLiveMagic) return;
  __atomic_store_n(&g->ref, ref, __ATOMIC_RELEASE);
}

uffdgc_result uffdgc_global_destroy(uffdgc_heap* heap, uffdgc_global* g) {
  if (heap == nullptr || g == nullptr) return UFFDGC_EINVAL;
  std::lock_guard<std::mutex> lock(heap->lock);
  return heap->globals.destroy(g) ? UFFDGC_OK : UFFDGC_ENOTFOUND;
}

// ref must be an object start: in the moving space a parse of its TLAB's objects up to it
// (moving_object_starts_at), in the object spaces a registry lookup.
uffdgc_result uffdgc_pin(uffdgc_mutator* m, uffdgc_ref ref) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  if (ref == 0 || (ref & 7) != 0) return UFFDGC_EINVAL;
  uffdgc_heap& heap = *m->heap;
  return guard([&] {
    std::lock_guard<std::mutex> lock(heap.lock);
    const bool moving = heap.moving.contains(ref);
    if (moving ? !moving_object_starts_at(heap, ref) : !heap.objects.contains(ref)) {
      return UFFDGC_EINVAL;
    }
    if (heap.pins[ref]++ == 0 && moving) {
      // A concurrent cycle that already planned its compaction must plan again (the flip
      // checks the epoch), and stores into the new island must reach the flip.
      ++heap.pin_epoch;
      if (heap.cycle.barrier_on()) {
        heap.cycle.log_all_slots.store(true, std::memory_order_seq_cst);
        heap.threads.for_each_attached([](uffdgc_mutator* t) {
          __atomic_store_n(&t->fast.barrier_flag, UFFDGC_BARRIER_SLOW, __ATOMIC_SEQ_CST);
        });
      }
    }
    return UFFDGC_OK;
  });
}

uffdgc_result uffdgc_unpin(uffdgc_mutator* m, uffdgc_ref ref) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  std::lock_guard<std::mutex> lock(m->heap->lock);
  auto it = m->heap->pins.find(ref);
  if (it == m->heap->pins.end()) return UFFDGC_ENOTFOUND;
  if (--it->second == 0) m->heap->pins.erase(it);
  return UFFDGC_OK;
}

uffdgc_result uffdgc_finalization_pop(uffdgc_mutator* m, uffdgc_ref* out) {
  if (out == nullptr) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  std::lock_guard<std::mutex> lock(m->heap->lock);
  if (m->heap->finalization_ready.empty()) return UFFDGC_EEMPTY;
  *out = m->heap->finalization_ready.front();
  m->heap->finalization_ready.pop_front();
  return UFFDGC_OK;
}

// ---- collection and introspection ----

uffdgc_result uffdgc_collect(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  uffdgc::runtime::ensure_reclaim_stats_watcher();  // a forked child's first collection starts it
  return guard([&] { return uffdgc::gc::collect(m->heap, m); });
}

uffdgc_result uffdgc_heap_walk(uffdgc_mutator* m,
                               int (*fn)(uffdgc_ref, uint32_t, size_t, void*), void* arg) {
  if (fn == nullptr) return UFFDGC_EINVAL;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  uffdgc_heap& heap = *m->heap;
  heap.threads.stop_the_world(m);
  {
    std::lock_guard<std::mutex> lock(heap.lock);
    heap.flush_pending_fillers();
    heap.retire_tlabs();
    bool stop = false;
    for (uint64_t a = heap.moving.begin(); a < heap.moving.top() && !stop;) {
      const uint64_t header = *reinterpret_cast<const uint64_t*>(a);
      const uint32_t type = static_cast<uint32_t>(header & UFFDGC_HEADER_TYPE_MASK);
      const size_t size = heap.types.object_size(reinterpret_cast<const void*>(a));
      if (type >= uffdgc::gc::kFirstUserType) stop = fn(a, type, size, arg) != 0;
      a += size;
    }
    heap.objects.for_each([&](uint64_t ref, const uffdgc::gc::ObjectPrefix& p) {
      if (stop) return;
      const uint32_t type =
          static_cast<uint32_t>(*reinterpret_cast<const uint64_t*>(ref) & UFFDGC_HEADER_TYPE_MASK);
      stop = fn(ref, type, p.size, arg) != 0;
    });
  }
  heap.threads.resume_the_world();
  return UFFDGC_OK;
}

uffdgc_result uffdgc_heap_get_stats(uffdgc_heap* heap, uffdgc_heap_stats* out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  if (out->struct_size < kStatsV1) return UFFDGC_ESTRUCTSIZE;
  std::lock_guard<std::mutex> lock(heap->lock);
  uffdgc_heap_stats s = heap->stats;
  s.struct_size = out->struct_size;
  s.moving_bytes_used = heap->moving.used();
  s.nonmoving_bytes = heap->objects.bytes(uffdgc::gc::ObjectKind::kNonMoving);
  s.large_bytes = heap->objects.bytes(uffdgc::gc::ObjectKind::kLarge);
  const auto installed = uffdgc::uffd::snapshot(heap->install_counters);
  s.pages_moved = installed.pages_moved + installed.pages_moved_unreported;
  s.pages_copied = installed.pages_copied;
  s.pages_copied_on_ebusy = installed.pages_copied_on_ebusy;
  s.pages_eexist = installed.pages_already_present;
  s.install_eagain_retries = installed.eagain_retries;
  s.install_partial = installed.move_partial;
  s.install_ioctls = installed.move_ioctls + installed.copy_ioctls + installed.zeropage_ioctls;
  s.folio_frames_moved_whole = installed.folio_frames_moved_whole;
  s.folio_frames_moved_partly = installed.folio_frames_moved_partly;
  std::memcpy(out, &s, std::min<size_t>(out->struct_size, sizeof(s)));  // an older, shorter struct
  return UFFDGC_OK;
}

uffdgc_result uffdgc_set_event_listener(uffdgc_heap* heap, uffdgc_event_fn fn, void* arg) {
  if (heap == nullptr) return UFFDGC_EINVAL;
  std::lock_guard<std::mutex> lock(heap->event_lock);
  heap->event_fn = fn;
  heap->event_arg = fn != nullptr ? arg : nullptr;
  return UFFDGC_OK;
}

// ---- fork ----

void uffdgc_atfork_prepare(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::prepare_heap_for_fork(*heap);
}

void uffdgc_atfork_parent(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::resume_heap_in_parent(*heap);
}

void uffdgc_atfork_child(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::reset_heap_in_child(*heap);
}

uffdgc_result uffdgc_get_attrs(uffdgc_heap* heap, uffdgc_attrs* out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  if (out->struct_size < kAttrsV1) return UFFDGC_ESTRUCTSIZE;
  uffdgc_attrs a{};
  a.struct_size = out->struct_size;
  a.object_alignment = UFFDGC_OBJECT_ALIGNMENT;
  a.tlab_cursor_offset = UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET;
  a.tlab_limit_offset = UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET;
  a.poll_flag_offset = UFFDGC_MUTATOR_POLL_FLAG_OFFSET;
  a.barrier_flag_offset = UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET;
  a.header_type_mask = UFFDGC_HEADER_TYPE_MASK;
  a.handle_top_offset = UFFDGC_MUTATOR_HANDLE_TOP_OFFSET;
  a.handle_limit_offset = UFFDGC_MUTATOR_HANDLE_LIMIT_OFFSET;
  a.satb_cursor_offset = UFFDGC_MUTATOR_SATB_CURSOR_OFFSET;
  a.satb_limit_offset = UFFDGC_MUTATOR_SATB_LIMIT_OFFSET;
  a.moving_begin_offset = UFFDGC_MUTATOR_MOVING_BEGIN_OFFSET;
  a.moving_size_offset = UFFDGC_MUTATOR_MOVING_SIZE_OFFSET;
  std::memcpy(out, &a, std::min<size_t>(out->struct_size, sizeof(a)));
  return UFFDGC_OK;
}

}  // extern "C"
