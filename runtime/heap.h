// The heap behind a uffdgc_heap* (design: .heap.state): the collector's gc::Heap, and the
// runtime's threads and global roots (the heap lock also guards the globals' free list).
#pragma once

#include <cstdint>
#include <vector>

#include "gc/heap.h"
#include "gc/mutators.h"
#include "runtime/handles.h"
#include "runtime/thread_registry.h"
#include "uffdgc/uffdgc.h"

// The heap the C ABI hands out: the collector's heap (gc/heap.h) and the threads that run
// mutators, which it implements the collector's Mutators interface for (heap_mutators.cc).
struct uffdgc_heap final : uffdgc::gc::Heap, uffdgc::gc::Mutators {
  uffdgc_heap() : uffdgc::gc::Heap(static_cast<uffdgc::gc::Mutators&>(*this)) {}
  ~uffdgc_heap();

  uffdgc::runtime::ThreadRegistry threads;
  uffdgc::runtime::GlobalRoots globals;
  std::vector<uffdgc_mutator*> retired_mutators;  // detached: kept so stale pointers fail cleanly
  bool reclaim_stats_watched = false;  // holds runtime/reclaim_stats_watcher.h
  bool fork_handled = false;  // registered with the automatic fork handlers (fork_handlers.h)

  // gc::Mutators (heap_mutators.cc).
  uint64_t stop_the_world(uffdgc_mutator* requester) override;
  void resume_the_world() override;
  void poll(uffdgc_mutator* m) override;
  void park(uffdgc_mutator* m) override;
  void unpark(uffdgc_mutator* m) override;
  void visit_thread_roots(uffdgc::gc::SlotVisitor visit) override;
  void visit_global_roots(uffdgc::gc::SlotVisitor visit) override;
  uint64_t cut_allocation() override;
  void retire_tlabs() override;
  void set_barrier_flags(uint32_t flag) override;
  void take_satb_logs(std::vector<std::vector<uffdgc_ref>>& logs) override;
  void append_logged_slots(std::vector<uffdgc_ref*>& slots) override;
  void take_remembered_logs() override;
  void set_young_range(uint64_t begin, uint64_t size) override;
  void hand_over_satb_logs() override;
};

namespace uffdgc::runtime {

// Validates options and builds a heap; the C entry point is a thin wrapper.
uffdgc_result create_heap(const uffdgc_heap_options* options, uffdgc_heap** out);

// The kernel probe, run once per process (auto mode, without the large-folio test).
const uffdgc_probe_report& kernel_probe();

// True when the calling thread owns m and m belongs to an attached thread.
bool is_owner(const uffdgc_mutator* m);

}  // namespace uffdgc::runtime
