// The C ABI, "fork" (include/uffdgc/uffdgc.h): the explicit handlers of heaps created with
// UFFDGC_HEAP_NO_FORK_HANDLERS (runtime/fork_handlers.h).

#include "runtime/fork_handlers.h"
#include "runtime/heap.h"


extern "C" {

void uffdgc_atfork_prepare(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::prepare_heap_for_fork(*heap);
}

void uffdgc_atfork_parent(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::resume_heap_in_parent(*heap);
}

void uffdgc_atfork_child(uffdgc_heap* heap) {
  if (heap != nullptr && !heap->fork_handled) uffdgc::runtime::reset_heap_in_child(*heap);
}

}  // extern "C"
