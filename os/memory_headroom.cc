#include "os/memory_headroom.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace uffdgc::os {

namespace {

// The value of a one-number cgroup file ("max" reads as unlimited); kUnlimited if unreadable.
uint64_t read_number(int fd) {
  char buf[32];
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return MemoryHeadroom::kUnlimited;
  buf[n] = '\0';
  if (std::strncmp(buf, "max", 3) == 0) return MemoryHeadroom::kUnlimited;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(buf, &end, 10);
  return end == buf ? MemoryHeadroom::kUnlimited : static_cast<uint64_t>(v);
}

}  // namespace

MemoryHeadroom::MemoryHeadroom() {
  FILE* f = std::fopen("/proc/self/cgroup", "re");
  if (f == nullptr) return;
  std::string v1_path, v2_path;
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    line[std::strcspn(line, "\n")] = '\0';
    // "hierarchy-id:controllers:path"; v1 names "memory" among the controllers, v2 is "0::path".
    char* first = std::strchr(line, ':');
    char* second = first != nullptr ? std::strchr(first + 1, ':') : nullptr;
    if (second == nullptr) continue;
    std::string controllers(",");  // ",c1,c2,": each controller framed by commas
    controllers.append(first + 1, second).append(",");
    const std::string path(second + 1);
    if (controllers == ",," && std::strncmp(line, "0:", 2) == 0) v2_path = path;
    if (controllers.find(",memory,") != std::string::npos) v1_path = path;
  }
  std::fclose(f);
  std::string dir, limit, usage;
  if (!v1_path.empty()) {
    dir = "/sys/fs/cgroup/memory" + v1_path;
    limit = dir + "/memory.limit_in_bytes";
    usage = dir + "/memory.usage_in_bytes";
  } else if (!v2_path.empty()) {
    dir = "/sys/fs/cgroup" + v2_path;
    limit = dir + "/memory.max";
    usage = dir + "/memory.current";
  } else {
    return;
  }
  limit_fd_ = open(limit.c_str(), O_RDONLY | O_CLOEXEC);
  usage_fd_ = open(usage.c_str(), O_RDONLY | O_CLOEXEC);
  stat_fd_ = open((dir + "/memory.stat").c_str(), O_RDONLY | O_CLOEXEC);
}

MemoryHeadroom::~MemoryHeadroom() {
  if (limit_fd_ >= 0) close(limit_fd_);
  if (usage_fd_ >= 0) close(usage_fd_);
  if (stat_fd_ >= 0) close(stat_fd_);
}

uint64_t MemoryHeadroom::bytes() const {
  if (limit_fd_ < 0 || usage_fd_ < 0) return kUnlimited;
  const uint64_t limit = read_number(limit_fd_);
  const uint64_t usage = read_number(usage_fd_);
  // cgroup v1 writes "no limit" as the page counter's maximum (2^63 - 4096 on x86-64).
  if (limit >= (uint64_t{1} << 62) || usage == kUnlimited) return kUnlimited;
  return limit > usage ? limit - usage : 0;
}

bool MemoryHeadroom::refresh_stats() const {
  if (stat_fd_ < 0) return false;
  // A read at offset 0 flushes the statistics and formats the whole file, however little of
  // it fits the buffer; the text is not needed.
  char buf[1024];
  return pread(stat_fd_, buf, sizeof buf, 0) > 0;
}

}  // namespace uffdgc::os
