#include "os/swap_prefetcher.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "os/page.h"

namespace uffdgc::os {

namespace {

constexpr uint64_t kPmSwapped = uint64_t{1} << 62;
constexpr unsigned kMaxDepth = 4096;  // IORING_MAX_ENTRIES is 32768; more is pointless here
constexpr unsigned kReapBatch = 32;

// pread that retries EINTR and short reads; returns bytes read (short at the end of the
// address space) or -1 with errno.
ssize_t pread_full(int fd, void* buf, size_t len, off_t off) {
  size_t got = 0;
  while (got < len) {
    const ssize_t n = pread(fd, static_cast<char*>(buf) + got, len - got,
                            off + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

// Visits the pagemap entries of [begin, end) in batches; fn(entries, n) returns false to stop.
// Returns 0, or an errno (EINTR is retried inside).
template <typename Fn>
int for_each_pagemap_batch(int fd, uint64_t begin, uint64_t end, Fn fn) {
  uint64_t buf[512];
  for (uint64_t page = begin / kPageSize; page < end / kPageSize;) {
    const uint64_t n = std::min<uint64_t>(end / kPageSize - page, std::size(buf));
    const ssize_t got = pread_full(fd, buf, n * sizeof(uint64_t),
                                   static_cast<off_t>(page * sizeof(uint64_t)));
    if (got < 0) return errno;
    const uint64_t entries = static_cast<uint64_t>(got) / sizeof(uint64_t);
    if (!fn(buf, entries) || entries < n) return 0;  // stopped, or past the address space
    page += n;
  }
  return 0;
}

const char* errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "?";
}

}  // namespace

SwapPrefetcher::~SwapPrefetcher() {
  wait_idle();
  if (ring_ != nullptr) {
    io_uring_queue_exit(ring_);
    delete ring_;
    ring_ = nullptr;
  }
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

void SwapPrefetcher::disable(const char* what, int err) {
  init_error_ = err;
  std::snprintf(reason_, sizeof(reason_), "%s: errno %d (%s)", what, err, errno_name(err));
  if (ring_ == nullptr) return;
  // Keep the contract of wait_idle(): nothing of ours runs after the ring is gone, if waiting
  // still works at all.
  while (in_flight_ > 0) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) break;  // the ring itself is unusable: io_uring_queue_exit reclaims the rest
    count_completion(cqe->res);
    io_uring_cqe_seen(ring_, cqe);
    --in_flight_;
  }
  io_uring_queue_exit(ring_);
  delete ring_;
  ring_ = nullptr;
  in_flight_ = queued_ = 0;
}

bool SwapPrefetcher::init(const PrefetchOptions& options) {
  if (ring_ != nullptr) return true;
  options_ = options;
  if (options.depth == 0 || options.depth > kMaxDepth || options.chunk_bytes == 0 ||
      options.chunk_bytes % kPageSize != 0 || options.chunk_bytes > (uint64_t{1} << 31)) {
    disable("invalid PrefetchOptions (depth 1..4096, chunk a multiple of 4K below 2G)", EINVAL);
    return false;
  }
  ring_ = new (std::nothrow) io_uring;
  if (ring_ == nullptr) {
    disable("allocating the ring", ENOMEM);
    return false;
  }
  // No SINGLE_ISSUER/DEFER_TASKRUN: completions are posted by the io-wq workers directly, so
  // the destructor may wait from another thread than the submitter.
  const int rc = io_uring_queue_init(options.depth, ring_, 0);
  if (rc < 0) {
    delete ring_;
    ring_ = nullptr;
    switch (-rc) {
      case ENOSYS:  // CONFIG_IO_URING=n, or a seccomp filter answering ENOSYS
        disable("io_uring_setup: io_uring not available (kernel or seccomp)", ENOSYS);
        break;
      case EPERM:  // kernel.io_uring_disabled=2, or =1 without the group, or seccomp
        disable("io_uring_setup: not permitted (kernel.io_uring_disabled or seccomp)", EPERM);
        break;
      case ENOMEM:  // rings are charged to RLIMIT_MEMLOCK (< 5.12) or the memory cgroup
        disable("io_uring_setup: no memory for the rings (memlock or memcg)", ENOMEM);
        break;
      case EMFILE:
      case ENFILE:
        disable("io_uring_setup: out of file descriptors", -rc);
        break;
      case EINVAL:  // entries out of range, or flags this kernel does not know
        disable("io_uring_setup: parameters refused", EINVAL);
        break;
      default:
        disable("io_uring_setup: unexpected error", -rc);
        break;
    }
    return false;
  }
  // IORING_OP_MADVISE exists since 5.6, as does the probe; a kernel that cannot answer the
  // probe (or a seccomp filter on io_uring_register) does not get MADVISE requests.
  io_uring_probe* probe = io_uring_get_probe_ring(ring_);
  if (probe == nullptr) {
    disable("io_uring_register(PROBE) failed: cannot tell whether IORING_OP_MADVISE works",
            EOPNOTSUPP);
    return false;
  }
  const bool has_madvise = io_uring_opcode_supported(probe, IORING_OP_MADVISE);
  io_uring_free_probe(probe);
  if (!has_madvise) {
    disable("io_uring without IORING_OP_MADVISE (kernel < 5.6)", EOPNOTSUPP);
    return false;
  }
  if (options_.max_workers != 0) {
    unsigned limits[2] = {options_.max_workers, 0};  // {bounded, unbound}; 0 = leave as is
    const int wrc = io_uring_register_iowq_max_workers(ring_, limits);
    // EINVAL: kernel < 5.15 (unknown opcode); EFAULT cannot happen (our array). Not fatal:
    // the default limit applies.
    if (wrc < 0) max_workers_error_ = -wrc;
  }
  if (options_.skip_resident_chunks) {
    pagemap_fd_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    // ENOENT (no procfs), EACCES/EPERM (hardened /proc): prefetch every chunk instead.
    if (pagemap_fd_ < 0) options_.skip_resident_chunks = false;
  }
  reason_[0] = '\0';
  init_error_ = 0;
  return true;
}

void SwapPrefetcher::count_completion(int res) {
  bump(completions_);
  if (res >= 0) return;
  bump(errors_);
  switch (-res) {
    case ENOMEM:  // madvise: part of [addr, addr + len) is not mapped (the rest was advised)
      bump(err_nomem_);
      break;
    case EAGAIN:  // madvise: a kernel resource was temporarily unavailable; advice is lost
      bump(err_again_);
      break;
    case ECANCELED:  // the request was cancelled: ring teardown, the submitting thread exited
    case EINTR:
      bump(err_canceled_);
      break;
    case EINVAL:  // misaligned address or bad advice: a bug here, or an unknown opcode
      bump(err_inval_);
      break;
    default:  // EOPNOTSUPP (kernel without CONFIG_ADVISE_SYSCALLS), EBADF, ...: counted
      bump(err_other_);
      last_other_errno_.store(-res, std::memory_order_relaxed);
      break;
  }
}

unsigned SwapPrefetcher::reap() {
  if (ring_ == nullptr) return 0;
  unsigned total = 0;
  for (;;) {
    io_uring_cqe* cqes[kReapBatch];
    const unsigned n = io_uring_peek_batch_cqe(ring_, cqes, kReapBatch);
    for (unsigned i = 0; i < n; ++i) count_completion(cqes[i]->res);
    io_uring_cq_advance(ring_, n);
    in_flight_ -= std::min(n, in_flight_);
    total += n;
    if (n < kReapBatch) return total;
  }
}

// Submits the SQEs filled in so far. False when the ring became unusable (then disabled).
bool SwapPrefetcher::submit_queued() {
  for (int attempt = 0; queued_ > 0 && attempt < 4; ++attempt) {
    const int rc = io_uring_submit(ring_);
    if (rc >= 0) {
      // MADVISE is punted to io-wq, so submit returns without waiting for the advice. A
      // request whose prep fails is still consumed (its CQE carries the error).
      const unsigned n = std::min(static_cast<unsigned>(rc), queued_);
      queued_ -= n;
      in_flight_ += n;
      if (n == 0) return true;  // nothing consumed: try again on the next call
      continue;
    }
    switch (-rc) {
      case EINTR:  // a signal arrived before anything was consumed
        continue;
      case EAGAIN:  // no memory for requests right now: leave them queued for the next call
        return true;
      case EBUSY:  // CQ overflow backlog (cannot happen with in_flight <= depth, but cheap)
        reap();
        continue;
      default:  // EBADF, EFAULT, EINVAL, EOPNOTSUPP, ENXIO (ring dying): the ring is unusable
        disable("io_uring_enter(submit) failed; prefetch disabled", -rc);
        return false;
    }
  }
  return true;
}

bool SwapPrefetcher::chunk_has_swapped_page(uint64_t begin, uint64_t end) {
  bool swapped = false;
  const int err = for_each_pagemap_batch(pagemap_fd_, begin, end,
                                         [&](const uint64_t* entries, uint64_t n) {
                                           for (uint64_t i = 0; i < n; ++i) {
                                             if (entries[i] & kPmSwapped) {
                                               swapped = true;
                                               return false;
                                             }
                                           }
                                           return true;
                                         });
  if (err != 0) {
    // pagemap stopped working (EIO, ...): stop filtering, prefetch everything.
    close(pagemap_fd_);
    pagemap_fd_ = -1;
    options_.skip_resident_chunks = false;
    return true;
  }
  return swapped;
}

uint64_t SwapPrefetcher::advise(uint64_t begin, uint64_t end) {
  if (ring_ == nullptr) return begin;
  reap();  // no syscall: reads the CQ ring
  const uint64_t lo = align_down(begin, kPageSize);
  uint64_t top = align_up(end, kPageSize);
  if (lo >= top) return begin;
  const uint64_t depth = options_.depth;
  bool queued_any = false;
  while (top > lo) {
    const uint64_t chunk_lo = std::max(lo, align_down(top - 1, options_.chunk_bytes));
    if (options_.skip_resident_chunks && !chunk_has_swapped_page(chunk_lo, top)) {
      bump(chunks_skipped_);
      top = chunk_lo;
      continue;
    }
    if (in_flight_ + queued_ >= depth) {
      if (!submit_queued()) return begin;
      reap();
      if (in_flight_ + queued_ >= depth) {
        // Still full: drop the rest rather than wait. The caller may ask again later.
        bump(chunks_dropped_, (top - lo + options_.chunk_bytes - 1) / options_.chunk_bytes);
        break;
      }
    }
    io_uring_sqe* sqe = io_uring_get_sqe(ring_);
    if (sqe == nullptr) {  // the SQ holds only our queued_ entries, so this means a bug
      bump(chunks_dropped_);
      break;
    }
    io_uring_prep_madvise(sqe, reinterpret_cast<void*>(chunk_lo),
                          static_cast<off_t>(top - chunk_lo), MADV_WILLNEED);
    io_uring_sqe_set_data64(sqe, chunk_lo);
    ++queued_;
    bump(chunks_);
    bump(pages_advised_, (top - chunk_lo) / kPageSize);
    queued_any = true;
    top = chunk_lo;
  }
  if (queued_any) bump(ranges_);
  if (!submit_queued()) return begin;
  return top <= lo ? begin : top;
}

void SwapPrefetcher::wait_idle() {
  if (ring_ == nullptr) return;
  if (!submit_queued()) return;
  // Queued entries that submit_queued() left behind (EAGAIN) are abandoned: not in flight.
  while (in_flight_ > 0) {
    if (reap() > 0) continue;
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) {  // the ring is unusable: stop using it (queue_exit reclaims the requests)
      disable("io_uring_enter(wait) failed; prefetch disabled", -rc);
      return;
    }
    // The CQE is reaped by reap() on the next round.
  }
}

PrefetchCounters SwapPrefetcher::counters() const {
  constexpr auto r = std::memory_order_relaxed;
  PrefetchCounters c;
  c.ranges = ranges_.load(r);
  c.chunks = chunks_.load(r);
  c.pages_advised = pages_advised_.load(r);
  c.chunks_skipped = chunks_skipped_.load(r);
  c.chunks_dropped = chunks_dropped_.load(r);
  c.completions = completions_.load(r);
  c.errors = errors_.load(r);
  c.err_nomem = err_nomem_.load(r);
  c.err_again = err_again_.load(r);
  c.err_canceled = err_canceled_.load(r);
  c.err_inval = err_inval_.load(r);
  c.err_other = err_other_.load(r);
  c.last_other_errno = last_other_errno_.load(r);
  return c;
}

int64_t SwapPrefetcher::swapped_pages(uint64_t begin, uint64_t end) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int64_t count = 0;
  const int err = for_each_pagemap_batch(fd, align_down(begin, kPageSize), align_up(end, kPageSize),
                                         [&](const uint64_t* entries, uint64_t n) {
                                           for (uint64_t i = 0; i < n; ++i) {
                                             count += (entries[i] & kPmSwapped) != 0;
                                           }
                                           return true;
                                         });
  close(fd);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return count;
}

PrefetchWindow::PrefetchWindow(SwapPrefetcher* prefetcher, uint64_t window_bytes,
                               uint64_t step_bytes)
    : prefetcher_(prefetcher),
      window_(align_up(window_bytes, kPageSize)),
      step_(std::max<uint64_t>(kPageSize, step_bytes != 0 ? step_bytes : window_bytes / 4)) {}

void PrefetchWindow::ahead_of(uint64_t cursor, uint64_t limit_lo) {
  if (prefetcher_ == nullptr || !prefetcher_->available() || window_ == 0) return;
  const uint64_t c = align_down(cursor, kPageSize);  // the page at the cursor is being read now
  const uint64_t limit = align_down(limit_lo, kPageSize);
  const uint64_t hi = std::min(advised_lo_, c);
  const uint64_t target = c > limit + window_ ? c - window_ : limit;
  if (target >= hi) return;
  if (hi - target < step_ && target > limit) return;  // wait for a step worth a syscall
  advised_lo_ = prefetcher_->advise(target, hi);
}

}  // namespace uffdgc::os
