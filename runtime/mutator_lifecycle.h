// Attaching and detaching mutator threads (uffdgc.h "Threads and safepoints"). The C entry
// points check their arguments and call these.
#pragma once

#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

// A mutator for the calling thread. UFFDGC_ESTATE when it has one on this heap already, or
// when SIGBUS is blocked in a concurrent mode (a mutator's first touch of a to-space page
// raises it; blocked, the kernel would kill the process). Throws std::bad_alloc.
uffdgc_result attach_mutator(uffdgc_heap& heap, void* vm_thread, uffdgc_mutator** out);

// Detaches the calling thread's mutator m; the pointer stays valid and fails later calls with
// UFFDGC_ESTATE. UFFDGC_ENOMEM (nothing changed) when the heap cannot keep it.
uffdgc_result detach_mutator(uffdgc_mutator* m);

}  // namespace uffdgc::runtime
