// What the collector needs from the threads that run mutators (design: .heap.mutators). gc/
// declares it and runtime/ implements it (runtime/heap_mutators.cc), so the collector never
// sees a thread registry, a handle stack or a TLAB: it asks for the world to stop, for the
// stopped threads' roots, for allocation to be cut, and for the barrier state of every thread.
// Not async-signal-safe: nothing here is reachable from the SIGBUS handler.
#pragma once

#include <cstdint>
#include <vector>

#include "uffdgc/inline.h"

namespace uffdgc::gc {

// A callback for root slots, passed by value through the interface (a function reference:
// it must not outlive the call it is passed to).
class SlotVisitor {
 public:
  template <typename Fn>
  explicit SlotVisitor(Fn& fn)
      : fn_([](void* ctx, uffdgc_ref* slot) { (*static_cast<Fn*>(ctx))(slot); }),
        ctx_(const_cast<void*>(static_cast<const void*>(&fn))) {}
  void operator()(uffdgc_ref* slot) const { fn_(ctx_, slot); }

 private:
  void (*fn_)(void*, uffdgc_ref*);
  void* ctx_;
};

class Mutators {
 public:
  // ---- the world ----
  // Stops every other attached thread (requester may be nullptr: the GC thread) and returns
  // the time-to-safepoint in ns; resume_the_world ends the stop.
  virtual uint64_t stop_the_world(uffdgc_mutator* requester) = 0;
  virtual void resume_the_world() = 0;
  // The requester's own transitions while it waits for a cycle (runtime/thread_registry.h):
  // poll stops at a safepoint if one is requested.
  virtual void poll(uffdgc_mutator* m) = 0;
  virtual void park(uffdgc_mutator* m) = 0;
  virtual void unpark(uffdgc_mutator* m) = 0;

  // ---- with the world stopped by the caller ----
  // Every root slot of the stopped threads (their handles).
  virtual void visit_thread_roots(SlotVisitor visit) = 0;
  // Every global root slot. Threads that are not running mutators may store to globals at any
  // time (uffdgc.h): read them atomically, rewrite them with a compare-and-swap.
  virtual void visit_global_roots(SlotVisitor visit) = 0;
  // Empties every thread's TLAB and moves the top up to a page boundary without writing a heap
  // page: the unused ends go to Heap::pending_fillers. Returns the new top. Heap lock held.
  virtual uint64_t cut_allocation() = 0;
  // Empties every thread's TLAB, writing a filler over its unused end. Heap lock held.
  virtual void retire_tlabs() = 0;
  // Sets every thread's barrier_flag (include/uffdgc/inline.h); a flag without the cycle's
  // bits (UFFDGC_BARRIER_CYCLE) also empties their SATB and slot logs.
  virtual void set_barrier_flags(uint32_t flag) = 0;
  // Appends every thread's SATB log (emptying it) to `logs` and empties their slot logs.
  virtual void take_satb_logs(std::vector<std::vector<uffdgc_ref>>& logs) = 0;
  // Appends the slots every thread logged (its slot log, kept) to `slots`.
  virtual void append_logged_slots(std::vector<uffdgc_ref*>& slots) = 0;
  // Generational heaps: adds every thread's remembered-set log to Heap::remembered, emptying
  // it (throws std::bad_alloc), and publishes the young generation's range to every thread.
  virtual void take_remembered_logs() = 0;
  virtual void set_young_range(uint64_t begin, uint64_t size) = 0;

  // ---- with the world running ----
  // Every thread hands its SATB log over to Heap::cycle.handed_over, at its next safepoint
  // (parked threads through the caller); returns when all have.
  virtual void hand_over_satb_logs() = 0;

 protected:
  ~Mutators() = default;
};

}  // namespace uffdgc::gc
