// OS layer (design: .os.contract): clocks.
// Contract: every function here cannot fail and is async-signal-safe (clock_gettime is).
#pragma once

#include <time.h>

#include <cstdint>

namespace uffdgc::os {

// CLOCK_MONOTONIC in nanoseconds: pauses, time-to-safepoint, events, deadlines.
inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time of the calling thread in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
inline uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace uffdgc::os
