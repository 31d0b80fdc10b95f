// One bit per 8-byte word of the moving space (design: .heap.side-tables): used for the mark
// bitmap (object starts) and the live-words bitmap (every word of every live object). Backed
// by an anonymous mapping that is released after each cycle, so it costs RSS only during a
// collection. Reads are relaxed atomic loads (async-signal-safe): while a concurrent cycle
// processes weak references, mutators test mark bits that the GC thread is still setting.
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
  // Makes the bitmap start at base (at or above the allocated base, a multiple of 64 words
  // above it), with no system call: a concurrent young cycle's tables, mapped for the whole
  // space before pause 1, cover the young generation only (design: .cycle.young.concurrent).
  void rebase(uint64_t base);

  uint64_t bit_of(uint64_t addr) const { return (addr - base_) >> 3; }
  uint64_t addr_of(uint64_t bit) const { return base_ + (bit << 3); }
  bool test(uint64_t addr) const {
    const uint64_t b = bit_of(addr);
    return (__atomic_load_n(&words_[b >> 6], __ATOMIC_RELAXED) >> (b & 63)) & 1;
  }
  // Sets the bit; returns true if it was clear. One writer (marking is single-threaded), so a
  // load and a store suffice; both atomic because mutators may test() meanwhile.
  bool set(uint64_t addr) {
    const uint64_t b = bit_of(addr);
    const uint64_t mask = uint64_t{1} << (b & 63);
    const uint64_t w = __atomic_load_n(&words_[b >> 6], __ATOMIC_RELAXED);
    if ((w & mask) != 0) return false;
    __atomic_store_n(&words_[b >> 6], w | mask, __ATOMIC_RELAXED);
    return true;
  }
  // Clears the bit (the marker takes back a mark it set for a value that is no object).
  void clear(uint64_t addr) {
    const uint64_t b = bit_of(addr);
    const uint64_t w = __atomic_load_n(&words_[b >> 6], __ATOMIC_RELAXED);
    __atomic_store_n(&words_[b >> 6], w & ~(uint64_t{1} << (b & 63)), __ATOMIC_RELAXED);
  }
  // Sets every bit for [addr, addr + bytes).
  void set_range(uint64_t addr, uint64_t bytes);
  // First set bit at or after addr, below limit: its address, or limit.
  uint64_t next_set(uint64_t addr, uint64_t limit) const;
  // Last set bit at or before addr, not below floor: its address, or UINT64_MAX.
  uint64_t prev_set(uint64_t addr, uint64_t floor) const;
  uint64_t word(uint64_t index) const { return __atomic_load_n(&words_[index], __ATOMIC_RELAXED); }

 private:
  uint64_t* words_ = nullptr;
  uint64_t base_ = 0;
  uint64_t* mapping_ = nullptr;  // the mapping and the base it was allocated for
  uint64_t mapped_base_ = 0;
  size_t map_bytes_ = 0;
};

}  // namespace uffdgc::gc
