#include "tests/support/system_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace uffdgc::test {

bool running_as_root() { return geteuid() == 0; }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write_file(const std::string& path, const std::string& value) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path + ": " + strerror(errno);
  const ssize_t n = write(fd, value.data(), value.size());
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) return "write " + path + ": " + strerror(err);
  return {};
}

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// "always inherit [madvise] never" -> "madvise"; other files: the trimmed content.
std::string current_value(const std::string& raw) {
  const auto open_bracket = raw.find('[');
  const auto close_bracket = raw.find(']');
  if (open_bracket != std::string::npos && close_bracket != std::string::npos) {
    return raw.substr(open_bracket + 1, close_bracket - open_bracket - 1);
  }
  return trim(raw);
}

}  // namespace

std::string read_knob(const std::string& path) { return current_value(read_file(path)); }

namespace {

int run(const std::string& command) {
  const int status = system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool swap_active() {
  std::istringstream swaps(read_file("/proc/swaps"));
  std::string line;
  std::getline(swaps, line);  // header
  return static_cast<bool>(std::getline(swaps, line)) && !trim(line).empty();
}

}  // namespace

SystemState& SystemState::instance() {
  static SystemState* state = [] {
    auto* s = new SystemState();
    atexit([] { SystemState::instance().restore_all(); });
    return s;
  }();
  return *state;
}

SystemState::SystemState() = default;

void SystemState::restore_all() {
  while (!undo_.empty()) {
    auto undo = std::move(undo_.back());
    undo_.pop_back();
    undo();
  }
}

std::string SystemState::write_knob(const std::string& path, const std::string& value) {
  if (!running_as_root()) return "needs root to write " + path;
  if (access(path.c_str(), F_OK) != 0) return path + " does not exist on this kernel";
  const std::string old_value = read_knob(path);
  if (old_value == value) return {};
  if (std::string err = write_file(path, value); !err.empty()) return err;
  undo_.push_back([path, old_value] { write_file(path, old_value); });
  return {};
}

std::string SystemState::set_mthp_enabled(uint32_t kib, const std::string& value) {
  return write_knob("/sys/kernel/mm/transparent_hugepage/hugepages-" + std::to_string(kib) +
                        "kB/enabled",
                    value);
}

// Several test or benchmark processes may want swap at once (ctest -j, a benchmark beside the
// tests). Each holds a shared lock on this file for as long as it relies on swap; setup happens
// under the exclusive lock, and the process that enabled zram turns it off only if it can take
// the lock exclusively, i.e. nobody else relies on it any more.
constexpr const char* kSwapLockFile = "/run/lock/uffdgc-swap.lock";

std::string SystemState::ensure_swap(uint64_t zram_bytes) {
  if (swap_lock_fd_ < 0) {
    swap_lock_fd_ = open(kSwapLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  }
  if (swap_lock_fd_ >= 0) flock(swap_lock_fd_, LOCK_EX);
  std::string why = enable_swap_locked(zram_bytes);
  if (swap_lock_fd_ >= 0) flock(swap_lock_fd_, LOCK_SH);
  return why;
}

// A program the fixture runs, missing from PATH (exit 127), named with the package that has it.
std::string missing_program(int status, const char* program, const char* package) {
  if (status != 127) return {};
  return std::string(program) + " is missing: install " + package + " (scripts/setup does)";
}

std::string SystemState::enable_swap_locked(uint64_t zram_bytes) {
  if (swap_active()) return {};
  if (!running_as_root()) return "no swap is active and enabling zram needs root";
  if (access("/sys/class/zram-control", F_OK) != 0 && access("/sys/block/zram0", F_OK) != 0) {
    const int status = run("modprobe zram num_devices=1");
    if (std::string why = missing_program(status, "modprobe", "kmod"); !why.empty()) return why;
    if (status != 0) return "no swap is active and the zram module is missing";
  }
  // A device of our own: zram0 when it exists unconfigured, else a new one (hot_add), so a
  // device somebody else configured is never touched.
  std::string device = "zram0";
  bool added = false;
  const std::string size0 = trim(read_file("/sys/block/zram0/disksize"));
  if (access("/sys/block/zram0", F_OK) != 0 || (!size0.empty() && size0 != "0")) {
    const std::string id = trim(read_file("/sys/class/zram-control/hot_add"));
    if (id.empty()) return "zram0 is in use and no new zram device can be added";
    device = "zram" + id;
    added = true;
  }
  const std::string sys = "/sys/block/" + device;
  auto remove_device = [sys, id = device.substr(4), added] {
    write_file(sys + "/reset", "1");
    if (added) write_file("/sys/class/zram-control/hot_remove", id);
  };
  // lz4 where the kernel has it: faster than the default lzo-rle, like a phone's zram.
  if (read_file(sys + "/comp_algorithm").find("lz4") != std::string::npos) {
    write_file(sys + "/comp_algorithm", "lz4");
  }
  if (std::string err = write_file(sys + "/disksize", std::to_string(zram_bytes)); !err.empty()) {
    remove_device();
    return err;
  }
  const int mkswap = run("mkswap /dev/" + device);
  const int swapon = mkswap == 0 ? run("swapon -p 100 /dev/" + device) : 0;
  if (mkswap != 0 || swapon != 0) {
    remove_device();
    if (std::string why = missing_program(mkswap, "mkswap", "util-linux"); !why.empty()) return why;
    if (std::string why = missing_program(swapon, "swapon", "mount"); !why.empty()) return why;
    return "mkswap/swapon /dev/" + device + " failed";
  }
  undo_.push_back([this, device, remove_device] {
    if (swap_lock_fd_ >= 0 && flock(swap_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      fprintf(stderr, "[system-state] zram swap left on: another process still relies on it\n");
      return;
    }
    run("swapoff /dev/" + device);
    remove_device();
  });
  fprintf(stderr, "[system-state] enabled %llu MiB zram swap on /dev/%s (undone at exit)\n",
          static_cast<unsigned long long>(zram_bytes >> 20), device.c_str());
  return {};
}

std::string SystemState::create_memory_cgroup(const std::string& name, uint64_t limit_bytes,
                                              MemoryCgroup* out) {
  if (!running_as_root()) return "creating a memory cgroup needs root";
  std::string base;
  bool v2 = false;
  if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
    base = "/sys/fs/cgroup/memory";
  } else if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 &&
             read_file("/sys/fs/cgroup/cgroup.controllers").find("memory") != std::string::npos) {
    base = "/sys/fs/cgroup";
    v2 = true;
  } else {
    return "no memory cgroup controller mounted at /sys/fs/cgroup";
  }
  const std::string path = base + "/" + name + "-" + std::to_string(getpid());
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return "mkdir " + path + ": " + strerror(errno);
  }
  undo_.push_back([base, path] {
    // Processes still inside go back to the parent first; rmdir fails on a populated group.
    std::istringstream procs(read_file(path + "/cgroup.procs"));
    std::string pid;
    while (std::getline(procs, pid)) write_file(base + "/cgroup.procs", pid);
    rmdir(path.c_str());
  });
  const std::string limit_file = v2 ? "/memory.max" : "/memory.limit_in_bytes";
  if (std::string err = write_file(path + limit_file, std::to_string(limit_bytes)); !err.empty()) {
    return err;
  }
  if (!v2) write_file(path + "/memory.swappiness", "100");
  *out = MemoryCgroup(path, v2);
  return {};
}

std::string MemoryCgroup::add_process(pid_t pid) const {
  return write_file(path_ + "/cgroup.procs", std::to_string(pid));
}

int64_t MemoryCgroup::peak_bytes() const {
  const std::string v = read_file(path_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes"));
  return v.empty() ? -1 : strtoll(v.c_str(), nullptr, 10);
}

}  // namespace uffdgc::test
