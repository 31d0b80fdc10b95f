// The collector's heap (design: .heap.state): the configuration, the type registry, the spaces,
// the state a concurrent cycle shares with mutators' slow paths, the statistics. runtime/
// derives uffdgc_heap from it and adds the threads, the global roots and what the C ABI keeps;
// the collector reaches those only through Mutators (gc/mutators.h).
//
// The heap lock guards allocation structures, pins, finalization lists, pending fillers and the
// statistics; the collector holds it for the whole of each pause.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gc/allocation_pacer.h"
#include "gc/barrier/remembered_set.h"
#include "gc/phase.h"
#include "gc/gc_thread.h"
#include "gc/mutators.h"
#include "gc/space/moving_space.h"
#include "gc/space/object_space.h"
#include "gc/space/object_starts.h"
#include "gc/type_registry.h"
#include "os/uffd/fault_injection.h"
#include "os/uffd/install_counters.h"
#include "os/uffd/userfaultfd.h"
#include "uffdgc/inline.h"

namespace uffdgc::gc {

class Marker;

// The options a heap was created with, validated (runtime/heap.cc create_heap).
struct HeapConfig {
  uint32_t requested_mode = UFFDGC_MODE_AUTO;
  uint32_t flags = 0;
  uint32_t gc_threads = 1;
  uint64_t heap_limit = 256ull << 20;
  uint64_t nonmoving_limit = 0;
  uint64_t trigger_allocated = 0;
  uint32_t trigger_occupancy_pct = 80;
  uint32_t tlab_size = 32 * 1024;
  uint64_t large_object_threshold = 64 * 1024;
  uint32_t old_generation_pct = 50;
  bool has_embedder = false;
  uffdgc_embedder embedder{};
};

// What a concurrent cycle shares with the barrier's and weak loads' slow paths on mutator
// threads and with the threads that wait for its flip (design: .heap.cycle-state). The barrier
// is on from pause 1 to pause 3; what its slow path does depends on the phase.
struct CycleState {
  std::atomic<Phase> phase{Phase::kIdle};
  bool barrier_on() const { return phase.load(std::memory_order_seq_cst) != Phase::kIdle; }

  std::vector<uffdgc_ref> orphan_satb;  // SATB logs of threads that detached meanwhile
  // SATB logs handed over while marking runs (full logs from the barrier's slow path, all
  // logs at the GC thread's checkpoints): traced without a pause.
  std::mutex handover_lock;
  std::vector<std::vector<uffdgc_ref>> handed_over;
  std::vector<uffdgc_ref*> orphan_slots;  // slot logs of threads that detached meanwhile
  // Stores into slots outside the moving space, or anywhere in it while log_all_slots is set
  // (pins exist: islands), have their slot logged for the flip.
  std::atomic<bool> log_all_slots{false};
  std::atomic<const Marker*> marker{nullptr};  // weak loads test liveness with it
  std::mutex weak_lock;                        // weak loads vs the end of marking
  std::vector<uffdgc_ref> weak_loaded;         // referents handed out by weak loads (marking)
  std::atomic<bool> objects_black{false};      // object-space allocations are marked live

  std::mutex flip_lock;  // the requester of a cycle waits for its flip
  std::condition_variable flip_cv;
  uint64_t flips = 0;           // the last cycle that has flipped (flip_lock)
  uint64_t cycles_started = 0;  // the last cycle past pause 1 (flip_lock)

  // The barrier_flag of a thread while the cycle runs (include/uffdgc/inline.h): every store
  // through the slow path once pins exist in the cycle, else the inline log.
  uint32_t barrier_flag() const {
    return (log_all_slots.load(std::memory_order_seq_cst) ? UFFDGC_BARRIER_SLOW
                                                          : UFFDGC_BARRIER_LOG) |
           remember_flag;
  }
  // The flag of every thread outside cycles: UFFDGC_BARRIER_REMEMBER in a generational heap
  // (design: .barrier.remembered), which keeps it through cycles too; else 0.
  uint32_t remember_flag = 0;
  // In a fork child, where only the forking thread exists: locks other threads held, and a
  // condition variable that may carry a waiter of the parent, are rebuilt.
  void reset_in_child();
};

class Heap {
 public:
  explicit Heap(Mutators& threads) : mutators(threads) {}
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  bool concurrent() const { return mode == UFFDGC_MODE_MOVE || mode == UFFDGC_MODE_COPY; }
  bool verify() const { return (config.flags & UFFDGC_HEAP_VERIFY) != 0; }

  // The occupancy trigger: bytes of the moving space in use beyond which a collection is due.
  uint64_t occupancy_limit() const {
    return moving.capacity() / 100 * config.trigger_occupancy_pct;
  }
  // Where the bump pointer stands when the next collection becomes due (the allocation-volume
  // and occupancy triggers), for a heap whose top is `top` that allocated nothing since.
  uint64_t collection_due_at(uint64_t top) const;
  // Writes the fillers the pauses recorded. Heap lock held.
  void flush_pending_fillers();
  // The statistics with the spaces' sizes and the install counters filled in. Takes the lock.
  uffdgc_heap_stats read_stats();
  // The next object finalization made ready, or false. Takes the heap lock.
  bool pop_finalization_ready(uffdgc_ref* out);
  // Sets (fn null: clears) the event listener. Events are delivered under event_lock, so a
  // delivery in progress is waited for.
  void set_event_listener(uffdgc_event_fn fn, void* arg);
  // Generational collection (design: .cycle.young): maps the remembered set's tables and
  // makes every collection until now old. At creation, before any thread attaches.
  bool enable_generations();
  // The young generation's size as the barrier sees it (inline.h young_size): from old_end to
  // the end of the moving space's reservation; 0 in other heaps.
  uint64_t young_size() const { return generational ? moving.limit() - old_end : 0; }
  // Whether a collection a trigger asks for may be young: there is an old generation (with
  // none, a young collection marks everything a full one does and sweeps nothing) and it is
  // below old_generation_pct of the capacity (design: .cycle.young.policy).
  bool young_collection_fits() const;
  // The heap's locks and per-process resources, rebuilt in a fork child (the GC thread and the
  // userfaultfd belong to the parent; both are recreated on demand).
  void reset_in_child();

  Mutators& mutators;
  HeapConfig config;
  uint32_t mode = UFFDGC_MODE_STW;  // effective: MOVE/COPY compact concurrently
  TypeRegistry types;
  MovingSpace moving;
  ObjectSpace objects;

  std::mutex lock;       // see the file comment
  ObjectStarts starts;   // parse points of the moving space (uffdgc_pin)
  std::unordered_map<uffdgc_ref, uint32_t> pins;  // pinned object -> pin count
  std::vector<uffdgc_ref> finalizable;            // allocated, finalizer not yet due
  std::deque<uffdgc_ref> finalization_ready;      // unreachable, waiting for the runtime
  uint64_t bytes_since_gc = 0;
  // stats.bytes_allocated at the last flip, and what was allocated between the two flips
  // before it: what the heap allocates per cycle.
  uint64_t bytes_allocated_at_flip = 0;
  uint64_t bytes_allocated_flip_before = 0;
  uffdgc_heap_stats stats{};
  // Fillers owed to ranges that nobody allocates in any more (retired buffers, padding): the
  // pauses record them instead of writing heap pages; written before anything parses the
  // space (flush_pending_fillers).
  std::vector<std::pair<uint64_t, uint64_t>> pending_fillers;
  uint64_t pin_epoch = 0;   // changes with every new pin
  uint32_t mark_epoch = 0;  // cycle number for object-space marks

  std::mutex event_lock;  // the listener and its calls (never held with `lock`)
  uffdgc_event_fn event_fn = nullptr;
  void* event_arg = nullptr;

  // Generational heaps (design: .cycle.young). The old generation is [moving.begin(), old_end):
  // page-aligned, moved only at a collection (world stopped).
  bool generational = false;
  std::atomic<uint64_t> old_end{0};
  RememberedSet remembered;
  // A fork child's next collection is full: the threads that did not survive the fork took
  // their remembered-set logs with them.
  bool full_collection_due = false;

  CycleState cycle;        // concurrent modes only
  AllocationPacer pacer;   // allocation against marking progress
  GcThread gc_thread;
  uffd::Userfaultfd uffd;  // opened lazily per process (fork!)
  uffd::InstallCounters install_counters;

  // Tests only, set through runtime/test_access.h (design: .heap.test-hooks) before any cycle.
  uffd::FaultInjector* fault_injector = nullptr;
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

 protected:
  ~Heap() = default;
};

}  // namespace uffdgc::gc
