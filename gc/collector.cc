#include "gc/collector.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <cstdio>
#include <thread>
#include <vector>

#include "gc/compact/compaction_plan.h"
#include "gc/compact/concurrent_compaction.h"
#include "gc/uffd/kernel_abi.h"
#include "gc/heap_geometry.h"
#include "gc/mark/marker.h"
#include "gc/space/filler.h"
#include "gc/verify.h"
#include "runtime/allocator.h"
#include "runtime/heap.h"
#include "runtime/monotonic_clock.h"
#include "runtime/sigbus_handler.h"

struct uffdgc_root_visitor {
  void (*fn)(uffdgc_root_visitor* self, uffdgc_ref* slot);
  void* ctx;
};

struct uffdgc_weak_ctx {
  uffdgc::gc::Marker* marker;              // process_weak
  const uffdgc::gc::CompactionPlan* plan;  // update_weak
};

extern "C" {

void uffdgc_root_visit(uffdgc_root_visitor* visitor, uffdgc_ref* slot) {
  if (visitor != nullptr && slot != nullptr) visitor->fn(visitor, slot);
}

int uffdgc_weak_is_live(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx == nullptr || ctx->marker == nullptr || ref == 0) return 0;
  return ctx->marker->is_marked(ref) ? 1 : 0;
}

void uffdgc_weak_retain(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx != nullptr && ctx->marker != nullptr) ctx->marker->mark(ref);
}

uffdgc_ref uffdgc_weak_forward(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx == nullptr || ctx->plan == nullptr) return ref;
  return ctx->plan->forward(ref);
}

}  // extern "C"

namespace uffdgc::gc {

namespace {

// The end of a concurrent compaction (DESIGN.md §4 step 6), on the GC thread: produce what
// is left, unregister, drain the fault handlers, then (test builds) verify with the world
// stopped. The caller frees the from-space side tables after this returns.
void finish_concurrent_compaction(uffdgc_heap& heap, ConcurrentCompaction& compaction,
                                  const CompactionPlan& plan, const VerifyExpectations& expect) {
  const uint64_t start = monotonic_ns();
  uffd::InstallResult failure;
  if (!compaction.run_gc_thread(&failure)) uffd::abort_on_install_failure(failure);
  for (const Segment& seg : plan.segments()) {
    if (seg.to_space_end() > seg.start) {
      heap.uffd.unregister(reinterpret_cast<void*>(seg.start), seg.to_space_end() - seg.start);
    }
  }
  runtime::withdraw_compaction(&compaction);
  const uint64_t elapsed = monotonic_ns() - start;
  {
    std::lock_guard<std::mutex> lock(heap.lock);
    heap.stats.compaction_ns_last = elapsed;
    heap.stats.pages_by_mutators += compaction.pages_by_mutators();
    for (int i = 0; i < ConcurrentCompaction::kStallBuckets; ++i) {
      heap.stats.stalls_log2_us[i] += compaction.stall_count(i);
    }
  }
  if (heap.verify()) {
    heap.threads.stop_the_world(nullptr);
    {
      std::lock_guard<std::mutex> lock(heap.lock);
      runtime::retire_tlabs(heap);
      verify_heap(heap, expect);
    }
    heap.threads.resume_the_world();
  }
}

class Cycle : public std::enable_shared_from_this<Cycle> {
 public:
  Cycle(uffdgc_heap& heap, uffdgc_mutator* requester) : heap_(heap), requester_(requester) {}
  uffdgc_result run(uint64_t unless_after);

 private:
  void event(uint32_t kind, const char* phase = nullptr, uint64_t pause_ns = 0);
  void deliver_events();
  template <typename Fn>
  void for_each_root(Fn&& fn);
  void scan_embedder_roots(void (*fn)(uffdgc_root_visitor*, uffdgc_ref*), void* ctx);
  void mark();
  void clear_dead_weak_slots(size_t from_holder);
  void process_finalization();
  std::vector<AddressRange> pinned_islands();
  void fill_dead_in_islands(const std::vector<AddressRange>& islands);
  int flip(const CompactionPlan& plan);
  void fill_segment_tails(const CompactionPlan& plan);
  void compact(const CompactionPlan& plan);
  uffdgc_result compact_stop_the_world(const CompactionPlan& plan, const Marker& marker);
  // Flips and registers; *phase receives the concurrent part (to run on the GC thread once
  // the world runs again), or stays empty when the pause did all the work.
  uffdgc_result start_concurrent_compaction(std::unique_ptr<CompactionPlan> plan,
                                            const Marker& marker, std::function<void()>* phase);
  uffdgc_result after_marking(Marker& marker, std::function<void()>* phase);
  void record_pause(uint64_t pause_start, uint64_t tts, bool ends_cycle);
  uffdgc_result start_marking(uint64_t pause_start, uint64_t tts,
                              std::unique_lock<std::mutex>& lock);
  void finish_marking();
  void update_references(const CompactionPlan& plan);
  template <typename Fn>
  void for_each_slot(uint64_t obj, Fn&& fn);

  uffdgc_heap& heap_;
  uffdgc_mutator* requester_;
  std::unique_ptr<MarkTables> tables_ = std::make_unique<MarkTables>();
  Marker* marker_ = nullptr;
  std::unique_ptr<Marker> concurrent_marker_;  // concurrent modes: lives from pause 1 to pause 2
  uint64_t cycle_ = 0;
  uint64_t bytes_before_ = 0;
  uint64_t weak_cleared_ = 0;
  static constexpr size_t kMaxEvents = 16;
  uffdgc_event events_[kMaxEvents];
  size_t events_count_ = 0;
};

// Events are recorded during the pause and handed to the listener at its end, after the heap
// lock is released but before the world resumes: a listener that takes locks of its own, which
// it also holds while calling uffdgc, cannot deadlock with the collector.
void Cycle::event(uint32_t kind, const char* phase, uint64_t pause_ns) {
  if (events_count_ == kMaxEvents) return;
  uffdgc_event& e = events_[events_count_++];
  e = {};
  e.struct_size = sizeof(e);
  e.kind = kind;
  e.cycle = cycle_;
  e.time_ns = monotonic_ns();
  e.phase = phase;
  e.bytes_before = bytes_before_;
  e.bytes_after = heap_.moving.used() + heap_.objects.bytes(ObjectKind::kNonMoving) +
                  heap_.objects.bytes(ObjectKind::kLarge);
  e.pause_ns = pause_ns;
}

void Cycle::deliver_events() {
  std::lock_guard<std::mutex> lock(heap_.event_lock);
  if (heap_.event_fn == nullptr) return;
  for (size_t i = 0; i < events_count_; ++i) heap_.event_fn(&events_[i], heap_.event_arg);
  events_count_ = 0;
}

template <typename Fn>
void Cycle::for_each_root(Fn&& fn) {
  heap_.threads.for_each_stopped([&](uffdgc_mutator* m) { m->handles.for_each(fn); });
  heap_.globals.for_each(fn);
  for (uffdgc_ref& r : heap_.finalization_ready) fn(&r);
}

void Cycle::scan_embedder_roots(void (*fn)(uffdgc_root_visitor*, uffdgc_ref*), void* ctx) {
  if (!heap_.config.has_embedder || heap_.config.embedder.scan_roots == nullptr) return;
  uffdgc_root_visitor v{fn, ctx};
  heap_.config.embedder.scan_roots(&v, heap_.config.embedder.vm);
}

// Greys the roots: sets their mark bits and pushes them; tracing is the caller's (drain).
void Cycle::mark() {
  for_each_root([&](uffdgc_ref* slot) { marker_->mark(*slot); });
  for (const auto& [ref, count] : heap_.pins) marker_->mark(ref);
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        static_cast<Marker*>(self->ctx)->mark(*slot);
      },
      marker_);
}

// Weak containers: a slot whose referent was not marked is cleared (DESIGN.md §2 "Weak
// references"). Holders recorded from `from_holder` on.
void Cycle::clear_dead_weak_slots(size_t from_holder) {
  const auto& holders = marker_->weak_holders();
  for (size_t i = from_holder; i < holders.size(); ++i) {
    const uffdgc_ref obj = holders[i];
    for_each_slot(obj, [&](uffdgc_ref* slot) {
      if (*slot != 0 && !marker_->is_marked(*slot)) {
        *slot = 0;
        ++weak_cleared_;
      }
    });
  }
}

// Unreachable finalizable objects are kept alive (with what they reach) and queued.
void Cycle::process_finalization() {
  std::vector<uffdgc_ref> still_waiting;
  for (uffdgc_ref r : heap_.finalizable) {
    if (marker_->is_marked(r)) {
      still_waiting.push_back(r);
    } else {
      heap_.finalization_ready.push_back(r);
      ++heap_.stats.objects_finalizable_queued;
      marker_->mark(r);
    }
  }
  heap_.finalizable.swap(still_waiting);
  marker_->drain();
}

template <typename Fn>
void Cycle::for_each_slot(uint64_t obj, Fn&& fn) {
  auto* p = reinterpret_cast<uint8_t*>(obj);
  uint64_t header;
  __builtin_memcpy(&header, p, sizeof(header));
  const TypeDesc* t = heap_.types.of_header(header);
  heap_.types.for_each_ref_offset(p, *t, [&](size_t off) {
    fn(reinterpret_cast<uffdgc_ref*>(p + off));
  });
}

// Pinned moving-space objects stay where they are (DESIGN.md §2 "pinned objects"): each
// one's pages become an island, widened until no live object straddles its edges, so that only
// the pinned pages stay in place and everything between islands still slides. Dead objects
// may be cut at an island edge: the part inside becomes filler, the part outside is never
// copied.
std::vector<AddressRange> Cycle::pinned_islands() {
  const uint64_t begin = heap_.moving.begin();
  const uint64_t top = heap_.moving.top();
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
  for (const auto& [ref, count] : heap_.pins) {
    if (!heap_.moving.contains(ref)) continue;
    AddressRange r{align_down(ref, kPage), std::min(align_up(ref + size_of(ref), kPage),
                                                    align_up(top, kPage))};
    for (bool grew = true; grew;) {
      grew = false;
      uint64_t end = 0;
      if (r.begin > begin && live_object_at(r.begin - kWordSize, &end) && end > r.begin) {
        r.begin = align_down(tables_->mark.prev_set(r.begin - kWordSize, begin), kPage);
        grew = true;
      }
      if (r.end < top && live_object_at(r.end - kWordSize, &end) && end > r.end) {
        r.end = align_up(end, kPage);
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

// Inside an island only the live objects stay; fillers cover everything between them, so the
// island parses and no stale reference survives there.
void Cycle::fill_dead_in_islands(const std::vector<AddressRange>& islands) {
  const uint64_t top = heap_.moving.top();
  for (const AddressRange& r : islands) {
    const uint64_t end = std::min(r.end, top);
    uint64_t gap = r.begin;
    for (uint64_t a = tables_->mark.next_set(r.begin, end); a < end;
         a = tables_->mark.next_set(a, end)) {
      write_filler(gap, a);
      a += heap_.types.object_size(reinterpret_cast<const void*>(a));
      gap = a;
    }
    write_filler(gap, end);
  }
}

// Moves every segment's pages to the from-space; islands stay. Returns 0 or an errno.
int Cycle::flip(const CompactionPlan& plan) {
  for (const Segment& seg : plan.segments()) {
    if (const int err = heap_.moving.flip(seg.start, align_up(seg.end, kPage)); err != 0) {
      return err;
    }
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

void Cycle::compact(const CompactionPlan& plan) {
  std::vector<uint64_t> pages;
  pages.reserve(plan.pages());
  for (const Segment& seg : plan.segments()) {
    for (uint64_t p = seg.start; p < seg.to_space_end(); p += kPage) pages.push_back(p);
  }
  uint32_t workers = std::max<uint32_t>(1, heap_.config.gc_threads);
  workers = static_cast<uint32_t>(
      std::min<uint64_t>(workers, std::max<uint64_t>(1, pages.size() / 64)));
  std::atomic<uint64_t> next{0};
  auto work = [&] {
    for (uint64_t i = next.fetch_add(1); i < pages.size(); i = next.fetch_add(1)) {
      // Stop-the-world: produce straight into the (now empty) to-space page.
      plan.compact_page(pages[i], reinterpret_cast<uint8_t*>(pages[i]));
    }
  };
  std::vector<std::thread> helpers;
  for (uint32_t i = 1; i < workers; ++i) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  for (const Segment& seg : plan.segments()) {
    heap_.moving.release_from_space(seg.start, align_up(seg.end, kPage));
  }
}

uffdgc_result Cycle::compact_stop_the_world(const CompactionPlan& plan, const Marker& marker) {
  event(UFFDGC_EVENT_PHASE, "compact");
  if (const int err = flip(plan); err != 0) {
    fprintf(stderr, "uffdgc: mremap(MREMAP_DONTUNMAP) of the moving space failed: errno %d\n",
            err);
    return UFFDGC_EINTERNAL;
  }
  fill_segment_tails(plan);
  compact(plan);
  event(UFFDGC_EVENT_PHASE, "update");
  update_references(plan);
  heap_.moving.set_top(plan.new_top());
  if (heap_.verify()) {
    event(UFFDGC_EVENT_PHASE, "verify");
    VerifyExpectations expect;
    expect.plan = &plan;
    expect.marked_moving_bytes = marker.marked_moving_bytes();
    expect.marked_bytes = marker.marked_bytes();
    verify_heap(heap_, expect);
  }
  return UFFDGC_OK;
}

// The flip of a concurrent cycle (DESIGN.md §4 step 4): references outside the sliding region
// are updated first, then mremap empties the region and only then is it registered with
// userfaultfd (registering first would make the kernel move page tables one PTE at a time).
// The GC thread then produces the pages while mutators run (§4 step 5) and ends the phase
// (§4 step 6). Falls back to compacting inside this pause if the kernel refuses a step.
uffdgc_result Cycle::start_concurrent_compaction(std::unique_ptr<CompactionPlan> plan,
                                                 const Marker& marker,
                                                 std::function<void()>* phase) {
  if (!heap_.uffd.valid()) {
    const uint64_t features =
        UFFD_FEATURE_SIGBUS | (heap_.mode == UFFDGC_MODE_MOVE ? UFFD_FEATURE_MOVE : 0);
    if (heap_.uffd.open(features) != 0) return compact_stop_the_world(*plan, marker);
  }
  uffd::InstallerConfig installer;
  installer.uffd = heap_.uffd.fd();
  installer.mode =
      heap_.mode == UFFDGC_MODE_COPY ? uffd::InstallMode::kCopyOnly : uffd::InstallMode::kAuto;
  installer.wake = false;  // SIGBUS mode: nobody sleeps on the range
  installer.counters = &heap_.install_counters;
  installer.injector = heap_.fault_injector;
  auto compaction = std::make_unique<ConcurrentCompaction>(*plan, installer,
                                                           heap_.moving.from_space_delta());
  if (!compaction->ok() || !runtime::publish_compaction(compaction.get())) {
    return compact_stop_the_world(*plan, marker);
  }
  event(UFFDGC_EVENT_PHASE, "update");
  update_references(*plan);
  event(UFFDGC_EVENT_PHASE, "flip");
  const uint64_t flip_start = monotonic_ns();
  if (const int err = flip(*plan); err != 0) {
    runtime::withdraw_compaction(compaction.get());
    fprintf(stderr, "uffdgc: mremap(MREMAP_DONTUNMAP) of the moving space failed: errno %d\n",
            err);
    return UFFDGC_EINTERNAL;
  }
  for (const Segment& seg : plan->segments()) {
    if (seg.to_space_end() == seg.start) continue;
    const int err = heap_.uffd.register_missing(reinterpret_cast<void*>(seg.start),
                                                seg.to_space_end() - seg.start);
    if (err != 0) {
      // Nothing can fault into an unregistered empty range: produce it all here instead.
      for (const Segment& done : plan->segments()) {
        if (done.start == seg.start) break;
        heap_.uffd.unregister(reinterpret_cast<void*>(done.start),
                              done.to_space_end() - done.start);
      }
      runtime::withdraw_compaction(compaction.get());
      fill_segment_tails(*plan);
      compact(*plan);
      heap_.moving.set_top(plan->new_top());
      return UFFDGC_OK;
    }
  }
  heap_.stats.flip_ns_last = monotonic_ns() - flip_start;
  fill_segment_tails(*plan);
  heap_.moving.set_top(plan->new_top());  // allocation resumes above the last to-space page

  VerifyExpectations expect;
  expect.marked_moving_bytes = marker.marked_moving_bytes();
  expect.concurrent = true;
  struct Job {
    std::unique_ptr<MarkTables> tables;
    std::unique_ptr<CompactionPlan> plan;
    std::unique_ptr<ConcurrentCompaction> compaction;
  };
  auto job = std::make_shared<Job>(Job{std::move(tables_), std::move(plan), std::move(compaction)});
  expect.plan = job->plan.get();
  uffdgc_heap* heap = &heap_;
  *phase = [heap, job, expect] {
    finish_concurrent_compaction(*heap, *job->compaction, *job->plan, expect);
  };
  return UFFDGC_OK;
}

void Cycle::update_references(const CompactionPlan& plan) {
  // Pinned objects never move (they sit in the dense prefix or an object space), so the pin
  // table needs no update.
  auto update = [&](uffdgc_ref* slot) { *slot = plan.forward(*slot); };
  for_each_root(update);
  for (uffdgc_ref& r : heap_.finalizable) r = plan.forward(r);
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        *slot = static_cast<const CompactionPlan*>(self->ctx)->forward(*slot);
      },
      const_cast<CompactionPlan*>(&plan));  // the visitor's ctx is void*; only read
  // Objects that did not slide: the pinned islands and the object spaces.
  for (const AddressRange& r : plan.islands()) {
    const uint64_t end = std::min(r.end, heap_.moving.top());
    for (uint64_t a = tables_->mark.next_set(r.begin, end); a < end;
         a = tables_->mark.next_set(a + kWordSize, end)) {
      for_each_slot(a, update);
    }
  }
  heap_.objects.for_each([&](uint64_t ref, const ObjectPrefix&) { for_each_slot(ref, update); });
  if (heap_.config.has_embedder && heap_.config.embedder.update_weak != nullptr) {
    uffdgc_weak_ctx ctx{nullptr, &plan};
    heap_.config.embedder.update_weak(&ctx, heap_.config.embedder.vm);
  }
}

uffdgc_result Cycle::run(uint64_t unless_after) {
  uint64_t tts = 0;
  for (;;) {
    if (heap_.gc_thread.busy()) {
      // A previous cycle is still compacting. Wait parked: its end may stop the world.
      heap_.threads.park(requester_);
      heap_.gc_thread.wait_idle();
      heap_.threads.unpark(requester_);
    }
    tts = heap_.threads.stop_the_world(requester_);
    if (!heap_.gc_thread.busy()) break;
    // Another thread's cycle started its concurrent phase while we waited to stop the world:
    // let it finish first (only a stopper submits work, so this cannot repeat forever).
    heap_.threads.resume_the_world();
  }
  const uint64_t pause_start = monotonic_ns() - tts;
  std::unique_lock<std::mutex> lock(heap_.lock);
  if (unless_after != kAlwaysCollect && heap_.stats.collections != unless_after) {
    lock.unlock();
    heap_.threads.resume_the_world();
    return UFFDGC_OK;
  }
  cycle_ = heap_.stats.collections + 1;
  bytes_before_ = heap_.moving.used() + heap_.objects.bytes(ObjectKind::kNonMoving) +
                  heap_.objects.bytes(ObjectKind::kLarge);
  event(UFFDGC_EVENT_PAUSE_BEGIN);
  runtime::retire_tlabs(heap_);
  if (heap_.concurrent()) return start_marking(pause_start, tts, lock);

  uffdgc_result result = UFFDGC_OK;
  const uint64_t begin = heap_.moving.begin();
  const uint64_t top = heap_.moving.top();
  std::function<void()> phase;
  if (!tables_->allocate(begin, std::max<uint64_t>(top - begin, kPage))) {
    result = UFFDGC_ENOMEM;
  } else {
    Marker marker(heap_, *tables_);
    marker_ = &marker;
    event(UFFDGC_EVENT_PHASE, "mark");
    mark();
    marker.drain();
    result = after_marking(marker, &phase);
    marker_ = nullptr;
  }
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  record_pause(pause_start, tts, true);
  lock.unlock();
  deliver_events();
  heap_.threads.resume_the_world();
  if (phase) phase();  // (stop-the-world modes leave it empty)
  return result;
}

// Everything from the end of marking to the end of the pause that flips (DESIGN.md §4 steps
// 3-4): weak references, finalization, sweeping the object spaces, the plan, and then either
// the whole compaction (stop-the-world) or the flip of a concurrent compaction.
uffdgc_result Cycle::after_marking(Marker& marker, std::function<void()>* phase) {
  const uint64_t begin = heap_.moving.begin();
  const uint64_t top = heap_.moving.top();
  event(UFFDGC_EVENT_PHASE, "weak");
  if (heap_.config.has_embedder && heap_.config.embedder.process_weak != nullptr) {
    uffdgc_weak_ctx ctx{&marker, nullptr};
    for (int round = 0; round < 1000; ++round) {
      const int again = heap_.config.embedder.process_weak(&ctx, heap_.config.embedder.vm);
      marker.drain();
      if (again == 0) break;
    }
  }
  const size_t holders_before_finalization = marker.weak_holders().size();
  clear_dead_weak_slots(0);
  process_finalization();
  clear_dead_weak_slots(holders_before_finalization);
  heap_.stats.weak_slots_cleared += weak_cleared_;
  heap_.objects.sweep();

  event(UFFDGC_EVENT_PHASE, "plan");
  const std::vector<AddressRange> islands = pinned_islands();
  fill_dead_in_islands(islands);
  auto plan = std::make_unique<CompactionPlan>(heap_.types, *tables_, begin, top, islands,
                                               heap_.moving.from_space_delta(),
                                               /*pad_last=*/heap_.concurrent());
  heap_.stats.pages_compacted_last = plan->pages();
  heap_.stats.live_bytes_last = marker.marked_bytes();
  if (heap_.concurrent()) return start_concurrent_compaction(std::move(plan), marker, phase);
  return compact_stop_the_world(*plan, marker);
}

void Cycle::record_pause(uint64_t pause_start, uint64_t tts, bool ends_cycle) {
  const uint64_t pause = monotonic_ns() - pause_start;
  heap_.stats.pause_ns_last = pause;
  heap_.stats.pause_ns_total += pause;
  heap_.stats.pause_ns_max = std::max(heap_.stats.pause_ns_max, pause);
  ++heap_.stats.pauses;
  heap_.stats.time_to_safepoint_ns_max = std::max(heap_.stats.time_to_safepoint_ns_max, tts);
  if (ends_cycle) event(UFFDGC_EVENT_CYCLE_END);
  event(UFFDGC_EVENT_PAUSE_END, nullptr, pause);
}

// Pause 1 of a concurrent cycle (DESIGN.md §4 step 1): the snapshot barrier goes on, TLABs are
// retired and allocation continues on a fresh page (everything from there on is live for this
// cycle), and the roots are greyed: their mark bits set and pushed, no object read. Then the
// GC thread traces (step 2) and ends marking in pause 2; this thread waits, parked, until the
// cycle has flipped, so an allocation that asked for the collection finds the space.
uffdgc_result Cycle::start_marking(uint64_t pause_start, uint64_t tts,
                                   std::unique_lock<std::mutex>& lock) {
  const uint64_t begin = heap_.moving.begin();
  if (!tables_->allocate(begin, heap_.moving.capacity())) {
    record_pause(pause_start, tts, true);
    lock.unlock();
    deliver_events();
    heap_.threads.resume_the_world();
    return UFFDGC_ENOMEM;
  }
  const uint64_t top = heap_.moving.top();
  const uint64_t black = std::min(align_up(top, kPage), heap_.moving.limit());
  write_filler(top, black);
  heap_.moving.set_top(black);
  concurrent_marker_ = std::make_unique<Marker>(heap_, *tables_);
  concurrent_marker_->set_black_begin(black);
  marker_ = concurrent_marker_.get();
  event(UFFDGC_EVENT_PHASE, "mark-start");
  mark();  // greys the roots; the GC thread drains
  marker_ = nullptr;
  heap_.marking.store(true, std::memory_order_seq_cst);
  heap_.threads.for_each_stopped([](uffdgc_mutator* m) {
    __atomic_store_n(&m->fast.barrier_flag, 1u, __ATOMIC_SEQ_CST);
  });
  record_pause(pause_start, tts, false);
  lock.unlock();
  deliver_events();
  const uint64_t my_cycle = cycle_;
  auto self = shared_from_this();
  if (!heap_.gc_thread.submit([self] { self->finish_marking(); })) {
    heap_.threads.resume_the_world();
    return UFFDGC_EINTERNAL;
  }
  heap_.threads.resume_the_world();
  heap_.threads.park(requester_);
  {
    std::unique_lock<std::mutex> wait(heap_.flip_lock);
    heap_.flip_cv.wait(wait, [&] { return heap_.flips >= my_cycle; });
  }
  heap_.threads.unpark(requester_);
  return UFFDGC_OK;
}

// The GC thread's part (DESIGN.md §4 steps 2-5): trace concurrently, end marking in pause 2 by
// collecting the threads' snapshot buffers (resuming to trace them if there are any, up to a
// bound after which the pause finishes the few that are left), then the flip in the same pause
// and the concurrent compaction.
void Cycle::finish_marking() {
  Marker& marker = *concurrent_marker_;
  marker.drain();
  constexpr int kMaxRounds = 8;
  uint64_t tts = 0, pause_start = 0;
  std::unique_lock<std::mutex> lock(heap_.lock, std::defer_lock);
  std::vector<uffdgc_ref> logged;
  for (int round = 0;; ++round) {
    tts = heap_.threads.stop_the_world(nullptr);
    pause_start = monotonic_ns() - tts;
    lock.lock();
    logged.clear();
    heap_.threads.for_each_stopped([&](uffdgc_mutator* m) {
      logged.insert(logged.end(), m->snapshot.begin(), m->snapshot.end());
      m->snapshot.clear();
    });
    logged.insert(logged.end(), heap_.orphan_snapshot.begin(), heap_.orphan_snapshot.end());
    heap_.orphan_snapshot.clear();
    if (logged.empty() || round == kMaxRounds) break;
    // Work is left: trace it with the world running, then try again.
    lock.unlock();
    heap_.threads.resume_the_world();
    for (uffdgc_ref r : logged) marker.mark(r);
    marker.drain();
  }
  event(UFFDGC_EVENT_PAUSE_BEGIN);
  event(UFFDGC_EVENT_PHASE, "mark-end");
  for (uffdgc_ref r : logged) marker.mark(r);  // the bounded rest, if rounds ran out
  marker.drain();
  heap_.marking.store(false, std::memory_order_seq_cst);
  heap_.threads.for_each_stopped([](uffdgc_mutator* m) {
    __atomic_store_n(&m->fast.barrier_flag, 0u, __ATOMIC_SEQ_CST);
  });
  runtime::retire_tlabs(heap_);
  // Objects allocated since pause 1 are live: record them in the side tables so they slide
  // with the rest.
  marker.blacken(marker.black_begin(), heap_.moving.top());
  marker_ = &marker;
  std::function<void()> phase;
  after_marking(marker, &phase);
  marker_ = nullptr;
  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  record_pause(pause_start, tts, true);
  lock.unlock();
  deliver_events();
  {
    std::lock_guard<std::mutex> flipped(heap_.flip_lock);
    heap_.flips = cycle_;
  }
  heap_.flip_cv.notify_all();
  heap_.threads.resume_the_world();
  if (phase) phase();
}

}  // namespace

uffdgc_result collect(uffdgc_heap* heap, uffdgc_mutator* requester, uint64_t unless_after) {
  return std::make_shared<Cycle>(*heap, requester)->run(unless_after);
}

}  // namespace uffdgc::gc
