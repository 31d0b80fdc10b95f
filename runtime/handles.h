// Root slots owned by the library (DESIGN.md §2 "Roots are precise"): per-thread handle
// stacks organised in scopes, and heap-wide global roots. Slots never move, so embedders hold
// uffdgc_ref* pointers to them; the collector marks through them and rewrites them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "uffdgc/uffdgc.h"

struct uffdgc_global {
  uffdgc_ref ref;
  uint32_t magic;  // kLiveMagic while in use: catches stale or foreign pointers
  uint32_t next_free;
};

namespace uffdgc::runtime {

// The scope record (the public uffdgc_handle_scope, two words the caller keeps) holds 32-bit
// fields: opaque[0] = the top at open | the enclosing scope's generation << 32, opaque[1] = the
// depth | the scope's own generation << 32. Every open draws a new generation, so a record
// of a scope that was closed no longer matches the innermost scope even when a newer one was
// opened at the same depth (closing it would drop the newer scope's handles). Each stack
// starts its sequence of generations at a different point (a process-wide seed), so that a
// record of another thread's scope does not match either.
class HandleStack {
 public:
  HandleStack();
  static constexpr size_t kBlockSlots = 256;
  static constexpr size_t kMaxSlots = UINT32_MAX;   // the top fits the record's 32 bits
  static constexpr size_t kMaxDepth = UINT32_MAX;

  // Opens a scope: remembers the current top and generations in `scope`. False (nothing
  // changes) when kMaxDepth scopes are open.
  bool open(uffdgc_handle_scope* scope);
  // Closes the innermost scope; false if `scope` is not the innermost open one (an outer
  // scope, a closed one, one never opened or another thread's).
  bool close(const uffdgc_handle_scope* scope);
  // A new slot in the innermost scope; nullptr when no scope is open or kMaxSlots are in use.
  // Throws std::bad_alloc when a block cannot be allocated (nothing changes then).
  uffdgc_ref* push(uffdgc_ref ref);
  size_t depth() const { return depth_; }
  // Every live slot (for marking and updating).
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (size_t i = 0; i < top_; ++i) fn(&blocks_[i / kBlockSlots][i % kBlockSlots]);
  }
  // Drops every scope; records of them stay stale (the generation counter goes on).
  void clear() {
    top_ = 0;
    depth_ = 0;
    current_ = 0;
  }

 private:
  std::vector<std::unique_ptr<uffdgc_ref[]>> blocks_;
  size_t top_ = 0;
  size_t depth_ = 0;
  uint32_t generations_;      // the last generation drawn (0 is never drawn)
  uint32_t current_ = 0;      // the innermost open scope's generation; 0 when none is open
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
