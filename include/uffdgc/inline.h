/*
 * uffdgc: inline fast paths (design: .embedder.barrier, .embedder.roots). C11 and C++
 * compatible; includes only uffdgc.h. Each path is a handful of instructions and falls back to an exported slow
 * path. The same offsets are published in uffdgc_attrs for JITs that emit this code.
 */
#ifndef UFFDGC_INLINE_H
#define UFFDGC_INLINE_H

#include "uffdgc/uffdgc.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UFFDGC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UFFDGC_UNLIKELY(x) (x)
#endif

/* The first bytes of every uffdgc_mutator. The layout is part of the ABI. */
typedef struct uffdgc_mutator_fast {
  uintptr_t tlab_cursor;  /* next free byte of the thread's allocation buffer */
  uintptr_t tlab_limit;   /* end of the buffer */
  uint32_t poll_flag;     /* nonzero: the collector wants this thread at a safepoint */
  uint32_t barrier_flag;  /* 0 or UFFDGC_BARRIER_* bits: a concurrent cycle runs, or the
                             heap is generational */
  uffdgc_ref *handle_top;   /* next free slot of the thread's handle stack; NULL: no scope open */
  uffdgc_ref *handle_limit; /* end of the block of slots handle_top is in (NULL with it) */
  uffdgc_ref *satb_cursor;  /* next free entry of the thread's snapshot-barrier log */
  uffdgc_ref *satb_limit;   /* end of that log: cursor == limit, the slow path hands it over */
  uintptr_t moving_begin;   /* the moving space's reservation: slots in it need no slot log */
  uintptr_t moving_size;
  /* Generational heaps (UFFDGC_HEAP_GENERATIONAL): [young_begin, young_begin + young_size) is
   * the young generation; young_size 0 (other heaps): nothing is remembered. */
  uintptr_t young_begin;
  uintptr_t young_size;
  uffdgc_ref *remembered_cursor; /* next free (holder, slot) pair of the remembered-set log */
  uffdgc_ref *remembered_limit;  /* end of that log: cursor == limit, the slow path hands it over */
} uffdgc_mutator_fast;

/* barrier_flag values. Any nonzero value: stores may go through uffdgc_store_ref_slow.
 * UFFDGC_BARRIER_LOG: a store into a slot in [moving_begin, moving_begin + moving_size) may
 *   append the value it overwrites (if not 0) at satb_cursor, while satb_cursor != satb_limit,
 *   instead of calling the slow path (uffdgc_store_ref below).
 * UFFDGC_BARRIER_SLOW: every store calls the slow path (pinned objects exist during the
 *   cycle: the slots the flip must rewrite are logged, wherever they are). */
#define UFFDGC_BARRIER_LOG 1u
#define UFFDGC_BARRIER_SLOW 2u
#define UFFDGC_BARRIER_CYCLE 3u /* the bits a concurrent cycle sets: LOG or SLOW */
/* UFFDGC_BARRIER_REMEMBER: a generational heap (design: .barrier.remembered). A store of a
 *   value in [young_begin, young_begin + young_size) into a slot outside that range appends
 *   (holder, slot) at remembered_cursor, while remembered_cursor != remembered_limit, else
 *   calls the slow path. Heaps without generations never set it: their stores pay one test. */
#define UFFDGC_BARRIER_REMEMBER 4u

#define UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET 0
#define UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET 8
#define UFFDGC_MUTATOR_POLL_FLAG_OFFSET 16
#define UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET 20
#define UFFDGC_MUTATOR_HANDLE_TOP_OFFSET 24
#define UFFDGC_MUTATOR_HANDLE_LIMIT_OFFSET 32
#define UFFDGC_MUTATOR_SATB_CURSOR_OFFSET 40
#define UFFDGC_MUTATOR_SATB_LIMIT_OFFSET 48
#define UFFDGC_MUTATOR_MOVING_BEGIN_OFFSET 56
#define UFFDGC_MUTATOR_MOVING_SIZE_OFFSET 64
#define UFFDGC_MUTATOR_YOUNG_BEGIN_OFFSET 72
#define UFFDGC_MUTATOR_YOUNG_SIZE_OFFSET 80
#define UFFDGC_MUTATOR_REMEMBERED_CURSOR_OFFSET 88
#define UFFDGC_MUTATOR_REMEMBERED_LIMIT_OFFSET 96

/*
 * Allocates an object of a fixed-size type from the thread's TLAB: round, compare, bump, write
 * the header (about 7 instructions on x86-64). Only for types that are not VARIABLE,
 * HAS_FINALIZER or NONMOVING, with `bytes` equal to the type's base_size and below the heap's
 * large_object_threshold: the fast path cannot check this (a JIT knows it statically); other
 * allocations go through uffdgc_alloc. The slow path checks and may collect. Mutator, running.
 */
static inline uffdgc_result uffdgc_alloc_fast(uffdgc_mutator *mutator, uint32_t type_index,
                                              size_t bytes, uffdgc_ref *out) {
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  bytes = (bytes + (UFFDGC_OBJECT_ALIGNMENT - 1)) & ~(size_t)(UFFDGC_OBJECT_ALIGNMENT - 1);
  uintptr_t p = f->tlab_cursor;
  uintptr_t e = p + bytes;
  if (UFFDGC_UNLIKELY(e > f->tlab_limit || e < p)) {
    return uffdgc_alloc_slow(mutator, type_index, bytes, out);
  }
  f->tlab_cursor = e;
  *(uint64_t *)p = type_index; /* TLAB memory is zeroed: the body is ready */
  *out = p;
  return UFFDGC_OK;
}

/*
 * Stores a reference into a field of a heap object. With no cycle running: one flag test and a
 * plain store. While a concurrent cycle marks, the value being overwritten is logged
 * (snapshot-at-the-beginning): appended inline to the thread's log for a slot in the moving
 * space, through the slow path when the log is full, the slot lies elsewhere (its object does
 * not slide: the flip must find the slot too) or pins exist. In a generational heap a store of
 * a young value into a slot outside the young generation (an old or non-moving object) appends
 * (holder, slot) to the thread's remembered-set log, through the slow path when it is full
 * (design: .barrier.remembered). Mutator, running.
 */
static inline void uffdgc_store_ref(uffdgc_mutator *mutator, uffdgc_ref holder, uffdgc_ref *slot,
                                    uffdgc_ref value) {
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  uint32_t barrier = __atomic_load_n(&f->barrier_flag, __ATOMIC_RELAXED);
  if (UFFDGC_UNLIKELY(barrier != 0)) {
    uint32_t cycle = barrier & UFFDGC_BARRIER_CYCLE;
    if (cycle != 0) {
      uffdgc_ref *log = f->satb_cursor;
      if (cycle != UFFDGC_BARRIER_LOG || log == f->satb_limit ||
          (uintptr_t)slot - f->moving_begin >= f->moving_size) {
        uffdgc_store_ref_slow(mutator, holder, slot, value);
        return;
      }
      uffdgc_ref old = __atomic_load_n(slot, __ATOMIC_RELAXED);
      *log = old;
      f->satb_cursor = log + (old != 0);
    }
    if (barrier & UFFDGC_BARRIER_REMEMBER) {
      uintptr_t young = f->young_begin;
      if (value - young < f->young_size && (uintptr_t)slot - young >= f->young_size) {
        uffdgc_ref *remembered = f->remembered_cursor;
        if (UFFDGC_UNLIKELY(remembered == f->remembered_limit)) {
          uffdgc_store_ref_slow(mutator, holder, slot, value);
          return;
        }
        remembered[0] = holder;
        remembered[1] = (uffdgc_ref)slot;
        f->remembered_cursor = remembered + 2;
      }
    }
  }
  __atomic_store_n(slot, value, __ATOMIC_RELEASE); /* publishes the new object (a plain mov) */
}

/* A safepoint poll: a load, a test, a branch. Mutator, running. */
static inline void uffdgc_poll(uffdgc_mutator *mutator) {
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  if (UFFDGC_UNLIKELY(__atomic_load_n(&f->poll_flag, __ATOMIC_ACQUIRE) != 0)) {
    uffdgc_safepoint_slow(mutator);
  }
}

/* Reads a reference field (no read barrier exists; this is for symmetry and atomicity; the
 * acquire pairs with uffdgc_store_ref's release and costs nothing on x86-64 or arm64's ldar). */
static inline uffdgc_ref uffdgc_load_ref(const uffdgc_ref *slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/*
 * Handle scopes and handles, inline (design: .embedder.roots): the thread's handle
 * stack is blocks of slots that never move; handle_top and handle_limit in the mutator say
 * where the next slot is. Opening a scope saves them in the caller's record, closing restores
 * them (the handles made since die), a handle is a store and a bump; a new block (every
 * 256 handles) and the first scope of a thread go out of line. No checks: the record must be
 * the innermost open scope of this mutator, on its owner thread, closed once, and the
 * _fast calls pair with each other (not with uffdgc_handle_scope_open/close). Define
 * UFFDGC_CHECKED (the debug and sanitizer presets do) to route them to the exported calls,
 * which check ownership and scope order and report misuse (uffdgc.h). Mutator (owner).
 */
static inline uffdgc_result uffdgc_handle_scope_open_fast(uffdgc_mutator *mutator,
                                                          uffdgc_handle_scope *scope) {
#ifdef UFFDGC_CHECKED
  return uffdgc_handle_scope_open(mutator, scope);
#else
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  if (UFFDGC_UNLIKELY(f->handle_top == NULL)) return uffdgc_handle_scope_open_slow(mutator, scope);
  scope->opaque[0] = (uintptr_t)f->handle_top;
  scope->opaque[1] = (uintptr_t)f->handle_limit;
  return UFFDGC_OK;
#endif
}

static inline uffdgc_result uffdgc_handle_scope_close_fast(uffdgc_mutator *mutator,
                                                           uffdgc_handle_scope *scope) {
#ifdef UFFDGC_CHECKED
  return uffdgc_handle_scope_close(mutator, scope);
#else
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  f->handle_top = (uffdgc_ref *)scope->opaque[0];
  f->handle_limit = (uffdgc_ref *)scope->opaque[1];
  return UFFDGC_OK;
#endif
}

/* A root slot holding ref in the innermost open scope; NULL when none is open or without
 * memory for a new block. */
static inline uffdgc_ref *uffdgc_handle_new_fast(uffdgc_mutator *mutator, uffdgc_ref ref) {
#ifdef UFFDGC_CHECKED
  return uffdgc_handle_new(mutator, ref);
#else
  uffdgc_mutator_fast *f = (uffdgc_mutator_fast *)mutator;
  uffdgc_ref *slot = f->handle_top;
  if (UFFDGC_UNLIKELY(slot == f->handle_limit)) return uffdgc_handle_new_slow(mutator, ref);
  f->handle_top = slot + 1;
  *slot = ref;
  return slot;
#endif
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UFFDGC_INLINE_H */
