// A thread's SATB log (design: .barrier.logs): the references its stores
// overwrote while a concurrent cycle marks. A fixed buffer of kEntries words whose free part
// is [fast.satb_cursor, fast.satb_limit), so the inline barrier (include/uffdgc/inline.h
// uffdgc_store_ref) appends without calling in; the slow path appends when the inline one may
// not and hands the log to the GC thread when it is full. Owner thread only, or the collector
// while the owner is stopped or parked.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "uffdgc/inline.h"

namespace uffdgc::gc {

class SatbLog {
 public:
  static constexpr size_t kEntries = 4096;  // 32 KiB: a hand-over every 4096 logged values

  // Throws std::bad_alloc (the mutator is not created then).
  explicit SatbLog(uffdgc_mutator_fast& fast);

  bool empty() const { return fast_->satb_cursor == entries_.get(); }
  bool full() const { return fast_->satb_cursor == fast_->satb_limit; }
  size_t size() const { return static_cast<size_t>(fast_->satb_cursor - entries_.get()); }
  const uffdgc_ref* begin() const { return entries_.get(); }
  const uffdgc_ref* end() const { return fast_->satb_cursor; }

  // Caller checked !full().
  void append(uffdgc_ref ref) { *fast_->satb_cursor++ = ref; }
  // The entries, and the log emptied. Throws std::bad_alloc (the log is unchanged then).
  std::vector<uffdgc_ref> take();
  void clear() { fast_->satb_cursor = entries_.get(); }

 private:
  uffdgc_mutator_fast* fast_;
  std::unique_ptr<uffdgc_ref[]> entries_;
};

}  // namespace uffdgc::gc
