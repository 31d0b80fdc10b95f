// What tests may set inside a heap (design: .heap.test-hooks). Not part of the C ABI and not
// installed: test programs link the library's objects and call these instead of writing the
// heap's fields, so the heap's layout can change without touching the tests. Each setter is
// for a heap whose GC thread is idle (before a cycle, or between cycles).
#pragma once

#include <vector>

#include "gc/phase.h"
#include "os/uffd/fault_injection.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::test_access {

// The rules the page installers of the heap's cycles consult; nullptr: none.
void set_fault_injector(uffdgc_heap* heap, uffd::FaultInjector* injector);

// Called on the GC thread after a flip that leaves the compaction concurrent, before it
// produces any page (a test holds the to-space empty while mutators and the kernel meet it);
// and when a cycle has planned its compaction and is about to stop the world for the flip.
// fn nullptr: no hook.
using CycleHook = void (*)(void* arg);
void set_after_flip_hook(uffdgc_heap* heap, CycleHook fn, void* arg);
void set_before_flip_hook(uffdgc_heap* heap, CycleHook fn, void* arg);

// What a concurrent cycle shows the barrier's and weak loads' slow paths (CycleState::phase
// and log_all_slots), for testing those paths without a cycle: kIdle, kConcurrentMark or kWeak.
void set_barrier_phase(uffdgc_heap* heap, gc::Phase phase, bool log_all_slots);
// The SATB logs threads handed over to the cycle, taken (the heap no longer has them).
std::vector<std::vector<uffdgc_ref>> take_handed_over_logs(uffdgc_heap* heap);

}  // namespace uffdgc::test_access
