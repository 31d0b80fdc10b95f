// How far the process's memory cgroup is from its limit (DESIGN.md §6). The swap prefetch
// reads from-space pages in from io-wq workers, and each page it reads is charged to the
// cgroup there: a charge that finds nothing to reclaim OOM-kills the process at once (seen
// with cgroup v1: 256 MiB live under a 192 MiB limit, the OOM report naming iou-wrk in
// madvise(MADV_WILLNEED)). The compaction therefore prefetches only while the cgroup has room.
// GC thread only; not async-signal-safe.
#pragma once

#include <cstdint>

namespace uffdgc::gc {

class MemoryHeadroom {
 public:
  // Finds the cgroup's limit and usage files: v1 (memory.limit_in_bytes, memory.usage_in_bytes
  // under /sys/fs/cgroup/memory) or v2 (memory.max, memory.current).
  MemoryHeadroom();
  ~MemoryHeadroom();
  MemoryHeadroom(const MemoryHeadroom&) = delete;
  MemoryHeadroom& operator=(const MemoryHeadroom&) = delete;

  static constexpr uint64_t kUnlimited = ~uint64_t{0};
  // Bytes the cgroup may still charge: kUnlimited without a limit, outside any memory cgroup,
  // or when the files cannot be read. Two preads.
  uint64_t bytes() const;

 private:
  int limit_fd_ = -1;
  int usage_fd_ = -1;
};

}  // namespace uffdgc::gc
