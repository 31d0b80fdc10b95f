#include "tests/support/test_pages.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "os/uffd/aligned_mapping.h"

namespace uffdgc::test {

Region::Region(size_t npages, size_t align, int advice) : pages_(npages) {
  void* p = uffd::map_anonymous_aligned(npages * kPageSize, align);
  if (p == MAP_FAILED) abort();
  data_ = static_cast<uint8_t*>(p);
  if (advice != 0) madvise(data_, bytes(), advice);
}

Region::~Region() { unmap(); }

void Region::unmap() {
  if (data_ != nullptr) munmap(data_, bytes());
  data_ = nullptr;
}

namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

void make_page(uint64_t* words, uint64_t seed, size_t index) {
  const uint64_t base = mix(seed * 0x9e3779b97f4a7c15ull + index + 1);
  for (size_t w = 0; w < kPageSize / 8; ++w) words[w] = mix(base + w);
}

}  // namespace

void fill_pattern(uint8_t* p, size_t npages, uint64_t seed, size_t first_page_index) {
  for (size_t i = 0; i < npages; ++i) {
    make_page(reinterpret_cast<uint64_t*>(p + i * kPageSize), seed, first_page_index + i);
  }
}

long first_mismatch(const uint8_t* p, size_t npages, uint64_t seed, size_t first_page_index) {
  alignas(64) uint64_t expected[kPageSize / 8];
  for (size_t i = 0; i < npages; ++i) {
    make_page(expected, seed, first_page_index + i);
    if (memcmp(p + i * kPageSize, expected, kPageSize) != 0) return static_cast<long>(i);
  }
  return -1;
}

bool page_is_zero(const uint8_t* p) {
  for (size_t i = 0; i < kPageSize; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

uint64_t pagemap_entry(const void* addr) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t entry = 0;
  const off_t off = static_cast<off_t>((reinterpret_cast<uint64_t>(addr) / kPageSize) * 8);
  if (pread(fd, &entry, sizeof(entry), off) != sizeof(entry)) entry = 0;
  close(fd);
  return entry;
}

bool page_present(const void* addr) { return (pagemap_entry(addr) >> 63) & 1; }
bool page_swapped(const void* addr) { return (pagemap_entry(addr) >> 62) & 1; }

size_t count_swapped(const uint8_t* p, size_t npages) {
  size_t n = 0;
  for (size_t i = 0; i < npages; ++i) n += page_swapped(p + i * kPageSize);
  return n;
}

RegisteredRange::RegisteredRange(Region& dst, uint64_t features) {
  error = uffd.open(features);
  if (error == 0) error = uffd.register_missing(dst.data(), dst.bytes());
}

std::string RegisteredRange::skip_reason() const {
  return std::string("userfaultfd with the needed features is unavailable here: ") +
         strerror(error);
}

}  // namespace uffdgc::test
