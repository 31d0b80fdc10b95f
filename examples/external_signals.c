/*
 * A runtime that owns SIGBUS (UFFDGC_HEAP_EXTERNAL_SIGNALS): uffdgc installs no handler, and
 * the runtime's own handler asks uffdgc first. uffdgc_handle_sigbus() returns 1 when the fault
 * was a heap page of a concurrent compaction, now produced: return so the access is retried.
 * Otherwise the fault is the runtime's (here: reported and fatal). The handler is installed
 * with SA_NODEFER so a fault inside it (the runtime's own code touching the heap) is served too.
 * uffdgc_handle_sigbus is async-signal-safe and keeps errno.
 *
 * usage: uffdgc-external-signals [--nodes=N]
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uffdgc/inline.h>

typedef struct Node {
  uint64_t header;
  uffdgc_ref next;
  uint64_t id;
} Node;

static volatile sig_atomic_t heap_faults;

static void runtime_sigbus(int sig, siginfo_t* info, void* ucontext) {
  if (uffdgc_handle_sigbus(sig, info, ucontext)) {
    heap_faults = heap_faults + 1;
    return;
  }
  static const char msg[] = "runtime: SIGBUS outside the heap\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(70);
}

int main(int argc, char** argv) {
  uint64_t nodes = 200000;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--nodes=", 8) == 0) nodes = strtoull(argv[i] + 8, NULL, 10);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = runtime_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);

  uffdgc_heap_options o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.mode = UFFDGC_MODE_AUTO;
  o.flags = UFFDGC_HEAP_EXTERNAL_SIGNALS;
  o.heap_limit = 256u << 20;
  uffdgc_heap* heap = NULL;
  uffdgc_result rc = uffdgc_heap_create(&o, &heap);
  if (rc != UFFDGC_OK) {
    fprintf(stderr, "uffdgc_heap_create: %s\n", uffdgc_result_name(rc));
    return 1;
  }
  static const uint32_t refs[] = {offsetof(Node, next)};
  uffdgc_type_info t;
  memset(&t, 0, sizeof t);
  t.struct_size = sizeof t;
  t.base_size = sizeof(Node);
  t.ref_offsets = refs;
  t.num_ref_offsets = 1;
  t.name = "node";
  uint32_t node_type = 0;
  uffdgc_mutator* m = NULL;
  uffdgc_handle_scope scope;
  if (uffdgc_type_register(heap, &t, &node_type) != UFFDGC_OK ||
      uffdgc_mutator_attach(heap, NULL, &m) != UFFDGC_OK ||
      uffdgc_handle_scope_open_fast(m, &scope) != UFFDGC_OK) {
    return 1;
  }
  uffdgc_ref* list = uffdgc_handle_new_fast(m, 0);
  for (int round = 0; round < 4; ++round) {
    for (uint64_t i = 0; i < nodes; ++i) {
      uffdgc_ref r = 0, garbage = 0;
      if (uffdgc_alloc(m, node_type, 0, UFFDGC_ALLOC_DEFAULT, &garbage) != UFFDGC_OK ||
          uffdgc_alloc(m, node_type, 0, UFFDGC_ALLOC_DEFAULT, &r) != UFFDGC_OK) {
        return 1;
      }
      ((Node*)r)->id = i;
      ((Node*)r)->next = i == 0 ? 0 : *list; /* initialising store of a fresh object */
      *list = r;
    }
    /* Returns after the flip: compaction goes on while the walk below reads the to-space,
       and the pages the walk reaches first come through runtime_sigbus. */
    if (uffdgc_collect(m) != UFFDGC_OK) return 1;
    uint64_t expect = nodes;
    for (uffdgc_ref p = *list; p != 0; p = ((Node*)p)->next) {
      if (((Node*)p)->id != --expect) {
        fprintf(stderr, "round %d: node %llu is wrong\n", round, (unsigned long long)expect);
        return 2;
      }
    }
    if (expect != 0) return 2;
  }
  uffdgc_heap_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  uffdgc_heap_get_stats(heap, &st);
  printf("%s mode: %llu collections, %d heap faults served through the runtime's handler\n",
         uffdgc_mode_name(st.mode), (unsigned long long)st.collections, (int)heap_faults);
  uffdgc_handle_scope_close_fast(m, &scope);
  uffdgc_mutator_detach(m);
  uffdgc_heap_destroy(heap);
  return 0;
}
