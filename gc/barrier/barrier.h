// The barrier protocols between mutator threads and a concurrent cycle (design: .barrier.*):
// what the write barrier's slow path logs, what a weak load answers, what a thread that joins
// or leaves during a cycle does with its flag and its logs, and what a new pin changes. The C
// ABI (runtime/c_api_barriers.cc and the thread and root entry points) validates its
// arguments and calls these; the inline fast paths are in include/uffdgc/inline.h.
// Not async-signal-safe; mutator threads only (each on its own logs).
#pragma once

#include <cstdint>
#include <vector>

#include "gc/barrier/remembered_log.h"
#include "gc/barrier/satb_log.h"
#include "uffdgc/inline.h"

namespace uffdgc::gc {

class Heap;

// A thread's barrier logs: the references its stores overwrote while marking (the SATB log,
// appended inline), the slots the flip must rewrite (logged by the slow path only) and, in a
// generational heap, the old slots its stores made refer to young objects (the remembered-set
// log, appended inline).
struct ThreadLogs {
  explicit ThreadLogs(uffdgc_mutator_fast& fast) : satb(fast), remembered(fast) {}
  SatbLog satb;
  std::vector<uffdgc_ref*> slots;
  RememberedLog remembered;
};

// The slow path before a store to `slot` while the thread's barrier flag is set
// (design: .barrier.slow-path): logs the value being overwritten while marking (a full log is
// handed over first), drops what the inline path logged once marking is complete, and logs
// the slot if the flip must rewrite it. Throws std::bad_alloc: the caller ends the process (a
// lost entry would free a live object or leave a slot pointing into the from-space).
void log_store(Heap& heap, ThreadLogs& logs, uffdgc_ref* slot);

// The remembered-set half of the slow path, before a store of `value` to `slot` of `holder`
// (design: .barrier.remembered): in a generational heap, a young value stored outside the
// young generation is logged, a full log handed over first. Throws std::bad_alloc (the caller
// ends the process: a slot lost from the remembered set frees a live object).
void remember_store(Heap& heap, ThreadLogs& logs, uffdgc_ref holder, uffdgc_ref* slot,
                    uffdgc_ref value);

// Adds a thread's remembered-set log to the heap's remembered set and empties it; log_full:
// the barrier's hand-over of a full log (counted in the statistics). Throws std::bad_alloc
// (the log is kept; the caller ends the process).
void hand_over_remembered(Heap& heap, RememberedLog& log, bool log_full = false);

// Moves a thread's SATB log to the cycle's handed-over logs, for the GC thread to trace
// without a pause (design: .barrier.hand-over). Never throws: without memory the log stays.
void hand_over(Heap& heap, SatbLog& log) noexcept;

// What a weak load of `referent` (not 0) gives while the thread's barrier flag is set
// (design: .barrier.weak-load). Throws std::bad_alloc while marking (the caller ends the
// process: a referent handed out unrecorded could be freed while the caller holds it).
uffdgc_ref load_weak(Heap& heap, uffdgc_ref referent);

// A thread joining while a cycle runs: sets its flag (design: .barrier.join).
void join_cycle(const Heap& heap, uint32_t* barrier_flag);

// A thread leaving (design: .barrier.leave): its logs go to the cycle while the barrier is on,
// else they are dropped; either way they are empty afterwards. Heap lock held. Throws
// std::bad_alloc (nothing moved: the caller ends the process).
void orphan_logs(Heap& heap, ThreadLogs& logs);

// The first pin of a moving-space object: a cycle that planned must plan again (the pin epoch
// changes), and while the barrier is on every store must log its slot. Returns true when every
// attached thread's flag must become UFFDGC_BARRIER_SLOW (design: .barrier.pins). Heap lock.
bool pin_moving_object(Heap& heap);

}  // namespace uffdgc::gc
