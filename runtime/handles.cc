#include "runtime/handles.h"

#include <atomic>

namespace uffdgc::runtime {

static_assert(sizeof(uintptr_t) == 8, "the scope record packs two 32-bit fields per word");

namespace {

uintptr_t pack(uint64_t low, uint32_t high) { return low | (uint64_t{high} << 32); }
uint32_t low(uintptr_t word) { return static_cast<uint32_t>(word); }
uint32_t high(uintptr_t word) { return static_cast<uint32_t>(word >> 32); }

// Far apart for stacks made one after the other: 2^32 / golden ratio.
std::atomic<uint32_t> g_generation_seed{0};
constexpr uint32_t kSeedStride = 0x9E3779B9u;

}  // namespace

HandleStack::HandleStack()
    : generations_(g_generation_seed.fetch_add(kSeedStride, std::memory_order_relaxed)) {}

bool HandleStack::open(uffdgc_handle_scope* scope) {
  if (depth_ == kMaxDepth) return false;
  if (++generations_ == 0) ++generations_;  // after 2^32 opens: 0 stays "no scope"
  scope->opaque[0] = pack(top_, current_);
  scope->opaque[1] = pack(++depth_, generations_);
  current_ = generations_;
  return true;
}

bool HandleStack::close(const uffdgc_handle_scope* scope) {
  const size_t top = low(scope->opaque[0]);
  if (depth_ == 0 || low(scope->opaque[1]) != depth_ || high(scope->opaque[1]) != current_ ||
      top > top_) {
    return false;
  }
  top_ = top;
  --depth_;
  current_ = high(scope->opaque[0]);
  return true;
}

uffdgc_ref* HandleStack::push(uffdgc_ref ref) {
  if (depth_ == 0 || top_ == kMaxSlots) return nullptr;
  if (top_ == blocks_.size() * kBlockSlots) {
    blocks_.push_back(std::make_unique<uffdgc_ref[]>(kBlockSlots));
  }
  uffdgc_ref* slot = &blocks_[top_ / kBlockSlots][top_ % kBlockSlots];
  ++top_;
  *slot = ref;
  return slot;
}

uffdgc_global* GlobalRoots::create(uffdgc_ref ref) {
  uffdgc_global* g;
  if (free_head_ != UINT32_MAX) {
    g = &slots_[free_head_];
    free_head_ = g->next_free;
  } else {
    slots_.push_back({});
    g = &slots_.back();
  }
  g->ref = ref;
  g->magic = kLiveMagic;
  g->next_free = UINT32_MAX;
  return g;
}

bool GlobalRoots::destroy(uffdgc_global* g) {
  // Only a slot of this table that is in use.
  bool ours = false;
  uint32_t index = 0;
  for (auto& s : slots_) {
    if (&s == g) {
      ours = true;
      break;
    }
    ++index;
  }
  if (!ours || g->magic != kLiveMagic) return false;
  g->magic = 0;
  g->ref = 0;
  g->next_free = free_head_;
  free_head_ = index;
  return true;
}

}  // namespace uffdgc::runtime
