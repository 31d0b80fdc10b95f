#include "gc/heap.h"

#include <algorithm>
#include <new>

#include "gc/space/filler.h"

namespace uffdgc::gc {

void CycleState::reset_in_child() {
  new (&handover_lock) std::mutex();
  new (&weak_lock) std::mutex();
  new (&flip_lock) std::mutex();
  // A cycle's requester may have been inside flip_cv.wait (woken, not yet returned) at fork:
  // the child's copy of the condition variable would carry that waiter forever.
  new (&flip_cv) std::condition_variable();
}

uint64_t Heap::collection_due_at(uint64_t top) const {
  return std::min(top + config.trigger_allocated, moving.begin() + occupancy_limit());
}

void Heap::flush_pending_fillers() {
  for (const auto& [begin, end] : pending_fillers) write_filler(begin, end);
  pending_fillers.clear();
}

void Heap::reset_in_child() {
  new (&lock) std::mutex();
  new (&event_lock) std::mutex();
  cycle.reset_in_child();
  gc_thread.forget_in_child();
  uffd = uffd::Userfaultfd();
}

}  // namespace uffdgc::gc
