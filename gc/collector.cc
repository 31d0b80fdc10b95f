#include "gc/collector.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "gc/compact/concurrent_compaction.h"
#include "gc/cycle.h"
#include "gc/heap_geometry.h"
#include "gc/no_unwind.h"
#include "gc/space/filler.h"
#include "os/uffd/signal_safe_format.h"
#include "gc/verify.h"
#include "os/clock.h"
#include "os/resource_usage.h"
#include "gc/compact/fault_router.h"

namespace uffdgc::gc {

// Events are recorded during the pause and handed to the listener at its end, after the heap
// lock is released but before the world resumes: a listener that takes locks of its own, which
// it also holds while calling uffdgc, cannot deadlock with the collector.
void Cycle::enter(Phase next) {
  if (kCheckedBuild || heap_.verify()) check_phase_change(next);
  phase_ = next;
  if (phase_reported(next)) event(UFFDGC_EVENT_PHASE, phase_name(next));
}

// What mutators see changes at pause 1 (to kConcurrentMark), at the end of marking (kWeak) and
// at the flip (kIdle): every phase of the cycle implies one of the three.
void Cycle::check_phase_change(Phase next) const {
  Phase shared = Phase::kIdle;
  switch (next) {
    case Phase::kConcurrentMark:
    case Phase::kMarkEnd:
      shared = Phase::kConcurrentMark;
      break;
    case Phase::kWeak:
    case Phase::kPlan:
      shared = heap_.concurrent() ? Phase::kWeak : Phase::kIdle;
      break;
    case Phase::kFlip:
    case Phase::kFlipStw:
      shared = Phase::kWeak;
      break;
    default:
      break;
  }
  const Phase seen = heap_.cycle.phase.load(std::memory_order_seq_cst);
  if (phase_may_follow(phase_, next) && seen == shared) return;
  fprintf(stderr, "uffdgc: cycle %llu goes from phase %s to %s while mutators see %s\n",
          static_cast<unsigned long long>(cycle_), phase_name(phase_), phase_name(next),
          phase_name(seen));
  abort();
}

void Cycle::event(uint32_t kind, const char* phase, uint64_t pause_ns) {
  if (events_count_ == kMaxEvents) return;
  uffdgc_event& e = events_[events_count_++];
  e = {};
  e.struct_size = sizeof(e);
  e.kind = kind;
  e.cycle = cycle_;
  e.time_ns = os::monotonic_ns();
  e.phase = phase;
  e.bytes_before = bytes_before_;
  // Only CYCLE_END reports the heap's size: it is recorded in a pause, with the heap lock held
  // (phase events of a concurrent cycle are recorded on the GC thread while mutators run).
  if (kind == UFFDGC_EVENT_CYCLE_END) {
    e.bytes_after = heap_.moving.used() + heap_.objects.bytes(ObjectKind::kNonMoving) +
                    heap_.objects.bytes(ObjectKind::kLarge);
  }
  e.pause_ns = pause_ns;
  e.cycle_kind = young_ ? UFFDGC_CYCLE_YOUNG : UFFDGC_CYCLE_FULL;
}

void Cycle::deliver_events() {
  std::lock_guard<std::mutex> lock(heap_.event_lock);
  if (heap_.event_fn == nullptr) {
    events_count_ = 0;
    return;
  }
  enter_event_listener();
  for (size_t i = 0; i < events_count_; ++i) heap_.event_fn(&events_[i], heap_.event_arg);
  leave_event_listener();
  events_count_ = 0;
}

void Cycle::scan_embedder_roots(void (*fn)(uffdgc_root_visitor*, uffdgc_ref*), void* ctx) {
  if (!heap_.config.has_embedder || heap_.config.embedder.scan_roots == nullptr) return;
  uffdgc_root_visitor v{fn, ctx};
  heap_.config.embedder.scan_roots(&v, heap_.config.embedder.vm);
}

std::vector<uffdgc_ref> Cycle::pinned_refs() {
  std::vector<uffdgc_ref> pins;
  pins.reserve(heap_.pins.size());
  for (const auto& [ref, count] : heap_.pins) pins.push_back(ref);
  return pins;
}

// Greys the roots: sets their mark bits and pushes them; tracing is the caller's (drain).
void Cycle::mark_roots(Marker& marker) {
  for_each_root([&](uffdgc_ref* slot) {
    marker.mark(__atomic_load_n(slot, __ATOMIC_RELAXED), slot);
  });
  for (const auto& [ref, count] : heap_.pins) marker.mark(ref);
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        static_cast<Marker*>(self->ctx)->mark(*slot, slot);
      },
      &marker);
}

void Cycle::process_embedder_weak(Marker& marker) {
  if (!heap_.config.has_embedder || heap_.config.embedder.process_weak == nullptr) return;
  uffdgc_weak_ctx ctx{&marker, nullptr};
  for (int round = 0; round < 1000; ++round) {
    const int again = heap_.config.embedder.process_weak(&ctx, heap_.config.embedder.vm);
    marker.drain();
    if (again == 0) break;
  }
}

// Weak containers: a slot whose referent was not marked is cleared (design: .embedder.weak).
// Holders recorded from `from_holder` on. In a concurrent cycle mutators run
// meanwhile: the slot is cleared only if it still holds the dead referent (a mutator can only
// store live references, and its weak loads already see 0 for a dead one).
void Cycle::clear_dead_weak_slots(Marker& marker, size_t from_holder) {
  const auto& holders = marker.weak_holders();
  for (size_t i = from_holder; i < holders.size(); ++i) {
    for_each_slot(holders[i], [&](uffdgc_ref* slot) {
      uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
      marker.check_reference(v, slot);  // weak slots are never marked through
      if (v != 0 && !marker.is_live_reference(v) &&
          __atomic_compare_exchange_n(slot, &v, uffdgc_ref{0}, false, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
        ++weak_cleared_;
      }
    });
  }
}

// Unreachable finalizable objects are kept alive (with what they reach) and queued. The lists
// are taken and given back under the heap lock: mutators allocate finalizable objects and pop
// the queue meanwhile in concurrent cycles.
void Cycle::process_finalization(Marker& marker, bool lock_held) {
  std::unique_lock<std::mutex> lock(heap_.lock, std::defer_lock);
  if (!lock_held) lock.lock();
  std::vector<uffdgc_ref> candidates;
  candidates.swap(heap_.finalizable);
  if (!lock_held) lock.unlock();
  std::vector<uffdgc_ref> still_waiting, ready;
  for (uffdgc_ref r : candidates) {
    if (marker.is_marked(r)) {
      still_waiting.push_back(r);
    } else {
      ready.push_back(r);
      marker.mark(r);
    }
  }
  marker.drain();
  if (!lock_held) lock.lock();
  heap_.finalizable.insert(heap_.finalizable.end(), still_waiting.begin(), still_waiting.end());
  heap_.finalization_ready.insert(heap_.finalization_ready.end(), ready.begin(), ready.end());
  heap_.stats.objects_finalizable_queued += ready.size();
}

// Pinned moving-space objects below `top` stay where they are (design: .embedder.roots): each one's
// pages become an island, widened until no live object straddles its edges, so that only the pinned
// pages stay in place and everything between islands still slides. Dead objects may be cut at an
// island edge: the part inside becomes filler, the part outside is never copied.
std::vector<AddressRange> Cycle::pinned_islands(const std::vector<uffdgc_ref>& pins,
                                                uint64_t top) {
  const uint64_t begin = region_begin_;
  auto size_of = [&](uint64_t obj) {
    return heap_.types.object_size(reinterpret_cast<const void*>(obj));
  };
  // The live object that contains addr, if any.
  auto live_object_at = [&](uint64_t addr, uint64_t* obj_end) -> bool {
    const uint64_t obj = tables_->mark.prev_set(addr, begin);
    if (obj == UINT64_MAX) return false;
    *obj_end = obj + size_of(obj);
    return *obj_end > addr;
  };
  std::vector<AddressRange> islands;
  for (const uffdgc_ref ref : pins) {
    if (ref < begin || ref >= top) continue;
    AddressRange r{align_down(ref, kPageSize), std::min(align_up(ref + size_of(ref), kPageSize),
                                                    align_up(top, kPageSize))};
    for (bool grew = true; grew;) {
      grew = false;
      uint64_t end = 0;
      if (r.begin > begin && live_object_at(r.begin - kWordSize, &end) && end > r.begin) {
        r.begin = align_down(tables_->mark.prev_set(r.begin - kWordSize, begin), kPageSize);
        grew = true;
      }
      if (r.end < top && live_object_at(r.end - kWordSize, &end) && end > r.end) {
        r.end = align_up(end, kPageSize);
        grew = true;
      }
    }
    islands.push_back(r);
  }
  std::sort(islands.begin(), islands.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  std::vector<AddressRange> merged;
  for (const AddressRange& r : islands) {
    if (!merged.empty() && r.begin <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

// The object, live or dead, that starts at addr or contains it: a parse forward from the
// nearest point known to start an object (a live object, or a recorded parse point,
// gc/space/object_starts.h).
uint64_t Cycle::object_containing(uint64_t addr) const {
  const uint64_t begin = region_begin_;
  uint64_t a = heap_.starts.at_or_below(addr, begin);
  const uint64_t live = tables_->mark.prev_set(addr, begin);
  if (live != UINT64_MAX && live > a) a = live;
  for (;;) {
    const uint64_t next = a + heap_.types.object_size(reinterpret_cast<const void*>(a));
    if (next > addr) return a;
    a = next;
  }
}

// Inside an island only the live objects stay: each dead object becomes a filler of its own
// size, so the island parses, no stale reference survives there, and every object start
// (the recorded parse points included) stays one. A dead object cut by an island edge becomes
// two fillers split at the edge (the part outside is never copied): the island parses from
// its first page, and a parse that crosses the edge before the flip (uffdgc_pin's check, heap
// walks) meets an object start where the cut object ended.
void Cycle::fill_dead_in_islands(const std::vector<AddressRange>& islands, uint64_t top) {
  for (const AddressRange& r : islands) {
    const uint64_t end = std::min(r.end, top);
    uint64_t a = r.begin > region_begin_ ? object_containing(r.begin) : r.begin;
    while (a < end) {
      const uint64_t next = a + heap_.types.object_size(reinterpret_cast<const void*>(a));
      if (!tables_->mark.test(a)) {
        uint64_t from = a;
        for (const uint64_t edge : {r.begin, end}) {
          if (from < edge && edge < next) {
            write_filler(from, edge);
            from = edge;
          }
        }
        write_filler(from, next);
      }
      a = next;
    }
  }
}

int Cycle::remap_range(uint64_t begin, uint64_t end) {
  int err = 0;
  if (heap_.fault_injector != nullptr && end > begin && heap_.fault_injector->intercept_mremap(&err)) {
    return err;
  }
  return heap_.moving.remap_to_from_space(begin, end);
}

void Cycle::abort_on_remap_failure(const char* which, uint64_t begin, uint64_t end, int err,
                                   size_t remapped, size_t ranges, const char* consequence) {
  SignalSafeMessage()
      .text("uffdgc: the ")
      .text(which)
      .text(" failed: mremap(MREMAP_DONTUNMAP) of [")
      .hex(begin)
      .text(", ")
      .hex(end)
      .text(") returned ")
      .errno_name(err)
      .text(" with ")
      .dec(static_cast<int64_t>(remapped))
      .text(" of ")
      .dec(static_cast<int64_t>(ranges))
      .text(" ranges flipped: ")
      .text(consequence)
      .write_to(2);
  abort();
}

// Moves every segment's pages to the from-space; islands stay. The segments are remapped one
// mremap each: once one has moved, a failure leaves the heap half in the from-space with no
// way back that could not fail the same way (an mremap back), so it aborts, saying where. In
// a process that locked its memory (mlockall) the moving space is locked again:
// MREMAP_DONTUNMAP clears VM_LOCKED on it (MovingSpace::relock).
int Cycle::remap_to_from_space(const CompactionPlan& plan, bool may_give_up) {
  const bool locked = heap_.moving.locked();
  const std::vector<Segment>& segments = plan.segments();
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t begin = segments[i].start, end = align_up(segments[i].end, kPageSize);
    if (const int err = remap_range(begin, end); err != 0) {
      if (i == 0 && may_give_up) return err;
      abort_on_remap_failure("stop-the-world flip", begin, end, err, i, segments.size(),
                            i == 0 ? "the cycle cannot be left unfinished, aborting"
                                   : "the heap is half flipped, aborting");
    }
  }
  if (locked) {
    // mlockall(MCL_CURRENT) populated the whole reservation; nothing above the top is in use
    // (the concurrent flip moves it to the from-space, which is released, but this one stops
    // at the last segment). Then locked again, on fault (best effort: nothing here compares
    // VM_LOCKED).
    heap_.moving.discard_above(plan.segments().empty() ? heap_.moving.top()
                                                       : std::max(heap_.moving.top(),
                                                                  segments.back().end));
    heap_.moving.relock();
  }
  return 0;
}

// A segment's tail beyond its last to-space page gets a filler: its first word lies on an
// empty page that is not registered. The last page's share is written by compact_page.
void Cycle::fill_segment_tails(const CompactionPlan& plan) {
  for (const Segment& seg : plan.segments()) {
    if (seg.tail_end > seg.to_space_end()) write_filler(seg.to_space_end(), seg.tail_end);
  }
}

// Produces every to-space page (segments and black block) with the world stopped, straight
// into the empty to-space, with gc_threads workers.
void Cycle::compact(const CompactionPlan& plan) {
  std::vector<uint64_t> pages;
  pages.reserve(plan.pages());
  for (const Segment& seg : plan.segments()) {
    for (uint64_t p = seg.start; p < seg.to_space_end(); p += kPageSize) pages.push_back(p);
  }
  for (uint64_t p = plan.block().dst_begin; p < plan.block().dst_end(); p += kPageSize) {
    pages.push_back(p);
  }
  uint32_t workers = std::max<uint32_t>(1, heap_.config.gc_threads);
  workers = static_cast<uint32_t>(
      std::min<uint64_t>(workers, std::max<uint64_t>(1, pages.size() / 64)));
  std::atomic<uint64_t> next{0};
  auto work = [&] {
    for (uint64_t i = next.fetch_add(1); i < pages.size(); i = next.fetch_add(1)) {
      plan.compact_page(pages[i], reinterpret_cast<uint8_t*>(pages[i]));
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(workers);
  for (uint32_t i = 1; i < workers; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {  // no thread to be had: fewer workers
      break;
    }
  }
  work();
  for (auto& h : helpers) h.join();
  for (const Segment& seg : plan.segments()) {
    heap_.moving.release_from_space(seg.start, align_up(seg.end, kPageSize));
  }
  heap_.moving.release_from_space(plan.block().src_begin, plan.block().src_end);
}

// Where the parse points (heap_.starts, gc/space/object_starts.h) below `end` land when `plan`
// compacts: for each, the first live object at or above it, forwarded. Ascending, like the
// starts: sliding keeps the order of what it moves. A start with no live object above it
// below `end` has no successor. Reads the mark bitmap and the plan only.
std::deque<uint64_t> Cycle::forward_starts(const std::vector<uint64_t>& starts,
                                           const CompactionPlan& plan, uint64_t end) {
  std::deque<uint64_t> forwarded;
  uint64_t live = 0;  // the first live object at or above the previous start
  for (const uint64_t start : starts) {
    if (start >= end) break;
    // Nothing is live in [previous start, live): a start in there has the same successor.
    if (start > live) live = tables_->mark.next_set(start, end);
    if (live >= end) break;
    const uint64_t to = plan.forward(live);
    if (forwarded.empty() || forwarded.back() != to) forwarded.push_back(to);
  }
  return forwarded;
}

// allocated_meanwhile: the cycle ran concurrently before (objects were allocated since
// marking began, in the object spaces too), so the verifier checks the moving space only.
uffdgc_result Cycle::compact_stop_the_world(const CompactionPlan& plan, const Marker& marker,
                                            bool allocated_meanwhile) {
  enter(Phase::kCompact);
  heap_.stats.pages_compacted_last = plan.pages();
  if (const int err = remap_to_from_space(plan, /*may_give_up=*/!allocated_meanwhile); err != 0) {
    // The first mremap failed: nothing moved, the collection is abandoned with the heap as it
    // was (dead objects stay until the next collection).
    SignalSafeMessage()
        .text("uffdgc: mremap(MREMAP_DONTUNMAP) of the moving space failed before anything was "
              "flipped: ")
        .errno_name(err)
        .text("; the collection is abandoned, the heap unchanged")
        .write_to(2);
    return UFFDGC_EINTERNAL;
  }
  fill_segment_tails(plan);
  // Parse points below the region (the old generation's, in a young cycle) stay as they are.
  const std::deque<uint64_t> starts =
      forward_starts(heap_.starts.from(region_begin_), plan, plan.block_src_begin());
  compact(plan);
  enter(Phase::kUpdate);
  update_references(plan, &marker);
  heap_.moving.set_top(plan.new_top());
  heap_.starts.replace_from(region_begin_, starts);
  if (heap_.verify()) {
    enter(Phase::kVerify);
    VerifyExpectations expect;
    expect.plan = &plan;
    expect.marked_moving_bytes = marker.marked_moving_bytes();
    expect.marked_bytes = marker.marked_bytes();
    expect.concurrent = allocated_meanwhile;
    expect.young_begin = young_ ? region_begin_ : 0;
    verify_heap(heap_, expect);
  }
  if (heap_.generational) promote(plan.new_top());
  return UFFDGC_OK;
}

// Roots, the finalization lists and the embedder's roots and weak tables: everything that
// refers into the heap from outside it.
void Cycle::update_roots(const CompactionPlan& plan, const Marker* marker) {
  // Pinned objects never move (they sit in an island or an object space), so the pin table
  // needs no update.
  auto update = [&](uffdgc_ref* slot) { *slot = plan.forward(*slot); };
  // A global may be set at any time by a thread that is not a running mutator (uffdgc.h): its
  // store wins over the rewrite, never the other way round.
  auto update_global = [&](uffdgc_ref* slot) {
    uffdgc_ref v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    __atomic_compare_exchange_n(slot, &v, plan.forward(v), false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
  };
  for_each_root(update, update_global);
  for (uffdgc_ref& r : heap_.finalizable) r = plan.forward(r);
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        *slot = static_cast<const CompactionPlan*>(self->ctx)->forward(*slot);
      },
      const_cast<CompactionPlan*>(&plan));  // the visitor's ctx is void*; only read
  if (heap_.config.has_embedder && heap_.config.embedder.update_weak != nullptr) {
    // uffdgc_weak_is_live answers for the slots' current values (a concurrent cycle's mutators
    // may have stored since process_weak ran); retaining is no longer possible.
    uffdgc_weak_ctx ctx{const_cast<Marker*>(marker), &plan};
    ctx.retain_allowed = false;
    heap_.config.embedder.update_weak(&ctx, heap_.config.embedder.vm);
  }
}

// Stop-the-world: the roots and every object that does not slide (islands, object spaces; in a
// young cycle, instead of the object spaces and the old generation, the remembered slots).
void Cycle::update_references(const CompactionPlan& plan, const Marker* marker) {
  update_roots(plan, marker);
  if (plan.segments().empty()) return;  // nothing moved (stop-the-world: no black block)
  auto update = [&](uffdgc_ref* slot) { *slot = plan.forward(*slot); };
  for (const AddressRange& r : plan.islands()) {
    const uint64_t end = std::min(r.end, plan.block_src_begin());
    for (uint64_t a = tables_->mark.next_set(r.begin, end); a < end;
         a = tables_->mark.next_set(a + kWordSize, end)) {
      for_each_slot(a, update);
    }
  }
  if (young_) {
    update_remembered(plan);
  } else {
    heap_.objects.for_each([&](uint64_t ref, const ObjectPrefix&) { for_each_slot(ref, update); });
  }
}

Cycle::Pause::Pause(Cycle& cycle, uffdgc_mutator* requester)
    : cycle_(cycle),
      tts_ns_(cycle.heap_.mutators.stop_the_world(requester)),
      start_ns_(os::monotonic_ns() - tts_ns_),
      major_faults_start_(os::thread_major_faults()),
      lock_(cycle.heap_.lock, std::defer_lock) {}

void Cycle::Pause::begin() {
  begun_ = true;
  cycle_.event(UFFDGC_EVENT_PAUSE_BEGIN);
}

// Every pause ends the same way: statistics, the lock, the listener, then the world resumes.
Cycle::Pause::~Pause() {
  if (begun_) {
    uffdgc_heap_stats& stats = cycle_.heap_.stats;
    const uint64_t pause = os::monotonic_ns() - start_ns_;
    stats.pause_major_faults += os::thread_major_faults() - major_faults_start_;
    stats.pause_ns_last = pause;
    stats.pause_ns_total += pause;
    stats.pause_ns_max = std::max(stats.pause_ns_max, pause);
    ++stats.pauses;
    stats.time_to_safepoint_ns_max = std::max(stats.time_to_safepoint_ns_max, tts_ns_);
    if (ends_cycle_) cycle_.event(UFFDGC_EVENT_CYCLE_END);
    cycle_.event(UFFDGC_EVENT_PAUSE_END, nullptr, pause);
  }
  if (lock_.owns_lock()) lock_.unlock();
  if (begun_) cycle_.deliver_events();
  cycle_.heap_.mutators.resume_the_world();
}

// Weak slots, finalization and the sweep of the object spaces, once marking is complete: the
// same sequence in every mode (in stw mode inside the pause, else with mutators running).
// Weak slots whose referent is dead are cleared before finalization keeps referents alive, and
// the holders finalization resurrects are cleared after it.
void Cycle::reclaim(Marker& marker, bool lock_held) {
  const size_t holders_before_finalization = marker.weak_holders().size();
  clear_dead_weak_slots(marker, 0);
  process_finalization(marker, lock_held);
  clear_dead_weak_slots(marker, holders_before_finalization);
  std::unique_lock<std::mutex> lock(heap_.lock, std::defer_lock);
  if (!lock_held) lock.lock();
  heap_.stats.weak_slots_cleared += weak_cleared_;
  heap_.stats.live_bytes_last = marker.marked_bytes();
  // A young cycle marks no object-space object: they are old (design: .cycle.young).
  if (!young_) heap_.objects.sweep(heap_.mark_epoch);
}

// The whole cycle in one pause (stw mode, design: .cycle.stw).
// The plan for sliding all of the moving space below `top` in this pause, pinned islands kept:
// the stop-the-world cycle's and the flip pause's when it finishes the cycle itself.
// A generational heap's plan ends on a page boundary: the young generation starts on one.
// in_place: the whole region is one island (a dense young generation, design:
// .cycle.young.dense): nothing slides, the dead objects become fillers.
CompactionPlan Cycle::plan_whole_space(uint64_t top, bool in_place) {
  const std::vector<AddressRange> islands =
      in_place ? std::vector<AddressRange>{{region_begin_, align_up(top, kPageSize)}}
               : pinned_islands(pinned_refs(), top);
  fill_dead_in_islands(islands, top);
  return CompactionPlan(heap_.types, *tables_, region_begin_, top, islands,
                        heap_.moving.from_space_delta(), /*pad_last=*/heap_.generational);
}

uffdgc_result Cycle::collect_stop_the_world() {
  const uint64_t begin = region_begin_;
  const uint64_t top = heap_.moving.top();
  if (!tables_->allocate(begin, std::max<uint64_t>(top - begin, kPageSize))) return UFFDGC_ENOMEM;
  const uint64_t cpu_start = os::thread_cpu_ns();
  Marker marker(heap_, *tables_, young_);
  enter(Phase::kMark);
  heap_.flush_pending_fillers();
  if (heap_.generational) gather_remembered();
  marker.learn_object_starts();
  mark_roots(marker);
  if (young_) mark_remembered(marker, top, /*lock_held=*/true);
  marker.drain();
  const uint64_t cpu_marked = os::thread_cpu_ns();
  heap_.stats.gc_cpu_ns_mark += cpu_marked - cpu_start;
  enter(Phase::kWeak);
  process_embedder_weak(marker);
  reclaim(marker, /*lock_held=*/true);
  enter(Phase::kPlan);
  const bool in_place = young_ && young_generation_dense(marker, top);
  if (in_place) ++heap_.stats.young_promoted_in_place;
  const CompactionPlan plan = plan_whole_space(top, in_place);
  const uint64_t cpu_planned = os::thread_cpu_ns();
  heap_.stats.gc_cpu_ns_reclaim += cpu_planned - cpu_marked;
  const uffdgc_result result = compact_stop_the_world(plan, marker);
  heap_.stats.gc_cpu_ns_compact += os::thread_cpu_ns() - cpu_planned;
  return result;
}

void Cycle::assist_previous_compaction() {
  if (requester_ == nullptr || !heap_.concurrent()) return;
  constexpr size_t kBytes = ConcurrentCompaction::kRunPages * kPageSize;
  std::unique_ptr<uint8_t, decltype(&std::free)> buffer(
      static_cast<uint8_t*>(std::aligned_alloc(kPageSize, kBytes)), &std::free);
  if (buffer == nullptr) return;  // no memory: just wait
  const uint64_t lo = heap_.moving.begin(), hi = heap_.moving.limit();
  while (heap_.gc_thread.busy() && assist_compaction(lo, hi, buffer.get())) {
    heap_.mutators.poll(requester_);
  }
}

// The cycle's spine (design: .cycle.phases): pause 1, then either the whole cycle in it (stw
// mode) or the concurrent phases on the GC thread (concurrent_cycle.cc) while the requester
// waits for the flip.
uffdgc_result Cycle::run(uint64_t unless_after) {
  const bool triggered = unless_after != kAlwaysCollect;
  // A trigger while a concurrent cycle runs: that cycle is the collection it asks for.
  if (triggered && heap_.gc_thread.busy()) return UFFDGC_OK;
  if (heap_.concurrent() && !map_cycle_tables()) return UFFDGC_ENOMEM;
  const uint64_t rss_before = os::resident_bytes();
  std::optional<Pause> pause;
  if (!stop_for_first_pause(triggered, pause)) return UFFDGC_OK;
  pause->lock_heap();
  // Another thread completed a collection since the trigger: this one is not needed.
  if (triggered && heap_.stats.collections != unless_after) return UFFDGC_OK;
  begin_cycle(pause->start_ns(), rss_before);
  pause->begin();
  if (!heap_.concurrent()) return collect_in_one_pause(*pause);
  const bool submitted = start_marking(*pause);
  pause.reset();
  return wait_for_flip(submitted, triggered);
}

// Stops the world once no earlier cycle's concurrent part runs; false (nothing stopped) when a
// trigger finds one running.
bool Cycle::stop_for_first_pause(bool triggered, std::optional<Pause>& pause) {
  for (;;) {
    if (triggered && heap_.gc_thread.busy()) return false;
    if (heap_.gc_thread.busy()) {
      // A previous cycle is still running its concurrent phases: help its compaction while
      // it has pages left to take, then wait parked (its pauses need this thread stopped).
      assist_previous_compaction();
      heap_.mutators.park(requester_);
      heap_.gc_thread.wait_idle();
      heap_.mutators.unpark(requester_);
    }
    pause.emplace(*this, requester_);
    if (!heap_.gc_thread.busy()) return true;
    // Another thread's cycle started its concurrent phase while we waited to stop the world:
    // let it finish first (only a stopper submits work, so this cannot repeat forever).
    pause.reset();
  }
}

// The cycle's number and its starting figures. Pause 1, heap lock held.
void Cycle::begin_cycle(uint64_t start_ns, uint64_t rss_before) {
  cycle_ = heap_.stats.collections + 1;
  cycle_start_ns_ = start_ns;
  young_ = choose_young();
  region_begin_ = young_ ? heap_.old_end.load(std::memory_order_relaxed) : heap_.moving.begin();
  heap_.stats.rss_before_last = heap_.stats.rss_peak_last = rss_before;
  ++heap_.mark_epoch;
  bytes_before_ = heap_.moving.used() + heap_.objects.bytes(ObjectKind::kNonMoving) +
                  heap_.objects.bytes(ObjectKind::kLarge);
}

// The stw mode's cycle, all inside pause 1.
uffdgc_result Cycle::collect_in_one_pause(Pause& pause) {
  const uint64_t cpu_start = os::thread_cpu_ns();
  const uint64_t kernel_start = os::thread_kernel_ns();
  const uint64_t faults_start = os::thread_minor_faults();
  heap_.mutators.retire_tlabs();
  const uffdgc_result result = collect_stop_the_world();
  if (heap_.generational) heap_.remembered.clear_retired();  // the pause is the whole cycle
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  count_cycle_kind();
  heap_.stats.pause_mark_start_ns_last = heap_.stats.pause_mark_end_ns_last = 0;
  heap_.stats.pause_flip_ns_last = 0;
  heap_.stats.mark_end_rounds_last = 0;
  heap_.stats.cycle_ns_last = os::monotonic_ns() - pause.start_ns();
  heap_.stats.gc_cpu_ns_total += os::thread_cpu_ns() - cpu_start;
  heap_.stats.gc_cpu_ns_kernel += os::thread_kernel_ns() - kernel_start;
  heap_.stats.gc_minor_faults += os::thread_minor_faults() - faults_start;
  heap_.stats.rss_peak_last = heap_.stats.rss_after_last = os::resident_bytes();
  enter(Phase::kIdle);
  pause.end_cycle();
  return result;
}

// After pause 1 of a concurrent cycle: the requester waits, parked, until the flip, so an
// allocation that asked for the collection finds the space; an allocation trigger goes on
// allocating instead. Without a GC thread (pthread_create failed) the requester runs the
// concurrent phases itself.
uffdgc_result Cycle::wait_for_flip(bool submitted, bool triggered) {
  if (submitted && triggered) return UFFDGC_OK;
  heap_.mutators.park(requester_);
  if (!submitted) concurrent_phases();
  {
    std::unique_lock<std::mutex> wait(heap_.cycle.flip_lock);
    heap_.cycle.flip_cv.wait(wait, [&] { return heap_.cycle.flips >= cycle_; });
  }
  heap_.mutators.unpark(requester_);
  return UFFDGC_OK;
}

bool wait_for_space(Heap* heap, uffdgc_mutator* requester) {
  uint64_t started;
  {
    std::lock_guard<std::mutex> lock(heap->cycle.flip_lock);
    started = heap->cycle.cycles_started;
    if (heap->cycle.flips >= started) return false;
  }
  heap->mutators.park(requester);
  {
    std::unique_lock<std::mutex> wait(heap->cycle.flip_lock);
    heap->cycle.flip_cv.wait(wait, [&] { return heap->cycle.flips >= started; });
  }
  heap->mutators.unpark(requester);
  return true;
}

uffdgc_result collect(Heap* heap, uffdgc_mutator* requester, uint64_t unless_after,
                      CycleKind kind) {
  auto cycle = std::make_shared<Cycle>(*heap, requester, kind);  // std::bad_alloc: nothing started
  // Once the world is stopped a cycle cannot stop half-way (runtime/c_boundary.h).
  return or_abort("a collection", [&] { return cycle->run(unless_after); });
}

}  // namespace uffdgc::gc
