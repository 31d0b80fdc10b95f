// The kernel feature probe (design: .cycle.flip-in-pause, .install.quirks; .memory.swap): what
// this kernel offers, what actually works when tried, which collector mode to run and with which
// mTHP policy, and why. Fills the public uffdgc_probe_report so the library, the uffdgc-probe tool
// and embedders all see one verdict.
#pragma once

#include <cstdint>

#include "uffdgc/uffdgc.h"

namespace uffdgc::uffd {

struct ProbeRequest {
  uint32_t requested_mode = UFFDGC_MODE_AUTO;
  uint32_t flags = 0;       // UFFDGC_PROBE_*
  int watchdog_ms = 5000;
};

// Fills every field of *report (its struct_size is left as the caller set it). Forks child
// processes for the functional and large-folio tests; not async-signal-safe.
void probe_kernel(const ProbeRequest& request, uffdgc_probe_report* report);

// Whether `mode` can run on the kernel `report` describes: stop-the-world always; copy with
// userfaultfd (user mode only), SIGBUS, a working COPY, MREMAP_DONTUNMAP and 4K pages; move
// with a working MOVE as well and, unless `override_quirks`, no MOVE swap-cache quirk. The one
// place the probe's verdict and heap creation decide a mode from.
bool mode_works(const uffdgc_probe_report& report, uint32_t mode, bool override_quirks);

}  // namespace uffdgc::uffd
