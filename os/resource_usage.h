// OS layer (design: .os.contract): what the kernel counts for the calling thread and the
// process, for the per-cycle statistics (design: .measure.cpu).
// Contract: the functions cannot fail (an unreadable figure is 0); none is async-signal-safe
// (getrusage is not on POSIX's list; resident_bytes opens a /proc file). The collector calls
// them outside the SIGBUS path.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace uffdgc::os {

// Major faults of the calling thread so far (getrusage RUSAGE_THREAD). A pause counts the
// ones of the thread that runs it: the stopped mutators cannot fault, and threads the pause
// does not stop (parked ones, io-wq workers, a sanitizer's background thread) are not the
// pause touching the heap.
inline uint64_t thread_major_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<uint64_t>(ru.ru_majflt);
}

// Minor faults of the calling thread so far (getrusage RUSAGE_THREAD).
inline uint64_t thread_minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<uint64_t>(ru.ru_minflt);
}

// Kernel (system) CPU time of the calling thread so far (getrusage RUSAGE_THREAD ru_stime).
inline uint64_t thread_kernel_ns() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<uint64_t>(ru.ru_stime.tv_sec) * 1000000000ull +
         static_cast<uint64_t>(ru.ru_stime.tv_usec) * 1000ull;
}

// Resident bytes of the process (/proc/self/statm, second field), 0 if unreadable.
inline uint64_t resident_bytes() {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char* p = buf;
  strtoull(p, &p, 10);  // size
  return strtoull(p, nullptr, 10) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace uffdgc::os
