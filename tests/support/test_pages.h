// Memory helpers for the uffd tests: aligned anonymous regions, deterministic per-page content
// checked byte for byte, pagemap state, and a registered destination range.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "os/page.h"
#include "os/uffd/userfaultfd.h"

namespace uffdgc::test {

using uffd::kPageSize;

// An aligned private anonymous mapping, unmapped on destruction.
class Region {
 public:
  Region(size_t npages, size_t align = kPageSize, int advice = MADV_NOHUGEPAGE);
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();
  uint8_t* data() const { return data_; }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(data_); }
  uint8_t* page(size_t i) const { return data_ + i * kPageSize; }
  size_t pages() const { return pages_; }
  size_t bytes() const { return pages_ * kPageSize; }
  // Unmaps early (to provoke "range gone").
  void unmap();

 private:
  uint8_t* data_ = nullptr;
  size_t pages_ = 0;
};

// Page i of a pattern is a function of (seed, i): every byte differs between pages and seeds.
void fill_pattern(uint8_t* p, size_t npages, uint64_t seed, size_t first_page_index = 0);
// Index of the first page whose bytes differ from the pattern, or -1 when all match.
long first_mismatch(const uint8_t* p, size_t npages, uint64_t seed, size_t first_page_index = 0);
bool page_is_zero(const uint8_t* p);

// /proc/self/pagemap: bit 63 present, bit 62 swapped.
uint64_t pagemap_entry(const void* addr);
bool page_present(const void* addr);
bool page_swapped(const void* addr);
// Pages of [p, p + npages) that are swapped out.
size_t count_swapped(const uint8_t* p, size_t npages);

// A userfaultfd with `features` and the region registered in MISSING mode.
struct RegisteredRange {
  uffd::Userfaultfd uffd;
  int error = 0;  // open/register errno; tests skip with skip_reason() when nonzero
  RegisteredRange(Region& dst, uint64_t features);
  std::string skip_reason() const;
};

}  // namespace uffdgc::test
