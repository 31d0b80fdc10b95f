// The installer under real reclaim races: pages ping-pong between two registered regions with
// ranged MOVE while other threads push random pieces of both to zram with MADV_PAGEOUT. On
// 6.18 this provokes the kernel bug of research/kernel.md §1.6 for real (a partial MOVE that
// under-reports, then EEXIST on the retry); the installer must deliver every byte anyway.
// Randomised; the seed is printed and UFFDGC_TEST_SEED=<n> replays the pageout pattern.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "os/uffd/kernel_abi.h"
#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"
#include "tests/support/system_state.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace uffdgc::test {
namespace {

TEST(PageoutRace, PingPongUnderPageoutKeepsEveryByte) {
  if (std::string why = SystemState::instance().ensure_swap(); !why.empty()) {
    UFFDGC_TEST_UNAVAILABLE("swap", why);
  }
  const char* env = getenv("UFFDGC_TEST_SEED");
  const uint64_t seed = env != nullptr ? strtoull(env, nullptr, 10) : std::random_device{}();
  printf("UFFDGC_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));

  constexpr size_t kPages = 256;
  Region a(kPages), b(kPages);
  uffd::Userfaultfd fd;
  // SIGBUS: a page the installer failed to deliver crashes the read instead of hanging it.
  if (int err = fd.open(UFFD_FEATURE_MOVE | UFFD_FEATURE_SIGBUS); err != 0) {
    UFFDGC_TEST_UNAVAILABLE("move", std::string("userfaultfd with MOVE unavailable: ") + strerror(err));
  }
  ASSERT_EQ(fd.register_missing(a.data(), a.bytes()), 0);
  ASSERT_EQ(fd.register_missing(b.data(), b.bytes()), 0);
  uffd::InstallCounters counters;
  uffd::InstallerConfig config;
  config.uffd = fd.fd();
  config.counters = &counters;
  uffd::PageInstaller installer(config);

  // The first content enters A through the installer too (A is registered and empty).
  Region staging(kPages);
  fill_pattern(staging.data(), kPages, seed);
  ASSERT_EQ(installer.install(a.addr(), staging.addr(), kPages).status, uffd::InstallStatus::kDone);

  std::atomic<bool> stop{false};
  std::vector<std::thread> pagers;
  for (int t = 0; t < 2; ++t) {
    pagers.emplace_back([&, t] {
      std::mt19937_64 rng(seed + 1 + t);
      while (!stop.load(std::memory_order_relaxed)) {
        Region& r = (rng() & 1) ? a : b;
        const size_t len = 16 + rng() % 49;  // 64K .. 256K
        const size_t first = rng() % (kPages - len);
        madvise(r.page(first), len * kPageSize, MADV_PAGEOUT);
      }
    });
  }
  // At least 4 s and at least 11 rounds (a slow machine, e.g. the co-test guest under TCG,
  // needs longer for them), at most 120 s.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(4);
  const auto cap = start + std::chrono::seconds(120);
  int rounds = 0;
  Region* from = &a;
  Region* to = &b;
  while ((std::chrono::steady_clock::now() < deadline || rounds <= 10) &&
         std::chrono::steady_clock::now() < cap) {
    const auto r = installer.install(to->addr(), from->addr(), kPages);
    ASSERT_EQ(r.status, uffd::InstallStatus::kDone)
        << uffd::install_status_name(r.status) << " errno " << r.error << " round " << rounds;
    ASSERT_EQ(first_mismatch(to->data(), kPages, seed), -1) << "round " << rounds;
    std::swap(from, to);
    ++rounds;
  }
  stop = true;
  for (auto& p : pagers) p.join();
  const auto c = uffd::read_counters(counters);
  printf("rounds %d: moved %llu, unreported-but-moved %llu, partial %llu, EEXIST %llu, "
         "EBUSY->COPY %llu, retries %llu\n",
         rounds, static_cast<unsigned long long>(c.pages_moved),
         static_cast<unsigned long long>(c.pages_moved_unreported),
         static_cast<unsigned long long>(c.move_partial),
         static_cast<unsigned long long>(c.move_eexist),
         static_cast<unsigned long long>(c.pages_copied_on_ebusy),
         static_cast<unsigned long long>(c.eagain_retries));
  RecordProperty("unreported_moves", std::to_string(c.pages_moved_unreported));
  EXPECT_GT(rounds, 10) << "fewer than 11 rounds in 120 s";
  EXPECT_EQ(c.pages_already_present, 0u) << "no other thread installs: every EEXIST is ours";
  EXPECT_EQ(c.pages_moved + c.pages_moved_unreported + c.pages_copied_on_ebusy,
            static_cast<uint64_t>(rounds + 1) * kPages);
}

}  // namespace
}  // namespace uffdgc::test
