// Holds a concurrent cycle's marking up from inside a type's trace callback, so a test can act
// (allocate, pin) while marking is certainly running: register a type whose `trace` is
// TraceGate::callback, arm(), allocate and root one object of it before the cycle, wait for
// entered, act, then release. Fires once per arm().
#pragma once

#include <time.h>

#include <atomic>

#include "uffdgc/uffdgc.h"

namespace uffdgc::test {

struct TraceGate {
  static inline std::atomic<bool> armed{false}, entered{false}, released{false};

  static void arm() {
    entered.store(false);
    released.store(false);
    armed.store(true);
  }
  static void callback(uffdgc_ref, uffdgc_slot_visitor, void*) {
    if (!armed.exchange(false)) return;
    entered.store(true);
    while (!released.load()) {
      timespec ts{0, 100000};
      nanosleep(&ts, nullptr);
    }
  }
};

}  // namespace uffdgc::test
