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

#include "uffdgc/uffdgc.h"

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

// Creates `heap` from `options`, or skips the test (fails it where the mode is required) when
// the options' collector mode is not supported here; any other error fails it. Like
// GTEST_SKIP(), it returns from the enclosing void function.
#define UFFDGC_CREATE_HEAP_OR_SKIP(options, heap)                                             \
  do {                                                                                        \
    const uffdgc_result uffdgc_created_ = uffdgc_heap_create(&(options), &(heap));           \
    if (uffdgc_created_ == UFFDGC_EUNSUPPORTED) {                                             \
      UFFDGC_TEST_UNAVAILABLE(::uffdgc::test::mode_capability((options).mode),                \
                              std::string(uffdgc_mode_name((options).mode)) +                 \
                                  " mode is not supported here");                             \
    }                                                                                         \
    ASSERT_EQ(uffdgc_created_, UFFDGC_OK);                                                    \
  } while (0)
