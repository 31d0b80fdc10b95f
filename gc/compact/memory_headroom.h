// How far the process's memory cgroup is from its limit (DESIGN.md §6). The swap prefetch
// reads from-space pages in from io-wq workers, and each page it reads is charged to the
// cgroup there: a charge that finds nothing to reclaim OOM-kills the process at once (seen
// with cgroup v1: 256 MiB live under a 192 MiB limit, the OOM report naming iou-wrk in
// madvise(MADV_WILLNEED)). The compaction therefore prefetches only while the cgroup has room.
// Also here: ReclaimStatsRefresh, which keeps the cgroup's reclaim statistics fresh while the
// collector reads a heap in swap. Collector threads only; not async-signal-safe.
#pragma once

#include <cstdint>
#include <memory>

namespace uffdgc::gc {

class MemoryHeadroom {
 public:
  // Finds the cgroup's limit, usage and statistics files: v1 (memory.limit_in_bytes,
  // memory.usage_in_bytes, memory.stat under /sys/fs/cgroup/memory) or v2 (memory.max,
  // memory.current, memory.stat).
  MemoryHeadroom();
  ~MemoryHeadroom();
  MemoryHeadroom(const MemoryHeadroom&) = delete;
  MemoryHeadroom& operator=(const MemoryHeadroom&) = delete;

  static constexpr uint64_t kUnlimited = ~uint64_t{0};
  // Bytes the cgroup may still charge: kUnlimited without a limit, outside any memory cgroup,
  // or when the files cannot be read. Two preads.
  uint64_t bytes() const;
  // Reads the cgroup's memory.stat and throws the text away: the read makes the kernel fold
  // the cgroup's per-CPU statistics into the totals its reclaim works from (ReclaimStatsRefresh
  // below). False when there is no such file. One pread (~30 us).
  bool refresh_stats() const;

 private:
  int limit_fd_ = -1;
  int usage_fd_ = -1;
  int stat_fd_ = -1;
};

// Keeps the kernel's reclaim statistics of the process's memory cgroup fresh while a collector
// thread reads a heap that is mostly in swap (DESIGN.md §6).
//
// Why: with the classic LRU (no MGLRU), reclaim moves anonymous pages from the active to the
// inactive list only when the cgroup's statistics say the inactive list is small (or that
// refaults were activated since its last pass), and it reads those statistics as last flushed
// from per-CPU counters: every 2 s by a kernel worker, or when someone reads memory.stat. In
// between they can be 2 s old. A page swapped back in soon after it was swapped out goes straight
// to the active list (refault activation), and a collector cycle over a swapped-out heap swaps
// in the whole heap within a second: if the last flush happened to see inactive >= active
// (right after a burst of allocation, or with the heap just paged out), the active list fills
// the cgroup, the inactive list runs dry, reclaim scans nothing (it never enters its loop with
// the inactive and file lists empty, so it never retries with forced deactivation) and the
// 16th charge in a row that reclaims nothing OOM-kills the process. Measured on 6.18 (cgroup
// v1, zram, tests/gc/swap_collect_test.cc): the memcg OOM reports show inactive_anon 0 and
// active_anon at the limit; ftrace shows no mm_vmscan_lru_shrink_active in the cgroup from a
// periodic stats flush until the kill, and the last reclaims scanning no list at all. A plain
// program that pages out 96 MiB and reads it back under a 64 MiB limit is killed the same way,
// and is not while memory.stat is read every 50 ms.
//
// So the threads that read the heap in bulk call tick() as they go: now and then it looks at
// the clock, and when kInterval has passed and the cgroup is within kMargin of its limit it
// reads memory.stat (one pread; ~30 us), so reclaim decides from statistics at most kInterval
// old. Outside a memory cgroup with a limit it reads nothing after the first check. The files
// are opened at the first check, on the calling thread. One thread per object.
class ReclaimStatsRefresh {
 public:
  static constexpr uint64_t kInterval = 20'000'000;  // ns
  static constexpr uint64_t kMargin = 32ull << 20;
  // calls_per_check: how many tick() calls make one look at the clock.
  explicit ReclaimStatsRefresh(uint32_t calls_per_check) : calls_per_check_(calls_per_check) {}
  ~ReclaimStatsRefresh();
  ReclaimStatsRefresh(const ReclaimStatsRefresh&) = delete;
  ReclaimStatsRefresh& operator=(const ReclaimStatsRefresh&) = delete;

  void tick() {
    if (--countdown_ == 0) check();
  }

 private:
  void check();

  uint32_t calls_per_check_;
  uint32_t countdown_ = 1;  // the first tick checks
  bool opened_ = false;
  bool usable_ = false;  // in a memory cgroup with a limit (as of the first check)
  uint64_t last_ns_ = 0;
  std::unique_ptr<MemoryHeadroom> headroom_;
};

}  // namespace uffdgc::gc
