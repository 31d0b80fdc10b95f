// The one fixture through which tests change system state: zram swap, memory cgroups (v1 and
// v2) and sysfs knobs such as the mTHP "enabled" files. Every change is recorded and undone in
// reverse order when the test process exits (or on restore_all()). Each call returns an empty
// string on success, or the reason the test must skip ("needs root", "no /dev/zram0", ...):
// tests pass it to GTEST_SKIP() so nothing passes silently.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace uffdgc::test {

class MemoryCgroup {
 public:
  MemoryCgroup() = default;
  explicit MemoryCgroup(std::string path, bool v2) : path_(std::move(path)), v2_(v2) {}
  const std::string& path() const { return path_; }
  // Moves a process into the cgroup; "" or the reason it failed.
  std::string add_process(pid_t pid) const;
  // Peak memory usage in bytes (memory.max_usage_in_bytes / memory.peak), -1 if unknown.
  int64_t peak_bytes() const;

 private:
  std::string path_;
  bool v2_ = false;
};

class SystemState {
 public:
  static SystemState& instance();

  // Ensures some swap is active. Uses what is active already; otherwise sets up a zram device
  // of its own (zram0 if unconfigured, else a new one from hot_add; disksize, mkswap, swapon)
  // and undoes it at exit. A missing program is named with its package.
  std::string ensure_swap(uint64_t zram_bytes = 2ull << 30);

  // Writes value to a sysfs/procfs file, remembering the old value (the bracketed choice for
  // "a [b] c" files) to restore at exit.
  std::string write_knob(const std::string& path, const std::string& value);

  // /sys/kernel/mm/transparent_hugepage/hugepages-<kib>kB/enabled = value.
  std::string set_mthp_enabled(uint32_t kib, const std::string& value);

  // Creates a memory cgroup with a hard limit (memory.limit_in_bytes or memory.max), removed
  // at exit after its processes are moved back to the parent.
  std::string create_memory_cgroup(const std::string& name, uint64_t limit_bytes,
                                   MemoryCgroup* out);

  // Undoes everything recorded so far, newest first. Called at exit; tests may call it early.
  void restore_all();

 private:
  SystemState();
  std::string enable_swap_locked(uint64_t zram_bytes);
  std::vector<std::function<void()>> undo_;
  int swap_lock_fd_ = -1;  // shared flock held while this process relies on swap
};

bool running_as_root();
// The current value of a knob: the bracketed choice of "a [b] c" files, else the trimmed
// content; empty on error.
std::string read_knob(const std::string& path);
// Reads a whole small file; empty on error.
std::string read_file(const std::string& path);
// Writes a string to a file; "" or "write <path>: <strerror>".
std::string write_file(const std::string& path, const std::string& value);

}  // namespace uffdgc::test
