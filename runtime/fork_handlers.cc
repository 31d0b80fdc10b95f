#include "runtime/fork_handlers.h"

#include <pthread.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

#include "gc/space/filler.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "gc/compact/fault_router.h"

namespace uffdgc::runtime {

using runtime::MutatorState;

void prepare_heap_for_fork(uffdgc_heap& heap) {
  // Fork between cycles only: a concurrent phase in progress (userfaultfd registrations, the
  // GC thread, a half-produced to-space) must finish first. Wait parked if this thread is a
  // running mutator, since the phase's end may stop the world.
  uffdgc_mutator* self = heap.threads.find(pthread_self());
  for (;;) {
    if (heap.gc_thread.busy()) {
      const bool park = self != nullptr && self->state.load() == MutatorState::kRunning;
      if (park) heap.threads.park(self);
      heap.gc_thread.wait_idle();
      if (park) heap.threads.unpark(self);
    }
    heap.lock.lock();  // heap lock first, then the registry: the collector's order
    heap.threads.lock_for_fork();
    if (!heap.gc_thread.busy()) return;  // no phase can start while we hold the heap lock
    heap.threads.unlock_after_fork_parent();
    heap.lock.unlock();
  }
}

void resume_heap_in_parent(uffdgc_heap& heap) {
  heap.threads.unlock_after_fork_parent();
  heap.lock.unlock();
}

void reset_heap_in_child(uffdgc_heap& heap) {
  // Only the forking thread exists here; locks held by others at fork time are rebuilt. The
  // GC thread does not exist in the child, and the userfaultfd belongs to the parent's mm:
  // both are recreated on demand.
  heap.reset_in_child();
  gc::forget_faults_in_child();
  or_abort("the fork child's heap reset (uffdgc_atfork_child)", [&] {
    for (uffdgc_mutator* gone : heap.threads.reset_in_child(pthread_self())) {
      gc::write_filler(gone->fast.tlab_cursor, gone->fast.tlab_limit);
      gone->handles.clear();
      gone->heap = nullptr;
      heap.retired_mutators.push_back(gone);
    }
  });
}

namespace {

// The heaps the automatic handlers serve, in creation order. The lock is held from prepare
// until parent/child, so no heap comes or goes while a fork is in progress.
std::mutex g_lock;
std::vector<uffdgc_heap*>* g_heaps = nullptr;  // never freed: fork may run at exit
std::once_flag g_install_once;
int g_install_error = 0;

void on_prepare() {
  g_lock.lock();
  for (uffdgc_heap* heap : *g_heaps) prepare_heap_for_fork(*heap);
}

void on_parent() {
  for (auto it = g_heaps->rbegin(); it != g_heaps->rend(); ++it) resume_heap_in_parent(**it);
  g_lock.unlock();
}

void on_child() {
  for (uffdgc_heap* heap : *g_heaps) reset_heap_in_child(*heap);
  new (&g_lock) std::mutex();
}

}  // namespace

bool add_fork_handled_heap(uffdgc_heap* heap) {
  std::call_once(g_install_once, [] {
    g_heaps = new (std::nothrow) std::vector<uffdgc_heap*>();
    g_install_error = g_heaps == nullptr ? 1 : pthread_atfork(on_prepare, on_parent, on_child);
  });
  if (g_install_error != 0) return false;
  std::lock_guard<std::mutex> lock(g_lock);
  try {
    g_heaps->push_back(heap);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

void remove_fork_handled_heap(uffdgc_heap* heap) {
  if (g_heaps == nullptr) return;
  std::lock_guard<std::mutex> lock(g_lock);
  g_heaps->erase(std::remove(g_heaps->begin(), g_heaps->end(), heap), g_heaps->end());
}

}  // namespace uffdgc::runtime
