// The heap's remembered set (design: .barrier.remembered): every slot outside the young
// generation (old moving-space objects, non-moving and large objects) into which a store put a
// young reference since the last collection, with the object holding it. Threads' logs
// (gc/barrier/remembered_log.h) arrive here when they fill up and at every collection; each
// slot is kept once (a bit per word of the moving space's reservation, a hash set for the
// object spaces), so the set grows with the slots written, not with the stores. A young
// collection marks from these slots (weak containers' slots are weak), then rewrites them
// with the survivors' new addresses, and the set empties: survivors are old (retire: the
// bits are cleared later, outside the pause).
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
  // Forgets every slot at once (a collection promoted their referents): the set continues
  // empty on its second pair of tables while the first keeps the forgotten slots' bits until
  // clear_retired() clears them, so a pause pays nothing per slot. A retire while the other
  // tables were not cleared yet clears them first. Caller holds lock (or the world is stopped).
  void retire();
  // Clears the tables the last retire() left, bit by forgotten slot. Any time between retires
  // (the GC thread after the flip pause; add() and contains() do not look at them). Takes
  // nothing: the caller serialises it with retire() (one collection at a time).
  void clear_retired();

  std::mutex lock;              // mutators' slow paths add while others run
  uint64_t handovers = 0;       // full thread logs the barrier handed over (lock)

 private:
  // Which slots are in the set: a bit per word of the reservation, a bit per page, a hash set
  // for slots outside the moving space.
  struct Tables {
    SideBitmap moving_slots;
    uint64_t* page_bits = nullptr;
    std::unordered_set<uint64_t> other_slots;
  };
  bool in_moving(uint64_t addr) const { return addr - begin_ < bytes_; }
  uint64_t begin_ = 0, bytes_ = 0;
  size_t page_bits_bytes_ = 0;
  Tables tables_[2];
  Tables* current_ = &tables_[0];
  Tables* retired_ = &tables_[1];
  uint64_t moving_pages_ = 0;
  std::vector<RememberedSlot> slots_;
  std::vector<RememberedSlot> retired_slots_;  // whose bits retired_ still holds
};

}  // namespace uffdgc::gc
