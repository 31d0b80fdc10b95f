#include "gc/compact/page_states.h"

#include <sys/mman.h>

#include <cstring>

#include "os/page.h"

namespace uffdgc::gc {

PageStates::~PageStates() {
  if (states_ != nullptr) munmap(states_, bytes_);
}

bool PageStates::map(uint64_t pages) {
  bytes_ = os::align_up(pages, os::kPageSize);
  void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
  states_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  return states_ != nullptr;
}

void PageStates::set(uint64_t first, uint64_t count, State state) {
  std::memset(states_ + first, state, count);
}

void PageStates::wait_for_progress(unsigned round, uint32_t epoch_seen) const {
  if (round < 64) {
    __builtin_ia32_pause();
    return;
  }
  progress_.wait(epoch_seen, kSafetyNetNs);
}

void PageStates::wait_installed(uint64_t index) const {
  for (unsigned round = 0;; ++round) {
    const uint32_t epoch = progress_epoch();
    if (load(index) == kInstalled) return;
    wait_for_progress(round, epoch);
  }
}

}  // namespace uffdgc::gc
