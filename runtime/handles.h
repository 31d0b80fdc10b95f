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

class HandleStack {
 public:
  static constexpr size_t kBlockSlots = 256;

  // Opens a scope: remembers the current top in `scope`.
  void open(uffdgc_handle_scope* scope);
  // Closes the innermost scope; false if `scope` is not the innermost open one.
  bool close(const uffdgc_handle_scope* scope);
  // A new slot in the innermost scope; nullptr when no scope is open.
  uffdgc_ref* push(uffdgc_ref ref);
  size_t depth() const { return depth_; }
  // Every live slot (for marking and updating).
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (size_t i = 0; i < top_; ++i) fn(&blocks_[i / kBlockSlots][i % kBlockSlots]);
  }
  void clear() {
    top_ = 0;
    depth_ = 0;
  }

 private:
  std::vector<std::unique_ptr<uffdgc_ref[]>> blocks_;
  size_t top_ = 0;
  size_t depth_ = 0;
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
