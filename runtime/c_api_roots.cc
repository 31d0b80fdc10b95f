// The C ABI, "Roots" (include/uffdgc/uffdgc.h): handles, globals, pins and finalization.
// Argument and thread-state checks, then one call (runtime/handles.h, gc/pins.h, gc/heap.h).

#include <mutex>

#include "gc/pins.h"
#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"

using uffdgc::runtime::check_mutator;
using uffdgc::runtime::guard;
using uffdgc::runtime::guard_or;
using uffdgc::runtime::is_owner;

extern "C" {

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

// ref must be an object start: in the moving space a parse of its TLAB's objects up to it, in
// the object spaces a registry lookup (gc/pins.h).
uffdgc_result uffdgc_pin(uffdgc_mutator* m, uffdgc_ref ref) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  if (ref == 0 || (ref & 7) != 0) return UFFDGC_EINVAL;
  uffdgc_heap& heap = *m->heap;
  return guard([&] {
    std::lock_guard<std::mutex> lock(heap.lock);
    switch (uffdgc::gc::pin(heap, ref)) {
      case uffdgc::gc::PinResult::kNotAnObject:
        return UFFDGC_EINVAL;
      case uffdgc::gc::PinResult::kPinnedThreadsMustLogSlots:
        heap.threads.for_each_attached([&heap](uffdgc_mutator* t) {
          __atomic_store_n(&t->fast.barrier_flag, UFFDGC_BARRIER_SLOW | heap.cycle.remember_flag,
                           __ATOMIC_SEQ_CST);
        });
        return UFFDGC_OK;
      case uffdgc::gc::PinResult::kPinned:
        return UFFDGC_OK;
    }
    return UFFDGC_EINTERNAL;
  });
}

uffdgc_result uffdgc_unpin(uffdgc_mutator* m, uffdgc_ref ref) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  std::lock_guard<std::mutex> lock(m->heap->lock);
  return uffdgc::gc::unpin(*m->heap, ref) ? UFFDGC_OK : UFFDGC_ENOTFOUND;
}

uffdgc_result uffdgc_finalization_pop(uffdgc_mutator* m, uffdgc_ref* out) {
  if (out == nullptr) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  return m->heap->pop_finalization_ready(out) ? UFFDGC_OK : UFFDGC_EEMPTY;
}

}  // extern "C"
