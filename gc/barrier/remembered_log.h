// A thread's remembered-set log (design: .barrier.remembered): the (holder, slot) pairs of its
// stores that put a young reference into a slot outside the young generation, in a generational
// heap. A fixed buffer whose free part is [fast.remembered_cursor, fast.remembered_limit), so
// the inline barrier (include/uffdgc/inline.h uffdgc_store_ref) appends without calling in; the
// slow path hands a full log to the heap's RememberedSet. Other heaps never allocate one
// (cursor == limit == nullptr, and young_size 0 keeps the inline path from looking).
// Owner thread only, or the collector while the owner is stopped.
#pragma once

#include <cstddef>
#include <memory>

#include "uffdgc/inline.h"

namespace uffdgc::gc {

class RememberedLog {
 public:
  static constexpr size_t kPairs = 2048;  // 32 KiB: a hand-over every 2048 remembered stores

  explicit RememberedLog(uffdgc_mutator_fast& fast) : fast_(&fast) {}

  // Maps the buffer (a generational heap's thread, at attach). False without memory.
  bool allocate() noexcept;
  const uffdgc_mutator_fast& fast() const { return *fast_; }
  bool full() const { return fast_->remembered_cursor == fast_->remembered_limit; }
  size_t pairs() const {
    return static_cast<size_t>(fast_->remembered_cursor - entries_.get()) / 2;
  }
  // Pairs: holder, slot, holder, slot, ...
  const uffdgc_ref* begin() const { return entries_.get(); }
  // Caller checked !full().
  void append(uffdgc_ref holder, uffdgc_ref* slot) {
    fast_->remembered_cursor[0] = holder;
    fast_->remembered_cursor[1] = reinterpret_cast<uffdgc_ref>(slot);
    fast_->remembered_cursor += 2;
  }
  void clear() {
    if (entries_ != nullptr) fast_->remembered_cursor = entries_.get();
  }

 private:
  uffdgc_mutator_fast* fast_;
  std::unique_ptr<uffdgc_ref[]> entries_;
};

}  // namespace uffdgc::gc
