// OS layer (design: .os.contract). Contract: cannot fail (no cgroup, or files that cannot be
// read: unlimited); not async-signal-safe (it opens and reads files).
// How far the process's memory cgroup is from its limit (design: .memory.swap,
// .memory.reclaim-stats). The swap prefetch reads from-space pages in from io-wq workers, and
// each page it reads is charged to the cgroup there: a charge that finds nothing to reclaim
// OOM-kills the process at once (seen with cgroup v1: 256 MiB live under a 192 MiB limit, the
// OOM report naming iou-wrk in madvise(MADV_WILLNEED)). The compaction therefore prefetches only
// while the cgroup has room. refresh_stats() serves runtime/reclaim_stats_watcher.h.
#pragma once

#include <cstdint>

namespace uffdgc::os {

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
  // The process's memory cgroup files were found and opened.
  bool in_memory_cgroup() const { return limit_fd_ >= 0 && usage_fd_ >= 0; }
  // Bytes the cgroup may still charge: kUnlimited without a limit, outside any memory cgroup,
  // or when the files cannot be read. Two preads.
  uint64_t bytes() const;
  // Reads the cgroup's memory.stat and throws the text away: the read makes the kernel fold
  // the cgroup's per-CPU statistics into the totals its reclaim works from
  // (runtime/reclaim_stats_watcher.h). False when there is no such file. One pread (~30 us).
  bool refresh_stats() const;

 private:
  int limit_fd_ = -1;
  int usage_fd_ = -1;
  int stat_fd_ = -1;
};

}  // namespace uffdgc::os
