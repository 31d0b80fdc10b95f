// The heap verifier (issue 3; design: .overview.layout): after a collection every reference in
// every object and root points at the start of a live object of a registered type, the moving
// space parses from begin to top, and the side tables agree with the heap (the bytes that slid
// equal the bytes the plan predicted). Aborts with a message naming the first violation: a
// verifier failure is a collector bug, never the embedder's.
//
// The embedder's bugs that would look like one (a slot holding a value that is no reference)
// are caught earlier, by the checked marker (gc/mark/marker.h), which reports them here with
// the slot's address: with UFFDGC_HEAP_VERIFY, or in a checked build.
#pragma once

#include <cstdint>


namespace uffdgc::gc {

class CompactionPlan;
class Heap;

struct VerifyExpectations {
  const CompactionPlan* plan = nullptr;  // the segments that slid
  uint64_t marked_moving_bytes = 0;  // bytes marked live in the moving space
  uint64_t marked_bytes = 0;         // bytes marked live in all spaces (stop-the-world only)
  // Verified after a concurrent phase: mutators allocated meanwhile, so objects above the
  // slid region and new non-moving objects are expected.
  bool concurrent = false;
  // A young cycle (design: .cycle.young): survivors are counted from here, and the object
  // spaces, which it does not mark, are not compared with marking. 0: a full cycle.
  uint64_t young_begin = 0;
};

// World stopped, heap lock held. Returns the number of objects checked.
uint64_t verify_heap(Heap& heap, const VerifyExpectations& expect);

// A generational heap at the start of a collection, world stopped, threads' remembered logs
// gathered, fillers written: every slot of an old moving-space object or an object-space
// object that refers into the young generation [heap.old_end, top) must be in the remembered
// set (a store that bypassed the barrier would let a young collection free or move its
// referent without the slot). Reads the whole heap: test builds only. Returns the number of
// old-to-young slots found.
uint64_t verify_remembered_set(Heap& heap);

// "uffdgc: heap verification failed: <what> (at <where>, value <value>)", then abort.
[[noreturn]] void report_verification_failure(const char* what, uint64_t where, uint64_t value);

// "uffdgc: bad reference: slot <slot> holds <value>, <why>" (or, without a slot: "a value
// logged or handed to the collector"), then abort. Async-signal-safe it is not: marking only.
[[noreturn]] void report_bad_reference(const void* slot, uint64_t value, const char* why);

}  // namespace uffdgc::gc
