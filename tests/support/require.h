// Skips that depend on the machine. Without UFFDGC_TEST_REQUIRE a test that cannot run here
// (not root, no UFFDIO_MOVE, no swap, ...) skips and says why. CI sets
// UFFDGC_TEST_REQUIRE=<capability>,... (.ci/run): a skip for a listed capability fails instead,
// so no environment skip can hide in a green run. Capabilities:
//   root     running as root            uffd     userfaultfd with the needed features
//   move     the collector's move mode  copy     the collector's copy mode
//   swap     swap can be set up         cgroup   memory cgroups can be created
//   mthp     mTHP knobs and 64K folios  iouring  io_uring is usable
//   seccomp  seccomp filters are taken
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace uffdgc::test {

// True when UFFDGC_TEST_REQUIRE lists `capability` (or is "all").
bool capability_required(const std::string& capability);

// The name of a collector mode's capability ("move", "copy"; "stw" for the others).
const char* mode_capability(uint32_t mode);

// The collector mode the heap, misuse and C++-layer suites run in: UFFDGC_MODE_STW unless
// UFFDGC_TEST_MODE=move|copy|auto says otherwise (tests/CMakeLists.txt registers each of these
// suites once per mode).
uint32_t test_mode();

}  // namespace uffdgc::test

// Skips the current test with `reason`, or fails it when `capability` is required. Like
// GTEST_SKIP(), it returns from the enclosing void function.
#define UFFDGC_TEST_UNAVAILABLE(capability, reason)                                           \
  do {                                                                                        \
    const std::string uffdgc_why_ = (reason);                                                 \
    if (::uffdgc::test::capability_required(capability)) {                                    \
      FAIL() << "UFFDGC_TEST_REQUIRE lists '" << (capability)                                 \
             << "', which is unavailable here: " << uffdgc_why_;                              \
    }                                                                                         \
    GTEST_SKIP() << uffdgc_why_;                                                              \
  } while (0)
