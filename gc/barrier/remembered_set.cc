#include "gc/barrier/remembered_set.h"

#include "gc/heap_geometry.h"
#include "os/anonymous_memory.h"

namespace uffdgc::gc {

RememberedSet::~RememberedSet() { os::unmap(page_bits_, page_bits_bytes_); }

bool RememberedSet::allocate(uint64_t begin, uint64_t bytes) {
  begin_ = begin;
  bytes_ = bytes;
  if (!moving_slots_.allocate(begin, bytes)) return false;
  page_bits_bytes_ = align_up(align_up(bytes / kPageSize, 64) / 8, kPageSize);
  page_bits_ = static_cast<uint64_t*>(os::map_zeroed(page_bits_bytes_));
  if (page_bits_ == nullptr) page_bits_bytes_ = 0;
  return page_bits_ != nullptr;
}

void RememberedSet::add(const uffdgc_ref* pairs, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const uffdgc_ref holder = pairs[2 * i];
    const uint64_t slot = pairs[2 * i + 1];
    if (in_moving(slot)) {
      if (!moving_slots_.set(slot)) continue;
      const uint64_t page = (slot - begin_) / kPageSize;
      uint64_t& word = page_bits_[page / 64];
      if ((word & (uint64_t{1} << (page % 64))) == 0) {
        word |= uint64_t{1} << (page % 64);
        ++moving_pages_;
      }
    } else if (!other_slots_.insert(slot).second) {
      continue;
    }
    slots_.push_back({holder, reinterpret_cast<uffdgc_ref*>(slot)});
  }
}

bool RememberedSet::contains(const uffdgc_ref* slot) const {
  const auto addr = reinterpret_cast<uint64_t>(slot);
  if (in_moving(addr)) return moving_slots_.test(addr);
  return other_slots_.count(addr) != 0;
}

void RememberedSet::clear() {
  for (const RememberedSlot& r : slots_) {
    const auto addr = reinterpret_cast<uint64_t>(r.slot);
    if (!in_moving(addr)) continue;
    moving_slots_.clear(addr);
    const uint64_t page = (addr - begin_) / kPageSize;
    page_bits_[page / 64] &= ~(uint64_t{1} << (page % 64));
  }
  slots_.clear();
  other_slots_.clear();
  moving_pages_ = 0;
}

}  // namespace uffdgc::gc
