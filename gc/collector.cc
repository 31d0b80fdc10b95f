#include "gc/collector.h"

#include <algorithm>
#include <atomic>
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
                                  uint64_t begin, uint64_t end,
                                  const VerifyExpectations& expect) {
  const uint64_t start = monotonic_ns();
  uffd::InstallResult failure;
  if (!compaction.run_gc_thread(&failure)) uffd::abort_on_install_failure(failure);
  if (end > begin) heap.uffd.unregister(reinterpret_cast<void*>(begin), end - begin);
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

class Cycle {
 public:
  Cycle(uffdgc_heap& heap, uffdgc_mutator* requester) : heap_(heap), requester_(requester) {}
  uffdgc_result run(uint64_t unless_after);

 private:
  void event(uint32_t kind, const char* phase = nullptr, uint64_t pause_ns = 0);
  template <typename Fn>
  void for_each_root(Fn&& fn);
  void scan_embedder_roots(void (*fn)(uffdgc_root_visitor*, uffdgc_ref*), void* ctx);
  void mark();
  void clear_dead_weak_slots(size_t from_holder);
  void process_finalization();
  uint64_t dense_prefix_end();
  void fill_dead_in_prefix(uint64_t end);
  void compact(const CompactionPlan& plan, uint64_t flip_end);
  uffdgc_result compact_stop_the_world(const CompactionPlan& plan, uint64_t flip_end,
                                       const Marker& marker);
  uffdgc_result start_concurrent_compaction(std::unique_ptr<CompactionPlan> plan,
                                            uint64_t flip_end, const Marker& marker);
  void update_references(const CompactionPlan& plan);
  template <typename Fn>
  void for_each_slot(uint64_t obj, Fn&& fn);

  uffdgc_heap& heap_;
  uffdgc_mutator* requester_;
  std::unique_ptr<MarkTables> tables_ = std::make_unique<MarkTables>();
  Marker* marker_ = nullptr;
  uint64_t cycle_ = 0;
  uint64_t bytes_before_ = 0;
  uint64_t weak_cleared_ = 0;
};

void Cycle::event(uint32_t kind, const char* phase, uint64_t pause_ns) {
  if (heap_.event_fn == nullptr) return;
  uffdgc_event e{};
  e.struct_size = sizeof(e);
  e.kind = kind;
  e.cycle = cycle_;
  e.time_ns = monotonic_ns();
  e.phase = phase;
  e.bytes_before = bytes_before_;
  e.bytes_after = heap_.moving.used() + heap_.objects.bytes(ObjectKind::kNonMoving) +
                  heap_.objects.bytes(ObjectKind::kLarge);
  e.pause_ns = pause_ns;
  heap_.event_fn(&e, heap_.event_arg);
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

void Cycle::mark() {
  for_each_root([&](uffdgc_ref* slot) { marker_->mark(*slot); });
  for (const auto& [ref, count] : heap_.pins) marker_->mark(ref);
  scan_embedder_roots(
      [](uffdgc_root_visitor* self, uffdgc_ref* slot) {
        static_cast<Marker*>(self->ctx)->mark(*slot);
      },
      marker_);
  marker_->drain();
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

// Pinned moving-space objects stay where they are: everything below the end of the highest
// pinned page (extended past any object that straddles that boundary) is a dense prefix that
// is not moved.
uint64_t Cycle::dense_prefix_end() {
  const uint64_t begin = heap_.moving.begin();
  const uint64_t top = heap_.moving.top();
  uint64_t boundary = begin;
  for (const auto& [ref, count] : heap_.pins) {
    if (!heap_.moving.contains(ref)) continue;
    const uint64_t end = ref + heap_.types.object_size(reinterpret_cast<const void*>(ref));
    boundary = std::max(boundary, align_up(end, kPage));
  }
  if (boundary == begin) return begin;
  for (uint64_t a = begin; a < top && a < boundary;) {
    const uint64_t end = a + heap_.types.object_size(reinterpret_cast<const void*>(a));
    if (end > boundary) boundary = align_up(end, kPage);
    a = end;
  }
  return std::min(boundary, align_up(top, kPage));
}

// Dead objects in the dense prefix become fillers: the prefix stays parsable and no stale
// reference survives in it.
void Cycle::fill_dead_in_prefix(uint64_t end) {
  const uint64_t begin = heap_.moving.begin();
  end = std::min(end, heap_.moving.top());
  uint64_t dead_start = 0;
  for (uint64_t a = begin; a < end;) {
    const uint64_t size = heap_.types.object_size(reinterpret_cast<const void*>(a));
    const bool live = tables_->mark.test(a);
    if (!live && dead_start == 0) dead_start = a;
    if (live && dead_start != 0) {
      write_filler(dead_start, a);
      dead_start = 0;
    }
    a += size;
  }
  if (dead_start != 0) write_filler(dead_start, end);
}

void Cycle::compact(const CompactionPlan& plan, uint64_t flip_end) {
  const uint64_t first = plan.compact_begin();
  const uint64_t pages = plan.pages();
  uint32_t workers = std::max<uint32_t>(1, heap_.config.gc_threads);
  workers = static_cast<uint32_t>(std::min<uint64_t>(workers, std::max<uint64_t>(1, pages / 64)));
  std::atomic<uint64_t> next{0};
  auto work = [&] {
    for (uint64_t i = next.fetch_add(1); i < pages; i = next.fetch_add(1)) {
      const uint64_t page = first + i * kPage;
      // Stop-the-world: produce straight into the (now empty) to-space page.
      plan.compact_page(page, reinterpret_cast<uint8_t*>(page));
    }
  };
  std::vector<std::thread> helpers;
  for (uint32_t i = 1; i < workers; ++i) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  heap_.moving.release_from_space(first, flip_end);
}

uffdgc_result Cycle::compact_stop_the_world(const CompactionPlan& plan, uint64_t flip_end,
                                            const Marker& marker) {
  event(UFFDGC_EVENT_PHASE, "compact");
  if (const int err = heap_.moving.flip(plan.compact_begin(), flip_end); err != 0) {
    fprintf(stderr, "uffdgc: mremap(MREMAP_DONTUNMAP) of the moving space failed: errno %d\n",
            err);
    return UFFDGC_EINTERNAL;
  }
  compact(plan, flip_end);
  event(UFFDGC_EVENT_PHASE, "update");
  update_references(plan);
  heap_.moving.set_top(plan.compact_end());
  if (heap_.verify()) {
    event(UFFDGC_EVENT_PHASE, "verify");
    VerifyExpectations expect;
    expect.compact_begin = plan.compact_begin();
    expect.compact_end = plan.compact_end();
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
                                                 uint64_t flip_end, const Marker& marker) {
  const uint64_t begin = plan->compact_begin();
  const uint64_t end = align_up(plan->compact_end(), kPage);
  if (!heap_.uffd.valid()) {
    const uint64_t features =
        UFFD_FEATURE_SIGBUS | (heap_.mode == UFFDGC_MODE_MOVE ? UFFD_FEATURE_MOVE : 0);
    if (heap_.uffd.open(features) != 0) return compact_stop_the_world(*plan, flip_end, marker);
  }
  uffd::InstallerConfig installer;
  installer.uffd = heap_.uffd.fd();
  installer.mode =
      heap_.mode == UFFDGC_MODE_COPY ? uffd::InstallMode::kCopyOnly : uffd::InstallMode::kAuto;
  installer.wake = false;  // SIGBUS mode: nobody sleeps on the range
  installer.counters = &heap_.install_counters;
  auto compaction = std::make_unique<ConcurrentCompaction>(
      *plan, begin, end, flip_end, installer, heap_.moving.from_space_delta());
  if (!compaction->ok() || !runtime::publish_compaction(compaction.get())) {
    return compact_stop_the_world(*plan, flip_end, marker);
  }
  event(UFFDGC_EVENT_PHASE, "update");
  update_references(*plan);
  event(UFFDGC_EVENT_PHASE, "flip");
  const uint64_t flip_start = monotonic_ns();
  if (const int err = heap_.moving.flip(begin, flip_end); err != 0) {
    runtime::withdraw_compaction(compaction.get());
    fprintf(stderr, "uffdgc: mremap(MREMAP_DONTUNMAP) of the moving space failed: errno %d\n",
            err);
    return UFFDGC_EINTERNAL;
  }
  if (end > begin) {
    if (const int err = heap_.uffd.register_missing(reinterpret_cast<void*>(begin), end - begin);
        err != 0) {
      // Nothing is registered, the range is empty: produce it here, inside the pause.
      runtime::withdraw_compaction(compaction.get());
      compact(*plan, flip_end);
      heap_.moving.set_top(plan->compact_end());
      return UFFDGC_OK;
    }
  }
  heap_.stats.flip_ns_last = monotonic_ns() - flip_start;
  heap_.moving.set_top(end);  // allocation resumes above the region being produced

  VerifyExpectations expect;
  expect.compact_begin = begin;
  expect.compact_end = plan->compact_end();
  expect.marked_moving_bytes = marker.marked_moving_bytes();
  expect.concurrent = true;
  struct Job {
    std::unique_ptr<MarkTables> tables;
    std::unique_ptr<CompactionPlan> plan;
    std::unique_ptr<ConcurrentCompaction> compaction;
  };
  auto job = std::make_shared<Job>(Job{std::move(tables_), std::move(plan), std::move(compaction)});
  uffdgc_heap* heap = &heap_;
  const bool submitted = heap_.gc_thread.submit([heap, job, begin, end, expect] {
    finish_concurrent_compaction(*heap, *job->compaction, begin, end, expect);
  });
  if (!submitted) {
    // No GC thread could be started: produce everything now, inside the pause.
    finish_concurrent_compaction(heap_, *job->compaction, begin, end, expect);
  }
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
  // Objects that did not slide: the dense prefix and the object spaces.
  const uint64_t begin = heap_.moving.begin();
  for (uint64_t a = tables_->mark.next_set(begin, plan.compact_begin()); a < plan.compact_begin();
       a = tables_->mark.next_set(a + kWordSize, plan.compact_begin())) {
    for_each_slot(a, update);
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

  uffdgc_result result = UFFDGC_OK;
  const uint64_t begin = heap_.moving.begin();
  const uint64_t top = heap_.moving.top();
  if (!tables_->allocate(begin, std::max<uint64_t>(top - begin, kPage))) {
    result = UFFDGC_ENOMEM;
  } else {
    Marker marker(heap_, *tables_);
    marker_ = &marker;
    event(UFFDGC_EVENT_PHASE, "mark");
    mark();

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
    const uint64_t prefix_end = dense_prefix_end();
    fill_dead_in_prefix(prefix_end);
    const uint64_t first_chunk = (prefix_end - begin) / kChunkSize;
    const uint64_t end_chunk = align_up(top - begin, kChunkSize) / kChunkSize;
    if (end_chunk > first_chunk) build_prefix_sums(tables_->chunk_bytes, first_chunk, end_chunk);
    auto plan = std::make_unique<CompactionPlan>(heap_.types, *tables_, begin, prefix_end,
                                                 std::max(top, prefix_end),
                                                 heap_.moving.from_space_delta());
    heap_.stats.pages_compacted_last = plan->pages();
    const uint64_t flip_end = align_up(top, kPage);
    if (heap_.concurrent()) {
      result = start_concurrent_compaction(std::move(plan), flip_end, marker);
    } else {
      result = compact_stop_the_world(*plan, flip_end, marker);
    }
    heap_.stats.live_bytes_last = marker.marked_bytes();
    marker_ = nullptr;
  }

  heap_.bytes_since_gc = 0;
  ++heap_.stats.collections;
  const uint64_t pause = monotonic_ns() - pause_start;
  heap_.stats.pause_ns_last = pause;
  heap_.stats.pause_ns_total += pause;
  heap_.stats.pause_ns_max = std::max(heap_.stats.pause_ns_max, pause);
  heap_.stats.time_to_safepoint_ns_max = std::max(heap_.stats.time_to_safepoint_ns_max, tts);
  event(UFFDGC_EVENT_CYCLE_END);
  event(UFFDGC_EVENT_PAUSE_END, nullptr, pause);
  lock.unlock();
  heap_.threads.resume_the_world();
  return result;
}

}  // namespace

uffdgc_result collect(uffdgc_heap* heap, uffdgc_mutator* requester, uint64_t unless_after) {
  return Cycle(*heap, requester).run(unless_after);
}

}  // namespace uffdgc::gc
