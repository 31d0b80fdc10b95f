/*
 * uffdgc: the stable C ABI.
 *
 * Conventions (DESIGN.md §1, §2): opaque handles; every function returns an int result code
 * (UFFDGC_OK or a negative UFFDGC_E* value) and never throws or aborts on bad arguments;
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
#define UFFDGC_VERSION_MINOR 1
#define UFFDGC_VERSION_PATCH 0

/* ---- Result codes ---- */
typedef int uffdgc_result;
#define UFFDGC_OK 0
#define UFFDGC_EINVAL (-1)       /* a null pointer, unknown flag or out-of-range value */
#define UFFDGC_ESTRUCTSIZE (-2)  /* struct_size smaller than the first release of the struct */
#define UFFDGC_EUNSUPPORTED (-3) /* the request cannot be met on this kernel/machine */
#define UFFDGC_ENOMEM (-4)
#define UFFDGC_EINTERNAL (-5)    /* a system call failed unexpectedly; see the message */

/* Stable name of a result code ("UFFDGC_OK", ...); never NULL. Any thread. */
UFFDGC_API const char *uffdgc_result_name(uffdgc_result result);

/* Library version as MAJOR.MINOR.PATCH; never NULL. Any thread. */
UFFDGC_API const char *uffdgc_version(void);

/* ---- Collector modes (DESIGN.md §4, §5) ---- */
#define UFFDGC_MODE_AUTO 0 /* let the probe decide */
#define UFFDGC_MODE_MOVE 1 /* concurrent compaction, pages installed with UFFDIO_MOVE */
#define UFFDGC_MODE_COPY 2 /* concurrent compaction, pages installed with UFFDIO_COPY */
#define UFFDGC_MODE_STW 3  /* compaction inside the pause (no userfaultfd needed) */

/* "auto", "move", "copy", "stop-the-world"; "unknown" otherwise. Any thread. */
UFFDGC_API const char *uffdgc_mode_name(uint32_t mode);

/* ---- Kernel quirks the probe knows about (research/kernel.md §1.5, §1.6) ---- */
#define UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX (1u << 0)   /* 6.8..6.12.19, 6.13.0..6.13.7 */
#define UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES (1u << 1)   /* 6.18+: partial MOVE under-counts */
#define UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK (1u << 2) /* < 6.18: extra ref makes MOVE spin */

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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* UFFDGC_UFFDGC_H */
