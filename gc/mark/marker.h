// Marking (DESIGN.md §4 steps 1-3, run inside the pause in the stop-the-world collector):
// a mark stack over the mark bitmap; while tracing it fills the liveness side tables that
// compaction reads (live-words bitmap, live bytes per 512-byte chunk). Weak-container holders
// are recorded, not traced through.
#pragma once

#include <cstdint>
#include <vector>

#include "gc/compact/memory_headroom.h"
#include "gc/mark/side_bitmap.h"
#include "uffdgc/uffdgc.h"

struct uffdgc_heap;

namespace uffdgc::gc {

struct MarkTables {
  SideBitmap mark;          // object starts of marked moving-space objects
  SideBitmap live;          // every word of every marked moving-space object
  uint64_t* chunk_bytes = nullptr;  // live bytes per chunk; later exclusive prefix sums
  uint64_t chunks = 0;
  size_t chunk_map_bytes = 0;

  bool allocate(uint64_t begin, uint64_t bytes);
  ~MarkTables();
};

class Marker {
 public:
  Marker(uffdgc_heap& heap, MarkTables& tables);

  void mark(uffdgc_ref ref);  // greys ref if it is white; 0 is ignored
  // Concurrent marking: objects at or above `black` in the moving space were allocated after
  // marking began and are live without being traced (DESIGN.md §4 step 1).
  void set_black_begin(uint64_t black) { black_begin_ = black; }
  uint64_t black_begin() const { return black_begin_; }
  // Records every object of [from, to) (parsed, fillers skipped) as marked, live and counted,
  // without tracing it: the black allocations of a concurrent cycle.
  void blacken(uint64_t from, uint64_t to);
  void drain();               // traces until the mark stack is empty
  bool idle() const { return stack_.empty(); }
  // Live in this cycle: marked, or allocated after marking began. Any thread.
  bool is_marked(uffdgc_ref ref) const;
  bool in_moving_space(uffdgc_ref ref) const;
  bool object_space_contains(uffdgc_ref ref) const;  // heap lock held
  // Rebuilds the live bytes per chunk from the live-words bitmap (a plan consumes them).
  void recount_chunks();

  const std::vector<uffdgc_ref>& weak_holders() const { return weak_holders_; }
  uint64_t marked_bytes() const { return marked_bytes_; }
  uint64_t marked_moving_bytes() const { return marked_moving_bytes_; }
  uint64_t marked_objects() const { return marked_objects_; }

 private:
  void scan(uffdgc_ref obj);
  void record_live(uffdgc_ref obj, uint64_t size);

  uffdgc_heap& heap_;
  MarkTables& tables_;
  std::vector<uffdgc_ref> stack_;
  std::vector<uffdgc_ref> weak_holders_;
  uint64_t black_begin_ = UINT64_MAX;
  uint32_t epoch_;  // object-space marks of this cycle (heap.mark_epoch at construction)
  uint64_t marked_bytes_ = 0, marked_moving_bytes_ = 0, marked_objects_ = 0;
  // Tracing a heap in swap swaps it all in: keeps reclaim's statistics fresh meanwhile.
  ReclaimStatsRefresh reclaim_stats_{256};
};

}  // namespace uffdgc::gc
