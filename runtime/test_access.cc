#include "runtime/test_access.h"

#include <mutex>

#include "runtime/heap.h"

namespace uffdgc::test_access {

void set_fault_injector(uffdgc_heap* heap, uffd::FaultInjector* injector) {
  heap->fault_injector = injector;
}

void set_after_flip_hook(uffdgc_heap* heap, CycleHook fn, void* arg) {
  heap->after_flip_hook_arg.store(arg);
  heap->after_flip_hook.store(fn);
}

void set_before_flip_hook(uffdgc_heap* heap, CycleHook fn, void* arg) {
  heap->before_flip_hook_arg.store(arg);
  heap->before_flip_hook.store(fn);
}

void set_barrier_phase(uffdgc_heap* heap, gc::Phase phase, bool log_all_slots) {
  heap->cycle.log_all_slots.store(log_all_slots);
  heap->cycle.phase.store(phase);
}

std::vector<std::vector<uffdgc_ref>> take_handed_over_logs(uffdgc_heap* heap) {
  std::vector<std::vector<uffdgc_ref>> logs;
  std::lock_guard<std::mutex> lock(heap->cycle.handover_lock);
  logs.swap(heap->cycle.handed_over);
  return logs;
}

}  // namespace uffdgc::test_access
