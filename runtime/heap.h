// The heap: everything one uffdgc_heap owns (DESIGN.md §3), shared by the runtime (threads,
// allocation, roots) and the collector (gc/collector.h). The heap lock guards allocation
// structures, pins, globals, finalization lists and statistics; the collector holds it for
// the whole pause.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "gc/cycle_phase.h"
#include "gc/gc_thread.h"
#include "gc/space/moving_space.h"
#include "gc/space/object_starts.h"
#include "os/uffd/fault_injection.h"
#include "os/uffd/install_counters.h"
#include "os/uffd/userfaultfd.h"
#include "gc/space/object_space.h"
#include "gc/type_registry.h"
#include "runtime/allocation_pacer.h"
#include "runtime/handles.h"
#include "runtime/thread_registry.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {
class Marker;
}

struct uffdgc_heap {
  struct Config {
    uint32_t requested_mode = UFFDGC_MODE_AUTO;
    uint32_t flags = 0;
    uint32_t gc_threads = 1;
    uint64_t heap_limit = 256ull << 20;
    uint64_t nonmoving_limit = 0;
    uint64_t trigger_allocated = 0;
    uint32_t trigger_occupancy_pct = 80;
    uint32_t tlab_size = 32 * 1024;
    uint64_t large_object_threshold = 64 * 1024;
    bool has_embedder = false;
    uffdgc_embedder embedder{};
  };

  Config config;
  uint32_t mode = UFFDGC_MODE_STW;  // effective: MOVE/COPY compact concurrently
  uffdgc::gc::TypeRegistry types;
  uffdgc::gc::MovingSpace moving;
  uffdgc::gc::ObjectSpace objects;
  uffdgc::runtime::ThreadRegistry threads;

  std::mutex lock;  // see the file comment
  uffdgc::gc::ObjectStarts starts;  // parse points of the moving space (uffdgc_pin)
  uffdgc::runtime::GlobalRoots globals;
  std::unordered_map<uffdgc_ref, uint32_t> pins;  // pinned object -> pin count
  std::vector<uffdgc_ref> finalizable;             // allocated, finalizer not yet due
  std::deque<uffdgc_ref> finalization_ready;       // unreachable, waiting for the runtime
  uint64_t bytes_since_gc = 0;
  // stats.bytes_allocated at the last flip, and what was allocated between the two flips
  // before it: what the heap allocates per cycle (heap lock).
  uint64_t bytes_allocated_at_flip = 0;
  uint64_t bytes_allocated_flip_before = 0;
  uffdgc_heap_stats stats{};
  std::mutex event_lock;  // the listener and its calls (never held with `lock`)
  uffdgc_event_fn event_fn = nullptr;
  void* event_arg = nullptr;
  std::vector<uffdgc_mutator*> retired_mutators;  // detached: kept so stale pointers fail cleanly

  // Concurrent modes only (DESIGN.md §4). The barrier is on from pause 1 to pause 3; what its
  // slow path does depends on the phase.
  std::atomic<uffdgc::gc::CyclePhase> phase{uffdgc::gc::CyclePhase::kIdle};
  // The barrier is on from pause 1 to pause 3 (the flip).
  bool barrier_on() const {
    return phase.load(std::memory_order_seq_cst) != uffdgc::gc::CyclePhase::kIdle;
  }
  std::vector<uffdgc_ref> orphan_snapshot;    // barrier logs of threads that detached meanwhile
  // Barrier logs handed over while marking runs (hand_over_snapshot: full logs from the
  // barrier's slow path, all logs at the GC thread's checkpoints): traced without a pause.
  std::mutex handover_lock;
  std::vector<std::vector<uffdgc_ref>> handed_over;
  std::vector<uffdgc_ref*> orphan_slots;      // slot logs of threads that detached meanwhile
  // Stores into slots outside the moving space, or anywhere in it while log_all_slots is set
  // (pins exist: islands), have their slot logged for the flip.
  std::atomic<bool> log_all_slots{false};
  std::atomic<const uffdgc::gc::Marker*> cycle_marker{nullptr};  // weak loads test liveness
  uffdgc::runtime::AllocationPacer pacer;    // allocation against marking progress
  std::mutex weak_lock;                       // weak loads vs the end of marking
  std::vector<uffdgc_ref> weak_loaded;        // referents handed out by weak loads (marking)
  // Fillers owed to ranges that nobody allocates in any more (retired buffers, padding): the
  // pauses record them instead of writing heap pages; written under the heap lock before
  // anything parses the space (flush_pending_fillers).
  std::vector<std::pair<uint64_t, uint64_t>> pending_fillers;
  uint64_t pin_epoch = 0;                     // changes with every new pin (heap lock)
  uint32_t mark_epoch = 0;                    // cycle number for object-space marks (heap lock)
  std::atomic<bool> objects_black{false};     // object-space allocations are marked live
  std::mutex flip_lock;                       // the requester of a cycle waits for its flip
  std::condition_variable flip_cv;
  uint64_t flips = 0;                         // the last cycle that has flipped
  uint64_t cycles_started = 0;                // the last cycle past pause 1 (flip_lock)
  uffdgc::uffd::Userfaultfd uffd;                 // opened lazily per process (fork!)
  uffdgc::uffd::InstallCounters install_counters;
  uffdgc::uffd::FaultInjector* fault_injector = nullptr;  // tests only: set before any cycle
  // Tests only (set before any cycle): called on the GC thread after a flip that leaves the
  // compaction concurrent, before it produces any page, so a test can hold the to-space empty
  // while mutators (and the kernel) meet it.
  std::atomic<void (*)(void* arg)> after_flip_hook{nullptr};
  std::atomic<void*> after_flip_hook_arg{nullptr};
  // Tests only (set before any cycle): called on the GC thread when a concurrent cycle has
  // planned its compaction (pinned islands filled) and is about to stop the world for the
  // flip, so a test can meet the heap as it is between those two steps.
  std::atomic<void (*)(void* arg)> before_flip_hook{nullptr};
  std::atomic<void*> before_flip_hook_arg{nullptr};
  uffdgc::gc::GcThread gc_thread;
  bool reclaim_stats_watched = false;  // holds runtime/reclaim_stats_watcher.h
  bool fork_handled = false;  // registered with the automatic fork handlers (fork_handlers.h)
  bool concurrent() const { return mode == UFFDGC_MODE_MOVE || mode == UFFDGC_MODE_COPY; }

  ~uffdgc_heap();

  bool verify() const { return (config.flags & UFFDGC_HEAP_VERIFY) != 0; }
};

namespace uffdgc::runtime {

// Writes the fillers the pauses recorded. Heap lock held.
void flush_pending_fillers(uffdgc_heap& heap);

// Moves m's barrier log to heap.handed_over, for the GC thread to trace without a pause
// (DESIGN.md §4 step 2): from the barrier's slow path when the log is full, and at the GC
// thread's checkpoint before each mark-end pause. On m's thread, or on the checkpoint
// requester's while m is parked. Never throws: without memory the log stays with m.
void hand_over_snapshot(uffdgc_heap& heap, uffdgc_mutator* m);
// The barrier_flag value of a thread while a concurrent cycle runs (include/uffdgc/inline.h):
// every store through the slow path once pins exist in the cycle, else the inline log.
inline uint32_t barrier_flag_for(const uffdgc_heap& heap) {
  return heap.log_all_slots.load(std::memory_order_seq_cst) ? UFFDGC_BARRIER_SLOW
                                                            : UFFDGC_BARRIER_LOG;
}

// Validates options and builds a heap; the C entry point is a thin wrapper.
uffdgc_result create_heap(const uffdgc_heap_options* options, uffdgc_heap** out);

// The kernel probe, run once per process (auto mode, without the large-folio test).
const uffdgc_probe_report& kernel_probe();

// True when the calling thread owns m and m belongs to an attached thread.
bool is_owner(const uffdgc_mutator* m);

}  // namespace uffdgc::runtime
