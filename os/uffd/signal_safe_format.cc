#include "os/uffd/signal_safe_format.h"

#include <unistd.h>

#include <cerrno>

namespace uffdgc {

void SignalSafeMessage::put(char c) {
  if (len_ + 1 < sizeof(buf_)) {
    buf_[len_++] = c;
    buf_[len_] = '\0';
  }
}

SignalSafeMessage& SignalSafeMessage::text(const char* s) {
  while (*s != '\0') put(*s++);
  return *this;
}

SignalSafeMessage& SignalSafeMessage::hex(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  text("0x");
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = kDigits[v & 15];
    v >>= 4;
  } while (v != 0);
  while (n > 0) put(tmp[--n]);
  return *this;
}

SignalSafeMessage& SignalSafeMessage::dec(int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  if (v < 0) {
    put('-');
    u = ~u + 1;
  }
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (n > 0) put(tmp[--n]);
  return *this;
}

SignalSafeMessage& SignalSafeMessage::errno_name(int error) {
  return text(errno_symbol(error)).text(" (").dec(error).text(")");
}

void SignalSafeMessage::write_to(int fd) const {
  size_t off = 0;
  while (off < len_) {
    const ssize_t n = write(fd, buf_ + off, len_ - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
  const char nl = '\n';
  while (write(fd, &nl, 1) < 0 && errno == EINTR) {
  }
}

const char* errno_symbol(int error) {
  switch (error) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPROTO: return "EPROTO";
    default: return "errno";
  }
}

}  // namespace uffdgc
