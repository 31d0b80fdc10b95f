// Allocation pacing (issue 12 §5, design: .heap.triggers). A concurrent cycle frees
// space only at its flip; a thread that allocates faster than the cycle marks would run out
// of space first and then wait for the whole rest of the cycle in one allocation. Instead,
// while marking runs, a thread that takes a new buffer waits in short steps whenever the space
// it has taken since the cycle began is more than its budget:
//
//   budget = headroom * (kFloor + kSpan * marked / expected)      (at most kFloor + kSpan)
//
// where headroom is the free space at the cycle's start (top to the end of the space),
// expected is the live bytes the last cycle found and marked what this cycle has marked so far.
// Marking complete leaves (1 - kFloor - kSpan) of the headroom for the rest of the way to the
// flip; running out anyway is an ordinary allocation stall. No pacing without an estimate (the
// first cycle) or once marking has ended. Paced waits are parked, so pauses never wait for them,
// and end when marking makes progress (the GC thread publishes it) or after kStepNs.
#pragma once

#include <atomic>
#include <cstdint>

#include "os/event_count.h"

namespace uffdgc::gc {

class AllocationPacer {
 public:
  static constexpr double kFloor = 0.25;   // of the headroom, usable before marking progresses
  static constexpr double kSpan = 0.60;    // added in proportion to marking progress
  static constexpr uint64_t kStepNs = 1'000'000;  // longest single wait
  static constexpr uint64_t kPublishBytes = 1 << 20;  // marking progress published per MiB

  // Mark start, world stopped: pace allocation from `top` up to `limit` against
  // `expected_live` bytes of marking (0: no pacing this cycle).
  void start(uint64_t top, uint64_t limit, uint64_t expected_live);
  // The GC thread, as marking proceeds: bytes marked so far. Wakes paced threads.
  void progress(uint64_t marked_bytes);
  // Marking ended: no more pacing this cycle. Wakes paced threads.
  void stop();

  // The calling thread, about to take space at `top`: whether it is ahead of its budget.
  bool over_budget(uint64_t top) const;
  // Waits until marking progresses or pacing stops, at most kStepNs. Parked callers only.
  void wait() const;

 private:
  void wake();

  std::atomic<uint64_t> begin_{0}, headroom_{0}, expected_{0}, marked_{0};
  os::EventCount published_;  // notified with every publication
};

}  // namespace uffdgc::gc
