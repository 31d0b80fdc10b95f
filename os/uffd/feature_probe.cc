#include "os/uffd/feature_probe.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "os/uffd/aligned_mapping.h"
#include "os/uffd/child_process.h"
#include "os/uffd/kernel_abi.h"
#include "os/uffd/kernel_version.h"
#include "os/uffd/mthp.h"
#include "os/page.h"
#include "os/uffd/uffd_ioctl.h"
#include "os/uffd/userfaultfd.h"

namespace uffdgc::uffd {

namespace {

int read_int_file(const char* path, int fallback) {
  FILE* f = fopen(path, "re");
  if (f == nullptr) return fallback;
  int v = fallback;
  if (fscanf(f, "%d", &v) != 1) v = fallback;
  fclose(f);
  return v;
}

uint32_t seccomp_mode() {
  FILE* f = fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned mode = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "Seccomp: %u", &mode) == 1) break;
  }
  fclose(f);
  return mode;
}

// Tried the way the flip uses it (design: .cycle.flip.order): move the pages of one mapping onto a
// reserved target with MREMAP_FIXED, keeping the old range mapped and empty.
bool mremap_dontunmap_works() {
  const int prot = PROT_READ | PROT_WRITE;
  void* old_page = mmap(nullptr, kPageSize, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* target = mmap(nullptr, kPageSize, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bool ok = false;
  if (old_page != MAP_FAILED && target != MAP_FAILED) {
    static_cast<volatile char*>(old_page)[0] = 42;
    void* moved = mremap(old_page, kPageSize, kPageSize,
                         MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, target);
    ok = moved == target && static_cast<volatile char*>(target)[0] == 42 &&
         static_cast<volatile char*>(old_page)[0] == 0;
  }
  if (old_page != MAP_FAILED) munmap(old_page, kPageSize);
  if (target != MAP_FAILED) munmap(target, kPageSize);
  return ok;
}

// The functional test, run in a child: one real UFFDIO_COPY and one real UFFDIO_MOVE into a
// registered range, content checked. A seccomp filter that kills on the ioctl kills only the
// child; one that returns an errno is reported as that errno.
struct FunctionalResult {
  int copy_ok = 0, move_ok = 0;
  int error = 0;
};

void functional_child(void* arg, void* out) {
  const uint64_t features = *static_cast<uint64_t*>(arg);
  auto* r = static_cast<FunctionalResult*>(out);
  constexpr size_t kLen = 4 * kPageSize;
  auto* dst = static_cast<unsigned char*>(map_anonymous_aligned(kLen, kPageSize));
  auto* src = static_cast<unsigned char*>(map_anonymous_aligned(kLen, kPageSize));
  if (dst == MAP_FAILED || src == MAP_FAILED) {
    r->error = errno;
    return;
  }
  madvise(dst, kLen, MADV_NOHUGEPAGE);
  madvise(src, kLen, MADV_NOHUGEPAGE);
  memset(src, 0x5a, kLen);
  Userfaultfd uffd;
  if (int err = uffd.open(features & (UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MOVE)); err != 0) {
    r->error = err;
    return;
  }
  if (int err = uffd.register_missing(dst, kLen); err != 0) {
    r->error = err;
    return;
  }
  const auto d = reinterpret_cast<uint64_t>(dst);
  const auto s = reinterpret_cast<uint64_t>(src);
  IoctlOutcome o = issue_uffd_ioctl(UffdOp::kCopy, uffd.fd(), d, s, kPageSize, 0);
  if (o.ret != 0) {
    r->error = o.error;
    return;
  }
  r->copy_ok = dst[0] == 0x5a && dst[kPageSize - 1] == 0x5a;
  if ((features & UFFD_FEATURE_MOVE) == 0) return;
  o = issue_uffd_ioctl(UffdOp::kMove, uffd.fd(), d + kPageSize, s + kPageSize, kPageSize, 0);
  if (o.ret != 0) {
    r->error = o.error;
    return;
  }
  r->move_ok = dst[kPageSize] == 0x5a && dst[2 * kPageSize - 1] == 0x5a;
}

void set_reason(char (&buf)[256], const char* fmt, auto... args) {
  snprintf(buf, sizeof(buf), fmt, args...);
}

// What the process and the kernel around userfaultfd offer: release and quirks, the sysctl,
// seccomp, MREMAP_DONTUNMAP.
void probe_environment(uffdgc_probe_report* report) {
  report->page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  KernelVersion version;
  running_kernel_version(&version, report->kernel_release, sizeof(report->kernel_release));
  report->kernel_major = version.major;
  report->kernel_minor = version.minor;
  report->kernel_patch = version.patch;
  report->quirks = kernel_quirks(version);
  report->unprivileged_userfaultfd = read_int_file("/proc/sys/vm/unprivileged_userfaultfd", -1);
  report->seccomp_mode = seccomp_mode();
  report->has_mremap_dontunmap = mremap_dontunmap_works();
}

struct UffdAvailability {
  bool have_uffd = false;          // opened by the syscall or the device, user mode only
  bool only_flag_missing = false;  // opens only without UFFD_USER_MODE_ONLY (before 5.11)
};

// Opens userfaultfd both ways and records the features; then, in a child, one real COPY and
// one real MOVE (functional_child).
UffdAvailability probe_userfaultfd(const ProbeRequest& request, uffdgc_probe_report* report) {
  UffdAvailability a;
  uint64_t features = 0;
  report->syscall_errno = query_features(OpenRoute::kSyscall, &features);
  uint64_t device_features = 0;
  report->device_errno = query_features(OpenRoute::kDevice, &device_features);
  if (report->syscall_errno != 0) features = device_features;
  a.have_uffd = report->syscall_errno == 0 || report->device_errno == 0;
  // Both routes ask for UFFD_USER_MODE_ONLY (5.11+). When both fail, find out whether the
  // flag is what the kernel refused, so the reason says so.
  report->has_user_mode_only = a.have_uffd;
  if (!a.have_uffd) {
    const OpenAttempt plain = open_userfaultfd(OpenRoute::kSyscall, O_CLOEXEC | O_NONBLOCK);
    if (plain.fd >= 0) {
      a.only_flag_missing = true;
      close(plain.fd);
    }
  }
  report->features = features;
  report->has_sigbus = (features & UFFD_FEATURE_SIGBUS) != 0;
  report->has_move = (features & UFFD_FEATURE_MOVE) != 0;
  if (a.have_uffd) {
    FunctionalResult fr;
    const ChildOutcome child =
        run_in_child(functional_child, &features, &fr, sizeof(fr), request.watchdog_ms);
    report->copy_works = child.completed && fr.copy_ok;
    report->move_works = child.completed && fr.move_ok;
    report->functional_errno = child.completed ? fr.error : child.error;
    report->functional_signal = child.signal;
  }
  return a;
}

// The best mode that is safe here, with its reason.
uint32_t best_safe_mode(const UffdAvailability& a, uffdgc_probe_report* report) {
  const bool move_usable = report->has_move && report->move_works;
  const bool move_quirky = (report->quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) != 0;
  if (report->page_size != kPageSize) {
    set_reason(report->mode_reason, "page size %u is not 4096: stop-the-world compaction",
               report->page_size);
  } else if (a.only_flag_missing) {
    set_reason(report->mode_reason,
               "userfaultfd works but not with UFFD_USER_MODE_ONLY (needs 5.11+): stop-the-world");
  } else if (!a.have_uffd) {
    set_reason(report->mode_reason,
               "userfaultfd unavailable (syscall: %s, /dev/userfaultfd: %s): stop-the-world",
               strerror(report->syscall_errno), strerror(report->device_errno));
  } else if (!report->has_sigbus) {
    set_reason(report->mode_reason, "UFFD_FEATURE_SIGBUS not offered: stop-the-world");
  } else if (!report->has_mremap_dontunmap) {
    set_reason(report->mode_reason, "mremap(MREMAP_DONTUNMAP) fails: stop-the-world");
  } else if (!report->copy_works) {
    if (report->functional_signal != 0) {
      set_reason(report->mode_reason,
                 "UFFDIO_COPY killed the test process (signal %d; seccomp?): stop-the-world",
                 report->functional_signal);
    } else {
      set_reason(report->mode_reason, "UFFDIO_COPY is unsupported here (%s): stop-the-world",
                 strerror(report->functional_errno));
    }
  } else if (!report->has_move) {
    set_reason(report->mode_reason, "kernel has no UFFDIO_MOVE (needs 6.8+): copy mode");
    return UFFDGC_MODE_COPY;
  } else if (!move_usable) {
    set_reason(report->mode_reason, "UFFDIO_MOVE offered but failed when tried (%s): copy mode",
               strerror(report->functional_errno));
    return UFFDGC_MODE_COPY;
  } else if (move_quirky) {
    set_reason(report->mode_reason,
               "kernel %u.%u.%u lacks the 2025 MOVE swap-cache fix (needs 6.12.20, 6.13.8 or "
               "6.14+): copy mode unless forced",
               report->kernel_major, report->kernel_minor, report->kernel_patch);
    return UFFDGC_MODE_COPY;
  } else {
    set_reason(report->mode_reason, "userfaultfd with SIGBUS and a working UFFDIO_MOVE: move mode");
    return UFFDGC_MODE_MOVE;
  }
  return UFFDGC_MODE_STW;
}

// The request on top of the best safe mode: stop-the-world always, copy when the concurrent
// modes work, move when MOVE works too (and, on a kernel without the swap-cache fix, when
// forced).
uint32_t honour_request(const ProbeRequest& request, uint32_t best, uffdgc_probe_report* report) {
  const bool move_quirky = (report->quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) != 0;
  const bool forced = (request.flags & UFFDGC_PROBE_FORCE_MODE) != 0;
  report->requested_mode_honoured = 1;
  switch (request.requested_mode) {
    case UFFDGC_MODE_STW:
      set_reason(report->mode_reason, "stop-the-world requested");
      return UFFDGC_MODE_STW;
    case UFFDGC_MODE_COPY:
      if (mode_works(*report, UFFDGC_MODE_COPY, false)) {
        set_reason(report->mode_reason, "copy mode requested");
        return UFFDGC_MODE_COPY;
      }
      report->requested_mode_honoured = 0;
      return best;
    case UFFDGC_MODE_MOVE:
      if (mode_works(*report, UFFDGC_MODE_MOVE, forced)) {
        set_reason(report->mode_reason, move_quirky ? "move mode forced despite missing swap-cache fix"
                                                    : "move mode requested");
        return UFFDGC_MODE_MOVE;
      }
      report->requested_mode_honoured = 0;
      return best;
    default:  // UFFDGC_MODE_AUTO
      return best;
  }
}

// mTHP policy: only MOVE splits folios, so only move mode can meet the livelock.
void decide_mthp_policy(const ProbeRequest& request, uffdgc_probe_report* report) {
  report->mthp_sizes_enabled = enabled_mthp_sizes();
  if (report->has_move && report->move_works &&
      (request.flags & UFFDGC_PROBE_SKIP_FOLIO_TEST) == 0) {
    const FolioMoveTest t = test_folio_move(report->mthp_sizes_enabled, request.watchdog_ms);
    report->folio_move = t.verdict;
    report->folio_test_kib = t.kib;
    report->folio_split_delta = t.split_delta;
    snprintf(report->mthp_reason, sizeof(report->mthp_reason), "%s", t.detail);
  }
  const bool livelock_version = (report->quirks & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK) != 0;
  const bool hazard = report->folio_move == UFFDGC_FOLIO_MOVE_HUNG ||
                      (livelock_version && report->folio_move != UFFDGC_FOLIO_MOVE_WHOLE);
  char detail[256];
  snprintf(detail, sizeof(detail), "%s",
           report->mthp_reason[0] != '\0' ? report->mthp_reason : "large-folio MOVE not tested");
  report->mthp_policy = UFFDGC_MTHP_ALLOW;
  if (report->mode != UFFDGC_MODE_MOVE) {
    set_reason(report->mthp_reason, "large folios allowed: %s mode never splits them",
               uffdgc_mode_name(report->mode));
  } else if (report->mthp_sizes_enabled == 0) {
    set_reason(report->mthp_reason, "no large-folio size is enabled; nothing to split");
  } else if (hazard && (request.flags & UFFDGC_PROBE_FORCE_HUGEPAGE) == 0) {
    report->mthp_policy = UFFDGC_MTHP_NOHUGEPAGE;
    set_reason(report->mthp_reason,
               "heap kept MADV_NOHUGEPAGE: MOVE splits large folios here and one with an "
               "extra reference can spin in the kernel (%.100s)",
               detail);
  } else if (report->folio_move == UFFDGC_FOLIO_MOVE_WHOLE) {
    set_reason(report->mthp_reason, "large folios allowed: the kernel moves them whole (%.160s)",
               detail);
  } else {
    set_reason(report->mthp_reason, "large folios allowed%s: %.160s",
               hazard ? " (forced)" : ", MOVE splits them but returns", detail);
  }
}

}  // namespace

bool mode_works(const uffdgc_probe_report& report, uint32_t mode, bool override_quirks) {
  const bool concurrent = report.has_user_mode_only && report.has_sigbus && report.copy_works &&
                          report.has_mremap_dontunmap && report.page_size == kPageSize;
  switch (mode) {
    case UFFDGC_MODE_STW:
      return true;
    case UFFDGC_MODE_COPY:
      return concurrent;
    case UFFDGC_MODE_MOVE:
      return concurrent && report.has_move && report.move_works &&
             (override_quirks || (report.quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) == 0);
    default:
      return false;
  }
}

void probe_kernel(const ProbeRequest& request, uffdgc_probe_report* report) {
  const uint32_t struct_size = report->struct_size;
  memset(report, 0, sizeof(*report));
  report->struct_size = struct_size;
  report->folio_split_delta = -1;
  probe_environment(report);
  const UffdAvailability a = probe_userfaultfd(request, report);
  report->mode = honour_request(request, best_safe_mode(a, report), report);
  decide_mthp_policy(request, report);
}

}  // namespace uffdgc::uffd
