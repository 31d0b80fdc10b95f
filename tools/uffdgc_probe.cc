// uffdgc-probe: tells a user whether this machine can run uffdgc's concurrent collector, in which
// mode, with which mTHP policy, and why (design: .cycle.flip-in-pause, .install.quirks,
// .memory.mthp). Uses only the public C ABI.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "uffdgc/uffdgc.h"

namespace {

void usage(FILE* out) {
  fprintf(out,
          "usage: uffdgc-probe [--json] [--mode=auto|move|copy|stw] [--force] [--force-hugepage]\n"
          "                    [--skip-folio-test] [--watchdog-ms=N]\n"
          "Probes userfaultfd, UFFDIO_MOVE and large-folio behaviour of the running kernel.\n"
          "The large-folio test needs an mTHP size enabled, e.g. (as root)\n"
          "  echo madvise > /sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled\n");
}

bool parse_mode(const char* s, uint32_t* mode) {
  static constexpr struct {
    const char* name;
    uint32_t mode;
  } kModes[] = {{"auto", UFFDGC_MODE_AUTO},
                {"move", UFFDGC_MODE_MOVE},
                {"copy", UFFDGC_MODE_COPY},
                {"stw", UFFDGC_MODE_STW}};
  for (const auto& m : kModes) {
    if (strcmp(s, m.name) == 0) {
      *mode = m.mode;
      return true;
    }
  }
  return false;
}

const char* folio_name(uint32_t v) {
  switch (v) {
    case UFFDGC_FOLIO_MOVE_NOT_TESTED: return "not-tested";
    case UFFDGC_FOLIO_MOVE_WHOLE: return "whole";
    case UFFDGC_FOLIO_MOVE_SPLIT: return "split";
    case UFFDGC_FOLIO_MOVE_BUSY: return "ebusy";
    case UFFDGC_FOLIO_MOVE_HUNG: return "hung";
    default: return "failed";
  }
}

std::string json_string(const char* s) {
  std::string out = "\"";
  for (; *s != '\0'; ++s) {
    if (*s == '"' || *s == '\\') {
      out += '\\';
      out += *s;
    } else if (static_cast<unsigned char>(*s) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", *s);
      out += buf;
    } else {
      out += *s;
    }
  }
  return out + "\"";
}

std::string sizes_list(uint32_t mask) {
  std::string out;
  for (int bit = 0; bit < 32; ++bit) {
    if ((mask & (1u << bit)) == 0) continue;
    if (!out.empty()) out += ",";
    out += std::to_string(4u << bit) + "K";
  }
  return out.empty() ? "none" : out;
}

void print_json(const uffdgc_probe_report& r) {
  printf("{\"uffdgc_version\":%s,\"kernel_release\":%s,\"kernel_version\":\"%u.%u.%u\",",
         json_string(uffdgc_version()).c_str(), json_string(r.kernel_release).c_str(),
         r.kernel_major, r.kernel_minor, r.kernel_patch);
  printf("\"page_size\":%u,\"syscall_errno\":%d,\"device_errno\":%d,"
         "\"unprivileged_userfaultfd\":%d,\"seccomp_mode\":%u,\"features\":%llu,",
         r.page_size, r.syscall_errno, r.device_errno, r.unprivileged_userfaultfd,
         r.seccomp_mode, static_cast<unsigned long long>(r.features));
  printf("\"user_mode_only\":%s,", r.has_user_mode_only ? "true" : "false");
  printf("\"sigbus\":%s,\"move\":%s,\"mremap_dontunmap\":%s,\"copy_works\":%s,"
         "\"move_works\":%s,\"functional_errno\":%d,\"functional_signal\":%d,",
         r.has_sigbus ? "true" : "false", r.has_move ? "true" : "false",
         r.has_mremap_dontunmap ? "true" : "false", r.copy_works ? "true" : "false",
         r.move_works ? "true" : "false", r.functional_errno, r.functional_signal);
  printf("\"quirks\":{\"move_no_swapcache_fix\":%s,\"move_unreported_moves\":%s,"
         "\"mthp_split_may_livelock\":%s},",
         (r.quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) ? "true" : "false",
         (r.quirks & UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES) ? "true" : "false",
         (r.quirks & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK) ? "true" : "false");
  printf("\"mthp_sizes_enabled\":%s,\"folio_move\":\"%s\",\"folio_test_kib\":%u,"
         "\"folio_split_delta\":%lld,",
         json_string(sizes_list(r.mthp_sizes_enabled).c_str()).c_str(), folio_name(r.folio_move),
         r.folio_test_kib, static_cast<long long>(r.folio_split_delta));
  printf("\"mode\":\"%s\",\"requested_mode_honoured\":%s,\"mode_reason\":%s,"
         "\"mthp_policy\":\"%s\",\"mthp_reason\":%s}\n",
         uffdgc_mode_name(r.mode), r.requested_mode_honoured ? "true" : "false",
         json_string(r.mode_reason).c_str(),
         r.mthp_policy == UFFDGC_MTHP_ALLOW ? "allow" : "nohugepage",
         json_string(r.mthp_reason).c_str());
}

const char* yes(bool b) { return b ? "yes" : "no"; }

void print_text(const uffdgc_probe_report& r) {
  printf("uffdgc %s kernel probe\n", uffdgc_version());
  printf("  kernel                 %s (quirks apply to %u.%u.%u)\n", r.kernel_release,
         r.kernel_major, r.kernel_minor, r.kernel_patch);
  printf("  page size              %u\n", r.page_size);
  printf("  userfaultfd(2)         %s\n", r.syscall_errno == 0 ? "ok" : strerror(r.syscall_errno));
  printf("  /dev/userfaultfd       %s\n", r.device_errno == 0 ? "ok" : strerror(r.device_errno));
  printf("  unprivileged sysctl    %d   seccomp mode %u\n", r.unprivileged_userfaultfd,
         r.seccomp_mode);
  printf("  UFFD_USER_MODE_ONLY    %s\n", yes(r.has_user_mode_only));
  printf("  UFFD_FEATURE_SIGBUS    %s\n", yes(r.has_sigbus));
  printf("  UFFD_FEATURE_MOVE      %s\n", yes(r.has_move));
  printf("  MREMAP_DONTUNMAP       %s\n", yes(r.has_mremap_dontunmap));
  printf("  UFFDIO_COPY tried      %s\n", yes(r.copy_works));
  printf("  UFFDIO_MOVE tried      %s", yes(r.move_works));
  if (r.functional_errno != 0) printf(" (errno %d: %s)", r.functional_errno, strerror(r.functional_errno));
  if (r.functional_signal != 0) printf(" (test killed by signal %d)", r.functional_signal);
  printf("\n  known kernel quirks    %s%s%s%s\n",
         r.quirks == 0 ? "none" : "",
         (r.quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX) ? "move-without-swapcache-fix " : "",
         (r.quirks & UFFDGC_QUIRK_MOVE_UNREPORTED_MOVES) ? "move-unreported-moves(handled) " : "",
         (r.quirks & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK) ? "mthp-split-may-livelock" : "");
  printf("  mTHP sizes enabled     %s\n", sizes_list(r.mthp_sizes_enabled).c_str());
  printf("  large-folio MOVE       %s", folio_name(r.folio_move));
  if (r.folio_test_kib != 0) {
    printf(" (%u KiB folios, split counter delta %lld)", r.folio_test_kib,
           static_cast<long long>(r.folio_split_delta));
  }
  printf("\n\n  => mode: %s%s\n     %s\n", uffdgc_mode_name(r.mode),
         r.requested_mode_honoured ? "" : " (the requested mode is not available)",
         r.mode_reason);
  printf("  => mTHP: %s\n     %s\n", r.mthp_policy == UFFDGC_MTHP_ALLOW ? "allow" : "nohugepage",
         r.mthp_reason);
}

}  // namespace

int main(int argc, char** argv) {
  uffdgc_probe_options options{};
  options.struct_size = sizeof(options);
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--json") == 0) {
      json = true;
    } else if (strncmp(a, "--mode=", 7) == 0 && parse_mode(a + 7, &options.requested_mode)) {
    } else if (strcmp(a, "--force") == 0) {
      options.flags |= UFFDGC_PROBE_FORCE_MODE;
    } else if (strcmp(a, "--force-hugepage") == 0) {
      options.flags |= UFFDGC_PROBE_FORCE_HUGEPAGE;
    } else if (strcmp(a, "--skip-folio-test") == 0) {
      options.flags |= UFFDGC_PROBE_SKIP_FOLIO_TEST;
    } else if (strncmp(a, "--watchdog-ms=", 14) == 0) {
      options.watchdog_ms = static_cast<uint32_t>(strtoul(a + 14, nullptr, 10));
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "uffdgc-probe: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  uffdgc_probe_report report{};
  report.struct_size = sizeof(report);
  const uffdgc_result rc = uffdgc_probe_kernel(&options, &report);
  if (rc != UFFDGC_OK) {
    fprintf(stderr, "uffdgc-probe: %s\n", uffdgc_result_name(rc));
    return 1;
  }
  if (json) {
    print_json(report);
  } else {
    print_text(report);
  }
  return 0;
}
