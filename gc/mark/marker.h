// Marking (design: .cycle.marking, run inside the pause in the stop-the-world collector):
// a mark stack over the mark bitmap; while tracing it fills the liveness side tables that
// compaction reads (live-words bitmap, live bytes per 512-byte chunk). Weak-container holders
// are recorded, not traced through.
//
// Every value the marker follows comes from memory the embedder writes (object slots, handles,
// globals, its own roots, barrier logs), so it is checked before anything is written for it:
// a moving-space reference must be 8-byte aligned and allocated (below the marking limit), and
// when it is traced its header must name a user type whose object ends below the limit (else
// its mark bit is taken back); any other value must be an object of the object spaces (a
// registry lookup, remembered in a small cache: objects there die only in a sweep, after
// marking). A value that fails is never traced, so the marker writes nothing but its side
// tables (inside their bounds) and object-space marks of real objects. Checked marking
// (UFFDGC_HEAP_VERIFY, or a checked build: NDEBUG undefined or UFFDGC_CHECKED defined) also
// knows every object start below the limit (a parse of the space when marking starts), and
// aborts with the slot's address and the value instead of ignoring it; otherwise an interior
// pointer whose word looks like a header is taken for an object (the heap is then wrong, but
// nothing outside it is written).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "gc/mark/side_bitmap.h"
#include "gc/space/object_space.h"
#include "uffdgc/uffdgc.h"


namespace uffdgc::gc {

class Heap;

struct MarkTables {
  SideBitmap mark;          // object starts of marked moving-space objects
  SideBitmap live;          // every word of every marked moving-space object
  uint64_t* chunk_bytes = nullptr;  // live bytes per chunk; later exclusive prefix sums
  uint64_t chunks = 0;
  uint64_t* chunk_map = nullptr;  // the mapping chunk_bytes lies in, for `begin`
  size_t chunk_map_bytes = 0;
  uint64_t begin = 0;

  bool allocate(uint64_t begin, uint64_t bytes);
  // The tables start at new_begin (page-aligned, above the allocated begin): a concurrent
  // young cycle's, in pause 1 (no system call; SideBitmap::rebase).
  void rebase(uint64_t new_begin);
  ~MarkTables();
};

#if !defined(NDEBUG) || defined(UFFDGC_CHECKED)
inline constexpr bool kCheckedBuild = true;
#else
inline constexpr bool kCheckedBuild = false;
#endif

class Marker {
 public:
  // Marks the moving space below its current top (the marking limit): the stop-the-world
  // collector's whole space, a concurrent cycle's space below the black block. A young
  // marker (design: .cycle.young) marks only from the heap's old_end up (the tables start
  // there): the old generation below it and every object-space object are live and never
  // traced, whatever refers to them.
  Marker(Heap& heap, MarkTables& tables, bool young = false);

  // Greys ref if it is white; 0 is ignored, and so is a value that is not a reference (see
  // above; checked marking aborts). `slot` is where ref was read, for that report; nullptr
  // for values that have none (barrier logs, pins, weak loads, uffdgc_weak_retain).
  // Inline: the common cases (an aligned moving-space value below the limit, an object-space
  // ref the cache knows) without a call.
  void mark(uffdgc_ref ref, const void* slot = nullptr) {
    if (ref - moving_begin_ < moving_bytes_) {  // at or above floor_ in the reservation
      if (ref < limit_ && (ref & 7) == 0 && !checked_) {
        if (tables_.mark.set(ref)) stack_.push_back(ref);  // scan() checks what is there
        return;
      }
    } else if (ref == 0) {
      return;
    } else if (known(ref) && known_sweeps_ == objects_.sweeps()) {
      // A young marker leaves object-space objects alone: they are old.
      if (!young_ && ObjectSpace::mark(ref, epoch_)) stack_.push_back(ref);
      return;
    }
    mark_slow(ref, slot);
  }
  // Checked marking only (else nothing): learns the object starts below the limit. Once the
  // space there parses (fillers flushed), before the first mark.
  void learn_object_starts();
  bool checked() const { return checked_; }
  bool young() const { return young_; }
  // Young marking: a weak container of the old generation or an object space whose slot the
  // remembered set names; its slots are cleared or kept with the young ones' (not traced).
  void add_weak_holder(uffdgc_ref holder) { weak_holders_.push_back(holder); }
  // Concurrent marking: objects at or above `black` in the moving space were allocated after
  // marking began and are live without being traced (design: .cycle.mark-start).
  void set_black_begin(uint64_t black) { black_begin_ = black; }
  uint64_t black_begin() const { return black_begin_; }
  // Records every object of [from, to) (parsed, fillers skipped) as marked, live and counted,
  // without tracing it: the black allocations of a concurrent cycle.
  void blacken(uint64_t from, uint64_t to);
  void drain();               // traces until the mark stack is empty
  bool idle() const { return stack_.empty(); }
  // Live in this cycle: marked, or allocated after marking began. Any thread; ref is a
  // reference (an object-space ref must be known to exist: its mark is read from its prefix).
  bool is_marked(uffdgc_ref ref) const;
  // The same for a value read from a weak slot, which the embedder may have filled with
  // anything: false for a value that is not a reference. The marking thread.
  bool is_live_reference(uffdgc_ref ref);
  // Checked marking: aborts naming the slot unless ref is 0 or a reference (for slots the
  // marker does not trace: weak ones). Otherwise nothing. The marking thread.
  void check_reference(uffdgc_ref ref, const void* slot);
  // Rebuilds the live bytes per chunk from the live-words bitmap (a plan consumes them).
  void recount_chunks();

  const std::vector<uffdgc_ref>& weak_holders() const { return weak_holders_; }
  uint64_t marked_bytes() const { return marked_bytes_; }
  uint64_t marked_moving_bytes() const { return marked_moving_bytes_; }
  uint64_t marked_objects() const { return marked_objects_; }

 private:
  void scan(uffdgc_ref obj);
  void record_live(uffdgc_ref obj, uint64_t size);
  void mark_slow(uffdgc_ref ref, const void* slot);
  bool in_object_space(uffdgc_ref ref);
  // Two ways per set, so that a few hot objects (a runtime's class objects, say) that share a
  // set do not evict each other on every edge.
  static size_t known_set(uffdgc_ref ref) {
    return static_cast<size_t>((ref * 0x9E3779B97F4A7C15ull) >> 55) * 2;  // top 9 bits
  }
  bool known(uffdgc_ref ref) const {
    const size_t set = known_set(ref);
    return known_[set] == ref || known_[set + 1] == ref;
  }
  // A value that is not a reference: aborts (checked marking) or is ignored.
  void reject(uffdgc_ref ref, const void* slot, const char* why) const;

  static constexpr size_t kKnownObjects = 1024;  // cache of object-space refs: 512 sets x 2
  static_assert(kKnownObjects == 2 * (size_t{1} << (64 - 55)), "known_set: top 9 bits, 2 ways");

  Heap& heap_;
  MarkTables& tables_;
  const ObjectSpace& objects_;
  const bool young_;
  const uint64_t floor_;  // tables and marking start here: old_end when young, else begin
  const uint64_t moving_begin_, moving_bytes_;  // [floor_, the reservation's end)
  const uint64_t limit_;  // the moving space's top when marking began: tables end there
  const bool checked_;
  SideBitmap starts_;     // checked marking: object starts below limit_
  std::array<uint64_t, kKnownObjects> known_{};  // object-space refs found in the registry
  uint64_t known_sweeps_ = 0;                     // ObjectSpace::sweeps() when they were
  std::vector<uffdgc_ref> stack_;
  std::vector<uffdgc_ref> weak_holders_;
  uint64_t black_begin_ = UINT64_MAX;
  uint32_t epoch_;  // object-space marks of this cycle (heap.mark_epoch at construction)
  uint64_t marked_bytes_ = 0, marked_moving_bytes_ = 0, marked_objects_ = 0;
  uint64_t published_bytes_ = 0;  // marked_bytes_ last given to the allocation pacer
};

}  // namespace uffdgc::gc
