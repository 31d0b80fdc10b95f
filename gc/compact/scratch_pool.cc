#include "gc/compact/scratch_pool.h"

#include <sys/mman.h>

#include "os/page.h"
#include "os/uffd/aligned_mapping.h"

namespace uffdgc::gc {

ScratchPool::~ScratchPool() {
  if (pages_ != nullptr) munmap(pages_, kSlots * os::kPageSize);
}

bool ScratchPool::map() {
  void* p = uffd::map_anonymous_aligned(kSlots * os::kPageSize, os::kPageSize);
  pages_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  return pages_ != nullptr;
}

uint8_t* ScratchPool::take() {
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = returned_.epoch();
    uint64_t free = free_.load(std::memory_order_acquire);
    while (free != 0) {
      const int slot = __builtin_ctzll(free);
      if (free_.compare_exchange_weak(free, free & ~(uint64_t{1} << slot),
                                      std::memory_order_acq_rel)) {
        return pages_ + static_cast<uint64_t>(slot) * os::kPageSize;
      }
    }
    if (round < 16) {
      __builtin_ia32_pause();
      continue;
    }
    returned_.wait(epoch, kSafetyNetNs);
  }
}

void ScratchPool::give(uint8_t* page) {
  const uint64_t index = static_cast<uint64_t>(page - pages_) / os::kPageSize;
  free_.fetch_or(uint64_t{1} << index, std::memory_order_release);
  returned_.notify(1);
}

}  // namespace uffdgc::gc
