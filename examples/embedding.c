/*
 * The smallest complete embedding of uffdgc, in plain C against the public headers only:
 *
 *   - two object types described by data: a node (two references and a payload) and an array
 *     of references (variable size);
 *   - two mutator threads, each with its own table of lists kept alive by a global root, and the
 *     list under construction kept in handles;
 *   - a loop that keeps replacing lists (each with a back edge and a cycle), copies the table in
 *     bulk with the barrier, now and then allocates a large array, parks around a sleep, and
 *     polls; collections are triggered by allocation volume and, every so often, explicitly;
 *   - every list's payload sum is remembered outside the heap and checked after the
 *     collections, so the demo also shows that nothing was lost or corrupted;
 *   - statistics at the end: collections, pause p50/p99/max, bytes allocated and live.
 *
 * usage: uffdgc-embedding [--mode=auto|stw|move|copy] [--iterations=N] [--verify]
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uffdgc/inline.h>
#include <uffdgc/uffdgc.h>

/* ---- The object model: plain structs that start with the header word ---- */
typedef struct Node {
  uint64_t header; /* type index (low 32 bits), written by the allocator */
  uffdgc_ref next; /* the list */
  uffdgc_ref jump; /* a back edge deeper into the same list; the tail's jump closes a cycle */
  int64_t payload;
} Node;

typedef struct RefArray {
  uint64_t header;
  uint64_t length; /* written by uffdgc_alloc */
  /* uffdgc_ref elements[length] follow */
} RefArray;

static uffdgc_ref *elements(uffdgc_ref array) { return (uffdgc_ref *)(array + sizeof(RefArray)); }

enum { kSlots = 1024, kMaxList = 24, kLargeLength = 16 * 1024 /* 128 KiB: large-object space */ };

static uint32_t g_node_type, g_array_type;
static long g_iterations = 300000;

/* ---- Pause statistics from the event listener (collecting thread, world stopped) ---- */
enum { kMaxPauses = 1 << 16 };
static uint64_t g_pauses[kMaxPauses];
static atomic_size_t g_pause_count;

static void on_event(const uffdgc_event *e, void *arg) {
  (void)arg;
  if (e->kind == UFFDGC_EVENT_PAUSE_END) {
    size_t n = atomic_load_explicit(&g_pause_count, memory_order_relaxed);
    if (n < kMaxPauses) {
      g_pauses[n] = e->pause_ns;
      atomic_store_explicit(&g_pause_count, n + 1, memory_order_release);
    }
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void check(uffdgc_result rc, const char *what) {
  if (rc != UFFDGC_OK) {
    fprintf(stderr, "embedding: %s: %s\n", what, uffdgc_result_name(rc));
    exit(1);
  }
}

/* xorshift64*: a deterministic workload per thread. */
static uint64_t next_random(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* ---- One mutator thread ---- */
typedef struct Worker {
  uffdgc_heap *heap;
  int id;
  uint64_t seed;
  int64_t expected[kSlots]; /* payload sum of the list in each table slot, outside the heap */
  long lists_checked, mismatches;
} Worker;

/* The payload sum along `next`, at most kMaxList nodes. Running; no safepoint inside. */
static int64_t list_sum(uffdgc_ref head) {
  int64_t sum = 0;
  for (int i = 0; head != 0 && i <= kMaxList; ++i) {
    const Node *n = (const Node *)head;
    sum += n->payload;
    head = uffdgc_load_ref(&n->next);
  }
  return sum;
}

static void verify_slot(Worker *w, uffdgc_global *table, int slot) {
  uffdgc_ref t = uffdgc_global_get(table);
  ++w->lists_checked;
  if (list_sum(uffdgc_load_ref(&elements(t)[slot])) != w->expected[slot]) ++w->mismatches;
}

/* Builds a list of `len` nodes (allocating may collect: the head and tail live in handles),
 * stores it into table[slot] and returns its payload sum. */
static int64_t build_list(Worker *w, uffdgc_mutator *m, uffdgc_global *table, int len) {
  uffdgc_handle_scope scope;
  check(uffdgc_handle_scope_open_fast(m, &scope), "handle_scope_open");
  uffdgc_ref *head = uffdgc_handle_new_fast(m, 0);
  uffdgc_ref *tail = uffdgc_handle_new_fast(m, 0);
  if (head == NULL || tail == NULL) check(UFFDGC_ENOMEM, "handle_new");
  int64_t sum = 0;
  for (int i = 0; i < len; ++i) {
    uffdgc_ref n;
    /* Inline TLAB bump for a fixed-size type; falls back to uffdgc_alloc_slow. */
    check(uffdgc_alloc_fast(m, g_node_type, sizeof(Node), &n), "alloc node");
    Node *node = (Node *)n;
    node->payload = (int64_t)(next_random(&w->seed) % 1000);
    sum += node->payload;
    uffdgc_store_ref(m, n, &node->next, *head); /* *head: the current address, after the alloc */
    if (*head != 0 && (next_random(&w->seed) & 1)) {
      uffdgc_ref deeper = uffdgc_load_ref(&((Node *)*head)->next);
      uffdgc_store_ref(m, n, &node->jump, deeper != 0 ? deeper : *head);
    }
    *head = n; /* handle slots are roots, not heap fields: a plain store */
    if (*tail == 0) *tail = n;
  }
  if (*tail != 0) uffdgc_store_ref(m, *tail, &((Node *)*tail)->jump, *head); /* the cycle */
  int slot = (int)(next_random(&w->seed) % kSlots);
  uffdgc_ref t = uffdgc_global_get(table);
  uffdgc_store_ref(m, t, &elements(t)[slot], *head);
  w->expected[slot] = sum;
  check(uffdgc_handle_scope_close_fast(m, &scope), "handle_scope_close");
  return sum;
}

static void *worker_main(void *arg) {
  Worker *w = arg;
  uffdgc_mutator *m;
  check(uffdgc_mutator_attach(w->heap, w, &m), "mutator_attach");

  uffdgc_ref t;
  check(uffdgc_alloc(m, g_array_type, kSlots, UFFDGC_ALLOC_DEFAULT, &t), "alloc table");
  uffdgc_global *table;
  check(uffdgc_global_create(w->heap, t, &table), "global_create");

  for (long it = 0; it < g_iterations; ++it) {
    build_list(w, m, table, 1 + (int)(next_random(&w->seed) % kMaxList));

    if (it % 64 == 0) { /* a snapshot of the table, copied with the bulk barrier */
      uffdgc_ref snap;
      check(uffdgc_alloc(m, g_array_type, kSlots, UFFDGC_ALLOC_DEFAULT, &snap), "alloc snapshot");
      t = uffdgc_global_get(table); /* reload: the allocation may have moved the table */
      uffdgc_store_refs(m, snap, elements(snap), elements(t), kSlots);
      if (memcmp(elements(snap), elements(t), kSlots * sizeof(uffdgc_ref)) != 0) ++w->mismatches;
    }
    if (it % 4096 == 0) { /* a large array: the large-object space, never moves */
      uffdgc_ref big;
      check(uffdgc_alloc(m, g_array_type, kLargeLength, UFFDGC_ALLOC_DEFAULT, &big), "alloc large");
    }
    if (it % 2048 == 1) { /* blocking native work: park so collections need not wait */
      check(uffdgc_mutator_park(m), "park");
      nanosleep(&(struct timespec){.tv_nsec = 200 * 1000}, NULL);
      check(uffdgc_mutator_unpark(m), "unpark");
    }
    if (w->id == 0 && it % 20000 == 19999) check(uffdgc_collect(m), "collect");
    if (it % 256 == 0) verify_slot(w, table, (int)(next_random(&w->seed) % kSlots));
    uffdgc_poll(m);
  }

  check(uffdgc_collect(m), "collect");
  for (int s = 0; s < kSlots; ++s) verify_slot(w, table, s);
  check(uffdgc_global_destroy(w->heap, table), "global_destroy");
  check(uffdgc_mutator_detach(m), "mutator_detach");
  return NULL;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }
static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Nearest-rank percentile of n sorted values. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct) {
  if (n == 0) return 0;
  size_t rank = (n * pct + 99) / 100;
  return sorted[rank == 0 ? 0 : rank - 1];
}

int main(int argc, char **argv) {
  uffdgc_heap_options options;
  memset(&options, 0, sizeof(options));
  options.struct_size = sizeof(options); /* size-prefixed: lets the library grow the struct */
  options.mode = UFFDGC_MODE_AUTO;
  options.heap_limit = 64u << 20;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--mode=auto") == 0)
      options.mode = UFFDGC_MODE_AUTO;
    else if (strcmp(a, "--mode=stw") == 0)
      options.mode = UFFDGC_MODE_STW;
    else if (strcmp(a, "--mode=move") == 0)
      options.mode = UFFDGC_MODE_MOVE;
    else if (strcmp(a, "--mode=copy") == 0)
      options.mode = UFFDGC_MODE_COPY;
    else if (strncmp(a, "--iterations=", 13) == 0)
      g_iterations = atol(a + 13);
    else if (strcmp(a, "--verify") == 0)
      options.flags |= UFFDGC_HEAP_VERIFY;
    else {
      fprintf(stderr, "usage: %s [--mode=auto|stw|move|copy] [--iterations=N] [--verify]\n",
              argv[0]);
      return 2;
    }
  }

  uffdgc_heap *heap;
  check(uffdgc_heap_create(&options, &heap), "heap_create");
  check(uffdgc_set_event_listener(heap, on_event, NULL), "set_event_listener");

  /* Types as data: reference slots by offset; the array's elements are all references. */
  static const uint32_t node_refs[] = {offsetof(Node, next), offsetof(Node, jump)};
  uffdgc_type_info node = {.struct_size = sizeof(uffdgc_type_info),
                           .base_size = sizeof(Node),
                           .num_ref_offsets = 2,
                           .ref_offsets = node_refs,
                           .name = "node"};
  check(uffdgc_type_register(heap, &node, &g_node_type), "type_register node");
  uffdgc_type_info array = {.struct_size = sizeof(uffdgc_type_info),
                            .flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS,
                            .base_size = sizeof(RefArray),
                            .elem_size = sizeof(uffdgc_ref),
                            .length_offset = offsetof(RefArray, length),
                            .name = "ref-array"};
  check(uffdgc_type_register(heap, &array, &g_array_type), "type_register array");

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  Worker workers[2];
  pthread_t threads[2];
  for (int i = 0; i < 2; ++i) {
    memset(&workers[i], 0, sizeof(Worker));
    workers[i].heap = heap;
    workers[i].id = i;
    workers[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) return 1;
  }
  for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);

  uffdgc_heap_stats st;
  memset(&st, 0, sizeof(st));
  st.struct_size = sizeof(st);
  check(uffdgc_heap_get_stats(heap, &st), "heap_get_stats");
  size_t n = atomic_load_explicit(&g_pause_count, memory_order_acquire);
  qsort(g_pauses, n, sizeof(uint64_t), cmp_u64);
  long checked = workers[0].lists_checked + workers[1].lists_checked;
  long bad = workers[0].mismatches + workers[1].mismatches;

  printf("uffdgc %s, %s mode, 2 mutator threads x %ld iterations in %.0f ms\n", uffdgc_version(),
         uffdgc_mode_name(st.mode), g_iterations,
         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  printf("collections        %llu\n", (unsigned long long)st.collections);
  printf("pauses             p50 %.3f ms, p99 %.3f ms, max %.3f ms (%zu recorded, total %.1f ms)\n",
         ms(percentile(g_pauses, n, 50)), ms(percentile(g_pauses, n, 99)), ms(st.pause_ns_max), n,
         ms(st.pause_ns_total));
  printf("time to safepoint  max %.3f ms\n", ms(st.time_to_safepoint_ns_max));
  printf("allocated          %.1f MiB\n", mib(st.bytes_allocated));
  printf("after last cycle   %.2f MiB live, %.2f MiB moving space in use, %.2f MiB large objects\n",
         mib(st.live_bytes_last), mib(st.moving_bytes_used), mib(st.large_bytes));
  printf("lists checked      %ld, mismatches %ld\n", checked, bad);

  check(uffdgc_heap_destroy(heap), "heap_destroy");
  return bad == 0 && st.collections > 0 ? 0 : 1;
}
