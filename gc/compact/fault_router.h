// The fault router of concurrent compaction (design: .cycle.compaction): which compaction covers a
// faulting address. A mutator that touches a to-space page not installed yet gets SIGBUS
// (UFFD_FEATURE_SIGBUS); the signal handler (runtime/sigbus_handler.h) hands the address to
// route_fault(), which finds the compaction covering it and produces or waits for the page.
// The collector publishes and withdraws its compactions here; threads that wait for it lend a
// hand through assist_compaction().
//
// route_fault() and everything it reaches is async-signal-safe: a fixed table of atomics, no
// locks, no allocation. The other functions are not, unless marked.
#pragma once

#include <cstdint>

namespace uffdgc::gc {

class ConcurrentCompaction;

// The moving-space reservation of a heap: a fault there with no compaction covering it is a
// fault that raced with the end of a phase; the access is simply retried.
bool add_heap_range(uint64_t begin, uint64_t end);
void remove_heap_range(uint64_t begin);

// Publishes / withdraws an active compaction. withdraw() returns only when no handler can
// still be using it (drains in-flight handlers).
bool publish_compaction(ConcurrentCompaction* compaction);
void withdraw_compaction(ConcurrentCompaction* compaction);

// A thread that waits for the collector lends a hand: the next stretch of pages of the
// compaction published for the moving space [lo, hi), if any (ConcurrentCompaction::assist,
// built in `buffer`, ConcurrentCompaction::kRunPages pages), holding it like a handler does so
// it cannot be withdrawn meanwhile. False when there is nothing (left) to take. Aborts as a
// fault would when installing fails.
bool assist_compaction(uint64_t lo, uint64_t hi, uint8_t* buffer);

// Around the event listener's calls (gc/collector.cc). The listener must not touch heap objects
// (uffdgc.h): at the end of the flip a page may be one that only this thread can produce
// later, so a to-space fault inside the listener aborts with a message instead of waiting for
// itself forever.
void enter_event_listener();
void leave_event_listener();

// In a forked child (atfork): only the forking thread exists, so no handler is in flight.
void forget_faults_in_child();

// Async-signal-safe. 1 if a fault at `addr` (a kernel-raised BUS_ADRERR) was ours and is
// resolved (retry the access), 0 if not ours; a page that keeps faulting aborts the process
// naming it.
int route_fault(uint64_t addr);

// Whether faults on to-space pages reach route_fault(): the signal handler says so
// (runtime/sigbus_handler.cc registers the check when it installs itself). Checked by every
// flip; false when nothing is registered.
void set_fault_delivery_check(bool (*delivered)());
bool faults_delivered();

}  // namespace uffdgc::gc
