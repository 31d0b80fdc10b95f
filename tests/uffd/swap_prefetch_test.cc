// The io_uring swap prefetcher (os/swap_prefetcher.h, design: .memory.swap): MADV_WILLNEED
// through IORING_OP_MADVISE really brings zram-swapped pages back (the later reads are not
// major faults), unmapped ranges come back as ENOMEM per chunk, an unusable io_uring (seccomp,
// kernel.io_uring_disabled) makes it a no-op that says why, the ring never blocks the caller,
// and the destructor waits for requests in flight.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "os/swap_prefetcher.h"
#include "os/uffd/child_process.h"
#include "tests/support/require.h"
#include "tests/support/system_state.h"
#include "tests/support/test_pages.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace uffdgc::test {
namespace {

using os::PrefetchCounters;
using os::PrefetchOptions;
using os::PrefetchWindow;
using os::SwapPrefetcher;

constexpr uint64_t kChunk = 256 << 10;

// A kernel without io_uring (the co-test guest, a seccomp'd container) is not a failure of the
// prefetcher: those tests skip with its reason; the unavailable paths have their own tests.
#define INIT_OR_SKIP(pf, ...)                                                          \
  do {                                                                                 \
    if (!(pf).init(__VA_ARGS__)) {                                                     \
      UFFDGC_TEST_UNAVAILABLE("iouring", "io_uring is not usable here: " +              \
                                             std::string((pf).unavailable_reason()));     \
    }                                                                                  \
  } while (0)

long major_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_majflt;
}

// Reads one byte of every page (volatile, so the reads happen) and returns the major faults
// this thread took meanwhile.
long touch_and_count_major(const uint8_t* p, size_t npages) {
  const long before = major_faults();
  uint64_t sum = 0;
  for (size_t i = 0; i < npages; ++i) sum += *reinterpret_cast<const volatile uint8_t*>(p + i * kPageSize);
  asm volatile("" : : "r"(sum));
  return major_faults() - before;
}

// Pages of [p, p + npages) that mincore() reports resident. For swapped-out anonymous memory
// that means "in the swap cache", which is exactly where MADV_WILLNEED puts them.
size_t count_incore(const uint8_t* p, size_t npages) {
  std::vector<unsigned char> vec(npages);
  if (mincore(const_cast<uint8_t*>(p), npages * kPageSize, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

long long now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Fills a fresh region and pushes it out to swap; "" or why the test must skip/fail.
std::string page_out(Region& r, uint64_t seed) {
  fill_pattern(r.data(), r.pages(), seed);
  if (madvise(r.data(), r.bytes(), MADV_PAGEOUT) != 0) {
    return std::string("MADV_PAGEOUT: ") + strerror(errno);
  }
  const size_t swapped = count_swapped(r.data(), r.pages());
  if (swapped < r.pages() * 9 / 10) {
    return "MADV_PAGEOUT left " + std::to_string(r.pages() - swapped) + " of " +
           std::to_string(r.pages()) + " pages resident";
  }
  return "";
}

class SwapPrefetch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = SystemState::instance().ensure_swap(); !why.empty()) {
      UFFDGC_TEST_UNAVAILABLE("swap", why);
    }
  }
};

// ---- (a) prefetching really swaps in --------------------------------------------------------

TEST_F(SwapPrefetch, AdvisedPagesAreSwappedInBeforeTheyAreRead) {
  constexpr size_t kPages = 4096;  // 16 MiB: 64 requests of 256 KiB
  Region control(kPages, kChunk), advised(kPages, kChunk);
  ASSERT_EQ(page_out(control, 71), "");
  ASSERT_EQ(page_out(advised, 72), "");

  SwapPrefetcher pf;
  INIT_OR_SKIP(pf);
  ASSERT_TRUE(pf.available());
  EXPECT_STREQ(pf.unavailable_reason(), "");
  EXPECT_EQ(pf.advise(advised.addr(), advised.addr() + advised.bytes()), advised.addr());
  pf.wait_idle();
  EXPECT_EQ(pf.in_flight(), 0u);
  const PrefetchCounters c = pf.counters();
  EXPECT_EQ(c.ranges, 1u);
  EXPECT_EQ(c.chunks, kPages * kPageSize / kChunk);
  EXPECT_EQ(c.pages_advised, kPages);
  EXPECT_EQ(c.completions, c.chunks);
  EXPECT_EQ(c.errors, 0u) << "last errno " << c.last_other_errno;
  EXPECT_EQ(c.chunks_dropped, 0u);

  // The requests completed, so the swap-in is done: the pages sit in the swap cache (still
  // swap PTEs in pagemap until touched). Bounded wait anyway, in case a kernel reports the
  // completion before the read finished (a non-synchronous swap device).
  const long long deadline = now_ms() + 10000;
  size_t incore = count_incore(advised.data(), kPages);
  while (incore < kPages * 9 / 10 && now_ms() < deadline) {
    usleep(10000);
    incore = count_incore(advised.data(), kPages);
  }
  const size_t control_incore = count_incore(control.data(), kPages);

  const long control_major = touch_and_count_major(control.data(), kPages);
  const long advised_major = touch_and_count_major(advised.data(), kPages);
  printf("in swap cache after advise: %zu of %zu (control %zu); major faults reading: "
         "advised %ld, control %ld\n",
         incore, kPages, control_incore, advised_major, control_major);
  EXPECT_GT(control_major, static_cast<long>(kPages / 2)) << "the control was not in swap";
  EXPECT_LT(advised_major, static_cast<long>(kPages / 10))
      << "the advised pages were still read from swap";
  EXPECT_GE(incore, kPages * 9 / 10);
  EXPECT_EQ(first_mismatch(advised.data(), kPages, 72), -1);
  EXPECT_EQ(first_mismatch(control.data(), kPages, 71), -1);
}

TEST_F(SwapPrefetch, SkipResidentChunksAdvisesOnlyChunksWithSwappedPages) {
  constexpr size_t kPages = 1024;  // 16 chunks
  Region r(kPages, kChunk);
  ASSERT_EQ(page_out(r, 73), "");
  // Bring chunks 0..7 back by touching them: only chunks 8..15 still have swapped pages.
  touch_and_count_major(r.data(), kPages / 2);
  ASSERT_EQ(SwapPrefetcher::swapped_pages(r.addr(), r.addr() + r.bytes() / 2), 0);
  ASSERT_GT(SwapPrefetcher::swapped_pages(r.addr() + r.bytes() / 2, r.addr() + r.bytes()),
            static_cast<int64_t>(kPages / 2 * 9 / 10));

  SwapPrefetcher pf;
  PrefetchOptions o;
  o.skip_resident_chunks = true;
  INIT_OR_SKIP(pf, o);
  pf.advise(r.addr(), r.addr() + r.bytes());
  pf.wait_idle();
  const PrefetchCounters c = pf.counters();
  EXPECT_EQ(c.chunks, 8u);
  EXPECT_EQ(c.chunks_skipped, 8u);
  EXPECT_EQ(c.errors, 0u);
  EXPECT_LT(touch_and_count_major(r.data() + r.bytes() / 2, kPages / 2),
            static_cast<long>(kPages / 20));
  EXPECT_EQ(first_mismatch(r.data(), kPages, 73), -1);
}

TEST_F(SwapPrefetch, OneWorkerStillSwapsEverythingIn) {
  constexpr size_t kPages = 2048;
  Region r(kPages, kChunk);
  ASSERT_EQ(page_out(r, 77), "");
  SwapPrefetcher pf;
  PrefetchOptions o;
  o.max_workers = 1;
  INIT_OR_SKIP(pf, o);
  EXPECT_EQ(pf.max_workers_error(), 0) << "IORING_REGISTER_IOWQ_MAX_WORKERS refused";
  EXPECT_EQ(pf.advise(r.addr(), r.addr() + r.bytes()), r.addr());
  pf.wait_idle();
  EXPECT_EQ(pf.counters().errors, 0u);
  EXPECT_LT(touch_and_count_major(r.data(), kPages), static_cast<long>(kPages / 10));
  EXPECT_EQ(first_mismatch(r.data(), kPages, 77), -1);
}

// ---- (b) unmapped and partially mapped ranges -----------------------------------------------

TEST(SwapPrefetchErrors, UnmappedChunksReportEnomemEachAndNothingCrashes) {
  Region r(4 * kChunk / kPageSize, kChunk);  // chunks 0..3
  fill_pattern(r.data(), r.pages(), 74);
  // Chunk 1 entirely unmapped, chunk 3 half unmapped.
  ASSERT_EQ(munmap(r.data() + kChunk, kChunk), 0);
  ASSERT_EQ(munmap(r.data() + 3 * kChunk + kChunk / 2, kChunk / 2), 0);

  SwapPrefetcher pf;
  INIT_OR_SKIP(pf);
  EXPECT_EQ(pf.advise(r.addr(), r.addr() + 4 * kChunk), r.addr());
  pf.wait_idle();
  const PrefetchCounters c = pf.counters();
  EXPECT_EQ(c.chunks, 4u);
  EXPECT_EQ(c.completions, 4u);
  EXPECT_EQ(c.errors, 2u);
  EXPECT_EQ(c.err_nomem, 2u) << "other errno: " << c.last_other_errno;
  EXPECT_EQ(c.err_other, 0u);
  // A range with nothing mapped at all, and an empty one.
  EXPECT_EQ(pf.advise(r.addr() + kChunk, r.addr() + 2 * kChunk), r.addr() + kChunk);
  EXPECT_EQ(pf.advise(r.addr(), r.addr()), r.addr());
  pf.wait_idle();
  EXPECT_EQ(pf.counters().err_nomem, 3u);
  EXPECT_EQ(pf.counters().chunks, 5u);
  // The mapped parts were not harmed.
  EXPECT_EQ(first_mismatch(r.data(), kChunk / kPageSize, 74), -1);
  EXPECT_EQ(first_mismatch(r.data() + 2 * kChunk, kChunk / kPageSize, 74, 2 * kChunk / kPageSize),
            -1);
}

// A tiny ring over many small chunks: advise() never waits; what it could not queue it drops and
// reports through its result, and [result, end) is exactly what was queued.
TEST(SwapPrefetchErrors, AFullRingDropsInsteadOfBlocking) {
  constexpr size_t kPages = 512;
  Region r(kPages);
  fill_pattern(r.data(), kPages, 75);
  SwapPrefetcher pf;
  PrefetchOptions o;
  o.depth = 2;
  o.chunk_bytes = kPageSize;
  INIT_OR_SKIP(pf, o);
  const uint64_t end = r.addr() + r.bytes();
  const uint64_t lo = pf.advise(r.addr(), end);
  ASSERT_GE(lo, r.addr());
  ASSERT_LE(lo, end);
  const PrefetchCounters c = pf.counters();
  EXPECT_LE(pf.in_flight(), 2u);
  EXPECT_EQ(c.pages_advised * kPageSize, end - lo);
  EXPECT_EQ(c.chunks_dropped > 0, lo > r.addr());
  pf.wait_idle();
  EXPECT_EQ(pf.counters().errors, 0u);
  printf("depth 2: queued %llu of %zu one-page chunks, dropped %llu\n",
         static_cast<unsigned long long>(c.chunks), kPages,
         static_cast<unsigned long long>(c.chunks_dropped));
}

// ---- the window policy -------------------------------------------------------------------

// A top-down walk that calls ahead_of() at every page advises every page below the first
// cursor exactly once, never below the limit, and never more than window ahead.
TEST(PrefetchWindowPolicy, AdvisesEveryPageBelowTheCursorOnce) {
  constexpr size_t kPages = 2048;  // 8 MiB
  Region r(kPages, kChunk);
  fill_pattern(r.data(), kPages, 76);
  SwapPrefetcher pf;
  INIT_OR_SKIP(pf);
  constexpr uint64_t kWindow = 1 << 20;
  PrefetchWindow w(&pf, kWindow);
  const uint64_t limit = r.addr() + kPageSize;  // the lowest page is not part of the walk
  for (uint64_t cursor = r.addr() + r.bytes() - kPageSize; cursor >= limit; cursor -= kPageSize) {
    w.ahead_of(cursor, limit);
    ASSERT_GE(w.advised_lo(), limit);
    ASSERT_GE(w.advised_lo() + kWindow, cursor);
    ASSERT_LE(cursor - w.advised_lo(), kWindow);
  }
  pf.wait_idle();
  const PrefetchCounters c = pf.counters();
  EXPECT_EQ(c.pages_advised, kPages - 2);  // not the top page (read first), not the lowest
  EXPECT_EQ(c.chunks_dropped, 0u);
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(w.advised_lo(), limit);
  // Steps of window / 4: about (8 MiB / 256 KiB) ranges, not one per page.
  EXPECT_LE(c.ranges, kPages * kPageSize / (kWindow / 4) + 1);
}

// ---- (c) io_uring unavailable ------------------------------------------------------------

struct InitOutcome {
  int stage;  // 0: filter installed and init ran; 99: the filter was refused
  bool init_ok;
  bool available;
  int init_error;
  uint64_t advise_result;
  uint64_t chunks;
  uint64_t completions;
  char reason[160];
};

struct FilterSpec {
  int nr;
  int err;
};

// In the child: install a seccomp filter answering `err` to syscall `nr`, then try.
void init_under_filter(void* arg, void* out) {
  const auto* spec = static_cast<const FilterSpec*>(arg);
  auto* r = static_cast<InitOutcome*>(out);
  sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(spec->nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<uint32_t>(spec->err)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog fprog{static_cast<unsigned short>(std::size(prog)), prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    r->stage = 99;
    return;
  }
  static uint8_t page[4096] __attribute__((aligned(4096)));
  SwapPrefetcher pf;
  r->init_ok = pf.init();
  r->available = pf.available();
  r->init_error = pf.init_error();
  const uint64_t begin = reinterpret_cast<uint64_t>(page);
  r->advise_result = pf.advise(begin, begin + sizeof(page)) - begin;  // 0: a no-op
  pf.reap();
  pf.wait_idle();
  r->chunks = pf.counters().chunks;
  r->completions = pf.counters().completions;
  snprintf(r->reason, sizeof(r->reason), "%s", pf.unavailable_reason());
}

InitOutcome run_filtered(int nr, int err) {
  FilterSpec spec{nr, err};
  InitOutcome r{};
  const auto outcome = uffd::run_in_child(init_under_filter, &spec, &r, sizeof(r), 10000);
  EXPECT_TRUE(outcome.completed) << "signal " << outcome.signal << " timed out "
                                 << outcome.timed_out << " errno " << outcome.error;
  return r;
}

void expect_noop(const InitOutcome& r, int err, const char* reason_part) {
  if (r.stage == 99) UFFDGC_TEST_UNAVAILABLE("seccomp", "this kernel does not take seccomp filters");
  EXPECT_FALSE(r.init_ok);
  EXPECT_FALSE(r.available);
  EXPECT_EQ(r.init_error, err);
  EXPECT_EQ(r.advise_result, 0u);
  EXPECT_EQ(r.chunks, 0u);
  EXPECT_EQ(r.completions, 0u);
  EXPECT_NE(std::string(r.reason).find(reason_part), std::string::npos) << r.reason;
  printf("reason: %s\n", r.reason);
}

TEST(SwapPrefetchUnavailable, IoUringSetupEnosysUnderSeccomp) {
  expect_noop(run_filtered(__NR_io_uring_setup, ENOSYS), ENOSYS, "io_uring_setup");
}

TEST(SwapPrefetchUnavailable, IoUringSetupEpermUnderSeccomp) {
  expect_noop(run_filtered(__NR_io_uring_setup, EPERM), EPERM, "not permitted");
}

TEST(SwapPrefetchUnavailable, BlockedOpcodeProbeMeansNoPrefetch) {
  expect_noop(run_filtered(__NR_io_uring_register, ENOSYS), EOPNOTSUPP, "PROBE");
}

TEST(SwapPrefetchUnavailable, KernelIoUringDisabledSysctl) {
  const std::string knob = "/proc/sys/kernel/io_uring_disabled";
  if (read_file(knob).empty()) UFFDGC_TEST_UNAVAILABLE("iouring", knob + " does not exist (kernel < 6.6)");
  if (!running_as_root()) UFFDGC_TEST_UNAVAILABLE("root", "needs root to write " + knob);
  const std::string old = read_knob(knob);
  // Recorded by the fixture (restored at exit even if this test dies), and restored right
  // away: other processes on the machine may want io_uring.
  ASSERT_EQ(SystemState::instance().write_knob(knob, "2"), "");
  SwapPrefetcher pf;
  const bool ok = pf.init();
  const int err = pf.init_error();
  const std::string reason = pf.unavailable_reason();
  ASSERT_EQ(write_file(knob, old), "");
  EXPECT_FALSE(ok);
  EXPECT_FALSE(pf.available());
  EXPECT_EQ(err, EPERM) << reason;
  EXPECT_EQ(pf.advise(4096, 8192), 4096u);
  EXPECT_EQ(pf.counters().chunks, 0u);
}

TEST(SwapPrefetchUnavailable, InvalidOptionsAreRefusedWithAReason) {
  SwapPrefetcher pf;
  PrefetchOptions o;
  o.chunk_bytes = 1000;
  EXPECT_FALSE(pf.init(o));
  EXPECT_EQ(pf.init_error(), EINVAL);
  EXPECT_NE(std::string(pf.unavailable_reason()).find("PrefetchOptions"), std::string::npos);
  SwapPrefetcher never_initialised;
  EXPECT_FALSE(never_initialised.available());
  EXPECT_EQ(never_initialised.advise(4096, 8192), 4096u);
  never_initialised.wait_idle();
}

// ---- (d) destruction with requests in flight --------------------------------------------------

TEST_F(SwapPrefetch, DestructorWaitsForRequestsInFlight) {
  constexpr size_t kPages = 16384;  // 64 MiB: 256 requests through a 64-deep ring
  unsigned max_in_flight = 0;
  for (int round = 0; round < 3; ++round) {
    Region r(kPages, kChunk);
    ASSERT_EQ(page_out(r, 80 + round), "");
    const uint64_t end = r.addr() + r.bytes();
    uint64_t lo = end;
    {
      SwapPrefetcher pf;
      INIT_OR_SKIP(pf);
      lo = pf.advise(r.addr(), end);
      max_in_flight = std::max(max_in_flight, pf.in_flight());
      ASSERT_LT(lo, end);
    }  // destroyed with requests in flight: must wait for them
    // Everything that was queued has been swapped in by now: counted without any polling.
    const size_t queued = (end - lo) / kPageSize;
    const size_t incore = count_incore(reinterpret_cast<const uint8_t*>(lo), queued);
    printf("round %d: %u in flight at destruction; %zu of the %zu queued pages in the swap cache "
           "right after\n", round, max_in_flight, incore, queued);
    EXPECT_GE(incore, queued * 9 / 10);
    r.unmap();  // unmapping right after the destructor is safe (the contract)
  }
  EXPECT_GT(max_in_flight, 0u) << "nothing was in flight: the test proved nothing";
}

TEST(SwapPrefetchLifetime, DestroyRightAfterAdviseOnResidentMemory) {
  constexpr size_t kPages = 4096;
  for (int round = 0; round < 20; ++round) {
    Region r(kPages, kChunk);
    fill_pattern(r.data(), kPages, 90);
    {
      SwapPrefetcher pf;
      INIT_OR_SKIP(pf);
      pf.advise(r.addr(), r.addr() + r.bytes());
    }
    r.unmap();
  }
}

}  // namespace
}  // namespace uffdgc::test
