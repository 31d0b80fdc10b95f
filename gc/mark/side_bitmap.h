// One bit per 8-byte word of the moving space (DESIGN.md §3 "Side tables"): used for the mark
// bitmap (object starts) and the live-words bitmap (every word of every live object). Backed
// by an anonymous mapping that is released after each cycle, so it costs RSS only during a
// collection. Reads are plain loads: async-signal-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace uffdgc::gc {

class SideBitmap {
 public:
  SideBitmap() = default;
  SideBitmap(const SideBitmap&) = delete;
  SideBitmap& operator=(const SideBitmap&) = delete;
  ~SideBitmap();

  // Covers [base, base + bytes). Returns false if the mapping fails.
  bool allocate(uint64_t base, uint64_t bytes);
  void release();

  uint64_t bit_of(uint64_t addr) const { return (addr - base_) >> 3; }
  uint64_t addr_of(uint64_t bit) const { return base_ + (bit << 3); }
  bool test(uint64_t addr) const {
    const uint64_t b = bit_of(addr);
    return (words_[b >> 6] >> (b & 63)) & 1;
  }
  // Sets the bit; returns true if it was clear. Not atomic: marking is single-threaded.
  bool set(uint64_t addr) {
    const uint64_t b = bit_of(addr);
    const uint64_t mask = uint64_t{1} << (b & 63);
    const bool was_clear = (words_[b >> 6] & mask) == 0;
    words_[b >> 6] |= mask;
    return was_clear;
  }
  // Sets every bit for [addr, addr + bytes).
  void set_range(uint64_t addr, uint64_t bytes);
  // First set bit at or after addr, below limit: its address, or limit.
  uint64_t next_set(uint64_t addr, uint64_t limit) const;
  // Last set bit at or before addr, not below floor: its address, or UINT64_MAX.
  uint64_t prev_set(uint64_t addr, uint64_t floor) const;
  uint64_t word(uint64_t index) const { return words_[index]; }

 private:
  uint64_t* words_ = nullptr;
  uint64_t base_ = 0;
  size_t map_bytes_ = 0;
};

}  // namespace uffdgc::gc
