// The C ABI, "Barriers" (include/uffdgc/uffdgc.h; the fast paths are in inline.h): argument
// and thread-state checks, then the protocol (gc/barrier/barrier.h).

#include <cstring>

#include "gc/barrier/barrier.h"
#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"

using uffdgc::runtime::or_abort;
using uffdgc::runtime::running_owner;

extern "C" {

// The barrier's slow path (design: .barrier.slow-path): the protocol is gc::log_store; a log
// entry that cannot be recorded (no memory) ends the process (runtime/c_boundary.h).
// The remembered-set half (design: .barrier.remembered) is gc::remember_store.
void uffdgc_store_ref_slow(uffdgc_mutator* m, uffdgc_ref holder, uffdgc_ref* slot,
                           uffdgc_ref value) {
  if (slot == nullptr || !running_owner(m)) return;  // misuse: refuse rather than corrupt
  or_abort("the write barrier (uffdgc_store_ref_slow)", [&] {
    if ((__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) & UFFDGC_BARRIER_CYCLE) != 0) {
      uffdgc::gc::log_store(*m->heap, m->logs, slot);
    }
    uffdgc::gc::remember_store(*m->heap, m->logs, holder, slot, value);
  });
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);  // publishes the object (see inline.h)
}

void uffdgc_store_refs(uffdgc_mutator* m, uffdgc_ref holder, uffdgc_ref* dst, const uffdgc_ref* src,
                       size_t count) {
  if (dst == nullptr || src == nullptr || count == 0 || !running_owner(m)) return;
  if ((__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) & UFFDGC_BARRIER_CYCLE) == 0) {
    std::memmove(dst, src, count * sizeof(uffdgc_ref));
    if (m->fast.young_size == 0) return;
    // A generational heap: the young values now in old slots are remembered (no collection
    // can come between the copy and the log: this thread does not poll here).
    or_abort("the write barrier (uffdgc_store_refs)", [&] {
      for (size_t i = 0; i < count; ++i) {
        uffdgc::gc::remember_store(*m->heap, m->logs, holder, dst + i, dst[i]);
      }
    });
    return;
  }
  // Copy in the direction that reads each source before it is overwritten.
  if (dst < src) {
    for (size_t i = 0; i < count; ++i) uffdgc_store_ref_slow(m, holder, dst + i, src[i]);
  } else {
    for (size_t i = count; i > 0; --i) uffdgc_store_ref_slow(m, holder, dst + i - 1, src[i - 1]);
  }
}

// Weak loads while a concurrent cycle runs (design: .barrier.weak-load): gc::load_weak.
uffdgc_ref uffdgc_load_weak(uffdgc_mutator* m, uffdgc_ref, const uffdgc_ref* slot) {
  if (slot == nullptr || !running_owner(m)) return 0;
  const uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
  if (v == 0 ||
      (__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED) & UFFDGC_BARRIER_CYCLE) == 0) {
    return v;
  }
  return or_abort("uffdgc_load_weak", [&] { return uffdgc::gc::load_weak(*m->heap, v); });
}

}  // extern "C"
