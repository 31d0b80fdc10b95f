// Root slots owned by the library (design: .embedder.roots): per-thread handle
// stacks organised in scopes, and heap-wide global roots. Slots never move, so embedders hold
// uffdgc_ref* pointers to them; the collector marks through them and rewrites them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "uffdgc/inline.h"

struct uffdgc_global {
  uffdgc_ref ref;
  uint32_t magic;  // kLiveMagic while in use: catches stale or foreign pointers
  uint32_t next_free;
};

namespace uffdgc::runtime {

// A thread's handle stack: blocks of kBlockSlots slots that never move (embedders hold
// uffdgc_ref* to them), allocated as needed and kept. The top and the end of its block live
// in the mutator's fast part (uffdgc_mutator_fast.handle_top, handle_limit), so that the
// inline calls of inline.h open and close scopes and make handles without calling in; both
// are null while no scope is open. Each block has one slot more, past its end, holding the
// block's index: from handle_limit the collector and the slow paths find the block.
//
// The checked calls (uffdgc_handle_scope_open/close) keep records of four words: [0] the top
// and [1] the limit at open (what the inline close restores too), [2] the depth | the scope's
// generation << 32, [3] the enclosing scope's generation. Every checked open draws a new
// generation, so a record of a scope that was closed no longer matches the innermost scope
// even when a newer one was opened at the same depth (closing it would drop the newer scope's
// handles). Each stack starts its sequence of generations at a different point (a process-
// wide seed), so that a record of another thread's scope does not match either. The inline
// calls keep no depth or generation: checked and inline scopes do not mix.
class HandleStack {
 public:
  explicit HandleStack(uffdgc_mutator_fast& fast);
  static constexpr size_t kBlockSlots = 256;
  static constexpr size_t kMaxDepth = UINT32_MAX;

  // Checked open: remembers the current top and generations in `scope`. False (nothing
  // changes) when kMaxDepth checked scopes are open. Throws std::bad_alloc when the first
  // block cannot be allocated (nothing changes then).
  bool open(uffdgc_handle_scope* scope);
  // Checked close of the innermost scope; false if `scope` is not the innermost open one (an
  // outer scope, a closed one, one never opened or another thread's).
  bool close(const uffdgc_handle_scope* scope);
  // The inline open's slow path: the thread's first scope (no scope open). False when one is
  // open already. Throws std::bad_alloc like open().
  bool open_first(uffdgc_handle_scope* scope);
  // A new slot in the innermost scope; nullptr when no scope is open. Throws std::bad_alloc
  // when a block cannot be allocated (nothing changes then).
  uffdgc_ref* push(uffdgc_ref ref);
  // Every live slot (for marking and updating).
  template <typename Fn>
  void for_each(Fn&& fn) {
    if (fast_->handle_top == nullptr) return;
    const size_t current = block_index(fast_->handle_limit);
    for (size_t b = 0; b < current; ++b) {
      for (size_t i = 0; i < kBlockSlots; ++i) fn(&blocks_[b][i]);
    }
    for (uffdgc_ref* slot = blocks_[current].get(); slot < fast_->handle_top; ++slot) fn(slot);
  }
  // Drops every scope; records of them stay stale (the generation counter goes on).
  void clear() {
    fast_->handle_top = fast_->handle_limit = nullptr;
    depth_ = 0;
    current_ = 0;
  }

 private:
  static size_t block_index(const uffdgc_ref* limit) { return static_cast<size_t>(*limit); }
  // Points the top at the start of block `index`, allocating it if needed.
  void enter_block(size_t index);

  uffdgc_mutator_fast* fast_;  // the owning mutator's (a pointer: the mutator stays standard-layout)
  std::vector<std::unique_ptr<uffdgc_ref[]>> blocks_;
  size_t depth_ = 0;          // checked scopes open
  uint32_t generations_;      // the last generation drawn (0 is never drawn)
  uint32_t current_ = 0;      // the innermost checked scope's generation; 0 when none is open
};

class GlobalRoots {
 public:
  static constexpr uint32_t kLiveMagic = 0x676c6f62;  // "glob"
  uffdgc_global* create(uffdgc_ref ref);
  bool destroy(uffdgc_global* g);
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (auto& g : slots_) {
      if (g.magic == kLiveMagic) fn(&g.ref);
    }
  }

 private:
  std::deque<uffdgc_global> slots_;  // deque: push_back never moves existing slots
  uint32_t free_head_ = UINT32_MAX;
};

}  // namespace uffdgc::runtime
