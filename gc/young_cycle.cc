// Young cycles (design: .cycle.young): what a collection of the young generation does beyond
// the full cycle's steps, which it shares (gc/collector.cc) with the region it marks and moves
// starting at Heap::old_end instead of the moving space's begin.
#include <unordered_set>

#include "gc/compact/concurrent_compaction.h"
#include "gc/cycle.h"
#include "gc/heap_geometry.h"
#include "gc/space/filler.h"
#include "gc/verify.h"
#include "os/clock.h"

namespace uffdgc::gc {

bool Cycle::choose_young() const {
  if (!heap_.generational || heap_.full_collection_due) return false;
  switch (kind_) {
    case CycleKind::kYoung:
      return true;
    case CycleKind::kByPolicy:
      return heap_.young_collection_fits();
    case CycleKind::kFull:
      break;
  }
  return false;
}

// In a fork child the set lacks the logs of the threads that did not survive the fork, by
// design: its first collection is full and rebuilds it, so there is nothing to check yet.
void Cycle::gather_remembered() {
  heap_.mutators.take_remembered_logs();
  if (heap_.verify() && !heap_.full_collection_due) verify_remembered_set(heap_);
}

// A remembered slot belongs to a weak container when its holder is one and the slot lies
// inside it. The holder comes from the embedder's store: one that is not an old object (or an
// object-space object) of a weak type is taken as strong, which can only keep more alive.
bool Cycle::holder_is_weak(uffdgc_ref holder, const uffdgc_ref* slot) const {
  const uint64_t old_end = region_begin_;
  const bool old_moving = holder >= heap_.moving.begin() && holder < old_end && (holder & 7) == 0;
  if (!old_moving && !heap_.objects.contains(holder)) return false;
  // Atomic: in a concurrent cycle the runtime may update its header bits meanwhile.
  const uint64_t header =
      __atomic_load_n(reinterpret_cast<const uint64_t*>(holder), __ATOMIC_RELAXED);
  const TypeDesc* t = heap_.types.of_header(header);
  if (t == nullptr || !t->weak()) return false;
  const auto addr = reinterpret_cast<uint64_t>(slot);
  return addr > holder && addr < holder + TypeRegistry::object_size(
                                              reinterpret_cast<const void*>(holder), *t);
}

// In a concurrent cycle the GC thread reads the slots while mutators run: a value overwritten
// since pause 1 is in an SATB log, and a slot stored to since (remembered meanwhile, so the
// set grows: its slots are copied first) holds what the snapshot reaches or the black block.
void Cycle::mark_remembered(Marker& marker, uint64_t top, bool lock_held) {
  const uint64_t start = os::monotonic_ns();
  std::vector<RememberedSlot> slots;
  uint64_t pages;
  {
    std::lock_guard<std::mutex> lock(heap_.remembered.lock);
    slots = heap_.remembered.slots();
    pages = heap_.remembered.moving_pages();
  }
  std::unordered_set<uffdgc_ref> weak_holders;
  for (const RememberedSlot& r : slots) {
    const uffdgc_ref v = __atomic_load_n(r.slot, __ATOMIC_RELAXED);
    if (v - region_begin_ >= top - region_begin_) continue;  // holds no young reference now
    if (holder_is_weak(r.holder, r.slot)) {
      if (weak_holders.insert(r.holder).second) marker.add_weak_holder(r.holder);
    } else {
      marker.mark(v, r.slot);
    }
  }
  std::unique_lock<std::mutex> lock(heap_.lock, std::defer_lock);
  if (!lock_held) lock.lock();
  heap_.stats.remembered_slots_last = slots.size();
  heap_.stats.remembered_pages_last = pages;
  heap_.stats.remembered_scan_ns_last = os::monotonic_ns() - start;
}

bool Cycle::young_generation_dense(const Marker& marker, uint64_t top) const {
  constexpr uint64_t kDensePct = 90;
  const uint64_t bytes = top - region_begin_;
  return bytes != 0 && marker.marked_moving_bytes() >= bytes / 100 * kDensePct;
}

void Cycle::update_remembered(const CompactionPlan& plan) {
  const uint64_t start = os::monotonic_ns();
  for (const RememberedSlot& r : heap_.remembered.slots()) *r.slot = plan.forward(*r.slot);
  heap_.stats.remembered_scan_ns_last += os::monotonic_ns() - start;
}

// Pause 3 of a concurrent young cycle (design: .cycle.young.concurrent). The set is complete:
// the barrier remembered every store of a young or black-block value into an old or
// object-space slot during the cycle too. The only old heap words the cycle writes, in slots
// mutators wrote since the last cycle.
void Cycle::forward_remembered_at_flip(const CompactionPlan& plan, uint64_t flip_top) {
  const uint64_t start = os::monotonic_ns();
  heap_.mutators.take_remembered_logs();
  std::lock_guard<std::mutex> lock(heap_.remembered.lock);
  for (const RememberedSlot& r : heap_.remembered.slots()) {
    const uffdgc_ref v = *r.slot;
    if (v - region_begin_ < flip_top - region_begin_) *r.slot = plan.forward(v);
  }
  heap_.stats.remembered_slots_last = heap_.remembered.slots().size();
  heap_.stats.remembered_scan_ns_last += os::monotonic_ns() - start;
}

void Cycle::count_cycle_kind() {
  heap_.stats.young_collections += young_ ? 1 : 0;
  heap_.stats.last_cycle_young = young_ ? 1 : 0;
}

void Cycle::promote(uint64_t new_top) {
  const uint64_t old_end = align_up(new_top, kPageSize);
  if (old_end > new_top) {
    write_filler(new_top, old_end);
    heap_.moving.set_top(old_end);
  }
  if (young_) heap_.stats.promoted_bytes += old_end - region_begin_;
  heap_.old_end.store(old_end, std::memory_order_release);
  // What threads logged during a concurrent cycle refers below the new old_end too.
  heap_.mutators.take_remembered_logs();
  heap_.remembered.retire();  // its bits are cleared after the pause (clear_retired)
  heap_.full_collection_due = false;
  heap_.mutators.set_young_range(old_end, heap_.young_size());
}

}  // namespace uffdgc::gc
