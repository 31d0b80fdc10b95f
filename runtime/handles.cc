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

HandleStack::HandleStack(uffdgc_mutator_fast& fast)
    : fast_(&fast),
      generations_(g_generation_seed.fetch_add(kSeedStride, std::memory_order_relaxed)) {
  fast_->handle_top = fast_->handle_limit = nullptr;
}

void HandleStack::enter_block(size_t index) {
  if (index == blocks_.size()) {
    auto block = std::make_unique<uffdgc_ref[]>(kBlockSlots + 1);
    block[kBlockSlots] = index;  // read back through handle_limit
    blocks_.push_back(std::move(block));
  }
  fast_->handle_top = blocks_[index].get();
  fast_->handle_limit = fast_->handle_top + kBlockSlots;
}

bool HandleStack::open_first(uffdgc_handle_scope* scope) {
  if (fast_->handle_top != nullptr) return false;
  enter_block(0);
  scope->opaque[0] = scope->opaque[1] = 0;  // closing it restores "no scope open"
  return true;
}

bool HandleStack::open(uffdgc_handle_scope* scope) {
  if (depth_ == kMaxDepth) return false;
  const uintptr_t top = reinterpret_cast<uintptr_t>(fast_->handle_top);
  const uintptr_t limit = reinterpret_cast<uintptr_t>(fast_->handle_limit);
  if (top == 0) enter_block(0);
  if (++generations_ == 0) ++generations_;  // after 2^32 opens: 0 stays "no scope"
  scope->opaque[0] = top;
  scope->opaque[1] = limit;
  scope->opaque[2] = pack(++depth_, generations_);
  scope->opaque[3] = current_;
  current_ = generations_;
  return true;
}

bool HandleStack::close(const uffdgc_handle_scope* scope) {
  if (depth_ == 0 || low(scope->opaque[2]) != depth_ || high(scope->opaque[2]) != current_) {
    return false;
  }
  fast_->handle_top = reinterpret_cast<uffdgc_ref*>(scope->opaque[0]);
  fast_->handle_limit = reinterpret_cast<uffdgc_ref*>(scope->opaque[1]);
  --depth_;
  current_ = static_cast<uint32_t>(scope->opaque[3]);
  return true;
}

uffdgc_ref* HandleStack::push(uffdgc_ref ref) {
  if (fast_->handle_top == nullptr) return nullptr;
  if (fast_->handle_top == fast_->handle_limit) enter_block(block_index(fast_->handle_limit) + 1);
  uffdgc_ref* slot = fast_->handle_top++;
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
