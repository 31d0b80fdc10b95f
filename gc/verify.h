// The heap verifier (issue 3; DESIGN.md §1 gc/verify): after a collection every reference in
// every object and root points at the start of a live object of a registered type, the moving
// space parses from begin to top, and the side tables agree with the heap (the bytes that slid
// equal the bytes the plan predicted). Aborts with a message naming the first violation: a
// verifier failure is a collector bug, never the embedder's.
#pragma once

#include <cstdint>

struct uffdgc_heap;

namespace uffdgc::gc {

class CompactionPlan;

struct VerifyExpectations {
  const CompactionPlan* plan = nullptr;  // the segments that slid
  uint64_t marked_moving_bytes = 0;  // bytes marked live in the moving space
  uint64_t marked_bytes = 0;         // bytes marked live in all spaces (stop-the-world only)
  // Verified after a concurrent phase: mutators allocated meanwhile, so objects above the
  // slid region and new non-moving objects are expected.
  bool concurrent = false;
};

// World stopped, heap lock held. Returns the number of objects checked.
uint64_t verify_heap(uffdgc_heap& heap, const VerifyExpectations& expect);

}  // namespace uffdgc::gc
