// Owning wrapper for one userfaultfd: creation (syscall or /dev/userfaultfd), the UFFDIO_API
// handshake, and range registration (design: .cycle.flip.order, .install.ops).
//
// Creation always asks for UFFD_USER_MODE_ONLY: the collector only resolves faults taken by user
// code, and a kernel access to a missing page fails with EFAULT instead (design:
// .embedder.kernel-access). That flag is also what lets an unprivileged process use the syscall
// when vm.unprivileged_userfaultfd is 0.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uffdgc::uffd {

// How the descriptor was obtained; the probe reports both routes separately.
enum class OpenRoute : uint8_t { kSyscall, kDevice };

// Result of one creation attempt: fd >= 0 on success, else error holds the errno.
struct OpenAttempt {
  int fd = -1;
  int error = 0;
};

// Tries exactly one route. flags are O_CLOEXEC / O_NONBLOCK / UFFD_USER_MODE_ONLY.
OpenAttempt open_userfaultfd(OpenRoute route, int flags);

// Features the kernel offers on this route (UFFDIO_API with features = 0 on a throwaway fd).
// Returns 0 and fills *features, or an errno.
int query_features(OpenRoute route, uint64_t* features);

class Userfaultfd {
 public:
  Userfaultfd() = default;
  Userfaultfd(const Userfaultfd&) = delete;
  Userfaultfd& operator=(const Userfaultfd&) = delete;
  Userfaultfd(Userfaultfd&& other) noexcept;
  Userfaultfd& operator=(Userfaultfd&& other) noexcept;
  ~Userfaultfd();

  // Opens a user-mode-only, close-on-exec, non-blocking userfaultfd (syscall first, then the
  // device node) and performs UFFDIO_API with exactly `features`. Returns 0 or an errno
  // (EINVAL: a requested feature is not offered).
  int open(uint64_t features);

  // Registers [addr, addr + len) in MISSING mode. *range_ioctls (optional) receives the ioctl
  // bitmask the kernel allows on the range (bit _UFFDIO_MOVE tells MOVE works there).
  int register_missing(void* addr, size_t len, uint64_t* range_ioctls = nullptr) const;
  int unregister(void* addr, size_t len) const;

  int fd() const { return fd_; }
  uint64_t features() const { return features_; }
  OpenRoute route() const { return route_; }
  bool valid() const { return fd_ >= 0; }

 private:
  void reset();

  int fd_ = -1;
  uint64_t features_ = 0;
  OpenRoute route_ = OpenRoute::kSyscall;
};

}  // namespace uffdgc::uffd
