// Fork safety (design: .embedder.fork). A child forked during a concurrent compaction would lose
// the userfaultfd registration of the to-space and read its missing pages as zeros, so fork
// waits for the phase to end: prepare parks the forking mutator if it must, waits for the GC
// thread to be idle, and holds the heap lock and the thread registry across fork(); the parent
// releases them; the child rebuilds the locks, forgets the GC thread, the userfaultfd and the
// other threads' mutators.
//
// Every heap is registered with process-wide pthread_atfork handlers that run these steps for
// it, unless it was created with UFFDGC_HEAP_NO_FORK_HANDLERS; such a heap relies on the
// runtime calling uffdgc_atfork_prepare/parent/child around every fork().
#pragma once

struct uffdgc_heap;

namespace uffdgc::runtime {

void prepare_heap_for_fork(uffdgc_heap& heap);
void resume_heap_in_parent(uffdgc_heap& heap);
void reset_heap_in_child(uffdgc_heap& heap);

// Adds a heap to the automatic handlers (installing them on first use); false if
// pthread_atfork failed. remove() waits for a fork in progress to finish.
bool add_fork_handled_heap(uffdgc_heap* heap);
void remove_fork_handled_heap(uffdgc_heap* heap);

}  // namespace uffdgc::runtime
