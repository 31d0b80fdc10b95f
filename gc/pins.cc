#include "gc/pins.h"

#include "gc/barrier/barrier.h"
#include "gc/heap.h"

namespace uffdgc::gc {

namespace {

// True if a user object (not a filler) starts at ref, an aligned address below the moving
// space's top: a parse from the nearest known start at or below it (gc/space/object_starts.h),
// which is where ref's TLAB began when ref was allocated since the last cycle. Heap lock held
// (no cycle changes the layout meanwhile).
bool moving_object_starts_at(Heap& heap, uint64_t ref) {
  // Ranges the pauses owe a filler (retired TLAB tails, page padding) read as zeros until
  // written: write them before parsing, as every parse of the space does.
  heap.flush_pending_fillers();
  const uint64_t top = heap.moving.top();
  uint64_t a = heap.starts.at_or_below(ref, heap.moving.begin());
  while (a < ref) {
    const size_t size = heap.types.object_size(reinterpret_cast<const void*>(a));
    // A word no object starts with: the parse points and the heap disagree. Refused rather
    // than pin what may not be an object (the storms and the graph stress pin under load).
    if (size == 0 || size > top - a) return false;
    a += size;
  }
  if (a != ref) return false;
  const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(ref), __ATOMIC_RELAXED);
  const size_t size = heap.types.object_size(reinterpret_cast<const void*>(ref));
  return (header & UFFDGC_HEADER_TYPE_MASK) >= kFirstUserType && size != 0 && size <= top - ref;
}

}  // namespace

PinResult pin(Heap& heap, uffdgc_ref ref) {
  const bool moving = heap.moving.contains(ref);
  if (moving ? !moving_object_starts_at(heap, ref) : !heap.objects.contains(ref)) {
    return PinResult::kNotAnObject;
  }
  if (heap.pins[ref]++ != 0 || !moving) return PinResult::kPinned;
  return pin_moving_object(heap) ? PinResult::kPinnedThreadsMustLogSlots : PinResult::kPinned;
}

bool unpin(Heap& heap, uffdgc_ref ref) {
  auto it = heap.pins.find(ref);
  if (it == heap.pins.end()) return false;
  if (--it->second == 0) heap.pins.erase(it);
  return true;
}

}  // namespace uffdgc::gc
