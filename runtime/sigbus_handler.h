// The SIGBUS path of concurrent compaction (DESIGN.md §4 step 5): a mutator that touches a
// to-space page not installed yet gets SIGBUS (UFFD_FEATURE_SIGBUS); the handler finds the
// compaction covering the address and produces or waits for the page, then returns so the
// access is retried. Faults that are not ours go to the previously installed handler.
//
// Everything reachable from handle_sigbus() is async-signal-safe: a fixed table of atomics,
// no locks, no allocation; errno is saved and restored by the installed handler.
#pragma once

#include <signal.h>

#include <cstdint>

namespace uffdgc::gc {
class ConcurrentCompaction;
}

namespace uffdgc::runtime {

// Installs the process-wide SIGBUS handler (SA_SIGINFO, chaining to the previous one).
// Idempotent and thread-safe. Returns 0 or an errno.
int install_sigbus_handler();

// True while our handler is the installed one: a handler installed over it later (without
// chaining to uffdgc_handle_sigbus) would turn every to-space fault into a crash, so each flip
// checks this first. Not async-signal-safe.
bool sigbus_handler_in_place();

// The moving-space reservation of a heap: a fault there with no compaction covering it is a
// fault that raced with the end of a phase; the access is simply retried.
bool add_heap_range(uint64_t begin, uint64_t end);
void remove_heap_range(uint64_t begin);

// Publishes / withdraws an active compaction. withdraw() returns only when no handler can
// still be using it (drains in-flight handlers).
bool publish_compaction(gc::ConcurrentCompaction* compaction);
void withdraw_compaction(gc::ConcurrentCompaction* compaction);

// A thread that waits for the collector lends a hand: the next stretch of pages of the
// compaction published for the moving space [lo, hi), if any (ConcurrentCompaction::assist,
// built in `buffer`, ConcurrentCompaction::kRunPages pages), holding it like a handler does so
// it cannot be withdrawn meanwhile. False when there is nothing (left) to take. Aborts as a
// fault would when installing fails. Not async-signal-safe.
bool assist_compaction(uint64_t lo, uint64_t hi, uint8_t* buffer);

// Around the event listener's calls (gc/collector.cc). The listener must not touch heap objects
// (uffdgc.h): at the end of the flip a page may be one that only this thread can produce
// later, so a to-space fault inside the listener aborts with a message instead of waiting for
// itself forever.
void enter_event_listener();
void leave_event_listener();

// In a forked child (atfork): only the forking thread exists, so no handler is in flight.
void forget_handlers_in_child();

// 1 if the fault was ours and is resolved (retry the access), 0 if not ours: only si_code
// BUS_ADRERR in a heap's range is; a page that keeps faulting aborts the process naming it.
int handle_sigbus(int sig, siginfo_t* info, void* ucontext);

}  // namespace uffdgc::runtime
