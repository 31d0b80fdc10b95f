// The concurrent collector with the heap in swap (design: .memory.swap), in MOVE and COPY mode: a
// child process in a memory cgroup whose limit (64 MiB) is two thirds of its live heap (96 MiB),
// with zram swap (tests/support/system_state.h), builds a graph with checkable contents and runs 10
// cycles. Before every cycle the whole moving space is pushed out with MADV_PAGEOUT (marking then
// reads swapped pages); right after the flip the from-space is pushed out too (compaction reads its
// sources back from swap while mutators fault on the to-space). Each cycle replaces a share of the
// graph (so there is garbage and everything slides) and is followed by a full check of every
// object's id, payload bytes and references; the heap verifier runs after every cycle. Skips (with
// the reason) without root, without zram/swap, without a memory cgroup, or where the mode is
// unsupported. UFFDGC_SWAP_LIMIT_MIB=<n> changes the cgroup limit. A child killed by the OOM killer
// fails the test: the library keeps the cgroup's reclaim statistics fresh near the limit
// (runtime/reclaim_stats_watcher.h); without that, every run of either mode was OOM-killed at this
// limit on 6.18.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <fstream>

#include "../heap/heap_test_support.h"
#include "runtime/heap.h"
#include "tests/support/require.h"
#include "tests/support/system_state.h"
#include "tests/support/test_pages.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace heaptest {
namespace {

using uffdgc::test::MemoryCgroup;
using uffdgc::test::SystemState;

constexpr uint64_t kLiveBytes = 96ull << 20;
constexpr uint64_t kCgroupLimit = 64ull << 20;
constexpr int kCycles = 10;
constexpr uint64_t kLeafBit = 1ull << 40;

// Exit codes of the child.
constexpr int kChildOk = 0;
constexpr int kChildUnsupported = 2;
constexpr int kChildNeverSwapped = 4;
constexpr int kChildCorrupt = 5;
constexpr int kChildApiError = 6;

uint64_t PayloadLength(uint64_t id) { return 3000 + (id * 7919) % 2000; }

uint64_t VmSwapKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmSwap:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10);
  }
  return 0;
}

// Everything below runs in the child; it reports through `out` (a pipe) and its exit code.
class SwapChild {
 public:
  SwapChild(uint32_t mode, int out) : mode_(mode), out_(out) {}

  int Run() {
    uffdgc_heap_options o{};
    o.struct_size = sizeof o;
    o.mode = mode_;
    o.flags = UFFDGC_HEAP_VERIFY;
    o.heap_limit = 512ull << 20;
    o.trigger_allocated = 1ull << 40;  // only the test's collections
    o.trigger_occupancy_pct = 100;
    const uffdgc_result rc = uffdgc_heap_create(&o, &heap_);
    if (rc == UFFDGC_EUNSUPPORTED) return kChildUnsupported;
    if (rc != UFFDGC_OK || RegisterStandardTypes(heap_, &types_) != UFFDGC_OK ||
        uffdgc_mutator_attach(heap_, nullptr, &m_) != UFFDGC_OK) {
      return Report(kChildApiError, "heap setup failed");
    }
    uffdgc_handle_scope scope;
    uffdgc_handle_scope_open(m_, &scope);
    entries_ = kLiveBytes / (kNodeSize + kLeafSize + kArrayBase + 4000);
    uffdgc_ref t = 0;
    if (uffdgc_alloc(m_, types_.ref_array, entries_, UFFDGC_ALLOC_DEFAULT, &t) != UFFDGC_OK) {
      return Report(kChildApiError, "table allocation failed");
    }
    Word(t, kIdOffset) = 1;
    table_ = uffdgc_handle_new(m_, t);
    tmp_ = uffdgc_handle_new(m_, 0);
    tmp2_ = uffdgc_handle_new(m_, 0);
    ids_.assign(entries_, 0);
    for (uint64_t i = 0; i < entries_; ++i) {
      if (!Replace(i)) return Report(kChildApiError, "allocation failed while building");
    }
    if (!Check("after building")) return kChildCorrupt;

    uint64_t max_swapped_pages = 0, max_vmswap_kib = 0, pageouts = 0;
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      // A share of the graph is replaced: garbage to compact away, new objects to slide.
      for (uint64_t k = 0; k < entries_ / 16; ++k) {
        if (!Replace((k * 2654435761u + cycle * 40503u) % entries_)) {
          return Report(kChildApiError, "allocation failed");
        }
      }
      // The whole moving space out to swap, then the cycle.
      const uint64_t begin = heap_->moving.begin(), top = heap_->moving.top();
      pageouts += PageOut(begin, top);
      const size_t swapped = uffdgc::test::count_swapped(reinterpret_cast<uint8_t*>(begin),
                                                         (top - begin) / 4096);
      max_swapped_pages = std::max<uint64_t>(max_swapped_pages, swapped);
      max_vmswap_kib = std::max(max_vmswap_kib, VmSwapKib());
      if (uffdgc_collect(m_) != UFFDGC_OK) return Report(kChildApiError, "uffdgc_collect failed");
      // Concurrent modes: compaction is running now; push its sources out too.
      pageouts += PageOut(begin + heap_->moving.from_space_delta(),
                          top + heap_->moving.from_space_delta());
      max_vmswap_kib = std::max(max_vmswap_kib, VmSwapKib());
      if (!Check(("after cycle " + std::to_string(cycle + 1)).c_str())) return kChildCorrupt;
    }
    // One more full cycle so the last compaction's verifier has run before the end.
    if (uffdgc_collect(m_) != UFFDGC_OK) return Report(kChildApiError, "last collect failed");
    if (!Check("at the end")) return kChildCorrupt;

    uffdgc_heap_stats st{};
    st.struct_size = sizeof st;
    uffdgc_heap_get_stats(heap_, &st);
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s: %" PRIu64 " entries (%" PRIu64 " MiB live), %" PRIu64
                  " collections, max %" PRIu64 " MiB of the moving space swapped out, max VmSwap %" PRIu64
                  " MiB, %" PRIu64 " pageout calls; pages moved %" PRIu64 ", copied %" PRIu64
                  ", copied on EBUSY %" PRIu64 ", by mutators %" PRIu64 ", max pause %.2f ms\n",
                  uffdgc_mode_name(mode_), entries_, st.live_bytes_last >> 20, st.collections,
                  max_swapped_pages * 4096 >> 20, max_vmswap_kib >> 10, pageouts, st.pages_moved,
                  st.pages_copied, st.pages_copied_on_ebusy, st.pages_by_mutators,
                  st.pause_ns_max / 1e6);
    Write(line);
    uffdgc_handle_scope_close(m_, &scope);
    uffdgc_mutator_detach(m_);
    uffdgc_heap_destroy(heap_);
    if (st.collections < kCycles + 1) return Report(kChildApiError, "too few collections");
    if (max_swapped_pages == 0 && max_vmswap_kib == 0) {
      return Report(kChildNeverSwapped, "the heap never reached swap");
    }
    return kChildOk;
  }

 private:
  int Report(int code, const std::string& what) {
    Write(what + "\n");
    return code;
  }
  void Write(const std::string& s) {
    if (write(out_, s.data(), s.size()) < 0) {
      // nothing to do: the exit code still tells
    }
  }

  static uint64_t PageOut(uint64_t from, uint64_t to) {
    from &= ~uint64_t{4095};
    to = (to + 4095) & ~uint64_t{4095};
    if (to <= from) return 0;
    return madvise(reinterpret_cast<void*>(from), to - from, MADV_PAGEOUT) == 0 ? 1 : 0;
  }

  // Entry i gets a fresh node with a payload and a leaf; garbage goes in between.
  bool Replace(uint64_t i) {
    const uint64_t id = next_id_++;
    uffdgc_ref p = 0, l = 0, n = 0, g = 0;
    if (uffdgc_alloc(m_, types_.bytes, PayloadLength(id), 0, &p) != UFFDGC_OK) return false;
    Word(p, kIdOffset) = id;
    for (uint64_t b = 0; b < PayloadLength(id); ++b) Bytes(p)[b] = PatternByte(id, b);
    *tmp_ = p;
    if (uffdgc_alloc(m_, types_.bytes, 1000, 0, &g) != UFFDGC_OK) return false;  // garbage
    if (uffdgc_alloc(m_, types_.leaf, 0, 0, &l) != UFFDGC_OK) return false;
    Word(l, kIdOffset) = id | kLeafBit;
    Word(l, 16) = ScalarFor(id);
    Word(l, 24) = ScalarFor(id + 1);
    *tmp2_ = l;
    if (uffdgc_alloc(m_, types_.node, 0, 0, &n) != UFFDGC_OK) return false;
    Word(n, kIdOffset) = id;
    Word(n, kNodeScalar) = ScalarFor(id);
    uffdgc_store_ref(m_, n, Slot(n, kNodeRefs[0]), *tmp_);
    uffdgc_store_ref(m_, n, Slot(n, kNodeRefs[1]), *tmp2_);
    *tmp_ = *tmp2_ = 0;
    uffdgc_ref t = *table_;
    uffdgc_store_ref(m_, t, Elem(t, i), n);
    ids_[i] = id;
    if (i % 256 == 0) uffdgc_poll(m_);
    return true;
  }

  bool Check(const char* when) {
    uffdgc_ref t = *table_;
    if (Id(t) != 1 || Length(t) != entries_) return Fail(when, 0, "table header");
    for (uint64_t i = 0; i < entries_; ++i) {
      const uint64_t id = ids_[i];
      const uffdgc_ref n = *Elem(t, i);
      if (n == 0 || Id(n) != id || TypeOf(n) != types_.node || Word(n, kNodeScalar) != ScalarFor(id)) {
        return Fail(when, i, "node");
      }
      const uffdgc_ref p = *Slot(n, kNodeRefs[0]);
      if (p == 0 || Id(p) != id || TypeOf(p) != types_.bytes || Length(p) != PayloadLength(id)) {
        return Fail(when, i, "payload header");
      }
      for (uint64_t b = 0; b < PayloadLength(id); ++b) {
        if (Bytes(p)[b] != PatternByte(id, b)) return Fail(when, i, "payload byte " + std::to_string(b));
      }
      const uffdgc_ref l = *Slot(n, kNodeRefs[1]);
      if (l == 0 || Id(l) != (id | kLeafBit) || Word(l, 16) != ScalarFor(id) ||
          Word(l, 24) != ScalarFor(id + 1)) {
        return Fail(when, i, "leaf");
      }
      if (*Slot(n, kNodeRefs[2]) != 0) return Fail(when, i, "third slot");
    }
    return true;
  }

  bool Fail(const char* when, uint64_t i, const std::string& what) {
    Write(std::string(uffdgc_mode_name(mode_)) + " " + when + ": entry " + std::to_string(i) +
          " (id " + std::to_string(ids_.empty() ? 0 : ids_[i]) + "): " + what + " wrong\n");
    return false;
  }

  uint32_t mode_;
  int out_;
  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* m_ = nullptr;
  Types types_;
  uffdgc_ref* table_ = nullptr;
  uffdgc_ref* tmp_ = nullptr;
  uffdgc_ref* tmp2_ = nullptr;
  uint64_t entries_ = 0;
  std::vector<uint64_t> ids_;
  uint64_t next_id_ = 2;
};

class SwapCollect : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SwapCollect, CyclesWithTheHeapInSwapUnderACgroupLimit) {
  const uint32_t mode = GetParam();
  uint64_t limit = kCgroupLimit;  // UFFDGC_SWAP_LIMIT_MIB=<n> to bisect
  if (const char* e = std::getenv("UFFDGC_SWAP_LIMIT_MIB")) limit = std::strtoull(e, nullptr, 0) << 20;
  SystemState& state = SystemState::instance();
  if (std::string why = state.ensure_swap(); !why.empty()) UFFDGC_TEST_UNAVAILABLE("swap", why);
  MemoryCgroup cg;
  if (std::string why = state.create_memory_cgroup(
          std::string("uffdgc-swap-collect-") + uffdgc_mode_name(mode), limit, &cg);
      !why.empty()) {
    UFFDGC_TEST_UNAVAILABLE("cgroup", why);
  }
  int ready[2], report[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(report), 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ready[1]);
    close(report[0]);
    char c;
    while (read(ready[0], &c, 1) < 0) {
    }
    alarm(500);
    _exit(SwapChild(mode, report[1]).Run());
  }
  close(ready[0]);
  close(report[1]);
  const std::string added = cg.add_process(pid);
  if (!added.empty()) kill(pid, SIGKILL);
  ASSERT_EQ(added, "");
  ASSERT_EQ(write(ready[1], "g", 1), 1);
  close(ready[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(report[0], buf, sizeof buf)) != 0;) {
    if (n > 0) text.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR) break;
  }
  close(report[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::printf("%s", text.c_str());
  const int64_t peak = cg.peak_bytes();
  std::printf("cgroup limit %" PRIu64 " MiB, peak %lld MiB\n", limit >> 20,
              static_cast<long long>(peak >> 20));
  if (WIFSIGNALED(status)) {
    FAIL() << "child killed by signal " << WTERMSIG(status)
           << (WTERMSIG(status) == SIGKILL ? " (OOM-killed under the cgroup limit?)" : "")
           << (WTERMSIG(status) == SIGALRM ? " (hung: alarm)" : "") << "\n" << text;
  }
  ASSERT_TRUE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  if (code == kChildUnsupported) {
    UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(mode),
                            std::string(uffdgc_mode_name(mode)) + " mode is not supported here (uffdgc-probe)");
  }
  EXPECT_NE(code, kChildNeverSwapped) << "the heap never reached swap under the cgroup limit";
  EXPECT_EQ(code, kChildOk) << "child: " << text;
}

INSTANTIATE_TEST_SUITE_P(Modes, SwapCollect,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) {
                           return std::string(param_info.param == UFFDGC_MODE_MOVE ? "Move"
                                                                                   : "Copy");
                         });

}  // namespace
}  // namespace heaptest
