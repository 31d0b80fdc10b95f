#include "os/uffd/mthp.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "os/uffd/aligned_mapping.h"
#include "os/uffd/child_process.h"
#include "os/uffd/kernel_abi.h"
#include "os/page.h"
#include "os/uffd/uffd_ioctl.h"
#include "os/uffd/userfaultfd.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::uffd {

namespace {

// Reads a small sysfs file into buf (NUL-terminated). Async-signal-safe.
bool read_small_file(const char* path, char* buf, size_t size) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) return false;
  buf[n] = '\0';
  return true;
}

// The bracketed word of a sysfs choice file: "always inherit [madvise] never" -> "madvise".
bool selected_choice(const char* path, char* word, size_t size) {
  char buf[128];
  if (!read_small_file(path, buf, sizeof(buf))) return false;
  const char* open_bracket = strchr(buf, '[');
  const char* close_bracket = open_bracket ? strchr(open_bracket, ']') : nullptr;
  if (close_bracket == nullptr) return false;
  const size_t n = static_cast<size_t>(close_bracket - open_bracket - 1);
  if (n + 1 > size) return false;
  memcpy(word, open_bracket + 1, n);
  word[n] = '\0';
  return true;
}

bool allocates(const char* choice) {
  return strcmp(choice, "always") == 0 || strcmp(choice, "madvise") == 0;
}

// Async-signal-safe path builder: prefix + decimal + suffix.
void stat_path(char* out, size_t size, uint32_t kib, const char* name) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + kib % 10);
    kib /= 10;
  } while (kib != 0);
  size_t len = 0;
  auto append = [&](const char* s) {
    while (*s != '\0' && len + 1 < size) out[len++] = *s++;
  };
  append(kThpSysfs);
  append("/hugepages-");
  while (n > 0 && len + 1 < size) out[len++] = digits[--n];
  append("kB/stats/");
  append(name);
  out[len] = '\0';
}

constexpr int kTestFolios = 8;

struct FolioChildResult {
  int stage = 0;  // 0 ok; else the step that failed
  int error = 0;
  int64_t split_before = -1, split_after = -1;
  int64_t alloc_before = -1, alloc_after = -1;
  int content_ok = 0;
};

enum FolioStage { kOk = 0, kMap, kUffd, kRegister, kMove, kContent };

void folio_child(void* arg, void* out) {
  const uint32_t kib = *static_cast<uint32_t*>(arg);
  auto* r = static_cast<FolioChildResult*>(out);
  const size_t folio = static_cast<size_t>(kib) * 1024;
  const size_t len = folio * kTestFolios;
  auto* src = static_cast<unsigned char*>(map_anonymous_aligned(len, folio));
  auto* dst = static_cast<unsigned char*>(map_anonymous_aligned(len, folio));
  if (src == MAP_FAILED || dst == MAP_FAILED) {
    r->stage = kMap;
    r->error = errno;
    return;
  }
  madvise(src, len, MADV_HUGEPAGE);
  madvise(dst, len, MADV_HUGEPAGE);
  r->alloc_before = read_mthp_stat(kib, "anon_fault_alloc");
  for (size_t off = 0; off < len; off += kPageSize) src[off] = static_cast<unsigned char>(off >> 12);
  r->alloc_after = read_mthp_stat(kib, "anon_fault_alloc");

  Userfaultfd uffd;
  if (int err = uffd.open(UFFD_FEATURE_MOVE); err != 0) {
    r->stage = kUffd;
    r->error = err;
    return;
  }
  if (int err = uffd.register_missing(dst, len); err != 0) {
    r->stage = kRegister;
    r->error = err;
    return;
  }
  r->split_before = read_mthp_stat(kib, "split");
  uint64_t done = 0;
  while (done < len) {
    const IoctlOutcome o = issue_uffd_ioctl(UffdOp::kMove, uffd.fd(),
                                            reinterpret_cast<uint64_t>(dst) + done,
                                            reinterpret_cast<uint64_t>(src) + done, len - done, 0);
    if (o.ret == 0) break;
    if (o.progress > 0) done += static_cast<uint64_t>(o.progress);
    if (o.error != EAGAIN) {
      r->stage = kMove;
      r->error = o.error;
      return;
    }
  }
  r->split_after = read_mthp_stat(kib, "split");
  r->content_ok = 1;
  for (size_t off = 0; off < len; off += kPageSize) {
    if (dst[off] != static_cast<unsigned char>(off >> 12)) r->content_ok = 0;
  }
  if (!r->content_ok) r->stage = kContent;
}

}  // namespace

uint32_t enabled_mthp_sizes() {
  char top[32] = "never";
  char path[512];
  snprintf(path, sizeof(path), "%s/enabled", kThpSysfs);
  selected_choice(path, top, sizeof(top));
  DIR* dir = opendir(kThpSysfs);
  if (dir == nullptr) return 0;
  uint32_t mask = 0;
  while (const dirent* e = readdir(dir)) {
    unsigned kib = 0;
    if (sscanf(e->d_name, "hugepages-%ukB", &kib) != 1 || kib < 8) continue;
    snprintf(path, sizeof(path), "%s/%s/enabled", kThpSysfs, e->d_name);
    char choice[32];
    if (!selected_choice(path, choice, sizeof(choice))) continue;
    const bool on = strcmp(choice, "inherit") == 0 ? allocates(top) : allocates(choice);
    if (!on) continue;
    const int bit = __builtin_ctz(kib / 4);
    if (bit < 32) mask |= 1u << bit;
  }
  closedir(dir);
  return mask;
}

uint32_t pmd_size_kib() {
  char path[256];
  char buf[32];
  snprintf(path, sizeof(path), "%s/hpage_pmd_size", kThpSysfs);
  if (!read_small_file(path, buf, sizeof(buf))) return 0;
  return static_cast<uint32_t>(strtoull(buf, nullptr, 10) / 1024);
}

int64_t read_mthp_stat(uint32_t kib, const char* name) {
  char path[256];
  char buf[32];
  stat_path(path, sizeof(path), kib, name);
  if (!read_small_file(path, buf, sizeof(buf))) return -1;
  int64_t v = 0;
  for (const char* p = buf; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
  return v;
}

FolioMoveTest test_folio_move(uint32_t sizes_enabled, int timeout_ms) {
  FolioMoveTest t;
  const uint32_t pmd_kib = pmd_size_kib();
  for (int bit = 0; bit < 32; ++bit) {
    const uint32_t kib = 4u << bit;
    if ((sizes_enabled & (1u << bit)) != 0 && (pmd_kib == 0 || kib < pmd_kib)) {
      t.kib = kib;
      break;
    }
  }
  if (t.kib == 0) {
    t.verdict = UFFDGC_FOLIO_MOVE_NOT_TESTED;
    snprintf(t.detail, sizeof(t.detail), "no large-folio size below the PMD size is enabled");
    return t;
  }
  FolioChildResult r;
  uint32_t kib = t.kib;
  const ChildOutcome child = run_in_child(folio_child, &kib, &r, sizeof(r), timeout_ms);
  if (child.timed_out) {
    t.verdict = UFFDGC_FOLIO_MOVE_HUNG;
    snprintf(t.detail, sizeof(t.detail),
             "UFFDIO_MOVE of %u KiB folios did not return within %d ms (killed)", t.kib,
             timeout_ms);
    return t;
  }
  if (!child.completed) {
    t.verdict = UFFDGC_FOLIO_MOVE_FAILED;
    t.error = child.error;
    snprintf(t.detail, sizeof(t.detail), "test process died (signal %d, errno %d)", child.signal,
             child.error);
    return t;
  }
  t.folios_allocated = r.alloc_before >= 0 ? r.alloc_after - r.alloc_before : -1;
  if (r.split_before >= 0 && r.split_after >= 0) t.split_delta = r.split_after - r.split_before;
  t.error = r.error;
  if (r.stage == kMove && r.error == EBUSY) {
    t.verdict = UFFDGC_FOLIO_MOVE_BUSY;
    snprintf(t.detail, sizeof(t.detail), "UFFDIO_MOVE of %u KiB folios returned EBUSY", t.kib);
  } else if (r.stage != kOk) {
    t.verdict = UFFDGC_FOLIO_MOVE_FAILED;
    static constexpr const char* kStages[] = {"ok",       "mmap",        "userfaultfd",
                                              "register", "UFFDIO_MOVE", "content check"};
    snprintf(t.detail, sizeof(t.detail), "%s failed (errno %d)", kStages[r.stage], r.error);
  } else if (t.folios_allocated < kTestFolios) {
    t.verdict = UFFDGC_FOLIO_MOVE_FAILED;
    snprintf(t.detail, sizeof(t.detail),
             "the kernel allocated %lld of %d %u KiB folios for the source (memory "
             "fragmented?)",
             static_cast<long long>(t.folios_allocated), kTestFolios, t.kib);
  } else if (t.split_delta < 0) {
    t.verdict = UFFDGC_FOLIO_MOVE_FAILED;
    snprintf(t.detail, sizeof(t.detail), "hugepages-%ukB/stats/split is not readable", t.kib);
  } else if (t.split_delta == 0) {
    t.verdict = UFFDGC_FOLIO_MOVE_WHOLE;
    snprintf(t.detail, sizeof(t.detail), "%d x %u KiB folios moved whole (split counter +0)",
             kTestFolios, t.kib);
  } else {
    t.verdict = UFFDGC_FOLIO_MOVE_SPLIT;
    snprintf(t.detail, sizeof(t.detail), "%d x %u KiB folios moved by splitting (split +%lld)",
             kTestFolios, t.kib, static_cast<long long>(t.split_delta));
  }
  return t;
}

}  // namespace uffdgc::uffd
