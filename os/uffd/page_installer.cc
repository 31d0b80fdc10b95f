#include "os/uffd/page_installer.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "os/uffd/fault_injection.h"
#include "os/uffd/kernel_abi.h"
#include "os/page.h"
#include "os/uffd/signal_safe_format.h"

namespace uffdgc::uffd {

namespace {

constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapSwapped = 1ull << 62;

InstallResult stopped(InstallStatus status, int error, UffdOp op, uint64_t pages_done,
                      uint64_t failed_dst) {
  InstallResult r;
  r.status = status;
  r.error = error;
  r.failed_op = op;
  r.pages_done = pages_done;
  r.failed_dst = failed_dst;
  return r;
}

InstallResult done(uint64_t pages) {
  InstallResult r;
  r.pages_done = pages;
  return r;
}

// mincore() fails with ENOMEM exactly when the page is not mapped; that separates "the range
// was unmapped under us" from "a hole inside a mapping" without reading /proc.
bool is_mapped(uint64_t addr) {
  unsigned char vec = 0;
  return mincore(reinterpret_cast<void*>(addr), kPageSize, &vec) == 0 || errno != ENOMEM;
}

// ENOMEM: the memory cgroup is at its limit and the kernel could not reclaim in time. Give it
// (and the GC thread, which frees from-space as it goes) a moment: 50 us, doubling, at most
// 10 ms. nanosleep is async-signal-safe.
void enomem_backoff(uint32_t round) {
  const long us = round >= 8 ? 10000 : std::min(10000L, 50L << round);
  timespec ts{0, us * 1000};
  nanosleep(&ts, nullptr);
}

uint64_t mode_bits(UffdOp op, bool wake) {
  if (wake) return 0;
  switch (op) {
    case UffdOp::kMove: return UFFDIO_MOVE_MODE_DONTWAKE;
    case UffdOp::kCopy: return UFFDIO_COPY_MODE_DONTWAKE;
    case UffdOp::kZeropage: return UFFDIO_ZEROPAGE_MODE_DONTWAKE;
  }
  return 0;
}

// Page-aligned, non-null, non-empty, not wrapping around and not overlapping.
bool valid_request(uint64_t dst, uint64_t src, uint64_t npages) {
  constexpr uint64_t kMaxPages = (UINT64_MAX >> kPageShift);
  if (!is_page_aligned(dst) || !is_page_aligned(src) || npages == 0 || npages > kMaxPages ||
      dst == 0 || src == 0) {
    return false;
  }
  const uint64_t len = npages * kPageSize;
  return dst + len >= dst && src + len >= src && !(dst < src + len && src < dst + len);
}

}  // namespace

const char* install_status_name(InstallStatus status) {
  switch (status) {
    case InstallStatus::kDone: return "done";
    case InstallStatus::kRangeGone: return "range-gone";
    case InstallStatus::kBusy: return "busy";
    case InstallStatus::kSourceHole: return "source-hole";
    case InstallStatus::kInvalidArgument: return "invalid-argument";
    case InstallStatus::kFatal: return "fatal";
    case InstallStatus::kForeignFill: return "foreign-fill";
    case InstallStatus::kNoMemory: return "no-memory";
  }
  return "unknown";
}

PageInstaller::PageInstaller(const InstallerConfig& config) : config_(config) {
  if (config_.counters == nullptr) {
    SignalSafeMessage().text("uffdgc: PageInstaller needs InstallerConfig::counters").write_to(2);
    abort();
  }
  pagemap_fd_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

PageInstaller::~PageInstaller() {
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

IoctlOutcome PageInstaller::issue(UffdOp op, uint64_t dst, uint64_t src, uint64_t len) const {
  InstallCounters& c = *config_.counters;
  switch (op) {
    case UffdOp::kMove: c.add(c.move_ioctls, 1); break;
    case UffdOp::kCopy: c.add(c.copy_ioctls, 1); break;
    case UffdOp::kZeropage: c.add(c.zeropage_ioctls, 1); break;
  }
  const uint64_t mode = mode_bits(op, config_.wake);
  IoctlOutcome out;
  if (config_.injector != nullptr &&
      config_.injector->intercept(op, config_.uffd, dst, src, len, mode, &out)) {
    c.add(c.injected_faults, 1);
    return out;
  }
  return issue_uffd_ioctl(op, config_.uffd, dst, src, len, mode);
}

// After EEXIST: is our source page gone (neither present nor swapped)? Then the kernel moved
// it in an earlier call without counting it (research/kernel.md §1.6). Without pagemap we
// cannot tell: kUnknown.
PageInstaller::SourceState PageInstaller::source_page_state(uint64_t src) const {
  if (pagemap_fd_ < 0) return SourceState::kUnknown;
  uint64_t entry = 0;
  const off_t offset = static_cast<off_t>((src >> kPageShift) * sizeof(entry));
  if (pread(pagemap_fd_, &entry, sizeof(entry), offset) != static_cast<ssize_t>(sizeof(entry))) {
    return SourceState::kUnknown;
  }
  return (entry & (kPagemapPresent | kPagemapSwapped)) == 0 ? SourceState::kVacated
                                                            : SourceState::kPresent;
}

// EEXIST: the destination page is taken. Our own MOVE consumed the source => the kernel moved
// it without reporting it (6.18, research/kernel.md §1.6): explained, done. Our source is
// still there => somebody else filled the page: another installer (only where destinations
// are shared), or, where they are ours alone, a foreign fill. When pagemap cannot tell,
// nothing proves a foreign fill and the page counts as another installer's.
InstallResult PageInstaller::on_eexist(UffdOp op, uint64_t dst, uint64_t src,
                                       bool keep_source) const {
  InstallCounters& c = *config_.counters;
  const SourceState state = source_page_state(src);
  if (state == SourceState::kVacated && config_.mode != InstallMode::kCopyOnly) {
    c.add(c.pages_moved_unreported, 1);
    return done(1);
  }
  if (config_.exclusive_destinations && state != SourceState::kUnknown) {
    c.add(c.foreign_fills, 1);
    c.add(c.fatal_errors, 1);
    return stopped(InstallStatus::kForeignFill, EEXIST, op, 0, dst);
  }
  c.add(c.pages_already_present, 1);
  if (!keep_source) release_source(src, 1);
  return done(1);
}

void PageInstaller::release_source(uint64_t src, uint64_t npages) const {
  // Failure leaves the page resident, which costs memory but never correctness.
  madvise(reinterpret_cast<void*>(src), npages * kPageSize, MADV_DONTNEED);
}

InstallResult PageInstaller::install(uint64_t dst, uint64_t src, uint64_t npages,
                                     uint32_t enomem_retry_limit) const {
  if (!valid_request(dst, src, npages)) {
    return stopped(InstallStatus::kInvalidArgument, EINVAL, UffdOp::kMove, 0, dst);
  }
  return run(config_.mode == InstallMode::kCopyOnly ? UffdOp::kCopy : UffdOp::kMove, dst, src,
             npages, enomem_retry_limit, /*keep_source=*/false);
}

InstallResult PageInstaller::copy(uint64_t dst, uint64_t src, uint64_t npages,
                                  uint32_t enomem_retry_limit) const {
  if (!valid_request(dst, src, npages)) {
    return stopped(InstallStatus::kInvalidArgument, EINVAL, UffdOp::kCopy, 0, dst);
  }
  return run(UffdOp::kCopy, dst, src, npages, enomem_retry_limit, /*keep_source=*/true);
}

InstallResult PageInstaller::run(UffdOp op, uint64_t dst, uint64_t src, uint64_t npages,
                                 uint32_t enomem_limit, bool keep_source) const {
  InstallCounters& c = *config_.counters;
  RunState st{op, op == UffdOp::kMove ? &c.pages_moved : &c.pages_copied};
  while (st.done_pages < npages) {
    const uint64_t d = dst + st.done_pages * kPageSize;
    const uint64_t s = src + st.done_pages * kPageSize;
    const uint64_t len = (npages - st.done_pages) * kPageSize;
    const IoctlOutcome o = issue(st.op, d, s, len);
    if (o.ret == 0) {
      count_installed(st, d, s, npages - st.done_pages, keep_source);
      return done(npages);
    }
    if (o.progress > 0) {
      const uint64_t progress = static_cast<uint64_t>(o.progress);
      if (progress % kPageSize != 0 || progress >= len) {
        c.add(c.fatal_errors, 1);
        return stopped(InstallStatus::kFatal, EPROTO, st.op, st.done_pages, d);
      }
      count_installed(st, d, s, progress / kPageSize, keep_source);
      st.done_pages += progress / kPageSize;
      st.enomem_rounds = 0;
    }
    InstallResult stop;
    const ErrnoStep step = on_errno(st, o, d, s, keep_source, enomem_limit, &stop);
    if (step.kind == ErrnoStep::kStop) return stop;
    if (step.kind == ErrnoStep::kRetry) continue;
    // EBUSY: COPY exactly this page; source hole: a zero page. Then carry on with st.op.
    InstallResult r = install_one(step.one_page_op, d, s,
                                  step.one_page_op == UffdOp::kCopy ? c.pages_copied_on_ebusy
                                                                    : c.pages_zero_filled,
                                  enomem_limit);
    if (r.status != InstallStatus::kDone) {
      if (r.status == InstallStatus::kNoMemory && step.one_page_op == UffdOp::kCopy) {
        c.add(c.ebusy_copies_out_of_memory, 1);
      }
      r.pages_done = st.done_pages;
      return r;
    }
    ++st.done_pages;
    st.stalled = st.enomem_rounds = 0;
  }
  return done(npages);
}

void PageInstaller::count_installed(const RunState& st, uint64_t dst, uint64_t src,
                                    uint64_t pages, bool keep_source) const {
  InstallCounters& c = *config_.counters;
  c.add(*st.installed, pages);
  if (st.op == UffdOp::kMove) count_moved_frames(c, dst, src, pages * kPageSize);
  if (st.op == UffdOp::kCopy && !keep_source) release_source(src, pages);
}

// EINVAL from a MOVE: unregistered, or refused? A COPY of this page answers: ENOENT when the
// range is no longer registered (kRangeGone), installed when MOVE refuses this pair of
// mappings (VM_LOCKED on one side only after mlockall(), say). Then the rest of the call is
// copied too rather than asking again for every page.
PageInstaller::ErrnoStep PageInstaller::on_einval(RunState& st, uint64_t d, uint64_t s,
                                                  uint32_t enomem_limit, InstallResult* stop) const {
  InstallCounters& c = *config_.counters;
  if (st.op == UffdOp::kMove && config_.mode != InstallMode::kMoveOnly && is_mapped(d)) {
    InstallResult r = install_one(UffdOp::kCopy, d, s, c.pages_copied_on_einval, enomem_limit);
    if (r.status != InstallStatus::kDone) {
      r.pages_done = st.done_pages;
      *stop = r;
      return {ErrnoStep::kStop, st.op};
    }
    ++st.done_pages;
    st.stalled = st.enomem_rounds = 0;
    st.op = UffdOp::kCopy;
    st.installed = &c.pages_copied_on_einval;
    return {ErrnoStep::kRetry, st.op};
  }
  c.add(c.range_gone, 1);
  *stop = stopped(InstallStatus::kRangeGone, EINVAL, st.op, st.done_pages, d);
  return {ErrnoStep::kStop, st.op};
}

// The errno policy (docs/design/install.md) for one failed call over [dst, ...) (its progress already
// counted): retry, install this one page another way, or stop with *stop.
PageInstaller::ErrnoStep PageInstaller::on_errno(RunState& st, const IoctlOutcome& o,
                                                 uint64_t d, uint64_t s, bool keep_source,
                                                 uint32_t enomem_limit, InstallResult* stop) const {
  InstallCounters& c = *config_.counters;
  const UffdOp op = st.op;
  auto stop_with = [&](InstallResult r) {
    *stop = r;
    return ErrnoStep{ErrnoStep::kStop, op};
  };
  switch (o.error) {
    case EAGAIN:
      if (o.progress > 0) {
        c.add(c.move_partial, 1);
        st.stalled = 0;
        return {ErrnoStep::kRetry, op};
      }
      c.add(c.eagain_retries, 1);
      if (++st.stalled > config_.stalled_retry_limit) {
        c.add(c.fatal_errors, 1);
        return stop_with(stopped(InstallStatus::kFatal, EAGAIN, op, st.done_pages, d));
      }
      if ((st.stalled & 63) == 0) sched_yield();
      return {ErrnoStep::kRetry, op};
    case EEXIST: {
      st.stalled = 0;
      c.add(c.move_eexist, 1);
      InstallResult r = on_eexist(op, d, s, keep_source);
      if (r.status != InstallStatus::kDone) {
        r.pages_done = st.done_pages;
        return stop_with(r);
      }
      ++st.done_pages;
      return {ErrnoStep::kRetry, op};
    }
    case EBUSY:
      if (op != UffdOp::kMove) break;
      c.add(c.move_ebusy, 1);
      if (config_.mode == InstallMode::kMoveOnly) {
        return stop_with(stopped(InstallStatus::kBusy, EBUSY, op, st.done_pages, d));
      }
      return {ErrnoStep::kOnePage, UffdOp::kCopy};
    case ENOENT:
      if (!is_mapped(d) || op != UffdOp::kMove) {
        c.add(c.range_gone, 1);
        return stop_with(stopped(InstallStatus::kRangeGone, ENOENT, op, st.done_pages, d));
      }
      if (!is_mapped(s)) {
        return stop_with(stopped(InstallStatus::kInvalidArgument, ENOENT, op, st.done_pages, d));
      }
      c.add(c.move_enoent, 1);
      if (config_.holes == SourceHolePolicy::kReport) {
        return stop_with(stopped(InstallStatus::kSourceHole, ENOENT, op, st.done_pages, d));
      }
      return {ErrnoStep::kOnePage, UffdOp::kZeropage};
    case EINVAL:
      return on_einval(st, d, s, enomem_limit, stop);
    case ENOMEM:
      if (st.enomem_rounds >= enomem_limit) {
        return stop_with(stopped(InstallStatus::kNoMemory, ENOMEM, op, st.done_pages, d));
      }
      c.add(c.enomem_retries, 1);
      enomem_backoff(st.enomem_rounds++);
      return {ErrnoStep::kRetry, op};
    default:
      break;
  }
  // An errno we do not expect.
  c.add(c.fatal_errors, 1);
  return stop_with(stopped(InstallStatus::kFatal, o.error, op, st.done_pages, d));
}

InstallResult PageInstaller::install_one(UffdOp op, uint64_t dst, uint64_t src,
                                         std::atomic<uint64_t>& installed,
                                         uint32_t enomem_limit) const {
  InstallCounters& c = *config_.counters;
  // A COPY after MOVE (EBUSY, EINVAL) on a source page that is gone: an earlier MOVE moved it
  // without reporting it (research/kernel.md §1.6), the page is installed. Asked before the
  // COPY, whose read of the source would fault a zero page in there and hide the evidence.
  if (op == UffdOp::kCopy && config_.mode != InstallMode::kCopyOnly &&
      source_page_state(src) == SourceState::kVacated) {
    c.add(c.pages_moved_unreported, 1);
    return done(1);
  }
  uint32_t stalled = 0;
  uint32_t enomem_rounds = 0;
  for (;;) {
    const IoctlOutcome o = issue(op, dst, src, kPageSize);
    if (o.ret == 0) {
      c.add(installed, 1);
      if (op == UffdOp::kCopy) release_source(src, 1);
      return done(1);
    }
    switch (o.error) {
      case EAGAIN:
        c.add(c.eagain_retries, 1);
        if (++stalled > config_.stalled_retry_limit) break;
        if ((stalled & 63) == 0) sched_yield();
        continue;
      case EEXIST:
        return on_eexist(op, dst, src, /*keep_source=*/false);
      case ENOENT:
      case EINVAL:
        c.add(c.range_gone, 1);
        return stopped(InstallStatus::kRangeGone, o.error, op, 0, dst);
      case ENOMEM:
        if (enomem_rounds >= enomem_limit) {
          return stopped(InstallStatus::kNoMemory, ENOMEM, op, 0, dst);
        }
        c.add(c.enomem_retries, 1);
        enomem_backoff(enomem_rounds++);
        continue;
      default:
        break;
    }
    c.add(c.fatal_errors, 1);
    return stopped(InstallStatus::kFatal, o.error, op, 0, dst);
  }
}

void abort_on_install_failure(const InstallResult& result) {
  static constexpr const char* kOpNames[] = {"UFFDIO_MOVE", "UFFDIO_COPY", "UFFDIO_ZEROPAGE"};
  if (result.status == InstallStatus::kForeignFill) {
    SignalSafeMessage()
        .text("uffdgc: the to-space page at ")
        .hex(result.failed_dst)
        .text(" was filled behind the collector's back: ")
        .text(kOpNames[static_cast<int>(result.failed_op)])
        .text(" returned ")
        .errno_name(result.error)
        .text(" with our source page still in place")
        .write_to(2);
    abort();
  }
  SignalSafeMessage()
      .text("uffdgc: installing the page at ")
      .hex(result.failed_dst)
      .text(" failed: ")
      .text(install_status_name(result.status))
      .text(", ")
      .text(kOpNames[static_cast<int>(result.failed_op)])
      .text(" returned ")
      .errno_name(result.error)
      .write_to(2);
  abort();
}

}  // namespace uffdgc::uffd
