#include "gc/barrier/remembered_set.h"

#include "gc/heap_geometry.h"
#include "os/anonymous_memory.h"

namespace uffdgc::gc {

RememberedSet::~RememberedSet() {
  for (Tables& t : tables_) os::unmap(t.page_bits, page_bits_bytes_);
}

bool RememberedSet::allocate(uint64_t begin, uint64_t bytes) {
  begin_ = begin;
  bytes_ = bytes;
  page_bits_bytes_ = align_up(align_up(bytes / kPageSize, 64) / 8, kPageSize);
  for (Tables& t : tables_) {
    if (!t.moving_slots.allocate(begin, bytes)) return false;
    t.page_bits = static_cast<uint64_t*>(os::map_zeroed(page_bits_bytes_));
    if (t.page_bits == nullptr) return false;
  }
  return true;
}

void RememberedSet::add(const uffdgc_ref* pairs, size_t count) {
  Tables& t = *current_;
  for (size_t i = 0; i < count; ++i) {
    const uffdgc_ref holder = pairs[2 * i];
    const uint64_t slot = pairs[2 * i + 1];
    if (in_moving(slot)) {
      if (!t.moving_slots.set(slot)) continue;
      const uint64_t page = (slot - begin_) / kPageSize;
      uint64_t& word = t.page_bits[page / 64];
      if ((word & (uint64_t{1} << (page % 64))) == 0) {
        word |= uint64_t{1} << (page % 64);
        ++moving_pages_;
      }
    } else if (!t.other_slots.insert(slot).second) {
      continue;
    }
    slots_.push_back({holder, reinterpret_cast<uffdgc_ref*>(slot)});
  }
}

bool RememberedSet::contains(const uffdgc_ref* slot) const {
  const auto addr = reinterpret_cast<uint64_t>(slot);
  if (in_moving(addr)) return current_->moving_slots.test(addr);
  return current_->other_slots.count(addr) != 0;
}

void RememberedSet::retire() {
  if (!retired_slots_.empty() || !retired_->other_slots.empty()) clear_retired();
  std::swap(current_, retired_);
  slots_.swap(retired_slots_);
  moving_pages_ = 0;
}

void RememberedSet::clear_retired() {
  Tables& t = *retired_;
  for (const RememberedSlot& r : retired_slots_) {
    const auto addr = reinterpret_cast<uint64_t>(r.slot);
    if (!in_moving(addr)) continue;
    t.moving_slots.clear(addr);
    const uint64_t page = (addr - begin_) / kPageSize;
    t.page_bits[page / 64] &= ~(uint64_t{1} << (page % 64));
  }
  retired_slots_.clear();
  t.other_slots.clear();
}

}  // namespace uffdgc::gc
