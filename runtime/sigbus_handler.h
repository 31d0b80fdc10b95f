// The SIGBUS handler of concurrent compaction (design: .cycle.compaction): a mutator that touches a
// to-space page not installed yet gets SIGBUS (UFFD_FEATURE_SIGBUS); the handler gives the
// address to the collector's fault router (gc/compact/fault_router.h), which produces or waits
// for the page, then returns so the access is retried. Faults that are not ours go to the
// previously installed handler.
//
// Everything reachable from handle_sigbus() is async-signal-safe; errno is saved and restored
// by the installed handler.
#pragma once

#include <signal.h>

#include <cstdint>

namespace uffdgc::runtime {

// Installs the process-wide SIGBUS handler (SA_SIGINFO, chaining to the previous one).
// Idempotent and thread-safe. Returns 0 or an errno.
int install_sigbus_handler();

// True while our handler is the installed one: a handler installed over it later (without
// chaining to uffdgc_handle_sigbus) would turn every to-space fault into a crash, so each flip
// checks this first. Not async-signal-safe.
bool sigbus_handler_in_place();

// 1 if the fault was ours and is resolved (retry the access), 0 if not ours: only si_code
// BUS_ADRERR in a heap's range is; a page that keeps faulting aborts the process naming it.
int handle_sigbus(int sig, siginfo_t* info, void* ucontext);

}  // namespace uffdgc::runtime
