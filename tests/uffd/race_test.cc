// Several threads race to install the same destination pages from their own identical
// sources, in random run lengths and orders: every page gets exactly one winner, every loser
// sees EEXIST, nothing is lost or installed twice. Randomised; the seed is printed and
// UFFDGC_TEST_SEED=<n> replays a run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"

namespace uffdgc::test {
namespace {

uint64_t test_seed() {
  if (const char* env = getenv("UFFDGC_TEST_SEED")) return strtoull(env, nullptr, 10);
  return std::random_device{}();
}

struct InstallRun {
  size_t first, pages;
};

// Splits [0, pages) into runs of 1..64 pages and shuffles them.
std::vector<InstallRun> random_runs(size_t pages, std::mt19937_64& rng) {
  std::vector<InstallRun> runs;
  for (size_t i = 0; i < pages;) {
    const size_t n = std::min<size_t>(pages - i, 1 + rng() % 64);
    runs.push_back({i, n});
    i += n;
  }
  std::shuffle(runs.begin(), runs.end(), rng);
  return runs;
}

TEST(InstallRace, OneWinnerPerPageAcrossThreads) {
  const uint64_t seed = test_seed();
  printf("UFFDGC_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));
  constexpr int kThreads = 4;
  constexpr size_t kPages = 2048;
  constexpr int kRounds = 20;
  std::mt19937_64 rng(seed);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Region dst(kPages);
    RegisteredRange range(dst, UFFD_FEATURE_MOVE);
    if (range.error != 0) UFFDGC_TEST_UNAVAILABLE("uffd", range.skip_reason());
    uffd::InstallCounters counters;
    uffd::InstallerConfig config;
    config.uffd = range.uffd.fd();
    config.counters = &counters;
    // One thread in four copies instead of moving: mixed MOVE/COPY racers.
    uffd::InstallerConfig copy_config = config;
    copy_config.mode = uffd::InstallMode::kCopyOnly;
    uffd::PageInstaller mover(config);
    uffd::PageInstaller copier(copy_config);

    std::vector<std::unique_ptr<Region>> sources;
    std::vector<std::vector<InstallRun>> plans;
    for (int t = 0; t < kThreads; ++t) {
      sources.push_back(std::make_unique<Region>(kPages));
      fill_pattern(sources.back()->data(), kPages, seed + round);
      plans.push_back(random_runs(kPages, rng));
    }
    std::atomic<int> ready{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const uffd::PageInstaller& installer = t == kThreads - 1 ? copier : mover;
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        for (const InstallRun& run : plans[t]) {
          const auto r = installer.install(dst.addr() + run.first * kPageSize,
                                           sources[t]->addr() + run.first * kPageSize, run.pages);
          if (r.status != uffd::InstallStatus::kDone) failures.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);
    ASSERT_EQ(first_mismatch(dst.data(), kPages, seed + round), -1);
    const auto c = uffd::read_counters(counters);
    const uint64_t winners =
        c.pages_moved + c.pages_moved_unreported + c.pages_copied + c.pages_copied_on_ebusy;
    EXPECT_EQ(winners, kPages) << "each page must be installed exactly once";
    EXPECT_EQ(winners + c.pages_already_present, kThreads * kPages)
        << "every (thread, page) pair ends in exactly one outcome";
    for (int t = 0; t < kThreads; ++t) {
      for (size_t i = 0; i < kPages; i += 97) {
        ASSERT_FALSE(page_present(sources[t]->page(i))) << "thread " << t << " page " << i;
      }
    }
  }
}

}  // namespace
}  // namespace uffdgc::test
