#include "os/uffd/userfaultfd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "os/uffd/kernel_abi.h"

namespace uffdgc::uffd {

OpenAttempt open_userfaultfd(OpenRoute route, int flags) {
  OpenAttempt attempt;
  if (route == OpenRoute::kSyscall) {
#ifdef SYS_userfaultfd
    const long fd = syscall(SYS_userfaultfd, flags);
    if (fd < 0) {
      attempt.error = errno;
    } else {
      attempt.fd = static_cast<int>(fd);
    }
#else
    attempt.error = ENOSYS;
#endif
    return attempt;
  }
  const int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    attempt.error = errno;
    return attempt;
  }
  const int fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
  if (fd < 0) {
    attempt.error = errno;
  } else {
    attempt.fd = fd;
  }
  close(dev);
  return attempt;
}

namespace {

constexpr int kOpenFlags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;

int handshake(int fd, uint64_t features, uint64_t* granted) {
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (ioctl(fd, UFFDIO_API, &api) != 0) return errno;
  *granted = api.features;
  return 0;
}

}  // namespace

int query_features(OpenRoute route, uint64_t* features) {
  const OpenAttempt attempt = open_userfaultfd(route, kOpenFlags);
  if (attempt.fd < 0) return attempt.error;
  const int err = handshake(attempt.fd, 0, features);
  close(attempt.fd);
  return err;
}

Userfaultfd::Userfaultfd(Userfaultfd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), features_(other.features_), route_(other.route_) {}

Userfaultfd& Userfaultfd::operator=(Userfaultfd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    features_ = other.features_;
    route_ = other.route_;
  }
  return *this;
}

Userfaultfd::~Userfaultfd() { reset(); }

void Userfaultfd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  features_ = 0;
}

int Userfaultfd::open(uint64_t features) {
  reset();
  int first_error = 0;
  for (OpenRoute route : {OpenRoute::kSyscall, OpenRoute::kDevice}) {
    const OpenAttempt attempt = open_userfaultfd(route, kOpenFlags);
    if (attempt.fd < 0) {
      if (first_error == 0) first_error = attempt.error;
      continue;
    }
    uint64_t granted = 0;
    const int err = handshake(attempt.fd, features, &granted);
    if (err != 0) {
      close(attempt.fd);
      return err;
    }
    fd_ = attempt.fd;
    features_ = granted;
    route_ = route;
    return 0;
  }
  return first_error;
}

int Userfaultfd::register_missing(void* addr, size_t len, uint64_t* range_ioctls) const {
  if (fd_ < 0) return EBADF;
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (ioctl(fd_, UFFDIO_REGISTER, &reg) != 0) return errno;
  if (range_ioctls != nullptr) *range_ioctls = reg.ioctls;
  return 0;
}

int Userfaultfd::unregister(void* addr, size_t len) const {
  if (fd_ < 0) return EBADF;
  uffdio_range range{};
  range.start = reinterpret_cast<uintptr_t>(addr);
  range.len = len;
  if (ioctl(fd_, UFFDIO_UNREGISTER, &range) != 0) return errno;
  return 0;
}

}  // namespace uffdgc::uffd
