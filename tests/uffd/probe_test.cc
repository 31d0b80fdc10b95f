// The feature probe against the real kernel, including kernels made hostile on purpose with
// seccomp filters: a blocked userfaultfd must come back as "unsupported" with a reason and a
// safe mode, never as a crash (design: .cycle.flip-in-pause, .install.quirks).
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "os/uffd/child_process.h"
#include "os/uffd/kernel_abi.h"
#include "os/uffd/userfaultfd.h"
#include "tests/support/require.h"
#include "tests/support/system_state.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::test {
namespace {

uffdgc_probe_report probe(uint32_t mode = UFFDGC_MODE_AUTO, uint32_t flags = 0) {
  uffdgc_probe_options opt{};
  opt.struct_size = sizeof(opt);
  opt.requested_mode = mode;
  opt.flags = flags;
  uffdgc_probe_report r{};
  r.struct_size = sizeof(r);
  EXPECT_EQ(uffdgc_probe_kernel(&opt, &r), UFFDGC_OK);
  return r;
}

TEST(Probe, ReportAgreesWithWhatTheKernelDoes) {
  const auto r = probe();
  uffd::Userfaultfd fd;
  const int open_error = fd.open(0);
  EXPECT_EQ(open_error == 0, r.syscall_errno == 0 || r.device_errno == 0);
  uint64_t features = 0;
  if (uffd::query_features(uffd::OpenRoute::kSyscall, &features) == 0) {
    EXPECT_EQ(features, r.features);
  }
  EXPECT_EQ(r.has_move != 0, (r.features & UFFD_FEATURE_MOVE) != 0);
  EXPECT_EQ(r.has_sigbus != 0, (r.features & UFFD_FEATURE_SIGBUS) != 0);
  EXPECT_NE(r.mode, static_cast<uint32_t>(UFFDGC_MODE_AUTO));
  EXPECT_NE(r.mode_reason[0], '\0');
  EXPECT_NE(r.mthp_reason[0], '\0');
  if (r.mode == UFFDGC_MODE_MOVE) {
    EXPECT_TRUE(r.has_move && r.move_works && r.has_sigbus && r.has_mremap_dontunmap);
    EXPECT_EQ(r.quirks & UFFDGC_QUIRK_MOVE_NO_SWAPCACHE_FIX, 0u);
  }
  if (!r.has_move) {
    EXPECT_NE(r.mode, static_cast<uint32_t>(UFFDGC_MODE_MOVE));
  }
  printf("probe: kernel %s mode=%s (%s)\n", r.kernel_release, uffdgc_mode_name(r.mode),
         r.mode_reason);
}

TEST(Probe, RequestedModesAreHonouredOrRefusedWithAReason) {
  const auto stw = probe(UFFDGC_MODE_STW);
  EXPECT_EQ(stw.mode, static_cast<uint32_t>(UFFDGC_MODE_STW));
  EXPECT_TRUE(stw.requested_mode_honoured);
  const auto base = probe();
  const auto copy = probe(UFFDGC_MODE_COPY);
  if (base.mode != UFFDGC_MODE_STW) {
    EXPECT_EQ(copy.mode, static_cast<uint32_t>(UFFDGC_MODE_COPY));
    EXPECT_TRUE(copy.requested_mode_honoured);
  } else {
    EXPECT_FALSE(copy.requested_mode_honoured);
  }
  const auto move = probe(UFFDGC_MODE_MOVE, UFFDGC_PROBE_FORCE_MODE);
  EXPECT_EQ(move.mode == UFFDGC_MODE_MOVE, base.move_works && base.has_sigbus &&
                                               base.has_mremap_dontunmap);
}

// With a 64K mTHP size enabled the probe moves real large folios in a child and reads the
// split counter: WHOLE means the counter did not move, SPLIT means it did.
TEST(Probe, LargeFolioMoveIsClassifiedFromTheSplitCounter) {
  if (std::string why = SystemState::instance().set_mthp_enabled(64, "madvise"); !why.empty()) {
    UFFDGC_TEST_UNAVAILABLE("mthp", why);
  }
  const auto r = probe();
  SystemState::instance().restore_all();
  if (!r.move_works) UFFDGC_TEST_UNAVAILABLE("move", "UFFDIO_MOVE does not work here");
  ASSERT_NE(r.mthp_sizes_enabled & (1u << 4), 0u) << "64K must show as enabled";
  printf("folio move: verdict=%u kib=%u split_delta=%lld: %s\n", r.folio_move, r.folio_test_kib,
         static_cast<long long>(r.folio_split_delta), r.mthp_reason);
  if (r.folio_move == UFFDGC_FOLIO_MOVE_FAILED) {
    UFFDGC_TEST_UNAVAILABLE("mthp", std::string("the folio test could not run: ") + r.mthp_reason);
  }
  ASSERT_TRUE(r.folio_move == UFFDGC_FOLIO_MOVE_WHOLE || r.folio_move == UFFDGC_FOLIO_MOVE_SPLIT)
      << r.mthp_reason;
  EXPECT_EQ(r.folio_move == UFFDGC_FOLIO_MOVE_WHOLE, r.folio_split_delta == 0);
  if (r.mode == UFFDGC_MODE_MOVE && (r.quirks & UFFDGC_QUIRK_MTHP_SPLIT_MAY_LIVELOCK) &&
      r.folio_move != UFFDGC_FOLIO_MOVE_WHOLE) {
    EXPECT_EQ(r.mthp_policy, static_cast<uint32_t>(UFFDGC_MTHP_NOHUGEPAGE));
  }
}

TEST(ChildProcess, WatchdogKillsAHungChild) {
  int result = 0;
  const auto outcome = uffd::run_in_child(
      [](void*, void*) {
        for (;;) pause();
      },
      nullptr, &result, sizeof(result), 200);
  EXPECT_TRUE(outcome.timed_out);
  EXPECT_FALSE(outcome.completed);
}

TEST(ChildProcess, ReportsTheSignalThatKilledTheChild) {
  int result = 0;
  const auto outcome = uffd::run_in_child([](void*, void*) { raise(SIGSYS); }, nullptr, &result,
                                          sizeof(result), 5000);
  EXPECT_FALSE(outcome.completed);
  EXPECT_EQ(outcome.signal, SIGSYS);
}

TEST(ChildProcess, CopiesTheResultBack) {
  int result = 0;
  const auto outcome = uffd::run_in_child(
      [](void*, void* out) { *static_cast<int*>(out) = 1234; }, nullptr, &result, sizeof(result),
      5000);
  EXPECT_TRUE(outcome.completed);
  EXPECT_EQ(result, 1234);
}

// ---- hostile kernels, made with seccomp in a child process ----

struct BlockRule {
  int nr;             // syscall number
  long arg1;          // ioctl request to match, or -1 for any
  uint32_t action;    // SECCOMP_RET_*
};

void install_filter(const std::vector<BlockRule>& rules) {
  std::vector<sock_filter> prog;
  for (const auto& rule : rules) {
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    if (rule.arg1 < 0) {
      prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.nr), 0, 1));
      prog.push_back(BPF_STMT(BPF_RET | BPF_K, rule.action));
    } else {
      prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.nr), 0, 3));
      prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1])));
      prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.arg1), 0, 1));
      prog.push_back(BPF_STMT(BPF_RET | BPF_K, rule.action));
    }
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    _exit(99);
  }
}

// Runs the probe in a child process under the filter and returns its report.
bool probe_under_filter(const std::vector<BlockRule>& rules, uffdgc_probe_report* out) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    install_filter(rules);
    uffdgc_probe_report r{};
    r.struct_size = sizeof(r);
    uffdgc_probe_options opt{};
    opt.struct_size = sizeof(opt);
    opt.flags = UFFDGC_PROBE_SKIP_FOLIO_TEST;
    const int rc = uffdgc_probe_kernel(&opt, &r);
    if (rc == UFFDGC_OK && write(fds[1], &r, sizeof(r)) == sizeof(r)) _exit(0);
    _exit(1);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof(*out)) {
    const ssize_t n = read(fds[0], reinterpret_cast<char*>(out) + got, sizeof(*out) - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == sizeof(*out) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

constexpr uint32_t ret_errno(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

// Whether this kernel takes seccomp filters at all (a minimal guest kernel may be built without
// CONFIG_SECCOMP_FILTER): install an allow-everything filter in a child.
bool seccomp_filters_work() {
  const pid_t pid = fork();
  if (pid == 0) {
    install_filter({});  // exits 99 when the kernel refuses the filter
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class ProbeUnderSeccomp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!seccomp_filters_work()) {
      UFFDGC_TEST_UNAVAILABLE("seccomp", "this kernel does not take seccomp filters");
    }
  }
};

TEST_F(ProbeUnderSeccomp, NoUserfaultfdAtAllMeansStopTheWorld) {
  uffdgc_probe_report r{};
  ASSERT_TRUE(probe_under_filter({{__NR_userfaultfd, -1, ret_errno(ENOSYS)},
                                  {__NR_ioctl, static_cast<long>(USERFAULTFD_IOC_NEW),
                                   ret_errno(EPERM)}},
                                 &r));
  EXPECT_EQ(r.syscall_errno, ENOSYS);
  EXPECT_EQ(r.device_errno, EPERM);
  EXPECT_EQ(r.mode, static_cast<uint32_t>(UFFDGC_MODE_STW));
  EXPECT_NE(std::string(r.mode_reason).find("userfaultfd unavailable"), std::string::npos)
      << r.mode_reason;
  EXPECT_EQ(r.seccomp_mode, 2u);
}

TEST_F(ProbeUnderSeccomp, BlockedMoveIoctlMeansCopyMode) {
  const auto base = probe(UFFDGC_MODE_AUTO, UFFDGC_PROBE_SKIP_FOLIO_TEST);
  if (base.mode != UFFDGC_MODE_MOVE) {
    UFFDGC_TEST_UNAVAILABLE("move", "move mode is not available here anyway");
  }
  uffdgc_probe_report r{};
  ASSERT_TRUE(
      probe_under_filter({{__NR_ioctl, static_cast<long>(UFFDIO_MOVE), ret_errno(EPERM)}}, &r));
  EXPECT_TRUE(r.has_move) << "the feature bit is still offered";
  EXPECT_FALSE(r.move_works);
  EXPECT_EQ(r.functional_errno, EPERM);
  EXPECT_EQ(r.mode, static_cast<uint32_t>(UFFDGC_MODE_COPY));
}

TEST_F(ProbeUnderSeccomp, AnIoctlThatKillsTheProcessIsSurvivedAndReported) {
  const auto base = probe(UFFDGC_MODE_AUTO, UFFDGC_PROBE_SKIP_FOLIO_TEST);
  if (base.syscall_errno != 0 && base.device_errno != 0) {
    UFFDGC_TEST_UNAVAILABLE("uffd", "no userfaultfd here");
  }
  uffdgc_probe_report r{};
  ASSERT_TRUE(probe_under_filter(
      {{__NR_ioctl, static_cast<long>(UFFDIO_COPY), SECCOMP_RET_KILL_PROCESS}}, &r));
  EXPECT_FALSE(r.copy_works);
  EXPECT_EQ(r.functional_signal, SIGSYS);
  EXPECT_EQ(r.mode, static_cast<uint32_t>(UFFDGC_MODE_STW));
}

TEST(ProbeTool, PrintsJsonWithTheVerdict) {
  if (access(UFFDGC_PROBE_TOOL, X_OK) != 0) {
    GTEST_SKIP() << UFFDGC_PROBE_TOOL << " is not here (a copy of this binary in the co-test guest)";
  }
  const std::string cmd = std::string(UFFDGC_PROBE_TOOL) + " --json --skip-folio-test";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  EXPECT_EQ(pclose(p), 0);
  const auto r = probe(UFFDGC_MODE_AUTO, UFFDGC_PROBE_SKIP_FOLIO_TEST);
  EXPECT_EQ(out.front(), '{');
  EXPECT_NE(out.find(std::string("\"mode\":\"") + uffdgc_mode_name(r.mode) + "\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"mode_reason\":"), std::string::npos);
  EXPECT_NE(out.find("\"mthp_policy\":"), std::string::npos);
}

}  // namespace
}  // namespace uffdgc::test
