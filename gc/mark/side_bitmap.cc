#include "gc/mark/side_bitmap.h"

#include "gc/heap_geometry.h"
#include "os/anonymous_memory.h"

namespace uffdgc::gc {

SideBitmap::~SideBitmap() { release(); }

bool SideBitmap::allocate(uint64_t base, uint64_t bytes) {
  release();
  base_ = mapped_base_ = base;
  map_bytes_ = align_up(align_up(bytes, 64 * kWordSize) / (64 * kWordSize) * 8, kPageSize);
  words_ = mapping_ = static_cast<uint64_t*>(os::map_zeroed(map_bytes_));
  if (words_ == nullptr) map_bytes_ = 0;
  return words_ != nullptr;
}

void SideBitmap::release() {
  os::unmap(mapping_, map_bytes_);
  words_ = mapping_ = nullptr;
  map_bytes_ = 0;
}

void SideBitmap::rebase(uint64_t base) {
  words_ = mapping_ + (base - mapped_base_) / (64 * kWordSize);
  base_ = base;
}

void SideBitmap::set_range(uint64_t addr, uint64_t bytes) {
  uint64_t b = bit_of(addr);
  const uint64_t end = b + (bytes >> 3);
  while (b < end && (b & 63) != 0) {
    words_[b >> 6] |= uint64_t{1} << (b & 63);
    ++b;
  }
  while (b + 64 <= end) {
    words_[b >> 6] = ~uint64_t{0};
    b += 64;
  }
  while (b < end) {
    words_[b >> 6] |= uint64_t{1} << (b & 63);
    ++b;
  }
}

uint64_t SideBitmap::next_set(uint64_t addr, uint64_t limit) const {
  if (addr >= limit) return limit;
  uint64_t b = bit_of(addr);
  const uint64_t end = bit_of(limit);
  uint64_t w = words_[b >> 6] & (~uint64_t{0} << (b & 63));
  uint64_t wi = b >> 6;
  for (;;) {
    if (w != 0) {
      const uint64_t found = (wi << 6) + static_cast<uint64_t>(__builtin_ctzll(w));
      return found < end ? addr_of(found) : limit;
    }
    if (++wi > ((end - 1) >> 6)) return limit;
    w = words_[wi];
  }
}

uint64_t SideBitmap::prev_set(uint64_t addr, uint64_t floor) const {
  if (addr < floor) return UINT64_MAX;
  uint64_t b = bit_of(addr);
  const uint64_t lo = bit_of(floor);
  uint64_t wi = b >> 6;
  const unsigned shift = 63 - static_cast<unsigned>(b & 63);
  uint64_t w = (words_[wi] << shift) >> shift;  // bits <= b
  for (;;) {
    if (w != 0) {
      const uint64_t found = (wi << 6) + 63 - static_cast<uint64_t>(__builtin_clzll(w));
      return found >= lo ? addr_of(found) : UINT64_MAX;
    }
    if (wi == 0 || wi - 1 < (lo >> 6)) return UINT64_MAX;
    w = words_[--wi];
  }
}

}  // namespace uffdgc::gc
