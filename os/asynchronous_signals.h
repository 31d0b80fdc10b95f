// OS layer (design: .os.contract): the asynchronous signals.
// Contract: cannot fail; async-signal-safe.
// The asynchronous signals: every signal but the synchronous ones a thread raises on itself
// (SIGBUS above all: any thread may touch a to-space page during a compaction and must get the
// SIGBUS that produces it). The collector's own threads block them, since they are the
// runtime's to take on its threads; the SIGBUS handler masks them while it runs
// (runtime/sigbus_handler.cc). Async-signal-safe.
#pragma once

#include <signal.h>

namespace uffdgc::os {

inline void fill_asynchronous_signals(sigset_t* set) {
  sigfillset(set);
  for (int sig : {SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGSYS}) sigdelset(set, sig);
}

// For a thread of the collector, at its start.
inline void block_asynchronous_signals() {
  sigset_t set;
  fill_asynchronous_signals(&set);
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
}

}  // namespace uffdgc::os
