// The argument checks every C entry point that takes a mutator makes (include/uffdgc/uffdgc.h:
// a call with another thread's, a detached or a parked mutator fails, it never corrupts).
#pragma once

#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

inline bool running_owner(const uffdgc_mutator* m) {
  return is_owner(m) && m->state.load() == MutatorState::kRunning;
}

// The result for a call that needs the calling thread's own mutator: EINVAL for null, ESTATE
// for another thread's, a detached or (when `running`) a parked one.
inline uffdgc_result check_mutator(const uffdgc_mutator* m, bool running) {
  if (m == nullptr) return UFFDGC_EINVAL;
  if (!is_owner(m)) return UFFDGC_ESTATE;
  if (running && m->state.load() != MutatorState::kRunning) return UFFDGC_ESTATE;
  return UFFDGC_OK;
}

}  // namespace uffdgc::runtime
