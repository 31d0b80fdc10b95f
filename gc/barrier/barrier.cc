#include "gc/barrier/barrier.h"

#include <mutex>
#include <new>

#include "gc/heap.h"
#include "gc/mark/marker.h"

namespace uffdgc::gc {

void log_store(Heap& heap, ThreadLogs& logs, uffdgc_ref* slot) {
  if (heap.cycle.phase.load(std::memory_order_acquire) == Phase::kConcurrentMark) {
    if (logs.satb.full()) hand_over(heap, logs.satb);
    if (logs.satb.full()) throw std::bad_alloc();  // no memory to hand it over
    const uffdgc_ref old = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (old != 0) logs.satb.append(old);
  } else {
    // Marking is complete: what the inline path logged since the last mark-end pause names
    // objects marked already (design: .barrier.slow-path). The cycle's end drops it too.
    logs.satb.clear();
  }
  const auto where = reinterpret_cast<uint64_t>(slot);
  if (!heap.moving.in_reservation(where) ||
      heap.cycle.log_all_slots.load(std::memory_order_acquire)) {
    logs.slots.push_back(slot);
  }
}

void remember_store(Heap& heap, ThreadLogs& logs, uffdgc_ref holder, uffdgc_ref* slot,
                    uffdgc_ref value) {
  const uffdgc_mutator_fast& fast = logs.remembered.fast();
  const uint64_t young = fast.young_begin;
  if (value - young >= fast.young_size || reinterpret_cast<uint64_t>(slot) - young < fast.young_size) {
    return;  // not young, or a young slot: nothing to remember
  }
  if (logs.remembered.full()) hand_over_remembered(heap, logs.remembered, /*log_full=*/true);
  logs.remembered.append(holder, slot);
}

void hand_over_remembered(Heap& heap, RememberedLog& log, bool log_full) {
  if (log.pairs() == 0) return;
  std::lock_guard<std::mutex> lock(heap.remembered.lock);
  heap.remembered.add(log.begin(), log.pairs());
  if (log_full) ++heap.remembered.handovers;
  log.clear();
}

void hand_over(Heap& heap, SatbLog& log) noexcept {
  if (log.empty()) return;
  std::lock_guard<std::mutex> lock(heap.cycle.handover_lock);
  try {
    heap.cycle.handed_over.reserve(heap.cycle.handed_over.size() + 1);
    heap.cycle.handed_over.push_back(log.take());
  } catch (const std::bad_alloc&) {
    // The log stays with the thread: the next hand-over or the mark-end pause takes it.
  }
}

uffdgc_ref load_weak(Heap& heap, uffdgc_ref referent) {
  CycleState& cycle = heap.cycle;
  if (cycle.phase.load(std::memory_order_acquire) == Phase::kConcurrentMark) {
    std::lock_guard<std::mutex> lock(cycle.weak_lock);
    if (cycle.phase.load(std::memory_order_acquire) == Phase::kConcurrentMark) {
      cycle.weak_loaded.push_back(referent);
      return referent;
    }
  }
  if (cycle.phase.load(std::memory_order_acquire) == Phase::kWeak) {
    const Marker* marker = cycle.marker.load(std::memory_order_acquire);
    if (marker == nullptr) return referent;
    if (heap.moving.in_reservation(referent)) return marker->is_marked(referent) ? referent : 0;
    // An object-space referent may be swept (freed) meanwhile: decide under the heap lock,
    // which the sweep holds, and only if it still exists (a slot holding something that is no
    // reference reads as dead).
    std::lock_guard<std::mutex> lock(heap.lock);
    return heap.objects.contains(referent) && marker->is_marked(referent) ? referent : 0;
  }
  return referent;
}

void join_cycle(const Heap& heap, uint32_t* barrier_flag) {
  // No cycle can start or end before the joining thread's next safepoint; a pin can change
  // the flag from another thread meanwhile (pin_moving_object), so it is read again after the
  // store.
  if (!heap.cycle.barrier_on()) return;
  const uint32_t flag = heap.cycle.barrier_flag();
  __atomic_store_n(barrier_flag, flag, __ATOMIC_SEQ_CST);
  if (flag != heap.cycle.barrier_flag()) {
    __atomic_store_n(barrier_flag, UFFDGC_BARRIER_SLOW | heap.cycle.remember_flag,
                     __ATOMIC_SEQ_CST);
  }
}

void orphan_logs(Heap& heap, ThreadLogs& logs) {
  // The remembered set outlives every cycle: a leaving thread's remembered stores are kept.
  hand_over_remembered(heap, logs.remembered);
  // What the barrier logged must still reach the marker while a concurrent cycle marks;
  // outside marking the log means nothing and is dropped.
  if (heap.cycle.barrier_on()) {
    CycleState& cycle = heap.cycle;
    cycle.orphan_satb.reserve(cycle.orphan_satb.size() + logs.satb.size());
    cycle.orphan_slots.reserve(cycle.orphan_slots.size() + logs.slots.size());
    cycle.orphan_satb.insert(cycle.orphan_satb.end(), logs.satb.begin(), logs.satb.end());
    cycle.orphan_slots.insert(cycle.orphan_slots.end(), logs.slots.begin(), logs.slots.end());
  }
  logs.satb.clear();
  logs.slots.clear();
}

bool pin_moving_object(Heap& heap) {
  ++heap.pin_epoch;
  if (!heap.cycle.barrier_on()) return false;
  heap.cycle.log_all_slots.store(true, std::memory_order_seq_cst);
  return true;
}

}  // namespace uffdgc::gc
