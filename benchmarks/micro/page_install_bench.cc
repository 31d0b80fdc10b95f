// Micro benchmark of the page installer (os/uffd/page_installer.h): ns per page to install pages at
// a userfaultfd-registered destination with UFFDIO_MOVE (InstallMode::kMoveOnly) vs UFFDIO_COPY
// (InstallMode::kCopyOnly), design: .install.ops, .memory.recycling; research/kernel.md §1.3-§1.6.
//
// HOW TO RUN (Release build; root is needed for the mTHP and zram cases, the 4K case runs
// unprivileged wherever userfaultfd does):
//
//   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DUFFDGC_BUILD_TESTS=OFF
//   cmake --build build/bench --target uffdgc_bench_page_install
//   sudo build/bench/benchmarks/uffdgc_bench_page_install                    # everything
//   sudo build/bench/benchmarks/uffdgc_bench_page_install --benchmark_filter='/4k/'   # one source
//   sudo build/bench/benchmarks/uffdgc_bench_page_install --quick             # smoke run
//   ... --benchmark_out=pi.json --benchmark_out_format=json
//   python3 benchmarks/micro/page_install_table.py pi.json                  # the MOVE/COPY table
//
// Own flags (removed before Google Benchmark sees the command line):
//   --batch_pages=N  pages per benchmark iteration (multiple of 16, at least the longest run;
//                    default 1024)
//   --runs=A,B,...   run lengths in pages (default 1,4,16,64,512). A run length that does not
//                    divide the batch leaves one shorter run at the end of each batch.
//   --quick          --batch_pages=512 and, unless given, --benchmark_min_time=0.02
// Unless --benchmark_min_time is given, 0.1 s of *timed* work per benchmark is the default; the
// untimed preparation costs several times that in wall time (see below).
//
// Names: BM_Install/<move|copy>/<4k|mthp64k|zram>/run:<pages>/manual_time. One install() call
// installs one run; run lengths 1, 4, 16, 64, 512 unless --runs says otherwise.
// Google Benchmark flags work as usual (--benchmark_filter='move/zram', --benchmark_repetitions=5,
// ...). Its "***WARNING*** Library was built as DEBUG" comes from Debian's libbenchmark build and
// does not affect the numbers here: the timing is ours (clock_gettime around install() only).
//
// WHAT ONE ITERATION DOES. A batch of --batch_pages pages:
//   untimed: map a fresh source and a fresh destination Region, open a userfaultfd (with
//            UFFD_FEATURE_MOVE for MOVE) and register the destination in MISSING mode, write a
//            per-batch pattern into the source and bring it into the state of the source kind:
//     4k       source and destination MADV_NOHUGEPAGE: the source is in 4K folios.
//     mthp64k  hugepages-64kB/enabled=always (and every other mTHP size, including the PMD size,
//              set to never so MADV_HUGEPAGE cannot give 2M THPs instead); source and destination
//              64K-aligned with MADV_HUGEPAGE. The batch is checked to really sit in 64K folios:
//              hugepages-64kB/stats/anon_fault_alloc must grow by batch/16 and /proc/kpageflags
//              must show a compound head at every 16th page and tails in between.
//     zram     as 4k, then MADV_PAGEOUT of the whole source; every page must be swapped out
//              (pagemap), to zram (set up by SystemState::ensure_swap() when no swap is active,
//              2 GiB lz4, removed at exit; an already active swap device is used as it is).
//   timed:   the install() calls over the batch, one per run, back to back, bracketed by one
//            clock_gettime(CLOCK_MONOTONIC) pair (no per-call timer overhead), reported with
//            SetIterationTime(). That includes, honestly:
//            * COPY: per page the kernel allocates a destination page (not zeroed: UFFDIO_COPY
//              allocates without __GFP_ZERO, and this kernel has init_on_alloc off; a kernel
//              booted with init_on_alloc=1 would also zero it), copies 4K into it, charges and
//              maps it; for zram sources the read of the source first swaps it in (decompress
//              or memcpy from zram, allocate, map). Then the installer's MADV_DONTNEED of the
//              source run (zap, TLB flush, free): releasing the source is part of the
//              installer's contract ("the installer consumes the source", page_installer.h),
//              so it is inside the timed region. For mthp64k sources with runs shorter than 16
//              pages that DONTNEED unmaps part of a large folio (queued for deferred split).
//            * MOVE: the PTE (or swap PTE) moves, TLB flushes, and for mthp64k the kernel's split
//              of every source folio the run touches (stock kernels split; counted in
//              mthp_splits).
//            * Per-batch first-touch costs of the fresh destination (page-table and anon_vma
//              allocation on the first install into each 2M of it), amortised over the batch.
//            * wake=true (the default): the kernel checks for waiters on each installed range.
//   untimed: status check (anything but kDone fails the benchmark via SkipWithError), then the
//            destination is unregistered (so a missing page would read as zeros instead of
//            blocking) and a rotating 1/8 sample of destination pages is compared with the
//            pattern (first_mismatch) plus a 1/64 sample of source pages checked to be gone
//            (neither present nor swapped), which is the installer's contract.
//
// COUNTERS (console: name=value; JSON: per-benchmark fields):
//   ns_per_page       timed ns / pages installed (the headline number)
//   items_per_second  pages/s over the timed (manual) time
//   mthp_splits       delta of hugepages-64kB/stats/split across the timed region, per page
//                     (1/16 = 0.0625 means one split per 64K folio). System-wide counter: other
//                     processes splitting 64K folios at the same time would inflate it.
//   mthp_dsplits      same for stats/split_deferred (partial unmaps queued for deferred split)
//   moved, copied, ebusy_copy, move_ioctls, copy_ioctls
//                     InstallCounters per batch (per iteration): pages installed by MOVE, by COPY,
//                     by the COPY fallback after MOVE said EBUSY (0 in move-only mode, which stops
//                     with kBusy instead), and ioctls issued
//   odd               per batch: partial moves, EAGAIN retries, EEXIST, unreported moves
//                     (research/kernel.md §1.6), zero-filled holes, range-gone, fatal; any
//                     nonzero value is also itemised on stderr
// The "Time" column is the manual (timed) time per batch; the "CPU" column is the process CPU
// time of the whole iteration including the untimed preparation and checks, so ignore it.
//
// System state: mTHP knobs and zram swap are changed through tests/support SystemState and
// restored when the process exits normally (also after a SkipWithError). A killed run leaves
// them changed; the previous values are printed on stderr when they are changed. Do not run the
// mthp64k/zram cases while the test suite's swap/mTHP tests run: both processes share the same
// knobs and /dev/zram0, and whichever set zram up runs swapoff at its exit under the other one
// (a memory-limited test cgroup can then be OOM-killed by that swapoff, and swapoff fails,
// leaving zram on). The 4k cases change nothing.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "os/uffd/install_counters.h"
#include "os/uffd/kernel_abi.h"
#include "os/uffd/mthp.h"
#include "os/page.h"
#include "os/uffd/page_installer.h"
#include "os/clock.h"
#include "tests/support/system_state.h"
#include "tests/support/test_pages.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace {

using uffdgc::uffd::InstallMode;
using uffdgc::uffd::InstallStatus;
using uffdgc::uffd::kPageSize;
namespace test = uffdgc::test;

enum class SourceKind { k4K, kMthp64K, kZram };

constexpr uint32_t kMthpKib = 64;
constexpr size_t kFolioPages = kMthpKib * 1024 / kPageSize;  // 16

size_t g_batch_pages = 1024;
std::vector<int64_t> g_runs = {1, 4, 16, 64, 512};

const char* mode_name(InstallMode mode) {
  return mode == InstallMode::kMoveOnly ? "move" : "copy";
}

const char* source_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::k4K: return "4k";
    case SourceKind::kMthp64K: return "mthp64k";
    case SourceKind::kZram: return "zram";
  }
  return "?";
}

// ---- environment, set up once per process and restored at exit by SystemState -------------

// hugepages-64kB/enabled=always and every other size never, so that the source (64K aligned,
// MADV_HUGEPAGE) gets exactly 64K folios. "" or the reason to skip.
const std::string& mthp_environment() {
  static const std::string reason = []() -> std::string {
    if (!test::running_as_root()) {
      return "needs root to set hugepages-64kB/enabled=always (mthp64k source)";
    }
    const std::string base = uffdgc::uffd::kThpSysfs;
    const std::string enabled64 = base + "/hugepages-64kB/enabled";
    if (access(enabled64.c_str(), F_OK) != 0) return enabled64 + " missing: no 64K mTHP support";
    test::SystemState& state = test::SystemState::instance();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("hugepages-", 0) != 0) continue;
      const std::string knob = entry.path().string() + "/enabled";
      if (access(knob.c_str(), F_OK) != 0) continue;
      const std::string want = knob == enabled64 ? "always" : "never";
      const std::string was = test::read_knob(knob);
      if (was == want) continue;
      if (std::string err = state.write_knob(knob, want); !err.empty()) return err;
      fprintf(stderr, "[page_install_bench] %s/enabled: %s -> %s (restored at exit)\n",
              name.c_str(), was.c_str(), want.c_str());
    }
    if (uffdgc::uffd::read_mthp_stat(kMthpKib, "anon_fault_alloc") < 0) {
      return "hugepages-64kB/stats/anon_fault_alloc unreadable: cannot verify 64K folios";
    }
    return {};
  }();
  return reason;
}

const std::string& swap_environment() {
  static const std::string reason = [] {
    std::string err = test::SystemState::instance().ensure_swap();
    if (err.empty()) {
      fprintf(stderr, "[page_install_bench] swap in use:\n%s",
              test::read_file("/proc/swaps").c_str());
    }
    return err;
  }();
  return reason;
}

// ---- source preparation and checks ---------------------------------------------------------

// Pages of [p, p + npages) (p 64K aligned) that sit in 64K folios according to /proc/kpageflags:
// a compound head at every 16th page, compound tails in between, physically contiguous behind
// their head. -1 when pagemap PFNs or kpageflags are not readable (not root).
long pages_in_64k_folios(const uint8_t* p, size_t npages) {
  constexpr uint64_t kPresent = 1ull << 63;
  constexpr uint64_t kPfnMask = (1ull << 55) - 1;
  constexpr int kCompoundHead = 15;  // KPF_COMPOUND_HEAD, linux/kernel-page-flags.h
  constexpr int kCompoundTail = 16;  // KPF_COMPOUND_TAIL
  const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  const int kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  long result = -1;
  std::vector<uint64_t> entries(npages);
  const ssize_t want = static_cast<ssize_t>(npages * sizeof(uint64_t));
  const off_t offset =
      static_cast<off_t>(reinterpret_cast<uint64_t>(p) / kPageSize * sizeof(uint64_t));
  if (pagemap >= 0 && kpageflags >= 0 && pread(pagemap, entries.data(), want, offset) == want) {
    result = 0;
    uint64_t head_pfn = 0;
    for (size_t i = 0; i < npages; ++i) {
      const uint64_t e = entries[i];
      const uint64_t pfn = e & kPfnMask;
      if ((e & kPresent) == 0) continue;
      if (pfn == 0) {  // PFNs hidden: no CAP_SYS_ADMIN
        result = -1;
        break;
      }
      uint64_t flags = 0;
      if (pread(kpageflags, &flags, sizeof(flags), static_cast<off_t>(pfn * sizeof(flags))) !=
          static_cast<ssize_t>(sizeof(flags))) {
        result = -1;
        break;
      }
      const bool head = (flags >> kCompoundHead) & 1;
      const bool tail = (flags >> kCompoundTail) & 1;
      if (i % kFolioPages == 0) {
        head_pfn = pfn;
        result += (head && !tail) ? 1 : 0;
      } else {
        result += (tail && !head && pfn == head_pfn + i % kFolioPages) ? 1 : 0;
      }
    }
  }
  if (pagemap >= 0) close(pagemap);
  if (kpageflags >= 0) close(kpageflags);
  return result;
}

// Writes the pattern and brings the source into the state of `kind`. "" or why it failed.
std::string prepare_source(SourceKind kind, test::Region& src, uint64_t seed) {
  const size_t n = src.pages();
  switch (kind) {
    case SourceKind::k4K:
      test::fill_pattern(src.data(), n, seed);
      return {};
    case SourceKind::kMthp64K: {
      const int64_t alloc0 = uffdgc::uffd::read_mthp_stat(kMthpKib, "anon_fault_alloc");
      const int64_t fallback0 = uffdgc::uffd::read_mthp_stat(kMthpKib, "anon_fault_fallback");
      test::fill_pattern(src.data(), n, seed);
      const int64_t alloc = uffdgc::uffd::read_mthp_stat(kMthpKib, "anon_fault_alloc") - alloc0;
      const int64_t fallback =
          uffdgc::uffd::read_mthp_stat(kMthpKib, "anon_fault_fallback") - fallback0;
      const int64_t expected = static_cast<int64_t>(n / kFolioPages);
      if (alloc < expected) {
        return "64K mTHP folios were not allocated: anon_fault_alloc +" + std::to_string(alloc) +
               " for " + std::to_string(expected) + " expected (anon_fault_fallback +" +
               std::to_string(fallback) + ")";
      }
      const long in_folios = pages_in_64k_folios(src.data(), n);
      if (in_folios >= 0 && static_cast<size_t>(in_folios) != n) {
        return "/proc/kpageflags: only " + std::to_string(in_folios) + " of " +
               std::to_string(n) + " source pages are in 64K folios";
      }
      return {};
    }
    case SourceKind::kZram: {
      test::fill_pattern(src.data(), n, seed);
      size_t swapped = 0;
      for (int attempt = 0; attempt < 3 && swapped < n; ++attempt) {
        if (madvise(src.data(), src.bytes(), MADV_PAGEOUT) != 0) {
          return std::string("MADV_PAGEOUT failed: ") + strerror(errno);
        }
        swapped = test::count_swapped(src.data(), n);
      }
      if (swapped < n) {
        return "MADV_PAGEOUT swapped out only " + std::to_string(swapped) + " of " +
               std::to_string(n) + " source pages";
      }
      return {};
    }
  }
  return "unknown source kind";
}

// Untimed checks after a batch: a rotating 1/8 sample of destination pages (and the last one)
// holds the pattern, a 1/64 sample of source pages is gone. "" or the failure.
std::string verify_batch(const test::Region& dst, const test::Region& src, uint64_t seed,
                         uint64_t phase) {
  const size_t n = dst.pages();
  for (size_t i = phase % 8; i < n; i += 8) {
    if (test::first_mismatch(dst.page(i), 1, seed, i) != -1) {
      return "content mismatch at destination page " + std::to_string(i);
    }
  }
  if (test::first_mismatch(dst.page(n - 1), 1, seed, n - 1) != -1) {
    return "content mismatch at destination page " + std::to_string(n - 1);
  }
  for (size_t i = phase % 64; i < n; i += 64) {
    if ((test::pagemap_entry(src.page(i)) >> 62) != 0) {
      return "source page " + std::to_string(i) +
             " still present or swapped after kDone (the installer must consume the source)";
    }
  }
  return {};
}

// ---- the benchmark -------------------------------------------------------------------------

void BM_Install(benchmark::State& state, InstallMode mode, SourceKind kind) {
  const uint64_t run = static_cast<uint64_t>(state.range(0));
  const size_t batch = g_batch_pages;
  if (kind == SourceKind::kMthp64K && !mthp_environment().empty()) {
    state.SkipWithError(mthp_environment().c_str());
    return;
  }
  if (kind == SourceKind::kZram && !swap_environment().empty()) {
    state.SkipWithError(swap_environment().c_str());
    return;
  }
  const bool mthp = kind == SourceKind::kMthp64K;
  const size_t align = mthp ? kMthpKib * 1024 : kPageSize;
  const int advice = mthp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
  const uint64_t features = mode == InstallMode::kMoveOnly ? UFFD_FEATURE_MOVE : 0;

  static uint64_t seed_counter = 0;
  uffdgc::uffd::InstallCounters counters;
  uint64_t pages = 0;
  int64_t timed_ns = 0;
  int64_t splits = 0;
  int64_t deferred_splits = 0;
  for (auto _ : state) {
    const uint64_t seed = ++seed_counter;
    test::Region src(batch, align, advice);
    test::Region dst(batch, align, advice);
    test::RegisteredRange reg(dst, features);
    if (reg.error != 0) {
      state.SkipWithError(reg.skip_reason().c_str());
      break;
    }
    if (std::string err = prepare_source(kind, src, seed); !err.empty()) {
      state.SkipWithError(err.c_str());
      break;
    }
    uffdgc::uffd::InstallerConfig config;
    config.uffd = reg.uffd.fd();
    config.mode = mode;
    config.counters = &counters;
    const uffdgc::uffd::PageInstaller installer(config);
    const uint64_t dst0 = dst.addr();
    const uint64_t src0 = src.addr();
    const int64_t split0 = uffdgc::uffd::read_mthp_stat(kMthpKib, "split");
    const int64_t dsplit0 = uffdgc::uffd::read_mthp_stat(kMthpKib, "split_deferred");

    uffdgc::uffd::InstallResult failure;
    uint64_t failed_run = UINT64_MAX;
    const int64_t t0 = static_cast<int64_t>(uffdgc::os::monotonic_ns());
    for (uint64_t off = 0; off < batch; off += run) {
      const uint64_t len = batch - off < run ? batch - off : run;
      const uffdgc::uffd::InstallResult r =
          installer.install(dst0 + off * kPageSize, src0 + off * kPageSize, len);
      if (r.status != InstallStatus::kDone) {
        failure = r;
        failed_run = off;
        break;
      }
    }
    const int64_t t1 = static_cast<int64_t>(uffdgc::os::monotonic_ns());

    const int64_t split1 = uffdgc::uffd::read_mthp_stat(kMthpKib, "split");
    const int64_t dsplit1 = uffdgc::uffd::read_mthp_stat(kMthpKib, "split_deferred");
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (failed_run != UINT64_MAX) {
      const std::string err =
          "install() of the run at batch page " + std::to_string(failed_run) + " returned " +
          uffdgc::uffd::install_status_name(failure.status) + " (errno " +
          std::to_string(failure.error) + ": " + strerror(failure.error) + ", pages_done " +
          std::to_string(failure.pages_done) + ")";
      state.SkipWithError(err.c_str());
      break;
    }
    pages += batch;
    timed_ns += t1 - t0;
    if (split0 >= 0 && split1 >= 0) splits += split1 - split0;
    if (dsplit0 >= 0 && dsplit1 >= 0) deferred_splits += dsplit1 - dsplit0;

    reg.uffd.unregister(dst.data(), dst.bytes());
    if (std::string err = verify_batch(dst, src, seed, static_cast<uint64_t>(state.iterations()));
        !err.empty()) {
      state.SkipWithError(err.c_str());
      break;
    }
  }
  if (state.error_occurred() || pages == 0) return;

  using benchmark::Counter;
  const uffdgc::uffd::InstallCounterValues s = uffdgc::uffd::read_counters(counters);
  const double n = static_cast<double>(pages);
  state.SetItemsProcessed(static_cast<int64_t>(pages));
  state.counters["ns_per_page"] = static_cast<double>(timed_ns) / n;
  state.counters["mthp_splits"] = static_cast<double>(splits) / n;
  state.counters["mthp_dsplits"] = static_cast<double>(deferred_splits) / n;
  state.counters["moved"] = Counter(static_cast<double>(s.pages_moved), Counter::kAvgIterations);
  state.counters["copied"] =
      Counter(static_cast<double>(s.pages_copied), Counter::kAvgIterations);
  state.counters["ebusy_copy"] =
      Counter(static_cast<double>(s.pages_copied_on_ebusy), Counter::kAvgIterations);
  state.counters["move_ioctls"] =
      Counter(static_cast<double>(s.move_ioctls), Counter::kAvgIterations);
  state.counters["copy_ioctls"] =
      Counter(static_cast<double>(s.copy_ioctls), Counter::kAvgIterations);
  const uint64_t odd = s.move_partial + s.eagain_retries + s.move_eexist +
                       s.pages_moved_unreported + s.pages_zero_filled + s.range_gone +
                       s.fatal_errors + s.move_ebusy;
  state.counters["odd"] = Counter(static_cast<double>(odd), Counter::kAvgIterations);
  if (odd != 0) {
    fprintf(stderr,
            "[page_install_bench] %s/%s/run:%llu over %llu pages: move_partial=%llu "
            "eagain_retries=%llu move_eexist=%llu moved_unreported=%llu zero_filled=%llu "
            "range_gone=%llu fatal=%llu move_ebusy=%llu\n",
            mode_name(mode), source_name(kind), static_cast<unsigned long long>(run),
            static_cast<unsigned long long>(pages),
            static_cast<unsigned long long>(s.move_partial),
            static_cast<unsigned long long>(s.eagain_retries),
            static_cast<unsigned long long>(s.move_eexist),
            static_cast<unsigned long long>(s.pages_moved_unreported),
            static_cast<unsigned long long>(s.pages_zero_filled),
            static_cast<unsigned long long>(s.range_gone),
            static_cast<unsigned long long>(s.fatal_errors),
            static_cast<unsigned long long>(s.move_ebusy));
  }
}

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.release) + " (" + u.version + ", " + u.machine + ")";
}

}  // namespace

int main(int argc, char** argv) {
  // Own flags first; everything else goes to Google Benchmark.
  std::vector<char*> args;
  bool quick = false;
  bool min_time_given = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (i > 0 && a == "--quick") {
      quick = true;
    } else if (i > 0 && a.rfind("--batch_pages=", 0) == 0) {
      g_batch_pages = strtoul(a.c_str() + strlen("--batch_pages="), nullptr, 10);
    } else if (i > 0 && a.rfind("--runs=", 0) == 0) {
      g_runs.clear();
      for (const char* p = a.c_str() + strlen("--runs="); *p != '\0';) {
        char* end = nullptr;
        const long v = strtol(p, &end, 10);
        if (end == p || v <= 0) {
          fprintf(stderr, "--runs: expected positive numbers separated by ','\n");
          return 2;
        }
        g_runs.push_back(v);
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      if (a.rfind("--benchmark_min_time", 0) == 0) min_time_given = true;
      args.push_back(argv[i]);
    }
  }
  if (quick) g_batch_pages = 512;
  int64_t longest_run = 0;
  for (int64_t run : g_runs) longest_run = run > longest_run ? run : longest_run;
  if (g_runs.empty() || g_batch_pages == 0 || g_batch_pages % kFolioPages != 0 ||
      g_batch_pages < static_cast<size_t>(longest_run)) {
    fprintf(stderr, "--batch_pages must be a positive multiple of %zu and >= the longest run\n",
            kFolioPages);
    return 2;
  }
  std::string min_time_flag = quick ? "--benchmark_min_time=0.02" : "--benchmark_min_time=0.1";
  if (!min_time_given) args.insert(args.begin() + 1, min_time_flag.data());
  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);

  const std::string release = kernel_release();
  printf("uffdgc page installer micro benchmark\n");
  printf("kernel: %s\n", release.c_str());
  printf("batch: %zu pages per iteration; one install() per run; only install() calls are timed\n",
         g_batch_pages);
  printf("sources: 4k      = source in 4K folios (MADV_NOHUGEPAGE), written just before\n");
  printf("         mthp64k = source in 64K mTHP folios (hugepages-64kB=always, MADV_HUGEPAGE),"
         " verified allocated\n");
  printf("         zram    = 4K source pages swapped out with MADV_PAGEOUT (zram if no swap was"
         " active)\n");
  printf("modes:   move = InstallMode::kMoveOnly (UFFDIO_MOVE), copy = InstallMode::kCopyOnly"
         " (UFFDIO_COPY + MADV_DONTNEED of the source)\n\n");
  fflush(stdout);
  benchmark::AddCustomContext("kernel", release);
  benchmark::AddCustomContext("batch_pages", std::to_string(g_batch_pages));

  for (SourceKind kind : {SourceKind::k4K, SourceKind::kMthp64K, SourceKind::kZram}) {
    for (InstallMode mode : {InstallMode::kMoveOnly, InstallMode::kCopyOnly}) {
      const std::string name =
          std::string("BM_Install/") + mode_name(mode) + "/" + source_name(kind);
      benchmark::internal::Benchmark* b =
          benchmark::RegisterBenchmark(name.c_str(), BM_Install, mode, kind);
      b->ArgName("run");
      for (int64_t run : g_runs) b->Arg(run);
      b->UseManualTime()->Unit(benchmark::kMicrosecond);
    }
  }

  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;  // SystemState restores mTHP knobs and zram at exit
}
