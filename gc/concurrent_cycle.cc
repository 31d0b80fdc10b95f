// The concurrent cycle of the move and copy modes (design: .cycle.phases): three pauses, none of
// which reads or writes a heap page, and everything else on the GC thread while mutators run.
//
//   pause 1 (mark start)  cut allocation (black block from here), record the roots' values,
//                         barrier on. Fillers owed to retired buffers are recorded, not written.
//   concurrent marking    trace from the roots' values and the barrier logs threads hand over
//                         when full (in the barrier's slow path) and at a checkpoint the GC
//                         thread runs before each mark-end pause.
//   pause 2 (mark end)    take the threads' logs, cut allocation again; nothing else. If the
//                         logs (and the referents weak loads handed out) hold an unmarked
//                         object, marking resumes and pause 2 comes again: it never traces.
//   concurrent reclaim    weak references, finalization, sweep of the object spaces, the plan,
//                         the scan of the slots outside the sliding region (object spaces,
//                         pinned islands) that refer into it, the black block's index.
//   pause 3 (flip)        rewrite those slots and the ones stored since (the barrier logged
//                         them) and the roots, barrier off, mremap, register.
//   concurrent compaction the GC thread and faulting mutators produce the to-space pages.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <thread>
#include <sys/mman.h>

#include "gc/compact/concurrent_compaction.h"
#include "gc/cycle.h"
#include "gc/heap_geometry.h"
#include "gc/no_unwind.h"
#include "gc/space/filler.h"
#include "os/uffd/kernel_abi.h"
#include "gc/verify.h"
#include "os/anonymous_memory.h"
#include "os/clock.h"
#include "os/resource_usage.h"
#include "gc/compact/fault_router.h"

namespace uffdgc::gc {

namespace {

// Pins taken between the plan and the flip make the plan stale; after this many fresh plans
// the flip pause finishes the cycle itself (stop-the-world) rather than let pins starve it.
constexpr int kMaxReplans = 8;

void write_fillers(const std::vector<std::pair<uint64_t, uint64_t>>& fillers, int64_t delta) {
  for (const auto& [begin, end] : fillers) {
    write_filler(static_cast<uint64_t>(static_cast<int64_t>(begin) + delta),
                 static_cast<uint64_t>(static_cast<int64_t>(end) + delta));
  }
}

}  // namespace

Cycle::~Cycle() {
  os::unmap(block_index_, block_index_bytes_);
}

// Before pause 1, so the pause makes no system call for them: the side tables for the whole
// moving space and the black block's first-object index (untouched pages cost nothing).
bool Cycle::map_cycle_tables() {
  block_index_bytes_ =
      align_up(heap_.moving.capacity() / kPageSize * sizeof(uint64_t) + 1, kPageSize);
  block_index_ = static_cast<uint64_t*>(os::map_zeroed(block_index_bytes_));
  if (block_index_ == nullptr) return false;
  return tables_->allocate(heap_.moving.begin(), heap_.moving.capacity());
}

// Pause 1 (design: .cycle.mark-start), on the requesting thread with the world stopped and the
// heap lock held. Returns whether the GC thread took the concurrent phases.
bool Cycle::start_marking(const Pause& pause) {
  enter(Phase::kMarkStart);
  black_begin_ = heap_.mutators.cut_allocation();
  indexed_to_ = parsable_to_ = black_begin_;
  if (heap_.generational) {
    if (heap_.verify()) heap_.flush_pending_fillers();  // the check parses the heap
    gather_remembered();
  }
  if (young_) tables_->rebase(region_begin_);
  marker_ = std::make_unique<Marker>(heap_, *tables_, young_);
  marker_->set_black_begin(black_begin_);
  // The roots' values, not their objects: the GC thread greys them.
  for_each_root([&](uffdgc_ref* slot) {
    const uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v != 0) root_values_.push_back({v, slot});
  });
  for (const auto& [ref, count] : heap_.pins) root_values_.push_back({ref, nullptr});
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        if (*slot != 0) static_cast<std::vector<RootValue>*>(self->ctx)->push_back({*slot, slot});
      },
      &root_values_);
  heap_.cycle.objects_black.store(true, std::memory_order_relaxed);
  heap_.cycle.log_all_slots.store(!heap_.pins.empty(), std::memory_order_seq_cst);
  heap_.cycle.marker.store(marker_.get(), std::memory_order_release);
  heap_.pacer.start(black_begin_, heap_.moving.limit(), heap_.stats.live_bytes_last);
  heap_.cycle.phase.store(Phase::kConcurrentMark, std::memory_order_seq_cst);
  heap_.mutators.set_barrier_flags(heap_.cycle.barrier_flag());
  {
    std::lock_guard<std::mutex> flips(heap_.cycle.flip_lock);
    heap_.cycle.cycles_started = cycle_;
  }
  auto self = shared_from_this();
  const bool submitted = heap_.gc_thread.submit([self] { self->concurrent_phases(); });
  heap_.stats.pause_mark_start_ns_last = os::monotonic_ns() - pause.start_ns();
  return submitted;
}

// The GC thread's part of the cycle.
void Cycle::concurrent_phases() {
  // A cycle cannot stop half-way (runtime/c_boundary.h).
  or_abort("the GC thread's collection", [&] { run_concurrent_phases(); });
}

void Cycle::run_concurrent_phases() {
  const uint64_t cpu_start = os::thread_cpu_ns();
  const uint64_t kernel_start = os::thread_kernel_ns();
  const uint64_t faults_start = os::thread_minor_faults();
  mark_concurrently();
  const uint64_t cpu_marked = os::thread_cpu_ns();
  reclaim_concurrently();
  const bool concurrent_compaction = plan_and_flip();
  // The flip promoted everything: the remembered set's old tables are cleared here, not in
  // the pause (RememberedSet::retire).
  if (heap_.generational) heap_.remembered.clear_retired();
  const uint64_t cpu_flipped = os::thread_cpu_ns();
  {
    std::lock_guard<std::mutex> flipped(heap_.cycle.flip_lock);
    heap_.cycle.flips = cycle_;
  }
  heap_.cycle.flip_cv.notify_all();
  if (concurrent_compaction) {
    if (auto* hook = heap_.after_flip_hook.load()) hook(heap_.after_flip_hook_arg.load());
    compact_concurrently();
  } else if (flipped_in_place_) {
    finish_in_place();
  }
  const uint64_t cpu_end = os::thread_cpu_ns();
  const uint64_t kernel_end = os::thread_kernel_ns();
  std::lock_guard<std::mutex> lock(heap_.lock);
  heap_.stats.gc_cpu_ns_total += cpu_end - cpu_start;
  heap_.stats.gc_cpu_ns_kernel += kernel_end - kernel_start;
  heap_.stats.gc_cpu_ns_mark += cpu_marked - cpu_start;
  heap_.stats.gc_cpu_ns_reclaim += cpu_flipped - cpu_marked;
  heap_.stats.gc_cpu_ns_compact += cpu_end - cpu_flipped;
  heap_.stats.gc_minor_faults += os::thread_minor_faults() - faults_start;
  heap_.stats.cycle_ns_last = os::monotonic_ns() - cycle_start_ns_;
  heap_.stats.rss_after_last = os::resident_bytes();
  heap_.stats.rss_peak_last = std::max(heap_.stats.rss_peak_last, heap_.stats.rss_after_last);
  enter(Phase::kIdle);
}

// Concurrent marking and the mark-end pauses (design: .cycle.marking).
void Cycle::mark_concurrently() {
  Marker& marker = *marker_;
  {
    std::lock_guard<std::mutex> lock(heap_.lock);
    heap_.flush_pending_fillers();
  }
  marker.learn_object_starts();  // the space below the black block parses from here on
  for (const RootValue& r : root_values_) marker.mark(r.value, r.slot);
  std::vector<RootValue>().swap(root_values_);
  if (young_) mark_remembered(marker, black_begin_, /*lock_held=*/false);
  marker.drain();
  for (;;) {
    enter(Phase::kConcurrentMark);
    trace_handed_over_logs(marker);
    // Every thread hands its log over at its next safepoint (parked ones through this thread),
    // without stopping the others: what the mark-end pause then finds is what was logged
    // after that, usually nothing left to trace.
    heap_.mutators.hand_over_satb_logs();
    trace_handed_over_logs(marker);
    const std::vector<std::vector<uffdgc_ref>> logs = mark_end_pause();
    {
      std::lock_guard<std::mutex> lock(heap_.lock);
      heap_.flush_pending_fillers();
    }
    for (const auto& log : logs) {
      for (uffdgc_ref r : log) marker.mark(r);
    }
    if (marking_finished(marker)) break;
    ++mark_end_rounds_;
  }
  std::lock_guard<std::mutex> lock(heap_.lock);
  heap_.stats.mark_end_rounds_last = mark_end_rounds_;
}

// Traces what threads handed over meanwhile, until they stop handing over faster than this
// thread traces (a bounded number of rounds; the pause takes the rest).
void Cycle::trace_handed_over_logs(Marker& marker) {
  for (int round = 0; round < 16; ++round) {
    std::vector<std::vector<uffdgc_ref>> handed;
    {
      std::lock_guard<std::mutex> lock(heap_.cycle.handover_lock);
      handed.swap(heap_.cycle.handed_over);
    }
    if (handed.empty()) break;
    for (const auto& log : handed) {
      for (uffdgc_ref r : log) marker.mark(r);
    }
    marker.drain();
  }
}

// Pause 2 (design: .cycle.marking): takes every barrier log (at most SatbLog::kEntries per
// thread, plus the orphaned and handed-over ones) and cuts allocation where the space stops
// being parsable.
std::vector<std::vector<uffdgc_ref>> Cycle::mark_end_pause() {
  std::vector<std::vector<uffdgc_ref>> logs;
  Pause pause(*this, nullptr);
  pause.lock_heap();
  pause.begin();
  enter(Phase::kMarkEnd);
  heap_.mutators.take_satb_logs(logs);  // slot logs emptied: the slot scan comes after
                                            // marking, it sees those stores
  logs.emplace_back();
  logs.back().swap(heap_.cycle.orphan_satb);
  {
    std::lock_guard<std::mutex> handover(heap_.cycle.handover_lock);
    for (auto& log : heap_.cycle.handed_over) logs.emplace_back().swap(log);
    heap_.cycle.handed_over.clear();
  }
  heap_.cycle.orphan_slots.clear();
  parsable_to_ = heap_.mutators.cut_allocation();
  heap_.stats.pause_mark_end_ns_last = os::monotonic_ns() - pause.start_ns();
  return logs;
}

// After a mark-end pause's logs were marked: true when marking is complete, else what is
// pending was traced (or is left to the next round). Every object the logs named was marked
// already when the marker is idle: marking was complete at that pause, but for what the
// embedder's weak processing retains (it runs now, on this thread, while the barrier still
// logs; anything it marks is traced and the mark-end pause comes again) and for referents that
// weak loads handed out. Those are checked under weak_lock, which weak loads take while
// marking: after the phase changes, they answer from the mark bits.
bool Cycle::marking_finished(Marker& marker) {
  if (!marker.idle()) {
    marker.drain();
    return false;
  }
  const uint64_t marked_before_weak = marker.marked_objects();
  process_embedder_weak(marker);
  if (marker.marked_objects() != marked_before_weak) return false;
  std::lock_guard<std::mutex> weak(heap_.cycle.weak_lock);
  for (uffdgc_ref r : heap_.cycle.weak_loaded) marker.mark(r);
  heap_.cycle.weak_loaded.clear();
  if (marker.idle()) {
    heap_.cycle.phase.store(Phase::kWeak, std::memory_order_seq_cst);
    heap_.pacer.stop();
    return true;
  }
  marker.drain();
  return false;
}

// Weak references, finalization and the sweep, with mutators running (design: .cycle.reclaim).
// Weak loads see 0 for unmarked referents from the moment marking ended.
void Cycle::reclaim_concurrently() {
  Marker& marker = *marker_;
  enter(Phase::kWeak);
  reclaim(marker, /*lock_held=*/false);
}

// The slots outside the sliding region that refer into it: object spaces and pinned islands.
// Read with the world running; a store that lands after the read is in some thread's slot log.
// The new values are computed here too (the black block's delta is known before its end), so
// the flip pause only compares and stores.
std::vector<SlotUpdate> Cycle::scan_non_sliding_slots(const CompactionPlan& plan) {
  std::vector<SlotUpdate> slots;
  const uint64_t block_delta = black_begin_ - plan.block_dst_begin();
  auto visit = [&](uffdgc_ref* slot) {
    const uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (!heap_.moving.in_reservation(v) || !plan.moves(v)) return;
    slots.push_back({slot, v, v >= black_begin_ ? v - block_delta : plan.forward(v)});
  };
  // A young cycle reads no old object: the remembered set names the old and object-space
  // slots that refer into the young generation, and the flip forwards them
  // (forward_remembered_at_flip).
  std::vector<uint64_t> objects;
  if (!young_) {
    std::lock_guard<std::mutex> lock(heap_.lock);
    objects = heap_.objects.list();
  }
  for (uint64_t ref : objects) for_each_slot(ref, visit);
  for (const AddressRange& r : plan.islands()) {
    for (uint64_t a = tables_->mark.next_set(r.begin, r.end); a < r.end;
         a = tables_->mark.next_set(a + kWordSize, r.end)) {
      for_each_slot(a, visit);
    }
  }
  std::sort(slots.begin(), slots.end(),
            [](const SlotUpdate& a, const SlotUpdate& b) { return a.slot < b.slot; });
  return slots;
}

// Plans the compaction, then stops the world for the flip; a pin taken meanwhile means
// planning again. Returns true when the concurrent compaction is to run, false when the flip
// pause finished the cycle itself.
bool Cycle::plan_and_flip() {
  const uint64_t begin = region_begin_;
  for (int attempt = 0;; ++attempt) {
    enter(Phase::kPlan);
    std::vector<uffdgc_ref> pins;
    {
      std::lock_guard<std::mutex> lock(heap_.lock);
      pins = pinned_refs();
      planned_pin_epoch_ = heap_.pin_epoch;
    }
    // A dense young generation is promoted where it lies: one island, nothing slides
    // (design: .cycle.young.dense).
    in_place_ = young_ && young_generation_dense(*marker_, black_begin_);
    const std::vector<AddressRange> islands =
        in_place_ ? std::vector<AddressRange>{{region_begin_, black_begin_}}
                  : pinned_islands(pins, black_begin_);
    {
      std::lock_guard<std::mutex> lock(heap_.lock);  // heap walks parse the islands
      fill_dead_in_islands(islands, black_begin_);
    }
    if (attempt > 0) marker_->recount_chunks();
    plan_ = std::make_unique<CompactionPlan>(heap_.types, *tables_, begin, black_begin_, islands,
                                             heap_.moving.from_space_delta(),
                                             /*pad_last=*/true);
    plan_->index_block(indexed_to_, parsable_to_, 0, block_index_);
    indexed_to_ = parsable_to_;
    scanned_slots_ = scan_non_sliding_slots(*plan_);
    std::vector<uint64_t> starts;
    {
      std::lock_guard<std::mutex> lock(heap_.lock);  // mutators record theirs above the block
      starts = heap_.starts.between(region_begin_, black_begin_);  // a young cycle's only
    }
    forwarded_starts_ = forward_starts(starts, *plan_, black_begin_);
    prepare_compaction();
    if (auto* hook = heap_.before_flip_hook.load()) hook(heap_.before_flip_hook_arg.load());

    Pause pause(*this, nullptr);
    pause.lock_heap();
    bool pinned_in_block = false;
    for (const auto& [ref, count] : heap_.pins) {
      pinned_in_block |= heap_.moving.in_reservation(ref) && ref >= black_begin_;
    }
    if (heap_.pin_epoch != planned_pin_epoch_ && attempt < kMaxReplans && !pinned_in_block) {
      continue;  // not a pause of the cycle: nothing was done
    }
    pause.begin();
    pause.end_cycle();
    if (heap_.pin_epoch != planned_pin_epoch_ || pinned_in_block) {
      finish_in_flip_pause();
    } else {
      flip_pause();
    }
    heap_.stats.pause_flip_ns_last = os::monotonic_ns() - pause.start_ns();
    return !finished_in_pause_;
  }
}

// The barrier goes off and the cycle's mutator-visible state is reset. World stopped.
void Cycle::end_barrier() {
  heap_.cycle.phase.store(Phase::kIdle, std::memory_order_seq_cst);
  heap_.pacer.stop();  // a cycle that ended in a pause
  heap_.cycle.marker.store(nullptr, std::memory_order_release);
  heap_.cycle.log_all_slots.store(false, std::memory_order_seq_cst);
  heap_.cycle.objects_black.store(false, std::memory_order_relaxed);
  heap_.mutators.set_barrier_flags(heap_.cycle.remember_flag);  // and the threads' logs emptied
  heap_.cycle.orphan_satb.clear();
  heap_.cycle.orphan_slots.clear();
  {
    std::lock_guard<std::mutex> handover(heap_.cycle.handover_lock);
    heap_.cycle.handed_over.clear();
  }
  std::lock_guard<std::mutex> weak(heap_.cycle.weak_lock);
  heap_.cycle.weak_loaded.clear();
}

// The flip fallback: a pin in the black block or pins that kept the plan stale. The cycle
// ends inside this pause, stop-the-world (it reads the heap; counted in the statistics).
void Cycle::finish_in_flip_pause() {
  enter(Phase::kFlipStw);
  ++heap_.stats.flips_finished_in_pause;
  end_barrier();
  heap_.flush_pending_fillers();
  heap_.mutators.retire_tlabs();
  const uint64_t top = heap_.moving.top();
  marker_->recount_chunks();
  marker_->blacken(black_begin_, top);
  if (young_) heap_.mutators.take_remembered_logs();  // update_references forwards the set
  const CompactionPlan plan = plan_whole_space(top);
  compact_stop_the_world(plan, *marker_, /*allocated_meanwhile=*/true);  // aborts if mremap fails
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  count_cycle_kind();
  finished_in_pause_ = true;
}

// Registers the to-space (segments, the black block's destination and the free pages above the
// compacted end) with userfaultfd. On failure nothing stays registered.
bool Cycle::register_to_space(const CompactionPlan& plan) {
  std::vector<AddressRange> ranges;
  for (const Segment& seg : plan.segments()) {
    if (seg.to_space_end() > seg.start) ranges.push_back({seg.start, seg.to_space_end()});
  }
  const BlackBlock& b = plan.block();
  auto append = [&](uint64_t begin, uint64_t end) {
    if (end <= begin) return;
    if (!ranges.empty() && ranges.back().end == begin) {
      ranges.back().end = end;
    } else {
      ranges.push_back({begin, end});
    }
  };
  append(b.dst_begin, b.dst_end());
  append(compaction_->compacted_end(), compaction_->tail_end());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const int err = heap_.uffd.register_missing(reinterpret_cast<void*>(ranges[i].begin),
                                                ranges[i].end - ranges[i].begin);
    if (err != 0) {
      for (size_t j = 0; j < i; ++j) {
        heap_.uffd.unregister(reinterpret_cast<void*>(ranges[j].begin),
                              ranges[j].end - ranges[j].begin);
      }
      return false;
    }
  }
  registered_ = std::move(ranges);
  return true;
}

// Before the flip pause: userfaultfd (opened once per process) and the compaction's tables,
// so the pause only fills in the black block. Leaves compaction_ empty when either fails (the
// flip pause then finishes the cycle itself).
void Cycle::prepare_compaction() {
  compaction_.reset();
  if (!heap_.uffd.valid()) {
    const uint64_t features =
        UFFD_FEATURE_SIGBUS | (heap_.mode == UFFDGC_MODE_MOVE ? UFFD_FEATURE_MOVE : 0);
    if (heap_.uffd.open(features) != 0) return;
  }
  uffd::InstallerConfig installer;
  installer.uffd = heap_.uffd.fd();
  installer.mode =
      heap_.mode == UFFDGC_MODE_COPY ? uffd::InstallMode::kCopyOnly : uffd::InstallMode::kAuto;
  installer.wake = false;  // SIGBUS mode: nobody sleeps on the range
  // One installer per page (the page-state CAS): an EEXIST our protocol does not explain is a
  // foreign fill, fatal.
  installer.exclusive_destinations = true;
  installer.counters = &heap_.install_counters;
  installer.injector = heap_.fault_injector;
  compaction_ = std::make_unique<ConcurrentCompaction>(*plan_, installer,
                                                       heap_.moving.from_space_delta(),
                                                       heap_.moving.limit());
  if (!compaction_->ok()) {
    compaction_.reset();
    return;
  }
  // mlock (issue #11 §4). MOVE refuses (EINVAL) a source and destination that differ in
  // VM_LOCKED, and the flip's mremap(MREMAP_DONTUNMAP) leaves exactly that: the from-space
  // keeps the moving space's VM_LOCKED, the emptied to-space loses it. Falling back to COPY
  // would work but give up MOVE for good in such a process; refusing MOVE at creation would
  // not see an mlockall() that comes later; unlocking the from-space would drop the lock the
  // process asked for. So the flip pause locks the moving space again (mlock2 MLOCK_ONFAULT:
  // the to-space must stay empty for userfaultfd; each page is locked as it is installed).
  // MOVE's only sources are recycled from-space pages (our own buffers are copied from), so
  // both sides then match. Asked every cycle, so a heap created before mlockall() follows it,
  // and one after munlockall() too. A lock state that changes under a running cycle meets
  // the installer's EINVAL check (a COPY of the page tells a refused MOVE from a range that
  // is gone).
  compaction_->set_locked(heap_.moving.locked());
}

// Pause 3 (design: .cycle.flip). World stopped, heap lock held. Reads and writes no heap page
// of the moving space; the only heap words it writes are the slots it was told about: those
// of non-moving objects that refer into the sliding region.
void Cycle::flip_pause() {
  enter(Phase::kFlip);
  CompactionPlan& plan = *plan_;
  // No userfaultfd or no memory for the tables; or another SIGBUS handler was installed over
  // ours since the heap was created (every fault on the to-space would crash the process).
  const bool signals_routed = (heap_.config.flags & UFFDGC_HEAP_EXTERNAL_SIGNALS) != 0 ||
                              faults_delivered();
  if (compaction_ == nullptr || !signals_routed) {
    finish_in_flip_pause();
    return;
  }
  // Everything allocated up to now joins the black block; fillers owed inside it are written
  // into the from-space after the flip.
  const uint64_t flip_top = heap_.mutators.cut_allocation();
  plan.set_block(flip_top, block_index_);
  if (plan.segments().empty() && plan.block().delta() == 0) {
    flip_in_place(plan, flip_top);
    return;
  }
  block_fillers_.swap(heap_.pending_fillers);
  forwarded_starts_ =  // the old starts, freed after the pause
      heap_.starts.replace(region_begin_, std::move(forwarded_starts_), black_begin_,
                           plan.block().delta());
  forward_slots_at_flip(plan);
  if (young_) forward_remembered_at_flip(plan, flip_top);
  update_roots(plan, marker_.get());
  end_barrier();

  std::vector<AddressRange> moved = sliding_ranges(plan, flip_top);
  const uint64_t remap_start = os::monotonic_ns();
  remap_sliding_ranges(moved, flip_top);
  // The moving space lost VM_LOCKED to the from-space: locked again, on fault
  // (prepare_compaction, MovingSpace::relock). Should that fail, this cycle copies (COPY does
  // not compare VM_LOCKED).
  if (compaction_->locked() && heap_.moving.relock() != 0) compaction_->use_copy();
  give_compaction_the_free_space(plan, std::move(moved), flip_top);
  if (!publish_compaction(compaction_.get())) {
    fprintf(stderr, "uffdgc: the fault handler's table of compactions is full\n");
    abort();  // roots already point to post-compaction addresses
  }
  const bool registered = register_to_space(plan);
  heap_.stats.flip_ns_last = os::monotonic_ns() - remap_start;
  // Tails of segments that end below an island: fillers on empty, unregistered pages.
  for (const Segment& seg : plan.segments()) {
    if (seg.tail_end > seg.to_space_end()) {
      heap_.pending_fillers.emplace_back(seg.to_space_end(), seg.tail_end);
    }
  }
  heap_.moving.set_top(plan.block().dst_end());
  heap_.stats.pages_compacted_last =
      plan.pages() + (plan.block().dst_end() - plan.block().dst_begin) / kPageSize;
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  count_cycle_kind();
  // Everything below the new top is old, the black block included (design: .cycle.young.concurrent).
  if (heap_.generational) promote(plan.block().dst_end());
  if (!registered) produce_everything_in_flip_pause(plan, flip_top);
}

// Nothing slides (a young generation promoted in place, or everything below the black block
// pinned): every reference keeps its value, so nothing is remapped, registered or produced.
// The fillers owed stay pending: the GC thread writes them after the pause (finish_in_place).
// update_roots still runs: the embedder's weak tables learn which entries died.
void Cycle::flip_in_place(const CompactionPlan& plan, uint64_t flip_top) {
  forwarded_starts_ =
      heap_.starts.replace(region_begin_, std::move(forwarded_starts_), black_begin_, 0);
  update_roots(plan, marker_.get());
  end_barrier();
  heap_.stats.pages_compacted_last = 0;
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  count_cycle_kind();
  if (in_place_) ++heap_.stats.young_promoted_in_place;
  if (heap_.generational) promote(flip_top);
  finished_in_pause_ = flipped_in_place_ = true;
}

// After flip_in_place, on the GC thread: the fillers, then (test builds) the verifier.
void Cycle::finish_in_place() {
  {
    std::lock_guard<std::mutex> lock(heap_.lock);
    heap_.flush_pending_fillers();
  }
  verify_after_cycle();
}

// The slots the scan found and the ones stored since (logged by the barrier), each forwarded
// once. Slots of objects that slide are rewritten when their page is produced instead.
void Cycle::forward_slots_at_flip(const CompactionPlan& plan) {
  std::vector<uffdgc_ref*> logged;
  heap_.mutators.append_logged_slots(logged);
  logged.insert(logged.end(), heap_.cycle.orphan_slots.begin(), heap_.cycle.orphan_slots.end());
  std::sort(logged.begin(), logged.end());
  logged.erase(std::unique(logged.begin(), logged.end()), logged.end());
  // In a young cycle an object-space slot holding a young value is remembered too: the
  // remembered set forwards it (forward_remembered_at_flip), and old slots do not slide.
  auto non_sliding = [&](uffdgc_ref* slot) {
    const auto where = reinterpret_cast<uint64_t>(slot);
    return heap_.moving.in_reservation(where) ? plan.in_island(where) : !young_;
  };
  // A scanned slot still holding what the scan saw gets the precomputed value; one stored to
  // since is in the log and forwarded from its current value (exactly once either way).
  size_t next_logged = 0;
  for (const SlotUpdate& u : scanned_slots_) {
    while (next_logged < logged.size() && logged[next_logged] < u.slot) ++next_logged;
    if (next_logged < logged.size() && logged[next_logged] == u.slot) continue;
    if (*u.slot == u.old_value) *u.slot = u.new_value;
  }
  for (uffdgc_ref* slot : logged) {
    if (non_sliding(slot)) *slot = plan.forward(*slot);
  }
}

// Everything that slides: the segments and the black block, merged where adjacent.
std::vector<AddressRange> Cycle::sliding_ranges(const CompactionPlan& plan, uint64_t flip_top) const {
  std::vector<AddressRange> moved;
  for (const Segment& seg : plan.segments()) moved.push_back({seg.start, align_up(seg.end, kPageSize)});
  if (flip_top > black_begin_) {
    if (!moved.empty() && moved.back().end == black_begin_) {
      moved.back().end = flip_top;
    } else {
      moved.push_back({black_begin_, flip_top});
    }
  }
  return moved;
}

// mremaps the sliding ranges to the from-space. A last range that ends at flip_top (no island
// above it) reaches up to the next 1 GiB boundary: nothing lives above flip_top, and mremap
// then moves whole PUD entries there instead of one PMD per 2 MiB (measured: 70 us for a
// 434 MiB black block, design: .cycle.flip.order). Should the kernel refuse the longer range (it
// must lie in one mapping), the exact one is flipped. `moved` gets the ends flipped.
void Cycle::remap_sliding_ranges(std::vector<AddressRange>& moved, uint64_t flip_top) {
  for (size_t i = 0; i < moved.size(); ++i) {
    AddressRange& r = moved[i];
    const uint64_t exact_end = r.end;
    if (i + 1 == moved.size() && r.end >= flip_top) r.end = heap_.moving.pud_aligned_end(r.end);
    int err = remap_range(r.begin, r.end);
    if (err != 0 && r.end != exact_end) {
      r.end = exact_end;
      err = remap_range(r.begin, r.end);
    }
    if (err != 0) {
      abort_on_remap_failure("flip", r.begin, r.end, err, i, moved.size(),
                            "roots already point to the compacted heap, aborting");
    }
  }
}

// The free pages the flip emptied above the compacted end are registered with the to-space
// and handed out zero-filled (within the space's usable part). Free from-space is recycled
// into the free pages the heap will allocate up to the next flip, and at least up to where
// the next cycle is due; beyond that it goes back to the kernel. The next interval between
// flips is estimated as the longer of the last two: cycles that run back to back alternate
// (one cycle's allocation during compaction makes the next one's black block).
void Cycle::give_compaction_the_free_space(const CompactionPlan& plan,
                                           std::vector<AddressRange> moved, uint64_t flip_top) {
  const uint64_t tail_end = !moved.empty() && moved.back().end >= flip_top
                                ? std::min(moved.back().end, heap_.moving.limit())
                                : 0;
  compaction_->cover_block(std::move(moved));
  const uint64_t new_top = plan.block().dst_end();
  const uint64_t next_due = heap_.collection_due_at(new_top);
  const uint64_t allocated = heap_.stats.bytes_allocated - heap_.bytes_allocated_at_flip;
  const uint64_t per_cycle = std::max(allocated, heap_.bytes_allocated_flip_before);
  heap_.bytes_allocated_flip_before = allocated;
  heap_.bytes_allocated_at_flip = heap_.stats.bytes_allocated;
  compaction_->cover_tail(tail_end, heap_.moving.top_word(),
                          std::max(next_due, new_top + per_cycle));
}

// The to-space could not be registered: nothing can fault into an unregistered empty range,
// so this pause produces all of it.
void Cycle::produce_everything_in_flip_pause(CompactionPlan& plan, uint64_t flip_top) {
  withdraw_compaction(compaction_.get());
  compaction_.reset();
  write_fillers(block_fillers_, heap_.moving.from_space_delta());
  plan.index_block(indexed_to_, flip_top, heap_.moving.from_space_delta(), block_index_);
  plan.publish_block_index();
  heap_.flush_pending_fillers();
  compact(plan);
  ++heap_.stats.flips_finished_in_pause;
  finished_in_pause_ = true;
}

// Concurrent compaction (design: .cycle.compaction), on the GC thread: index the rest of the
// black block, produce every page still missing, unregister, drain the fault handlers, then
// (test builds) verify with the world stopped.
// The GC thread's walk from the top (ConcurrentCompaction::run_gc_thread) and, with
// gc_threads > 1, that many - 1 helpers producing runs from the bottom up
// (ConcurrentCompaction::assist) until the two meet. The GC thread's walk ends only once every
// page is installed, so no helper reads the from-space after it is released. Returns the
// helpers' CPU time.
uint64_t Cycle::produce_pages_in_parallel() {
  std::vector<std::thread> helpers;
  std::atomic<uint64_t> helpers_cpu{0};
  for (uint32_t i = 1; i < heap_.config.gc_threads; ++i) {
    try {
      helpers.emplace_back([this, &helpers_cpu] {
        const uint64_t cpu_start = os::thread_cpu_ns();
        constexpr size_t kBytes = ConcurrentCompaction::kRunPages * kPageSize;
        std::unique_ptr<uint8_t, decltype(&std::free)> buffer(
            static_cast<uint8_t*>(std::aligned_alloc(kPageSize, kBytes)), &std::free);
        bool ok = true;
        uffd::InstallResult failure;
        while (buffer != nullptr && compaction_->assist(buffer.get(), &ok, &failure) && ok) {
        }
        if (!ok) uffd::abort_on_install_failure(failure);
        helpers_cpu.fetch_add(os::thread_cpu_ns() - cpu_start, std::memory_order_relaxed);
      });
    } catch (const std::system_error&) {
      break;  // no thread: the GC thread produces the pages alone
    }
  }
  uffd::InstallResult failure;
  if (!compaction_->run_gc_thread(&failure)) uffd::abort_on_install_failure(failure);
  for (std::thread& t : helpers) t.join();
  return helpers_cpu.load(std::memory_order_relaxed);
}

void Cycle::compact_concurrently() {
  enter(Phase::kConcurrentCompact);
  const uint64_t start = os::monotonic_ns();
  CompactionPlan& plan = *plan_;
  write_fillers(block_fillers_, heap_.moving.from_space_delta());
  // Faults on block pages wait only until the index has passed their source page.
  plan.index_block(
      indexed_to_, plan.block().src_end, heap_.moving.from_space_delta(), block_index_,
      [](void* c) { static_cast<ConcurrentCompaction*>(c)->announce_progress(); },
      compaction_.get());
  plan.publish_block_index();
  {
    std::lock_guard<std::mutex> lock(heap_.lock);
    heap_.flush_pending_fillers();
  }
  if ((heap_.config.flags & UFFDGC_HEAP_NO_SWAP_PREFETCH) == 0) compaction_->enable_prefetch();
  const uint64_t helpers_cpu = produce_pages_in_parallel();
  for (const AddressRange& r : registered_) {
    heap_.uffd.unregister(reinterpret_cast<void*>(r.begin), r.end - r.begin);
  }
  withdraw_compaction(compaction_.get());
  for (const AddressRange& r : compaction_->remapped()) heap_.moving.release_from_space(r.begin, r.end);
  const uint64_t elapsed = os::monotonic_ns() - start;
  {
    std::lock_guard<std::mutex> lock(heap_.lock);
    heap_.stats.compaction_ns_last = elapsed;
    heap_.stats.gc_cpu_ns_total += helpers_cpu;
    heap_.stats.gc_cpu_ns_compact += helpers_cpu;
    heap_.stats.pages_by_mutators += compaction_->pages_by_mutators();
    heap_.stats.pages_by_assists += compaction_->pages_by_assists();
    heap_.stats.pages_recycled += compaction_->pages_recycled();
    heap_.stats.free_pages_prefilled += compaction_->free_pages_prefilled();
    heap_.stats.free_pages_recycled += compaction_->free_pages_recycled();
    heap_.stats.free_pages_by_mutators += compaction_->free_pages_by_mutators();
    heap_.stats.gc_cpu_ns_free_fill += compaction_->free_fill_cpu_ns();
    heap_.stats.prefetch_pages += compaction_->pages_prefetched();
    heap_.stats.prefetch_paused += compaction_->prefetch_pauses();
    heap_.stats.rss_peak_last = compaction_->peak_rss();
    for (int i = 0; i < ConcurrentCompaction::kStallBuckets; ++i) {
      heap_.stats.stalls_log2_us[i] += compaction_->stall_count(i);
    }
  }
  verify_after_cycle();
  compaction_.reset();
}

// Test builds: the whole heap, with the world stopped, against what marking found.
void Cycle::verify_after_cycle() {
  if (!heap_.verify()) return;
  enter(Phase::kVerify);
  Pause world_stopped(*this, nullptr);  // not a pause of the cycle: test builds only
  world_stopped.lock_heap();
  heap_.flush_pending_fillers();
  heap_.mutators.retire_tlabs();
  VerifyExpectations expect;
  expect.plan = plan_.get();
  expect.marked_moving_bytes = marker_->marked_moving_bytes();
  expect.concurrent = true;
  expect.young_begin = young_ ? region_begin_ : 0;
  verify_heap(heap_, expect);
}

}  // namespace uffdgc::gc
