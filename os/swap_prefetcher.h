// OS layer (design: .os.contract). Contract: init() reports why prefetch is unavailable
// (unavailable_reason()); not async-signal-safe (io_uring, allocation). Asynchronous prefetch of
// swapped-out from-space pages ahead of the compaction cursor (design: .cycle.compaction,
// .memory.swap). The GC thread compacts to-space pages from high to low addresses and reads the
// from-space below a falling cursor; when that from-space sits in swap (zram), every read is a
// major fault taken synchronously. SwapPrefetcher queues MADV_WILLNEED for the from-space just
// below the cursor as IORING_OP_MADVISE requests on an io_uring: the kernel runs them on io-wq
// worker threads (MADVISE is always punted to io-wq), which swap the pages in to the swap cache in
// parallel with the GC thread; the GC thread's later read is then a minor fault that only maps the
// page. Measured effect: benchmarks/micro/swap_prefetch_bench.cc.
//
// Threading: single owner. One thread (the GC thread) calls init(), advise(), reap(),
// wait_idle() and destroys the object (or destroys it after that thread has stopped using it).
// counters() may be read from any thread (relaxed atomics; each field is exact, the snapshot as
// a whole is not). NOT async-signal-safe: never call it from the SIGBUS handler (liburing and
// io_uring_enter are not on the signal-safe list, and a second caller would race on the rings).
//
// Advice only: nothing here can fail the collection. Every errno is handled on purpose (see
// swap_prefetcher.cc): an unusable io_uring makes the prefetcher a no-op that says why
// (available() false, unavailable_reason()); a failed request is counted by errno.
//
// Lifetime of the advised memory: a request still in flight may run after advise() returned.
// Call wait_idle() (the destructor does) before the advised range is unmapped or reused for
// something else. MADV_DONTNEED of an advised range while requests are in flight is safe (the
// kernel drops swap entries it finds freed), it only wastes the prefetch.
//
// Fork: the ring fd is O_CLOEXEC and the child must not use the inherited object (its io-wq
// belongs to the parent). The collector finishes a cycle around fork (design: .embedder.fork).
#pragma once

#include <atomic>
#include <cstdint>

struct io_uring;

namespace uffdgc::os {

struct PrefetchOptions {
  // Submission queue entries; also the most requests in flight at once. The completion queue
  // gets twice as many, so it can never overflow.
  unsigned depth = 64;
  // One MADVISE request covers at most this much (a multiple of 4 KiB). 256 KiB = 64 pages:
  // a request is worth an io-wq handoff, and several requests of one advise() run in parallel.
  uint64_t chunk_bytes = 256 << 10;
  // Read /proc/self/pagemap for each chunk and submit only chunks with a swapped-out page.
  // Costs a pread per chunk; saves the io-wq round trip for resident chunks (the usual case:
  // the heap is not in swap). See the "resident" rows of the benchmark.
  bool skip_resident_chunks = false;
  // Most io-wq workers serving this ring at once (IORING_REGISTER_IOWQ_MAX_WORKERS, bounded
  // class: MADVISE has no file, so it runs as bounded work). 0 keeps the kernel's default,
  // min(depth, 4 * online CPUs). Swap-in by the workers takes CPU from mutators; a collector on
  // a small machine may want 1. Kernels before 5.15 ignore it (see max_workers_error()).
  unsigned max_workers = 0;
};

struct PrefetchCounters {
  uint64_t ranges = 0;          // advise() calls that queued at least one chunk
  uint64_t chunks = 0;          // MADVISE requests submitted
  uint64_t pages_advised = 0;   // pages covered by submitted requests
  uint64_t chunks_skipped = 0;  // skip_resident_chunks: chunks with nothing in swap
  uint64_t chunks_dropped = 0;  // ring full even after reaping: advice dropped, never waited
  uint64_t completions = 0;     // completions reaped (successful or not)
  uint64_t errors = 0;          // completions with res < 0; by errno below
  uint64_t err_nomem = 0;       // ENOMEM: part of the chunk was not mapped (or kernel OOM)
  uint64_t err_again = 0;       // EAGAIN: a kernel resource was temporarily unavailable
  uint64_t err_canceled = 0;    // ECANCELED / EINTR: the request was cancelled (ring teardown,
                                // the submitting thread exited)
  uint64_t err_inval = 0;       // EINVAL: a bug in the request (or an unsupported opcode)
  uint64_t err_other = 0;       // anything else; last_other_errno names the latest
  int last_other_errno = 0;
};

class SwapPrefetcher {
 public:
  SwapPrefetcher() = default;
  SwapPrefetcher(const SwapPrefetcher&) = delete;
  SwapPrefetcher& operator=(const SwapPrefetcher&) = delete;
  // Waits for the requests in flight (wait_idle()), then tears the ring down.
  ~SwapPrefetcher();

  // Sets up the io_uring. False when it cannot be used (io_uring_setup ENOSYS: kernel without
  // io_uring, or seccomp; EPERM: kernel.io_uring_disabled or seccomp; ENOMEM; EMFILE/ENFILE;
  // kernel without IORING_OP_MADVISE); the prefetcher then stays a no-op and
  // unavailable_reason() says why. Call once.
  bool init(const PrefetchOptions& options = {});
  bool available() const { return ring_ != nullptr; }
  // "" when available; otherwise e.g. "io_uring_setup: errno 38 (ENOSYS): ...". Static storage
  // owned by this object.
  const char* unavailable_reason() const { return reason_; }
  int init_error() const { return init_error_; }  // errno behind the failure, 0 if none
  // errno of IORING_REGISTER_IOWQ_MAX_WORKERS when max_workers was set and refused (EINVAL:
  // kernel < 5.15); the prefetcher works anyway with the default worker limit.
  int max_workers_error() const { return max_workers_error_; }

  // Queues MADV_WILLNEED for the pages of [begin, end) (rounded out to pages), in chunks of
  // chunk_bytes, the highest chunk first (the cursor falls towards begin). Never waits: when
  // the ring is full it reaps finished requests, and what still does not fit is dropped.
  // Returns the lowest address queued: [result, end) is covered, [begin, result) was dropped
  // (result == begin when everything fit, or when the prefetcher is unavailable: there is
  // nothing worth retrying then).
  uint64_t advise(uint64_t begin, uint64_t end);

  // Collects finished requests without waiting; returns how many.
  unsigned reap();
  // Waits until no request is in flight (requests already queued are submitted first).
  void wait_idle();
  unsigned in_flight() const { return in_flight_; }

  PrefetchCounters counters() const;

  // Pages of [begin, end) that /proc/self/pagemap reports swapped out (bit 62), or -1 with
  // errno set when pagemap cannot be read. Costs one pread of 8 bytes per page. Does not need
  // init().
  static int64_t swapped_pages(uint64_t begin, uint64_t end);

 private:
  bool submit_queued();
  void count_completion(int res);
  void disable(const char* what, int err);
  bool chunk_has_swapped_page(uint64_t begin, uint64_t end);
  static void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  io_uring* ring_ = nullptr;
  PrefetchOptions options_;
  unsigned in_flight_ = 0;  // submitted, completion not reaped yet
  unsigned queued_ = 0;     // SQEs filled in but not submitted yet
  int pagemap_fd_ = -1;     // skip_resident_chunks only
  int init_error_ = 0;
  int max_workers_error_ = 0;
  char reason_[160] = "not initialised";

  std::atomic<uint64_t> ranges_{0}, chunks_{0}, pages_advised_{0}, chunks_skipped_{0},
      chunks_dropped_{0}, completions_{0}, errors_{0}, err_nomem_{0}, err_again_{0},
      err_canceled_{0}, err_inval_{0}, err_other_{0};
  std::atomic<int> last_other_errno_{0};
};

// The window policy for a top-down walk over from-space: keeps [cursor - window, cursor)
// advised (never below limit_lo), in steps of at least `step` bytes so each advise() call is
// worth its syscall. The caller calls ahead_of() whenever its cursor moves; same threading
// rules as SwapPrefetcher. The cursor may only fall (a rising cursor is ignored until it falls
// below what was advised).
class PrefetchWindow {
 public:
  // step 0 means window / 4 (at least one page).
  PrefetchWindow(SwapPrefetcher* prefetcher, uint64_t window_bytes, uint64_t step_bytes = 0);

  // The caller reads at or above `cursor` now and will read down to `limit_lo`.
  void ahead_of(uint64_t cursor, uint64_t limit_lo);
  // Forget what was advised (a new walk).
  void reset() { advised_lo_ = ~uint64_t{0}; }
  uint64_t advised_lo() const { return advised_lo_; }

 private:
  SwapPrefetcher* prefetcher_;
  uint64_t window_, step_;
  uint64_t advised_lo_ = ~uint64_t{0};  // [advised_lo_, previous cursor) has been queued
};

}  // namespace uffdgc::os
