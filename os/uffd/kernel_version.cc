#include "os/uffd/kernel_version.h"

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "uffdgc/uffdgc.h"

namespace uffdgc::uffd {

bool parse_kernel_version(const char* text, KernelVersion* out) {
  unsigned major = 0, minor = 0, patch = 0;
  int consumed = 0;
  if (sscanf(text, "%u.%u%n", &major, &minor, &consumed) != 2) return false;
  if (text[consumed] == '.') sscanf(text + consumed + 1, "%u", &patch);
  out->major = major;
  out->minor = minor;
  out->patch = patch;
  return true;
}

namespace {

// The last "X.Y.Z" token of a file's first line (Ubuntu's /proc/version_signature ends with
// the upstream version).
bool version_from_signature(KernelVersion* out) {
  FILE* f = fopen("/proc/version_signature", "re");
  if (f == nullptr) return false;
  char line[256] = {};
  const bool read = fgets(line, sizeof(line), f) != nullptr;
  fclose(f);
  if (!read) return false;
  const char* last = strrchr(line, ' ');
  return last != nullptr && parse_kernel_version(last + 1, out);
}

bool version_from_debian_tag(const char* uname_version, KernelVersion* out) {
  const char* tag = strstr(uname_version, "Debian ");
  return tag != nullptr && parse_kernel_version(tag + strlen("Debian "), out);
}

}  // namespace

bool running_kernel_version(KernelVersion* out, char* release, unsigned release_size) {
  utsname u{};
  if (uname(&u) != 0) return false;
  if (release != nullptr && release_size > 0) snprintf(release, release_size, "%s", u.release);
  return version_from_signature(out) || version_from_debian_tag(u.version, out) ||
         parse_kernel_version(u.release, out);
}

uint32_t kernel_quirks(const KernelVersion& v) {
  uint32_t quirks = 0;
  // UFFDIO_MOVE appeared in 6.8; the swap-cache fix (c50f8e6053b0) reached 6.12.20, 6.13.8 and
  // 6.14. Kernels in between can BUG when MOVE meets a swap-cache folio.
  const bool has_move = v >= KernelVersion{6, 8, 0};
  const bool fixed = v >= KernelVersion{6, 14, 0} ||
                     (v.major == 6 && v.minor == 13 && v.patch >= 8) ||
                     (v.major == 6 && v.minor == 12 && v.patch >= 20);
  if (has_move && !fixed) quirks |= UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX;
  // The batched PTE move (6.18) leaves a stale -EAGAIN after an internal retry and under-reports
  // `move`; no fixed release is known, so every kernel from 6.18 on is flagged.
  if (v >= KernelVersion{6, 18, 0}) quirks |= UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES;
  // Before 6.18 a large folio whose split keeps failing with -EAGAIN (extra reference) makes
  // MOVE retry forever inside the kernel. "userfaultfd: fix UFFDIO_MOVE livelock on large folio
  // with extra references" (the failed split gives -EBUSY) reached the 6.12 line in 6.12.118:
  // the kernel co-test saw 6.12.117 spin and 6.12.118 answer EBUSY (kernel-patches/README.md).
  // Other stable lines that took it are not known here and stay flagged; the probe's folio
  // test with its watchdog (feature_probe.cc) decides for them by what the kernel does.
  const bool livelock_fixed = v >= KernelVersion{6, 18, 0} ||
                              (v.major == 6 && v.minor == 12 && v.patch >= 118);
  if (has_move && !livelock_fixed) quirks |= UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK;
  return quirks;
}

}  // namespace uffdgc::uffd
