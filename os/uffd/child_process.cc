#include "os/uffd/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "os/clock.h"

namespace uffdgc::uffd {

namespace {

long long now_ms() { return static_cast<long long>(os::monotonic_ns() / 1000000); }

void write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

ChildOutcome run_in_child(void (*body)(void* arg, void* result), void* arg, void* result,
                          size_t result_size, int timeout_ms) {
  ChildOutcome outcome;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    outcome.error = errno;
    return outcome;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    outcome.error = errno;
    close(fds[0]);
    close(fds[1]);
    return outcome;
  }
  if (pid == 0) {
    close(fds[0]);
    body(arg, result);
    write_all(fds[1], result, result_size);
    _exit(0);
  }
  close(fds[1]);
  size_t got = 0;
  const long long deadline = now_ms() + timeout_ms;
  while (got < result_size) {
    const long long left = deadline - now_ms();
    if (left <= 0) {
      outcome.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = read(fds[0], static_cast<char*>(result) + got, result_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child died before finishing
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  if (got < result_size) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status) && !outcome.timed_out) outcome.signal = WTERMSIG(status);
  outcome.completed = got == result_size && WIFEXITED(status);
  return outcome;
}

}  // namespace uffdgc::uffd
