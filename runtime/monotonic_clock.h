// CLOCK_MONOTONIC in nanoseconds: pauses, time-to-safepoint, events (DESIGN.md §7).
// clock_gettime is async-signal-safe, so this is too.
#pragma once

#include <time.h>

#include <cstdint>

namespace uffdgc {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace uffdgc
