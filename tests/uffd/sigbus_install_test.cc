// The installer called from a SIGBUS handler, as the concurrent collector's mutators will
// (design: .install.ops): a thread touches a missing page of a range registered with
// UFFD_FEATURE_SIGBUS, its handler produces the page into a thread-private scratch page and
// installs it, and the access is retried.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"

namespace uffdgc::test {
namespace {

struct HandlerContext {
  const uffd::PageInstaller* installer = nullptr;
  uint64_t dst_begin = 0, dst_end = 0;
  uint64_t seed = 0;
  std::atomic<uint64_t> faults{0};
  std::atomic<uint64_t> failures{0};
};

HandlerContext g_ctx;
thread_local uint8_t* t_scratch = nullptr;  // one page, produced then consumed by MOVE

void on_sigbus(int, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uint64_t>(info->si_addr);
  if (addr < g_ctx.dst_begin || addr >= g_ctx.dst_end || t_scratch == nullptr) {
    signal(SIGBUS, SIG_DFL);  // not ours: let it crash loudly
    return;
  }
  g_ctx.faults.fetch_add(1, std::memory_order_relaxed);
  const uint64_t page = addr & ~(kPageSize - 1);
  const size_t index = (page - g_ctx.dst_begin) / kPageSize;
  fill_pattern(t_scratch, 1, g_ctx.seed, index);  // "produce" the page: pure computation
  const auto r = g_ctx.installer->install(page, reinterpret_cast<uint64_t>(t_scratch), 1);
  if (r.status != uffd::InstallStatus::kDone) {
    g_ctx.failures.fetch_add(1, std::memory_order_relaxed);
    uffd::abort_on_install_failure(r);
  }
}

class SigbusInstall : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGBUS, &sa, &old_), 0);
  }
  void TearDown() override { sigaction(SIGBUS, &old_, nullptr); }
  struct sigaction old_ {};

  // Points the handler at a new installer for `dst`; the installer lives as long as the test.
  static std::unique_ptr<uffd::PageInstaller> arm_handler(const RegisteredRange& range,
                                                          const Region& dst,
                                                          uffd::InstallCounters* counters,
                                                          uint64_t seed) {
    uffd::InstallerConfig config;
    config.uffd = range.uffd.fd();
    config.counters = counters;
    auto installer = std::make_unique<uffd::PageInstaller>(config);
    g_ctx.installer = installer.get();
    g_ctx.dst_begin = dst.addr();
    g_ctx.dst_end = dst.addr() + dst.bytes();
    g_ctx.seed = seed;
    g_ctx.faults = 0;
    return installer;
  }
};

TEST_F(SigbusInstall, EveryFirstTouchInstallsItsPage) {
  constexpr size_t kPages = 256;
  Region dst(kPages);
  RegisteredRange range(dst, UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MOVE);
  if (range.error != 0) UFFDGC_TEST_UNAVAILABLE("uffd", range.skip_reason());
  uffd::InstallCounters counters;
  const auto installer = arm_handler(range, dst, &counters, 41);
  Region scratch(1);
  t_scratch = scratch.data();

  std::vector<size_t> order(kPages);
  for (size_t i = 0; i < kPages; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(41));
  uint64_t sum = 0;
  for (size_t i : order) sum += *reinterpret_cast<volatile uint64_t*>(dst.page(i) + 8);
  (void)sum;
  t_scratch = nullptr;
  EXPECT_EQ(g_ctx.faults.load(), kPages);
  EXPECT_EQ(first_mismatch(dst.data(), kPages, 41), -1);
  const auto c = uffd::read_counters(counters);
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported, kPages);
  EXPECT_EQ(c.fatal_errors, 0u);
}

TEST_F(SigbusInstall, ThreadsFaultingOnTheSamePagesGetOneWinnerEach) {
  constexpr size_t kPages = 512;
  constexpr int kThreads = 4;
  Region dst(kPages);
  RegisteredRange range(dst, UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MOVE);
  if (range.error != 0) UFFDGC_TEST_UNAVAILABLE("uffd", range.skip_reason());
  uffd::InstallCounters counters;
  const auto installer = arm_handler(range, dst, &counters, 42);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Region scratch(1);
      t_scratch = scratch.data();
      std::vector<size_t> order(kPages);
      for (size_t i = 0; i < kPages; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937_64(1000 + t));
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (size_t i : order) {
        const uint64_t word = *reinterpret_cast<volatile uint64_t*>(dst.page(i) + 16);
        (void)word;
      }
      t_scratch = nullptr;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(first_mismatch(dst.data(), kPages, 42), -1);
  const auto c = uffd::read_counters(counters);
  // Each page has exactly one installer; every other fault on it found it present (EEXIST) or
  // was resolved before the handler ran.
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported, kPages);
  EXPECT_EQ(c.pages_already_present + kPages, g_ctx.faults.load());
  EXPECT_EQ(c.fatal_errors, 0u);
}

}  // namespace
}  // namespace uffdgc::test
