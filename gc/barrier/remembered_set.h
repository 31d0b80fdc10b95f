// The heap's remembered set (design: .barrier.remembered): every slot outside the young
// generation (old moving-space objects, non-moving and large objects) into which a store put a
// young reference since the last collection, with the object holding it. Threads' logs
// (gc/barrier/remembered_log.h) arrive here when they fill up and at every collection; each
// slot is kept once (a bit per word of the moving space's reservation, a hash set for the
// object spaces), so the set grows with the slots written, not with the stores. A young
// collection marks from these slots (weak containers' slots are weak), then rewrites them
// with the survivors' new addresses, and the set empties: survivors are old.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "gc/mark/side_bitmap.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

struct RememberedSlot {
  uffdgc_ref holder;
  uffdgc_ref* slot;
};

class RememberedSet {
 public:
  RememberedSet() = default;
  RememberedSet(const RememberedSet&) = delete;
  RememberedSet& operator=(const RememberedSet&) = delete;
  ~RememberedSet();

  // Maps the tables for a moving space reserved at [begin, begin + bytes). False without memory.
  bool allocate(uint64_t begin, uint64_t bytes);
  // Adds `count` (holder, slot) pairs, each slot once. Throws std::bad_alloc (what was added
  // stays; the caller ends the process: a lost slot frees a live object). Caller holds lock.
  void add(const uffdgc_ref* pairs, size_t count);
  const std::vector<RememberedSlot>& slots() const { return slots_; }
  bool contains(const uffdgc_ref* slot) const;
  // Distinct moving-space pages holding remembered slots.
  uint64_t moving_pages() const { return moving_pages_; }
  // Forgets every slot. Caller holds lock (or the world is stopped).
  void clear();

  std::mutex lock;              // mutators' slow paths add while others run
  uint64_t handovers = 0;       // full thread logs the barrier handed over (lock)

 private:
  bool in_moving(uint64_t addr) const { return addr - begin_ < bytes_; }
  uint64_t begin_ = 0, bytes_ = 0;
  SideBitmap moving_slots_;                  // a bit per word of the reservation
  uint64_t* page_bits_ = nullptr;            // a bit per page of the reservation
  size_t page_bits_bytes_ = 0;
  uint64_t moving_pages_ = 0;
  std::unordered_set<uint64_t> other_slots_;  // slots outside the moving space
  std::vector<RememberedSlot> slots_;
};

}  // namespace uffdgc::gc
