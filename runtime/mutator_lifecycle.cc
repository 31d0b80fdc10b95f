#include "runtime/mutator_lifecycle.h"

#include <pthread.h>
#include <signal.h>

#include <memory>
#include <mutex>

#include "gc/barrier/barrier.h"
#include "gc/space/filler.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"

namespace uffdgc::runtime {

namespace {

bool sigbus_blocked() {
  sigset_t current;
  return pthread_sigmask(SIG_SETMASK, nullptr, &current) == 0 && sigismember(&current, SIGBUS) == 1;
}

}  // namespace

uffdgc_result attach_mutator(uffdgc_heap& heap, void* vm_thread, uffdgc_mutator** out) {
  if (heap.concurrent() && sigbus_blocked()) return UFFDGC_ESTATE;
  auto m = std::make_unique<uffdgc_mutator>();
  m->fast.moving_begin = heap.moving.begin();
  m->fast.moving_size = heap.moving.capacity();
  m->heap = &heap;
  m->owner = pthread_self();
  m->vm_thread = vm_thread;
  if (heap.generational && !m->logs.remembered.allocate()) return UFFDGC_ENOMEM;
  // Before the thread is visible: a pin sets every attached thread's flag (uffdgc_pin).
  m->fast.barrier_flag = heap.cycle.remember_flag;
  if (!heap.threads.attach(m.get())) return UFFDGC_ESTATE;
  // Attached and running: no collection moves the young generation's start before this
  // thread's next safepoint (design: .barrier.remembered).
  m->fast.young_begin = heap.old_end.load(std::memory_order_acquire);
  m->fast.young_size = heap.young_size();
  gc::join_cycle(heap, &m->fast.barrier_flag);  // joining while a cycle runs: barrier on
  *out = m.release();
  return UFFDGC_OK;
}

uffdgc_result detach_mutator(uffdgc_mutator* m) {
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
  gc::write_filler(m->fast.tlab_cursor, m->fast.tlab_limit);
  m->fast.tlab_cursor = m->fast.tlab_limit = 0;
  heap.threads.detach(m);
  m->handles.clear();
  m->heap = nullptr;  // later calls with this pointer fail with UFFDGC_ESTATE
  std::lock_guard<std::mutex> lock(heap.lock);
  // A lost log entry would free a live object (or leave a slot unforwarded): no memory for it
  // ends the process.
  or_abort("uffdgc_mutator_detach (barrier log)", [&] { gc::orphan_logs(heap, m->logs); });
  heap.retired_mutators.push_back(m);  // reserved above
  return UFFDGC_OK;
}

}  // namespace uffdgc::runtime
