#include "runtime/handles.h"

namespace uffdgc::runtime {

void HandleStack::open(uffdgc_handle_scope* scope) {
  scope->opaque[0] = top_;
  scope->opaque[1] = ++depth_;
}

bool HandleStack::close(const uffdgc_handle_scope* scope) {
  if (depth_ == 0 || scope->opaque[1] != depth_ || scope->opaque[0] > top_) return false;
  top_ = scope->opaque[0];
  --depth_;
  return true;
}

uffdgc_ref* HandleStack::push(uffdgc_ref ref) {
  if (depth_ == 0) return nullptr;
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
