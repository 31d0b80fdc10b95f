// The page installer: puts N source pages at a userfaultfd-registered destination with ranged
// UFFDIO_MOVE, and implements the whole error policy (design: .install.eagain, .install.eexist,
// .install.ebusy, .install.enoent, .install.einval, .install.enomem, .install.other;
// research/kernel.md §1.4 for what each errno means):
//
//   success                    done
//   EAGAIN, progress > 0       advance by the progress, retry the rest
//   EAGAIN, nothing done       retry (bounded: stalled_retry_limit)
//   EEXIST                     our own source page gone => the kernel moved it without
//                              reporting it (research/kernel.md §1.6; counted separately): done.
//                              Our source still there => somebody else filled the page: with
//                              exclusive_destinations (the collector: a page's state CAS admits
//                              one installer, so nobody else may fill it) that is a foreign fill,
//                              kForeignFill; otherwise another installer won: done, source
//                              released
//   EBUSY                      UFFDIO_COPY exactly that page from the same source, release the
//                              source page, continue moving (move-only mode: stop, kBusy)
//   ENOENT                     destination unmapped => kRangeGone; source unmapped =>
//                              kInvalidArgument; source hole => zero page or kSourceHole
//   EINVAL (MOVE)              arguments are validated before the first ioctl, so EINVAL means
//                              the destination is no longer registered, or MOVE refuses the
//                              pair of mappings (they differ in VM_LOCKED after mlockall(), in
//                              protection, ...). UFFDIO_COPY of that page tells which: ENOENT =>
//                              kRangeGone; installed => the rest of the call goes by COPY
//                              (move-only mode cannot ask: kRangeGone)
//   ENOMEM                     (a memory cgroup at its limit) back off and retry, bounded:
//                              enomem_retry_limit, then kNoMemory
//   anything else              kFatal, naming the page and the errno
//
// Contract: install() consumes the source. When it returns kDone every source page has been
// moved away or released with MADV_DONTNEED, so RSS never holds a page twice. copy() leaves
// the source to the caller, who builds the next pages in it.
//
// Async-signal-safe and thread-safe: install() takes no lock, allocates nothing, uses a bounded
// stack and only async-signal-safe syscalls (ioctl, madvise, mincore, pread, sched_yield,
// nanosleep). It may run in a SIGBUS handler and on several threads at once, on disjoint or
// (without exclusive_destinations) overlapping ranges.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/uffd/install_counters.h"
#include "os/uffd/uffd_ioctl.h"

namespace uffdgc::uffd {

class FaultInjector;

enum class InstallMode : uint8_t { kAuto, kMoveOnly, kCopyOnly };
enum class SourceHolePolicy : uint8_t { kZeroFill, kReport };

enum class InstallStatus : uint8_t {
  kDone,             // every destination page is installed (by this call or another thread)
  kRangeGone,        // the destination is no longer registered or mapped: the cycle ended
  kBusy,             // move-only mode: MOVE said EBUSY at failed_dst
  kSourceHole,       // SourceHolePolicy::kReport and the source page at failed_dst was empty
  kInvalidArgument,  // misaligned, zero-length, overflowing, overlapping or unmapped source
  kFatal,            // unexpected errno from the kernel at failed_dst
  kForeignFill,      // exclusive_destinations: failed_dst was filled by someone else (EEXIST)
  kNoMemory,         // ENOMEM at failed_dst after the allowed retries
};

const char* install_status_name(InstallStatus status);

struct InstallResult {
  InstallStatus status = InstallStatus::kDone;
  int error = 0;            // errno behind kRangeGone / kBusy / kFatal / kInvalidArgument
  UffdOp failed_op = UffdOp::kMove;
  uint64_t pages_done = 0;  // leading destination pages known installed
  uint64_t failed_dst = 0;  // destination page where it stopped (0 when kDone)
};

struct InstallerConfig {
  int uffd = -1;
  InstallMode mode = InstallMode::kAuto;
  SourceHolePolicy holes = SourceHolePolicy::kZeroFill;
  bool wake = true;  // wake threads blocked on the range (only matters without UFFD_FEATURE_SIGBUS)
  uint32_t stalled_retry_limit = 1u << 20;  // EAGAIN-with-no-progress retries before kFatal
  // ENOMEM retries (with nanosleep backoff from 50 us up to 10 ms: ~1.9 s for 200) before
  // kNoMemory. Reset by progress.
  uint32_t enomem_retry_limit = 200;
  // The caller guarantees that nobody but this installer fills the destination pages it is
  // given (the collector: one installer per page, by the page-state CAS). An EEXIST our own
  // protocol does not explain (our source page is still in place) is then kForeignFill
  // instead of another installer's page.
  bool exclusive_destinations = false;
  InstallCounters* counters = nullptr;      // required
  FaultInjector* injector = nullptr;        // optional; tests only
};

class PageInstaller {
 public:
  // Opens /proc/self/pagemap (used to classify EEXIST); not async-signal-safe.
  explicit PageInstaller(const InstallerConfig& config);
  PageInstaller(const PageInstaller&) = delete;
  PageInstaller& operator=(const PageInstaller&) = delete;
  ~PageInstaller();

  // Installs the pages [src, src + npages * 4K) at [dst, ...). Async-signal-safe.
  InstallResult install(uint64_t dst, uint64_t src, uint64_t npages) const {
    return install(dst, src, npages, config_.enomem_retry_limit);
  }
  // The same with another ENOMEM retry limit (0: kNoMemory at the first ENOMEM, for a caller
  // that has memory of its own to give back before it retries).
  InstallResult install(uint64_t dst, uint64_t src, uint64_t npages,
                        uint32_t enomem_retry_limit) const;

  // Installs copies of [src, src + npages * 4K) at [dst, ...) by UFFDIO_COPY, whatever the
  // mode, and leaves the source in place: for a buffer the caller builds pages in again and
  // again (a page MOVEd out of it would be faulted in afresh at its next use, and MOVE
  // flushes the TLB of every CPU running the process, COPY into an empty page none).
  // The same policy otherwise. Async-signal-safe.
  InstallResult copy(uint64_t dst, uint64_t src, uint64_t npages,
                     uint32_t enomem_retry_limit) const;
  InstallResult copy(uint64_t dst, uint64_t src, uint64_t npages) const {
    return copy(dst, src, npages, config_.enomem_retry_limit);
  }

  const InstallerConfig& config() const { return config_; }
  // Not while install() may run on any thread.
  void set_mode(InstallMode mode) { config_.mode = mode; }

 private:
  IoctlOutcome issue(UffdOp op, uint64_t dst, uint64_t src, uint64_t len) const;
  // Runs `op` over the whole run with the §5 policy; the loop shared by MOVE and COPY.
  // keep_source: a COPY leaves the source pages in place (copy()).
  InstallResult run(UffdOp op, uint64_t dst, uint64_t src, uint64_t npages,
                    uint32_t enomem_limit, bool keep_source) const;
  // run()'s state: the operation (a MOVE turns into COPY after EINVAL), the counter its pages
  // go to, the pages done and the retry counts.
  struct RunState {
    UffdOp op;
    std::atomic<uint64_t>* installed;
    uint64_t done_pages = 0;
    uint32_t stalled = 0;
    uint32_t enomem_rounds = 0;
  };
  // What run() does after a failed call: retry, install one page with one_page_op, or stop.
  struct ErrnoStep {
    enum Kind : uint8_t { kRetry, kOnePage, kStop } kind;
    UffdOp one_page_op;
  };
  void count_installed(const RunState& st, uint64_t dst, uint64_t src, uint64_t pages,
                       bool keep_source) const;
  ErrnoStep on_errno(RunState& st, const IoctlOutcome& o, uint64_t d, uint64_t s,
                     bool keep_source, uint32_t enomem_limit, InstallResult* stop) const;
  ErrnoStep on_einval(RunState& st, uint64_t d, uint64_t s, uint32_t enomem_limit,
                      InstallResult* stop) const;
  // One page with COPY (EBUSY or EINVAL fallback) or ZEROPAGE (source hole); kDone when
  // installed, counted in `installed`.
  InstallResult install_one(UffdOp op, uint64_t dst, uint64_t src,
                            std::atomic<uint64_t>& installed, uint32_t enomem_limit) const;
  enum class SourceState : uint8_t { kVacated, kPresent, kUnknown };
  SourceState source_page_state(uint64_t src) const;
  // EEXIST at dst for the page from src: kDone (counted) when explained, else kForeignFill.
  InstallResult on_eexist(UffdOp op, uint64_t dst, uint64_t src, bool keep_source) const;
  void release_source(uint64_t src, uint64_t npages) const;

  InstallerConfig config_;
  int pagemap_fd_ = -1;
};

// Writes "uffdgc: installing the page at 0x... failed: <status>, <op> returned <errno>" (for
// kForeignFill: that the page was filled behind the collector's back) to stderr and aborts.
// For callers that treat kFatal as the bug it is. Async-signal-safe.
[[noreturn]] void abort_on_install_failure(const InstallResult& result);

}  // namespace uffdgc::uffd
