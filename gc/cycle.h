// One collection cycle (design: .cycle.phases), private to gc/. The parts every mode shares (roots,
// weak references, finalization, islands, the stop-the-world compaction) are in collector.cc;
// the three pauses and the concurrent phases of the move and copy modes in concurrent_cycle.cc.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "gc/collector.h"
#include "gc/compact/compaction_plan.h"
#include "gc/embedder_callbacks.h"
#include "gc/mark/marker.h"
#include "gc/phase.h"
#include "gc/heap.h"
#include "os/resource_usage.h"

namespace uffdgc::gc {

class ConcurrentCompaction;

// A slot of a non-moving object that refers into the sliding region, as the scan before the
// flip saw it, and the value the flip writes if it still holds that.
struct SlotUpdate {
  uffdgc_ref* slot;
  uffdgc_ref old_value, new_value;
};

class Cycle : public std::enable_shared_from_this<Cycle> {
 public:
  Cycle(Heap& heap, uffdgc_mutator* requester, CycleKind kind = CycleKind::kFull)
      : heap_(heap), requester_(requester), kind_(kind) {}
  uffdgc_result run(uint64_t unless_after);

 private:
  // ---- shared (collector.cc) ----
  // The requester, waiting for the previous cycle's concurrent compaction to end, produces
  // its unclaimed pages meanwhile (assist_compaction, gc/compact/fault_router.h), a run at a
  // time, polling between runs.
  void assist_previous_compaction();
  // The cycle moves to `next` (design: .cycle.phases): reported as a phase event if it is one;
  // in test builds (checked build or UFFDGC_HEAP_VERIFY) the transition and what mutators see
  // of the phase (CycleState::phase) are checked first, and a violation aborts.
  void enter(Phase next);
  void check_phase_change(Phase next) const;
  void event(uint32_t kind, const char* phase = nullptr, uint64_t pause_ns = 0);
  void deliver_events();
  // fn(slot) for every root slot the library holds; global_fn for the globals, which threads
  // that are not running mutators may store to at any time (uffdgc.h): read them atomically,
  // rewrite them with a compare-and-swap.
  template <typename Fn, typename GlobalFn>
  void for_each_root(Fn&& fn, GlobalFn&& global_fn);
  template <typename Fn>
  void for_each_root(Fn&& fn) {
    for_each_root(fn, fn);
  }
  void scan_embedder_roots(void (*fn)(uffdgc_root_visitor*, uffdgc_ref*), void* ctx);
  void mark_roots(Marker& marker);
  // ---- young cycles (young_cycle.cc; design: .cycle.young) ----
  // Whether this cycle is young; decided in pause 1 (heap lock held).
  bool choose_young() const;
  // Greys the young objects the remembered slots refer to; a weak container's slots make it a
  // weak holder instead. Records the remembered set's figures (under the heap lock, which
  // lock_held says the caller has).
  void mark_remembered(Marker& marker, uint64_t top, bool lock_held);
  bool holder_is_weak(uffdgc_ref holder, const uffdgc_ref* slot) const;
  // Whether the young generation below `top` is live enough to be promoted where it lies
  // (design: .cycle.young.dense).
  bool young_generation_dense(const Marker& marker, uint64_t top) const;
  // Every remembered slot rewritten with where its referent went (each slot once).
  void update_remembered(const CompactionPlan& plan);
  // Pause 3 of a concurrent young cycle: the threads' remembered logs join the set and every
  // remembered slot referring below flip_top gets its referent's new address.
  void forward_remembered_at_flip(const CompactionPlan& plan, uint64_t flip_top);
  // The statistics of the cycle's kind, when it counts as a collection.
  void count_cycle_kind();
  // The survivors are old: the young generation starts at the new top (page-aligned), the
  // remembered set empties, every thread learns the new range.
  void promote(uint64_t new_top);
  // Generational heaps, at the start of a collection: the threads' remembered logs join the
  // heap's set; test builds check that every old slot referring to a young object is in it.
  void gather_remembered();
  void process_embedder_weak(Marker& marker);
  void clear_dead_weak_slots(Marker& marker, size_t from_holder);
  void process_finalization(Marker& marker, bool lock_held);
  void reclaim(Marker& marker, bool lock_held);
  std::vector<AddressRange> pinned_islands(const std::vector<uffdgc_ref>& pins, uint64_t top);
  uint64_t object_containing(uint64_t addr) const;
  void fill_dead_in_islands(const std::vector<AddressRange>& islands, uint64_t top);
  // Moves every segment's pages to the from-space (the stop-the-world cycle's remap). A
  // failing mremap aborts with a message once anything has been remapped (the heap would be
  // half moved); when the first one fails nothing has moved, and with may_give_up its errno is
  // returned.
  int remap_to_from_space(const CompactionPlan& plan, bool may_give_up);
  // One mremap(MREMAP_DONTUNMAP) of a range to the from-space: 0 or an errno (the fault injector's "mremap:"
  // rules fail it before the kernel is asked).
  int remap_range(uint64_t begin, uint64_t end);
  [[noreturn]] void abort_on_remap_failure(const char* which, uint64_t begin, uint64_t end,
                                           int err, size_t remapped, size_t ranges,
                                           const char* consequence);
  CompactionPlan plan_whole_space(uint64_t top, bool in_place = false);
  void fill_segment_tails(const CompactionPlan& plan);
  void compact(const CompactionPlan& plan);
  // allocated_meanwhile: the flip-stw fallback of a concurrent cycle, which cannot give up.
  uffdgc_result compact_stop_the_world(const CompactionPlan& plan, const Marker& marker,
                                       bool allocated_meanwhile = false);
  uffdgc_result collect_stop_the_world();
  std::deque<uint64_t> forward_starts(const std::vector<uint64_t>& starts,
                                      const CompactionPlan& plan, uint64_t end);
  void update_roots(const CompactionPlan& plan, const Marker* marker);
  void update_references(const CompactionPlan& plan, const Marker* marker);
  template <typename Fn>
  void for_each_slot(uint64_t obj, Fn&& fn);
  std::vector<uffdgc_ref> pinned_refs();

  // A pause (design: .cycle.pauses). The constructor stops the world (first waiting at a
  // safepoint if another thread is stopping it); lock_heap() takes the heap lock; begin()
  // reports PAUSE_BEGIN, and from then on the pause is recorded when the scope closes
  // (statistics, its major faults, PAUSE_END and CYCLE_END if it ends the cycle). Closing the
  // scope releases the lock, delivers the events and resumes the world; a scope closed without
  // begin() records and delivers nothing (a stop that did no work).
  class Pause {
   public:
    Pause(Cycle& cycle, uffdgc_mutator* requester);
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;
    ~Pause();
    void lock_heap() { lock_.lock(); }
    void begin();
    void end_cycle() { ends_cycle_ = true; }
    // When the stop was requested: the pause includes the time to safepoint.
    uint64_t start_ns() const { return start_ns_; }

   private:
    Cycle& cycle_;
    const uint64_t tts_ns_;
    const uint64_t start_ns_;
    const uint64_t major_faults_start_;  // this thread's: a pause touches no heap page
    std::unique_lock<std::mutex> lock_;
    bool begun_ = false;
    bool ends_cycle_ = false;
  };
  // run()'s steps.
  bool stop_for_first_pause(bool triggered, std::optional<Pause>& pause);
  void begin_cycle(uint64_t start_ns, uint64_t rss_before);
  uffdgc_result collect_in_one_pause(Pause& pause);
  uffdgc_result wait_for_flip(bool submitted, bool triggered);

  // ---- concurrent modes (concurrent_cycle.cc) ----
  bool map_cycle_tables();
  bool start_marking(const Pause& pause);
  void concurrent_phases();
  void run_concurrent_phases();
  void mark_concurrently();
  // Marking's steps, in order, round after round.
  void trace_handed_over_logs(Marker& marker);
  std::vector<std::vector<uffdgc_ref>> mark_end_pause();
  bool marking_finished(Marker& marker);
  void reclaim_concurrently();
  bool plan_and_flip();
  std::vector<SlotUpdate> scan_non_sliding_slots(const CompactionPlan& plan);
  void prepare_compaction();
  void flip_pause();
  // The flip pause's steps, in order.
  void forward_slots_at_flip(const CompactionPlan& plan);
  std::vector<AddressRange> sliding_ranges(const CompactionPlan& plan, uint64_t flip_top) const;
  void remap_sliding_ranges(std::vector<AddressRange>& moved, uint64_t flip_top);
  void give_compaction_the_free_space(const CompactionPlan& plan, std::vector<AddressRange> moved,
                                      uint64_t flip_top);
  void produce_everything_in_flip_pause(CompactionPlan& plan, uint64_t flip_top);
  void flip_in_place(const CompactionPlan& plan, uint64_t flip_top);
  void finish_in_place();
  void verify_after_cycle();
  bool register_to_space(const CompactionPlan& plan);
  void finish_in_flip_pause();
  void end_barrier();
  void compact_concurrently();
  uint64_t produce_pages_in_parallel();

  Heap& heap_;
  uffdgc_mutator* requester_;
  const CycleKind kind_;
  bool young_ = false;           // a young cycle
  uint64_t region_begin_ = 0;    // what the cycle marks and moves starts here: old_end if young
  std::unique_ptr<MarkTables> tables_ = std::make_unique<MarkTables>();
  std::unique_ptr<Marker> marker_;
  uint64_t cycle_ = 0;
  Phase phase_ = Phase::kIdle;
  uint64_t bytes_before_ = 0;
  uint64_t weak_cleared_ = 0;
  static constexpr size_t kMaxEvents = 24;
  uffdgc_event events_[kMaxEvents];
  size_t events_count_ = 0;

  // Concurrent cycles.
  uint64_t cycle_start_ns_ = 0;
  uint64_t black_begin_ = 0;     // pause 1's cut: everything above is the black block
  uint64_t indexed_to_ = 0;      // the black block is indexed (first objects) up to here
  uint64_t parsable_to_ = 0;     // the last mark-end pause's cut: parsable in place below
  struct RootValue {
    uffdgc_ref value;
    const void* slot;  // where it was read (checked marking reports it); nullptr for pins
  };
  std::vector<RootValue> root_values_;
  // heap_.starts of the region below the block as the plan moves them; after the flip, what
  // ObjectStarts::replace no longer needs (freed outside the pause)
  std::deque<uint64_t> forwarded_starts_;
  std::unique_ptr<CompactionPlan> plan_;
  uint64_t planned_pin_epoch_ = 0;
  std::vector<SlotUpdate> scanned_slots_;
  uint64_t* block_index_ = nullptr;  // first object per block source page (mapping)
  size_t block_index_bytes_ = 0;
  std::vector<AddressRange> registered_;  // the ranges registered with userfaultfd at the flip
  std::vector<std::pair<uint64_t, uint64_t>> block_fillers_;  // owed in the from-space
  std::unique_ptr<ConcurrentCompaction> compaction_;
  bool finished_in_pause_ = false;
  bool in_place_ = false;  // a young generation promoted in place: nothing slides
  bool flipped_in_place_ = false;  // nothing slid: the flip was all (flip_in_place)
  uint64_t mark_end_rounds_ = 0;

 public:
  ~Cycle();
};

template <typename Fn, typename GlobalFn>
inline void Cycle::for_each_root(Fn&& fn, GlobalFn&& global_fn) {
  heap_.mutators.visit_thread_roots(SlotVisitor(fn));
  heap_.mutators.visit_global_roots(SlotVisitor(global_fn));
  for (uffdgc_ref& r : heap_.finalization_ready) fn(&r);
}

template <typename Fn>
inline void Cycle::for_each_slot(uint64_t obj, Fn&& fn) {
  auto* p = reinterpret_cast<uint8_t*>(obj);
  // Atomic: the runtime may update its header bits while a concurrent cycle reads them.
  const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
  const TypeDesc* t = heap_.types.of_header(header);
  heap_.types.for_each_ref_offset(p, *t, [&](size_t off) {
    fn(reinterpret_cast<uffdgc_ref*>(p + off));
  });
}

}  // namespace uffdgc::gc
