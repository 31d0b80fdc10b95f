// Message formatting for code that may run in a signal handler: printf, strerror and iostreams
// are not async-signal-safe, so fatal paths of the SIGBUS handler format into a fixed buffer
// and write(2) it (design: .embedder.signal-safe).
#pragma once

#include <cstddef>
#include <cstdint>

namespace uffdgc {

class SignalSafeMessage {
 public:
  SignalSafeMessage& text(const char* s);
  SignalSafeMessage& hex(uint64_t v);
  SignalSafeMessage& dec(int64_t v);
  // Appends "E<NAME> (N)" for an errno value, e.g. "EBUSY (16)".
  SignalSafeMessage& errno_name(int error);
  const char* c_str() const { return buf_; }
  size_t size() const { return len_; }
  // Writes the message and a newline to fd, retrying on EINTR.
  void write_to(int fd) const;

 private:
  void put(char c);
  char buf_[256] = {};
  size_t len_ = 0;
};

// "EBUSY", "EAGAIN", ... for the errnos the uffd layer meets; "errno" for anything else.
const char* errno_symbol(int error);

}  // namespace uffdgc
