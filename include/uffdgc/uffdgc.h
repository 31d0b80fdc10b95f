/*
 * uffdgc: the stable C ABI.
 *
 * Conventions (design: .overview.abi, .embedder.threads): opaque handles; every function returns
 * an int result code (UFFDGC_OK or a negative UFFDGC_E* value) and never throws or aborts on
 * bad arguments;
 * every struct passed across the boundary starts with `uint32_t struct_size`, set by the
 * caller to sizeof(struct) so the library can grow the struct without breaking old callers.
 * This header includes only the C standard library.
 *
 * This release exposes the kernel probe: whether this machine can run the concurrent
 * (userfaultfd) collector, in which mode, and with which mTHP policy. The heap API follows.
 */
#ifndef UFFDGC_UFFDGC_H
#define UFFDGC_UFFDGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UFFDGC_API __attribute__((visibility("default")))
#else
#define UFFDGC_API
#endif

#define UFFDGC_VERSION_MAJOR 0
#define UFFDGC_VERSION_MINOR 2
#define UFFDGC_VERSION_PATCH 0

/* ---- Result codes ---- */
typedef int uffdgc_result;
#define UFFDGC_OK 0
#define UFFDGC_EINVAL (-1)       /* a null pointer, unknown flag or out-of-range value */
#define UFFDGC_ESTRUCTSIZE (-2)  /* struct_size smaller than the first release of the struct */
#define UFFDGC_EUNSUPPORTED (-3) /* the request cannot be met on this kernel/machine */
#define UFFDGC_ENOMEM (-4)
#define UFFDGC_EINTERNAL (-5)    /* a system call failed unexpectedly; see the message */
#define UFFDGC_ESTATE (-6)       /* wrong thread or thread state (detached, parked, not owner) */
#define UFFDGC_ETYPE (-7)        /* unknown type index, or a type that does not fit the call */
#define UFFDGC_EOVERFLOW (-8)    /* a size or length computation overflows */
#define UFFDGC_ELIMIT (-9)       /* a fixed table is full (types, threads) */
#define UFFDGC_ENOTFOUND (-10)   /* the object/handle is not known (e.g. unpin without pin) */
#define UFFDGC_EEMPTY (-11)      /* nothing to return (finalization queue empty) */

/* Stable name of a result code ("UFFDGC_OK", ...); never NULL. Any thread. */
UFFDGC_API const char *uffdgc_result_name(uffdgc_result result);

/* Library version as MAJOR.MINOR.PATCH; never NULL. Any thread. */
UFFDGC_API const char *uffdgc_version(void);

/* ---- Collector modes (design: .cycle.phases, .install.ops) ---- */
#define UFFDGC_MODE_AUTO 0 /* let the probe decide */
#define UFFDGC_MODE_MOVE 1 /* concurrent compaction, pages installed with UFFDIO_MOVE */
#define UFFDGC_MODE_COPY 2 /* concurrent compaction, pages installed with UFFDIO_COPY */
#define UFFDGC_MODE_STW 3  /* compaction inside the pause (no userfaultfd needed) */

/* "auto", "move", "copy", "stop-the-world"; "unknown" otherwise. Any thread. */
UFFDGC_API const char *uffdgc_mode_name(uint32_t mode);

/* ---- Kernel quirks the probe knows about (research/kernel.md §1.5, §1.6) ---- */
#define UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX (1u << 0)   /* 6.8..6.12.19, 6.13.0..6.13.7 */
#define UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES (1u << 1)   /* 6.18+: partial MOVE under-counts */
#define UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK (1u << 2) /* < 6.18 (6.12: < 6.12.118): extra ref
                                                         makes MOVE spin */

/* ---- What UFFDIO_MOVE does with a covered, aligned large folio ---- */
#define UFFDGC_FOLIO_MOVE_NOT_TESTED 0 /* no mTHP size enabled, MOVE unusable, or skipped */
#define UFFDGC_FOLIO_MOVE_WHOLE 1      /* moved whole: split counter unchanged (patched kernel) */
#define UFFDGC_FOLIO_MOVE_SPLIT 2      /* moved after splitting the folio (stock kernels) */
#define UFFDGC_FOLIO_MOVE_BUSY 3       /* MOVE refused with EBUSY */
#define UFFDGC_FOLIO_MOVE_HUNG 4       /* MOVE did not return before the watchdog: livelock */
#define UFFDGC_FOLIO_MOVE_FAILED 5     /* the test itself could not run; see mthp_reason */

/* ---- mTHP policy for the moving space ---- */
#define UFFDGC_MTHP_ALLOW 0       /* the heap may be backed by large folios */
#define UFFDGC_MTHP_NOHUGEPAGE 1  /* the heap is kept MADV_NOHUGEPAGE */

/* Probe flags */
#define UFFDGC_PROBE_FORCE_MODE (1u << 0)      /* use requested_mode despite known quirks */
#define UFFDGC_PROBE_FORCE_HUGEPAGE (1u << 1)  /* allow mTHP even where MOVE may livelock */
#define UFFDGC_PROBE_SKIP_FOLIO_TEST (1u << 2) /* do not fork the large-folio MOVE test */

typedef struct uffdgc_probe_options {
  uint32_t struct_size;    /* sizeof(uffdgc_probe_options) */
  uint32_t requested_mode; /* UFFDGC_MODE_*; AUTO picks the best safe mode */
  uint32_t flags;          /* UFFDGC_PROBE_* */
  uint32_t watchdog_ms;    /* limit for each child-process test; 0 = 5000 */
} uffdgc_probe_options;

typedef struct uffdgc_probe_report {
  uint32_t struct_size; /* sizeof(uffdgc_probe_report), set by the caller */
  uint32_t page_size;
  char kernel_release[65];  /* uname -r */
  uint32_t kernel_major, kernel_minor, kernel_patch; /* upstream version the quirks apply to */

  int32_t syscall_errno; /* 0: userfaultfd(2) with UFFD_USER_MODE_ONLY works, else errno */
  int32_t device_errno;  /* 0: /dev/userfaultfd works, else errno */
  int32_t unprivileged_userfaultfd; /* vm.unprivileged_userfaultfd, -1 when unreadable */
  uint32_t seccomp_mode;            /* 0 none, 1 strict, 2 filter (from /proc/self/status) */
  uint64_t features;                /* UFFD_FEATURE_* bits the kernel offers */
  uint8_t has_user_mode_only;       /* UFFD_USER_MODE_ONLY accepted (kernel accesses get EFAULT) */
  uint8_t has_sigbus, has_move, has_mremap_dontunmap;
  uint8_t copy_works, move_works;   /* a real COPY / MOVE succeeded in a child process */
  int32_t functional_errno;         /* errno of the first failing ioctl in that test, or 0 */
  int32_t functional_signal;        /* signal that killed that child (seccomp kill), or 0 */

  uint32_t quirks;                  /* UFFDGC_QUIRK_* for this kernel version */
  uint32_t mthp_sizes_enabled;      /* bit n: large folios of (4 KiB << n) are enabled */
  uint32_t folio_move;              /* UFFDGC_FOLIO_MOVE_* */
  uint32_t folio_test_kib;          /* folio size the test used */
  int64_t folio_split_delta;        /* split counter delta over the test, -1 if unknown */

  uint32_t mode;        /* chosen UFFDGC_MODE_* (never AUTO) */
  uint32_t mthp_policy; /* UFFDGC_MTHP_* */
  uint8_t requested_mode_honoured;
  char mode_reason[256];
  char mthp_reason[256];
} uffdgc_probe_report;

/*
 * Probes the running kernel. Forks short-lived child processes for the functional and
 * large-folio tests (each under a watchdog), so call it before the process starts threads
 * that hold locks across fork, typically once at start-up. Any thread, not from a signal
 * handler. options may be NULL (auto mode, default watchdog).
 * Returns UFFDGC_OK (report filled, whatever the verdict), UFFDGC_EINVAL (report NULL, bad
 * mode or flags) or UFFDGC_ESTRUCTSIZE.
 */
UFFDGC_API uffdgc_result uffdgc_probe_kernel(const uffdgc_probe_options *options,
                                  uffdgc_probe_report *report);

/* ========================================================================================
 * The heap (design: .embedder.types, .heap.state).
 *
 * Threads: every function names who may call it. "Mutator" means the calling thread must be
 * attached (uffdgc_mutator_attach) and pass its own uffdgc_mutator; "running" means it must
 * not be parked. A null mutator returns UFFDGC_EINVAL; another thread's, a detached or a
 * parked one where running is required returns UFFDGC_ESTATE; nothing changes either way.
 * Nothing here may be called from a signal handler unless it says so.
 *
 * Out of memory: a function that returns a result code returns UFFDGC_ENOMEM when the library
 * finds no memory for its own bookkeeping (UFFDGC_EINTERNAL when the C++ runtime cannot create
 * a thread or lock), and then nothing has changed. No C++ exception ever leaves the library.
 * Where stopping half-way would break the heap, the process ends instead with "uffdgc: out of
 * memory in <place>": inside a collection (its pauses and the GC thread), in the write barrier
 * (uffdgc_store_ref_slow, uffdgc_store_refs) and uffdgc_load_weak while a concurrent cycle
 * marks (a record they cannot keep would free a live object), in uffdgc_root_visit and
 * uffdgc_weak_retain, uffdgc_safepoint_slow, and uffdgc_mutator_detach handing its barrier log
 * over. uffdgc_handle_new returns NULL. Callbacks the library calls (trace, embedder, listener,
 * checkpoint functions) must not throw.
 *
 * After uffdgc_heap_destroy every pointer the heap handed out is dangling: the heap, its
 * mutators (detached ones too), globals, handle slots, and its references and type indices mean
 * nothing. Passing one to any function is undefined behaviour; the library cannot tell.
 * ====================================================================================== */

typedef struct uffdgc_heap uffdgc_heap;
typedef struct uffdgc_mutator uffdgc_mutator;
typedef struct uffdgc_global uffdgc_global;
typedef struct uffdgc_root_visitor uffdgc_root_visitor;
typedef struct uffdgc_weak_ctx uffdgc_weak_ctx;

/* An object reference: the address of the object's header word; 0 is null. References are
 * never interior pointers. */
typedef uintptr_t uffdgc_ref;

/* ---- Object model ----
 * Every object starts with one 64-bit header word. Its low 32 bits hold the type index the
 * heap assigned at registration; the high 32 bits belong to the embedder and are preserved
 * by the collector (in the move and copy modes the GC thread reads headers while mutators
 * run: update the high bits with atomic stores of the whole word). Objects are 8-byte
 * aligned; sizes are rounded up to 8. */
#define UFFDGC_OBJECT_ALIGNMENT 8u
#define UFFDGC_HEADER_TYPE_MASK 0xffffffffu

#define UFFDGC_TYPE_LEAF (1u << 0)              /* no reference slots at all */
#define UFFDGC_TYPE_VARIABLE (1u << 1)          /* size = base_size + elem_size * length */
#define UFFDGC_TYPE_ELEMENTS_ARE_REFS (1u << 2) /* every element (elem_size 8) is a reference */
#define UFFDGC_TYPE_HAS_FINALIZER (1u << 3)     /* queued for finalization when unreachable */
#define UFFDGC_TYPE_WEAK_CONTAINER (1u << 4)    /* its reference slots are weak */
#define UFFDGC_TYPE_NONMOVING (1u << 5)         /* always allocated in the non-moving space */

/* A visitor the collector passes to trace callbacks: call it once per reference slot. */
typedef void (*uffdgc_slot_visitor)(uffdgc_ref *slot, void *visitor_ctx);

/* Trace callback for irregular objects. `object` is a copy of the object (it may live in the
 * from-space); visit every reference slot inside it, reading only the object's own bytes and
 * nothing else of the heap. It may run inside a SIGBUS handler: async-signal-safe, no locks,
 * no allocation. */
typedef void (*uffdgc_trace_fn)(uffdgc_ref object, uffdgc_slot_visitor visit, void *visitor_ctx);

/* Every reference slot (object fields, handles, globals, the embedder's roots and weak slots)
 * holds 0 or a reference. Another value is the embedder's bug, but never makes the collector
 * write outside the heap: a value outside every space of the heap, unaligned, or in the moving
 * space's unallocated part is not followed (a value outside the moving space stays in its slot
 * unchanged; one inside may be rewritten when objects move). With UFFDGC_HEAP_VERIFY, or in a
 * checked build of the library (NDEBUG undefined, or UFFDGC_CHECKED defined), the collector
 * also knows every object start when it marks, and aborts at the first value that is not a
 * reference with "uffdgc: bad reference: slot <address> holds <value>, <why>" (values that have
 * no slot, such as the write barrier's log, are named without one). Otherwise an interior
 * pointer whose word looks like a header may be taken for an object: the heap is then wrong,
 * though nothing outside it is written. */

/* Type registration (uffdgc_type_register) returns UFFDGC_EINVAL unless, computed in 64 bits
 * (no 32-bit sum may wrap):
 *  - base_size >= 8 and flags holds only UFFDGC_TYPE_* bits;
 *  - every ref_offsets[i] is a multiple of 8, >= 8 (not the header), ref_offsets[i] + 8 <=
 *    base_size, not a VARIABLE type's length_offset, and no offset is listed twice;
 *  - num_ref_offsets <= UFFDGC_TYPE_MAX_REF_OFFSETS(base_size) (one per word after the
 *    header), and ref_offsets is non-NULL when num_ref_offsets is not 0;
 *  - VARIABLE: elem_size >= 1; length_offset a multiple of 8, >= 8, length_offset + 8 <=
 *    base_size;
 *  - ELEMENTS_ARE_REFS: also VARIABLE, elem_size 8, base_size a multiple of 8;
 *  - LEAF: no ref_offsets, no ELEMENTS_ARE_REFS, no trace.
 * An object's size, base_size + elem_size * length rounded to 8, is computed in 64 bits when
 * it is allocated: UFFDGC_EOVERFLOW when it wraps or exceeds 2^47. */
#define UFFDGC_TYPE_MAX_REF_OFFSETS(base_size) \
  ((uint32_t)(base_size) < 8u ? 0u : (uint32_t)(base_size) / 8u - 1u)

typedef struct uffdgc_type_info {
  uint32_t struct_size;      /* sizeof(uffdgc_type_info) */
  uint32_t flags;            /* UFFDGC_TYPE_* */
  uint32_t base_size;        /* bytes including the header; the whole size if not VARIABLE */
  uint32_t elem_size;        /* VARIABLE: bytes per element */
  uint32_t length_offset;    /* VARIABLE: offset of the uint64_t element count */
  uint32_t num_ref_offsets;  /* number of entries in ref_offsets */
  const uint32_t *ref_offsets; /* byte offsets of reference slots (copied at registration) */
  uffdgc_trace_fn trace;     /* irregular objects only; NULL otherwise */
  const char *name;          /* for messages and heap walks (copied); may be NULL */
} uffdgc_type_info;

/* ---- Embedder callbacks (all optional) ---- */

/* Reports one root slot: the collector marks what it refers to and may rewrite it with the
 * object's new address. Only from inside scan_roots. */
UFFDGC_API void uffdgc_root_visit(uffdgc_root_visitor *visitor, uffdgc_ref *slot);

/* Weak processing (uffdgc_embedder.process_weak / update_weak). */
UFFDGC_API int uffdgc_weak_is_live(uffdgc_weak_ctx *ctx, uffdgc_ref ref);
/* Keeps ref (and what it reaches) alive this cycle; process_weak then returns 1 to be called
 * again once the retained objects are traced. Only from process_weak. */
UFFDGC_API void uffdgc_weak_retain(uffdgc_weak_ctx *ctx, uffdgc_ref ref);
/* Where a live ref will be after this cycle. Only from update_weak. */
/* uffdgc_weak_is_live works in process_weak and update_weak; uffdgc_weak_retain only in
 * process_weak (elsewhere it does nothing). */
UFFDGC_API uffdgc_ref uffdgc_weak_forward(uffdgc_weak_ctx *ctx, uffdgc_ref ref);

typedef struct uffdgc_embedder {
  uint32_t struct_size;      /* sizeof(uffdgc_embedder) */
  void *vm;                  /* passed back to every callback */
  /* Roots the runtime keeps itself (its own frames, globals). Called with the world stopped,
   * on the collecting thread, possibly several times per cycle (to mark, then to update):
   * report every slot each time with uffdgc_root_visit. */
  void (*scan_roots)(uffdgc_root_visitor *visitor, void *vm);
  /* When marking is otherwise complete: for each weak slot the runtime owns, ask
   * uffdgc_weak_is_live, optionally uffdgc_weak_retain. Return nonzero to be called again
   * after retained objects are traced. Must not allocate or call other uffdgc functions.
   * Stop-the-world mode: world stopped, collecting thread. Move and copy modes: on the GC
   * thread while mutators run (the runtime guards its weak table against its own threads),
   * possibly several times per cycle; mutators must read these slots with uffdgc_load_weak
   * (holder 0) so that a referent they take while marking runs is kept, and one found dead
   * afterwards reads as 0. */
  int (*process_weak)(uffdgc_weak_ctx *ctx, void *vm);
  /* After the move is planned: for each weak slot, if uffdgc_weak_is_live (it answers for the
   * slot's current value) rewrite it with uffdgc_weak_forward, else clear it. World stopped,
   * collecting thread (in move and copy modes: the flip pause). */
  void (*update_weak)(uffdgc_weak_ctx *ctx, void *vm);
  /* An allocation failed even after a full collection. The allocating mutator, running,
   * world not stopped; the allocation then returns UFFDGC_ENOMEM. */
  void (*out_of_memory)(uffdgc_mutator *mutator, size_t bytes, void *vm);
} uffdgc_embedder;

/* ---- Heap creation ---- */
#define UFFDGC_HEAP_VERIFY (1u << 0) /* run the heap verifier after every collection */
/* The runtime owns SIGBUS: uffdgc installs no handler; the runtime's handler must call
 * uffdgc_handle_sigbus() first for every SIGBUS. */
#define UFFDGC_HEAP_EXTERNAL_SIGNALS (1u << 1)
/* Concurrent compaction does not prefetch swapped-out from-space pages ahead of its cursor
 * (io_uring MADV_WILLNEED, 8 MiB window; only chunks with pages in swap are submitted). */
#define UFFDGC_HEAP_NO_SWAP_PREFETCH (1u << 2)
/* Objects at or above large_object_threshold that hold references (not UFFDGC_TYPE_LEAF) are
 * allocated in the moving space and move like any other (UFFDGC_ALLOC_LARGE still forces the
 * large-object space). Objects that never move cost the flip pause a rewrite of each of their
 * slots that refers into the moving space; objects that move cost it nothing (their pages are
 * rewritten as they are produced). Leaf objects (byte arrays) stay in the large-object space. */
#define UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS (1u << 3)
/* By default every heap registers itself with process-wide pthread_atfork handlers, so a plain
 * fork() waits for a concurrent phase in progress to end and the child gets a consistent heap
 * (a child forked mid-compaction would read unproduced to-space pages as zeros). With this flag
 * the runtime takes that over and must call uffdgc_atfork_prepare/parent/child around every
 * fork() itself (e.g. to order them with its own atfork handlers). */
#define UFFDGC_HEAP_NO_FORK_HANDLERS (1u << 4)
/* Generational collection (design: .cycle.young): collections that allocation triggers are
 * young (they mark, move and update only what was allocated since the previous collection,
 * plus the slots the store barrier remembered; in move and copy concurrently, with the same
 * three pauses) until the old generation fills old_generation_pct of heap_limit; then, and
 * for uffdgc_collect, a full one (and while there is no old generation yet). Survivors of a young collection join the old generation.
 * Every reference store into a heap object must go through uffdgc_store_ref /
 * uffdgc_store_refs (a store that bypasses them can free a live object: the verifier reports
 * it). Every mode (uffdgc_heap_stats.generational says it is in effect). */
#define UFFDGC_HEAP_GENERATIONAL (1u << 5)

typedef struct uffdgc_heap_options {
  uint32_t struct_size;          /* sizeof(uffdgc_heap_options) */
  uint32_t mode;                 /* UFFDGC_MODE_*. AUTO takes the kernel probe's verdict;
                                    MOVE and COPY compact concurrently and are refused with
                                    UFFDGC_EUNSUPPORTED where they do not work; STW compacts
                                    inside the pause. uffdgc_heap_stats.mode tells the result */
  uint32_t flags;                /* UFFDGC_HEAP_* */
  uint32_t gc_threads;           /* threads that produce compacted pages in parallel; 0 = 1.
                                    STW: inside the pause. MOVE/COPY: the GC thread from the
                                    top and gc_threads - 1 helpers from the bottom, while
                                    mutators run (they share the CPUs with them) */
  size_t heap_limit;             /* bytes of the moving space; 0 = 256 MiB */
  size_t nonmoving_limit;        /* bytes of non-moving + large objects; 0 = heap_limit */
  size_t trigger_allocated;      /* collect after this many bytes allocated; 0 = limit / 4 */
  uint32_t trigger_occupancy_pct;/* collect when the moving space is this full; 0 = 80 */
  uint32_t tlab_size;            /* bytes per thread-local allocation buffer; 0 = 32 KiB */
  size_t large_object_threshold; /* objects at least this big go to the large-object space
                                    (but see UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS);
                                    0 = 64 KiB */
  const uffdgc_embedder *embedder; /* copied; may be NULL */
  uint32_t old_generation_pct;   /* UFFDGC_HEAP_GENERATIONAL: a triggered collection is full
                                    once the old generation fills this share of heap_limit;
                                    0 = 50 */
} uffdgc_heap_options;

/* Creates a heap. options may be NULL (defaults). Any thread. tlab_size larger than
 * large_object_threshold is capped to it. */
UFFDGC_API uffdgc_result uffdgc_heap_create(const uffdgc_heap_options *options,
                                            uffdgc_heap **out);
/* Destroys a heap: every mutator must be detached (else UFFDGC_ESTATE, and nothing changes).
 * Remaining globals are freed with it. Any thread, once no other thread calls into the heap
 * (get/set of its globals included); afterwards see "After uffdgc_heap_destroy" above. */
UFFDGC_API uffdgc_result uffdgc_heap_destroy(uffdgc_heap *heap);

/* Registers a type; *out_index receives its index (never 0 or 1: those are fillers). Any
 * thread, any time; type descriptors never move. UFFDGC_EINVAL for a layout that breaks the
 * rules above uffdgc_type_info (*out_index is then left alone), UFFDGC_ELIMIT after 65534
 * types. */
UFFDGC_API uffdgc_result uffdgc_type_register(uffdgc_heap *heap, const uffdgc_type_info *info,
                                              uint32_t *out_index);

/* ---- Threads and safepoints (design: .embedder.threads) ---- */

/* Attaches the calling thread; it starts running. One mutator per thread per heap. */
UFFDGC_API uffdgc_result uffdgc_mutator_attach(uffdgc_heap *heap, void *vm_thread,
                                               uffdgc_mutator **out);
/* Detaches the calling thread (its own mutator, running or parked); handles die with it.
 * UFFDGC_ENOMEM (still attached) when there is no memory to retire it. */
UFFDGC_API uffdgc_result uffdgc_mutator_detach(uffdgc_mutator *mutator);
/* Running -> parked: the thread promises not to touch the heap; collections do not wait for
 * it. A heap buffer the kernel uses while the thread is parked (a blocking read into it) must
 * have been prepared with uffdgc_prepare_kernel_access first. Owner thread. */
UFFDGC_API uffdgc_result uffdgc_mutator_park(uffdgc_mutator *mutator);
/* Parked -> running; waits while the world is stopped. Owner thread. */
UFFDGC_API uffdgc_result uffdgc_mutator_unpark(uffdgc_mutator *mutator);
/* The slow path of uffdgc_poll() (inline.h): stops here while the world is stopped and runs
 * pending checkpoints. Owner thread, running. */
UFFDGC_API void uffdgc_safepoint_slow(uffdgc_mutator *mutator);
/* Runs fn(mutator, arg) once for every attached mutator: running ones at their next poll,
 * parked ones (and the caller) on the calling thread. Returns when all have run. Mutator,
 * running. */
UFFDGC_API uffdgc_result uffdgc_run_checkpoint(uffdgc_mutator *mutator,
                                               void (*fn)(uffdgc_mutator *target, void *arg),
                                               void *arg);
/* The vm_thread pointer given at attach. Any thread. */
UFFDGC_API void *uffdgc_mutator_vm_thread(const uffdgc_mutator *mutator);

/* ---- Allocation ----
 * Memory is zeroed; the header is written (type index, embedder bits 0); a VARIABLE type's
 * length field is written. May collect. Mutator, running. Objects of the moving space (the
 * default, and large reference objects under UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS) must be
 * prepared with uffdgc_prepare_kernel_access before the kernel reads or writes them; NONMOVING
 * and LARGE objects never move and are never part of a to-space, so the kernel may use them
 * as they are (preparing them is harmless). */
#define UFFDGC_ALLOC_DEFAULT 0u   /* moving space, or large-object space above the threshold */
#define UFFDGC_ALLOC_NONMOVING 1u /* non-moving space: the address never changes */
#define UFFDGC_ALLOC_LARGE 2u     /* large-object space (never moves) */

UFFDGC_API uffdgc_result uffdgc_alloc(uffdgc_mutator *mutator, uint32_t type_index,
                                      uint64_t length, uint32_t kind, uffdgc_ref *out);
/* The slow path of uffdgc_alloc_fast() (inline.h): bytes already rounded. */
UFFDGC_API uffdgc_result uffdgc_alloc_slow(uffdgc_mutator *mutator, uint32_t type_index,
                                           size_t bytes, uffdgc_ref *out);
/* Object size in bytes (rounded). Mutator, running. */
UFFDGC_API size_t uffdgc_object_size(uffdgc_mutator *mutator, uffdgc_ref ref);

/* ---- Barriers (fast paths in inline.h) ----
 * Every store of a reference into a heap object goes through uffdgc_store_ref (inline) so the
 * collector sees the value it overwrites (design: .embedder.barrier). The slow paths below store
 * nothing when called with a null, foreign, detached or parked mutator. */
UFFDGC_API void uffdgc_store_ref_slow(uffdgc_mutator *mutator, uffdgc_ref holder,
                                      uffdgc_ref *slot, uffdgc_ref value);
/* Array copy: count references from src to dst (both inside holder's object or anywhere
 * readable for src), with the barrier. Overlap allowed. Mutator, running. */
UFFDGC_API void uffdgc_store_refs(uffdgc_mutator *mutator, uffdgc_ref holder, uffdgc_ref *dst,
                                  const uffdgc_ref *src, size_t count);
/* Loads a slot of a UFFDGC_TYPE_WEAK_CONTAINER object (or, with holder 0, a weak slot of the
 * runtime's own that process_weak handles): 0 once the referent is found dead. While a
 * concurrent cycle marks, the referent is kept alive for the cycle. Mutator, running. */
UFFDGC_API uffdgc_ref uffdgc_load_weak(uffdgc_mutator *mutator, uffdgc_ref holder,
                                       const uffdgc_ref *slot);

/* ---- Roots ---- */
/* Handle scopes: uffdgc_handle_new() slots live until the innermost open scope closes. Scopes
 * nest; close them in reverse order. open fills the struct with a record of the scope (the
 * caller keeps it, unchanged, until close; the layout is the library's). These are the
 * checked calls: close returns UFFDGC_ESTATE, changing nothing, unless the record is the
 * innermost open scope of this mutator: for an outer scope, a scope never opened, another
 * mutator's, or one already closed even when a newer scope was opened at the same depth since
 * (a 32-bit generation tells them apart, for 2^32 - 1 further opens); open returns
 * UFFDGC_ELIMIT with 2^32 - 1 scopes open. inline.h has the unchecked inline versions
 * (uffdgc_handle_scope_open_fast, ..., a few instructions each) that a runtime uses on its
 * hot paths; a scope is closed by the kind of call that opened it. Mutator (owner thread). */
typedef struct uffdgc_handle_scope {
  uintptr_t opaque[4];
} uffdgc_handle_scope;
UFFDGC_API uffdgc_result uffdgc_handle_scope_open(uffdgc_mutator *mutator,
                                                  uffdgc_handle_scope *scope);
UFFDGC_API uffdgc_result uffdgc_handle_scope_close(uffdgc_mutator *mutator,
                                                   uffdgc_handle_scope *scope);
/* A root slot holding ref; the collector updates it when the object moves. NULL when no scope
 * is open, on a wrong thread or without memory. Mutator (owner thread). */
UFFDGC_API uffdgc_ref *uffdgc_handle_new(uffdgc_mutator *mutator, uffdgc_ref ref);
/* The out-of-line parts of the inline handle calls (inline.h), unchecked: opening the first
 * scope of a thread (no handle block yet; UFFDGC_ESTATE when a scope is open already,
 * UFFDGC_ENOMEM without memory), and a handle when the current block is full (or no scope is
 * open: NULL). Mutator (owner thread). */
UFFDGC_API uffdgc_result uffdgc_handle_scope_open_slow(uffdgc_mutator *mutator,
                                                       uffdgc_handle_scope *scope);
UFFDGC_API uffdgc_ref *uffdgc_handle_new_slow(uffdgc_mutator *mutator, uffdgc_ref ref);

/* Global roots: slots that live until destroyed. create/destroy: any thread.
 * get/set: any thread. A running mutator of the heap uses them like any reference: a value it
 * gets stays valid until its next safepoint (poll, allocation, collection, unpark). For any
 * other thread (not attached, parked, or attached to another heap) they are atomic with
 * respect to the collector: a set is never lost or undone by a collection rewriting the slot,
 * a get never sees a torn value. But such a thread holds no reference safely (a collection may
 * move the object at any moment): the only value it may store is 0, and a value it gets is
 * only good for comparing with 0. get returns 0 and set does nothing for NULL or a destroyed
 * global (while its heap lives). */
UFFDGC_API uffdgc_result uffdgc_global_create(uffdgc_heap *heap, uffdgc_ref ref,
                                              uffdgc_global **out);
UFFDGC_API uffdgc_ref uffdgc_global_get(const uffdgc_global *global);
UFFDGC_API void uffdgc_global_set(uffdgc_global *global, uffdgc_ref ref);
UFFDGC_API uffdgc_result uffdgc_global_destroy(uffdgc_heap *heap, uffdgc_global *global);

/* Pinning: a pinned object neither moves nor dies until unpinned (pins nest). Objects in the
 * non-moving and large-object spaces never move; pinning them only keeps them alive.
 * ref must be a reference, the start of an object: UFFDGC_EINVAL for 0, an unaligned or
 * interior address, one where nothing is allocated, and one outside the heap. In the moving
 * space the check parses the objects between the start of the allocation buffer that held ref
 * and ref (at most tlab_size bytes, or one large object), under the heap lock: pins are meant
 * to be rare. A pin alone does not make the object's pages present for the kernel: use
 * uffdgc_prepare_kernel_access for memory passed to syscalls or devices. Mutator, running. */
UFFDGC_API uffdgc_result uffdgc_pin(uffdgc_mutator *mutator, uffdgc_ref ref);
UFFDGC_API uffdgc_result uffdgc_unpin(uffdgc_mutator *mutator, uffdgc_ref ref);

/* Kernel and device access. The kernel reads and writes heap memory without the SIGBUS path:
 * in the concurrent modes a page a compaction has not produced yet makes a syscall fail with
 * EFAULT (write() short or failed, read()/recv() into it failed, a datagram lost, O_DIRECT and
 * io_uring fixed buffers failing), and in every mode an object may move while a blocking call
 * or a device still uses its old address. Before passing any part of an object to the kernel
 * (write, send, read, recv, pread/pwrite, O_DIRECT, io_uring, vmsplice, a device's DMA),
 * prepare it: the object is pinned (it no longer moves) and every page of
 * [ref + offset, ref + offset + length) is made present through the ordinary fault path.
 * uffdgc_unpin(mutator, ref) undoes it once the kernel is done (after the blocking call
 * returned, the I/O completed). A thread may park around the blocking call: the prepared range
 * stays valid. Mutator, running. UFFDGC_EINVAL: not an object start, or the range exceeds
 * the object (nothing is left pinned). */
UFFDGC_API uffdgc_result uffdgc_prepare_kernel_access(uffdgc_mutator *mutator, uffdgc_ref ref,
                                                      size_t offset, size_t length);

/* Finalization: objects of UFFDGC_TYPE_HAS_FINALIZER types found unreachable are kept alive
 * and queued; pop one, run its finalizer, drop it. Weak slots (weak containers and
 * process_weak) that referred to such an object are cleared first, as in Java: a weak
 * reference never sees an object that is only reachable for finalization. Mutator, running.
 * UFFDGC_EEMPTY when empty. */
UFFDGC_API uffdgc_result uffdgc_finalization_pop(uffdgc_mutator *mutator, uffdgc_ref *out);

/* ---- Collection, introspection ---- */
UFFDGC_API uffdgc_result uffdgc_collect(uffdgc_mutator *mutator);
/* A young collection in a heap where UFFDGC_HEAP_GENERATIONAL is in effect, a full one
 * elsewhere. Mutator, running. */
UFFDGC_API uffdgc_result uffdgc_collect_young(uffdgc_mutator *mutator);

/* Calls fn for every object (live or not yet collected) in every space with the world
 * stopped; fn must not allocate or store. Return nonzero from fn to stop. Mutator, running. */
UFFDGC_API uffdgc_result uffdgc_heap_walk(uffdgc_mutator *mutator,
                                          int (*fn)(uffdgc_ref ref, uint32_t type_index,
                                                    size_t size, void *arg),
                                          void *arg);

typedef struct uffdgc_heap_stats {
  uint32_t struct_size;
  uint32_t mode;                    /* effective mode (UFFDGC_MODE_*) */
  uint64_t collections;
  uint64_t pause_ns_total, pause_ns_max, pause_ns_last;
  uint64_t time_to_safepoint_ns_max; /* part of the pause spent stopping threads */
  uint64_t bytes_allocated;         /* since heap creation */
  uint64_t moving_bytes_used;       /* bump-pointer top minus base */
  uint64_t nonmoving_bytes, large_bytes;
  uint64_t live_bytes_last;         /* marked in the last cycle, all spaces */
  uint64_t pages_compacted_last;
  uint64_t objects_finalizable_queued; /* total queued for finalization */
  uint64_t weak_slots_cleared;      /* total, weak containers */
  /* Concurrent modes (totals since creation unless marked "last") */
  uint64_t flip_ns_last;            /* kernel cost of the flip: mremap + UFFDIO_REGISTER */
  uint64_t compaction_ns_last;      /* concurrent compaction phase, wall time */
  uint64_t pages_moved, pages_copied, pages_copied_on_ebusy;
  uint64_t pages_by_mutators;       /* to-space pages produced in the SIGBUS path */
  uint64_t stalls_log2_us[24];      /* mutator stalls in the SIGBUS path: [i] counts stalls of
                                       [2^i, 2^(i+1)) us ([0] also < 1 us) */
  uint64_t pauses;                  /* pauses so far: one per cycle stop-the-world, three per
                                       concurrent cycle (mark start, mark end, flip) */
  /* Per-pause detail of the last cycle (0 where the mode has no such pause) */
  uint64_t pause_mark_start_ns_last, pause_mark_end_ns_last, pause_flip_ns_last;
  uint64_t mark_end_rounds_last;    /* mark-end pauses that found work and resumed marking */
  uint64_t cycle_ns_last;           /* wall time from the first pause to the end of the cycle */
  uint64_t gc_cpu_ns_total;         /* CPU time of the collector: pauses on the requesting
                                       thread plus the GC thread (CLOCK_THREAD_CPUTIME_ID) */
  uint64_t rss_before_last, rss_peak_last, rss_after_last; /* process RSS in bytes, sampled
                                       at cycle start, during compaction, at cycle end */
  uint64_t pages_recycled;          /* to-space pages built in recycled from-space pages */
  uint64_t pages_eexist;            /* installs that found the page already there (success) */
  uint64_t install_eagain_retries;  /* EAGAIN answers retried */
  uint64_t install_partial;         /* partial MOVEs resumed */
  uint64_t prefetch_pages;          /* swapped from-space pages prefetched (io_uring) */
  uint64_t pause_major_faults;      /* major faults the thread running a pause took inside it
                                       (total): 0 when no pause touched a swapped-out page */
  uint64_t flips_finished_in_pause; /* concurrent cycles whose flip pause had to finish the
                                       cycle stop-the-world (pins in the black block, pins
                                       that kept the plan stale, userfaultfd refused) */
  uint64_t prefetch_paused;         /* prefetch checks that found the memory cgroup too close
                                       to its limit (prefetch paused: it would charge there) */
  uint64_t free_pages_prefilled;    /* free pages above the compacted end zero-filled by the GC
                                       thread ahead of allocation during compaction */
  uint64_t free_pages_recycled;     /* of those, built in recycled from-space pages */
  uint64_t free_pages_by_mutators;  /* free pages a mutator touched before the GC thread filled
                                       them (zero-filled in its SIGBUS path) */
  uint64_t install_ioctls;          /* UFFDIO_MOVE, _COPY and _ZEROPAGE calls (total): pages
                                       installed per call is (pages_moved + pages_copied) over it */
  uint64_t gc_minor_faults;         /* minor page faults the collector took where gc_cpu_ns_total
                                       counts its CPU (getrusage RUSAGE_THREAD; total) */
  /* gc_cpu_ns_total by phase (totals; on the same threads): */
  uint64_t gc_cpu_ns_mark;          /* marking, the mark-end pauses included */
  uint64_t gc_cpu_ns_reclaim;       /* weak references, finalization, sweep, plan, slot scan
                                       and the flip pause */
  uint64_t gc_cpu_ns_compact;       /* page production and from-space release, of which: */
  uint64_t gc_cpu_ns_free_fill;     /* zero-filling the free pages above the compacted end */
  uint64_t alloc_stalls;            /* allocations that found no space and waited for a
                                       collection to make some (concurrent modes) */
  uint64_t alloc_stall_ns;          /* the time they waited (total) */
  uint64_t gc_cpu_ns_kernel;        /* of gc_cpu_ns_total: in the kernel (RUSAGE_THREAD
                                       ru_stime: page faults, ioctls, TLB shootdowns; total) */
  uint64_t alloc_paced;             /* allocations that waited because they ran ahead of a
                                       concurrent cycle's marking (pacing; total) */
  uint64_t alloc_paced_ns;          /* the time they waited (total; not in alloc_stall_ns) */
  uint64_t pages_by_assists;        /* to-space pages produced from the bottom up by threads
                                       that waited for a concurrent compaction to end and by
                                       the gc_threads - 1 helpers (total) */
  uint64_t folio_frames_moved_whole;  /* 64 KiB frames one UFFDIO_MOVE covered whole from a
                                       source aligned alike: where the heap holds 64K folios
                                       (mTHP), a kernel with kernel-patches/ moves them there
                                       without a split, a stock kernel splits them (total) */
  uint64_t folio_frames_moved_partly; /* frames a MOVE covered in part or from a source at
                                       another offset: a large folio there splits on any kernel
                                       (total). Both count request shapes, not folios */
  /* Generational heaps (design: .cycle.young) */
  uint32_t generational;            /* 1: UFFDGC_HEAP_GENERATIONAL is in effect */
  uint32_t last_cycle_young;        /* 1: the last collection was young */
  uint64_t young_collections;       /* of collections, young ones (total) */
  uint64_t old_bytes;               /* the old generation: moving-space bytes below the young
                                       one */
  uint64_t promoted_bytes;          /* bytes young collections moved into the old generation
                                       (total) */
  uint64_t remembered_slots_last;   /* distinct slots the last young collection scanned from
                                       the remembered set */
  uint64_t remembered_pages_last;   /* distinct old moving-space pages holding them: the only
                                       old pages a young collection reads or writes */
  uint64_t remembered_scan_ns_last; /* the last young collection's time in those slots */
  uint64_t remembered_handovers;    /* full per-thread remembered logs handed to the heap
                                       (total) */
  uint64_t young_promoted_in_place; /* of young_collections, those that found the young
                                       generation at least 90 % live and promoted it where it
                                       lay (its dead objects wait for a full collection) */
} uffdgc_heap_stats;
UFFDGC_API uffdgc_result uffdgc_heap_get_stats(uffdgc_heap *heap, uffdgc_heap_stats *out);

/* Events: pauses and phases, for logging and plots. The listener runs on the collecting
 * thread, with the world stopped between PAUSE_BEGIN and PAUSE_END: it must not call uffdgc. */
#define UFFDGC_EVENT_PAUSE_BEGIN 1
#define UFFDGC_EVENT_PAUSE_END 2
#define UFFDGC_EVENT_PHASE 3      /* phase: "mark", "weak", "plan", "compact", "update", "verify";
                                     concurrent modes: "mark-start", "mark-end", "weak", "plan",
                                     "flip" ("flip-stw" when the flip pause finishes the cycle
                                     stop-the-world), "verify" (test builds, after compaction);
                                     between the pauses, phase events come from the GC thread */
#define UFFDGC_EVENT_CYCLE_END 4  /* bytes_before/bytes_after filled */
typedef struct uffdgc_event {
  uint32_t struct_size;
  uint32_t kind;
  uint64_t cycle;
  uint64_t time_ns;      /* CLOCK_MONOTONIC */
  const char *phase;
  uint64_t bytes_before, bytes_after;
  uint64_t pause_ns;     /* PAUSE_END */
  uint32_t cycle_kind;   /* UFFDGC_CYCLE_FULL or UFFDGC_CYCLE_YOUNG */
} uffdgc_event;
#define UFFDGC_CYCLE_FULL 0u
#define UFFDGC_CYCLE_YOUNG 1u
typedef void (*uffdgc_event_fn)(const uffdgc_event *event, void *arg);
/* Sets (or with fn NULL clears) the listener. Any thread; it waits for a collection in
 * progress, and once it returns the previous fn/arg are no longer used. */
UFFDGC_API uffdgc_result uffdgc_set_event_listener(uffdgc_heap *heap, uffdgc_event_fn fn,
                                                   void *arg);

/* ---- Signals ----
 * For runtimes that own SIGBUS (UFFDGC_HEAP_EXTERNAL_SIGNALS): call first in the handler;
 * returns 1 when the fault was uffdgc's and is resolved (return from the handler so the access
 * is retried), 0 otherwise. Async-signal-safe. siginfo/ucontext are the handler's arguments. */
UFFDGC_API int uffdgc_handle_sigbus(int sig, void *siginfo, void *ucontext);

/* ---- fork (design: .embedder.fork) ----
 * Heaps created with UFFDGC_HEAP_NO_FORK_HANDLERS only (others are handled automatically and
 * these calls do nothing for them): install with pthread_atfork or call around fork(): prepare
 * waits for a concurrent phase in progress to end and blocks collections, parent resumes them,
 * child resets the heap to the single forking thread (others' mutators are gone; their handles
 * are dropped). vfork() and posix_spawn() run no handlers: the child must only exec. */
UFFDGC_API void uffdgc_atfork_prepare(uffdgc_heap *heap);
UFFDGC_API void uffdgc_atfork_parent(uffdgc_heap *heap);
UFFDGC_API void uffdgc_atfork_child(uffdgc_heap *heap);

/* ---- Attributes for inline fast paths and JITs (inline.h) ---- */
typedef struct uffdgc_attrs {
  uint32_t struct_size;
  uint32_t object_alignment;
  uint32_t tlab_cursor_offset;   /* offsets into uffdgc_mutator */
  uint32_t tlab_limit_offset;
  uint32_t poll_flag_offset;     /* uint32_t; nonzero: call uffdgc_safepoint_slow */
  uint32_t barrier_flag_offset;  /* uint32_t; 0 or UFFDGC_BARRIER_* bits (inline.h) */
  uint32_t header_type_mask;
  uint32_t handle_top_offset;    /* uffdgc_ref *; inline.h uffdgc_handle_new_fast */
  uint32_t handle_limit_offset;  /* uffdgc_ref *; top == limit: call uffdgc_handle_new_slow */
  uint32_t satb_cursor_offset;   /* uffdgc_ref *; inline.h uffdgc_store_ref's barrier log */
  uint32_t satb_limit_offset;    /* uffdgc_ref *; cursor == limit: call uffdgc_store_ref_slow */
  uint32_t moving_begin_offset;  /* uintptr_t; with moving_size: slots the log may cover */
  uint32_t moving_size_offset;   /* uintptr_t */
  uint32_t young_begin_offset;   /* uintptr_t; with young_size: the young generation */
  uint32_t young_size_offset;    /* uintptr_t; 0: nothing is remembered */
  uint32_t remembered_cursor_offset; /* uffdgc_ref *; (holder, slot) pairs, inline.h */
  uint32_t remembered_limit_offset;  /* uffdgc_ref *; cursor == limit: uffdgc_store_ref_slow */
} uffdgc_attrs;
UFFDGC_API uffdgc_result uffdgc_get_attrs(uffdgc_heap *heap, uffdgc_attrs *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UFFDGC_UFFDGC_H */
