// The C ABI, "Threads and safepoints" (include/uffdgc/uffdgc.h): argument and thread-state
// checks, then one call into the runtime. No exception leaves an entry point
// (runtime/c_boundary.h).

#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "runtime/mutator_lifecycle.h"

using uffdgc::runtime::check_mutator;
using uffdgc::runtime::guard;
using uffdgc::runtime::MutatorState;
using uffdgc::runtime::or_abort;
using uffdgc::runtime::running_owner;

extern "C" {

uffdgc_result uffdgc_mutator_attach(uffdgc_heap* heap, void* vm_thread, uffdgc_mutator** out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  *out = nullptr;
  return guard([&] { return uffdgc::runtime::attach_mutator(*heap, vm_thread, out); });
}

uffdgc_result uffdgc_mutator_detach(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, false); r != UFFDGC_OK) return r;
  return uffdgc::runtime::detach_mutator(m);
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

}  // extern "C"
