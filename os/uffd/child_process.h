// Runs a test in a forked child under a watchdog. The feature probe needs this twice: a
// seccomp filter may kill the process on a blocked ioctl, and on kernels before 6.18 a MOVE of
// a large folio can spin forever in the kernel where only SIGKILL ends it
// (research/kernel.md §1.5). Neither may take the caller down.
#pragma once

#include <cstddef>

namespace uffdgc::uffd {

struct ChildOutcome {
  bool completed = false;  // the child wrote its whole result and exited
  bool timed_out = false;  // killed by the watchdog
  int signal = 0;          // signal that ended the child, if any
  int error = 0;           // errno if fork/pipe failed
};

// body runs in the child and must be async-signal-safe (the parent may have other threads);
// it fills `result` (result_size bytes), which is then copied back to the parent.
ChildOutcome run_in_child(void (*body)(void* arg, void* result), void* arg, void* result,
                          size_t result_size, int timeout_ms);

}  // namespace uffdgc::uffd
