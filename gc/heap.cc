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

uffdgc_heap_stats Heap::read_stats() {
  std::lock_guard<std::mutex> guard(lock);
  uffdgc_heap_stats s = stats;
  s.moving_bytes_used = moving.used();
  s.nonmoving_bytes = objects.bytes(ObjectKind::kNonMoving);
  s.large_bytes = objects.bytes(ObjectKind::kLarge);
  s.old_bytes = generational ? old_end.load(std::memory_order_relaxed) - moving.begin() : 0;
  {
    std::lock_guard<std::mutex> remembered_guard(remembered.lock);
    s.remembered_handovers = remembered.handovers;
  }
  const auto installed = uffd::read_counters(install_counters);
  s.pages_moved = installed.pages_moved + installed.pages_moved_unreported;
  s.pages_copied = installed.pages_copied;
  s.pages_copied_on_ebusy = installed.pages_copied_on_ebusy;
  s.pages_eexist = installed.pages_already_present;
  s.install_eagain_retries = installed.eagain_retries;
  s.install_partial = installed.move_partial;
  s.install_ioctls = installed.move_ioctls + installed.copy_ioctls + installed.zeropage_ioctls;
  s.folio_frames_moved_whole = installed.folio_frames_moved_whole;
  s.folio_frames_moved_partly = installed.folio_frames_moved_partly;
  return s;
}

bool Heap::pop_finalization_ready(uffdgc_ref* out) {
  std::lock_guard<std::mutex> guard(lock);
  if (finalization_ready.empty()) return false;
  *out = finalization_ready.front();
  finalization_ready.pop_front();
  return true;
}

void Heap::set_event_listener(uffdgc_event_fn fn, void* arg) {
  std::lock_guard<std::mutex> guard(event_lock);
  event_fn = fn;
  event_arg = fn != nullptr ? arg : nullptr;
}

bool Heap::enable_generations() {
  if (!remembered.allocate(moving.begin(), moving.limit() - moving.begin())) return false;
  generational = true;
  cycle.remember_flag = UFFDGC_BARRIER_REMEMBER;
  old_end.store(moving.begin(), std::memory_order_relaxed);
  stats.generational = 1;
  return true;
}

bool Heap::young_collection_fits() const {
  const uint64_t old = old_end.load(std::memory_order_relaxed) - moving.begin();
  return generational && old != 0 && old < moving.capacity() / 100 * config.old_generation_pct;
}

void Heap::reset_in_child() {
  new (&lock) std::mutex();
  new (&remembered.lock) std::mutex();
  full_collection_due = generational;
  new (&event_lock) std::mutex();
  cycle.reset_in_child();
  gc_thread.forget_in_child();
  uffd = uffd::Userfaultfd();
}

}  // namespace uffdgc::gc
