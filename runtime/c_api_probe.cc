// uffdgc_probe_kernel(): the C ABI over os/uffd/feature_probe (include/uffdgc/uffdgc.h).
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "os/uffd/feature_probe.h"
#include "runtime/c_boundary.h"
#include "uffdgc/uffdgc.h"

namespace {

// The first release of each struct: callers built against it stay valid forever.
constexpr uint32_t kProbeOptionsV1 = sizeof(uffdgc_probe_options);
constexpr uint32_t kProbeReportV1 = sizeof(uffdgc_probe_report);
constexpr uint32_t kKnownFlags =
    UFFDGC_PROBE_FORCE_MODE | UFFDGC_PROBE_FORCE_HUGEPAGE | UFFDGC_PROBE_SKIP_FOLIO_TEST;

}  // namespace

extern "C" uffdgc_result uffdgc_probe_kernel(const uffdgc_probe_options* options,
                                             uffdgc_probe_report* report) {
  if (report == nullptr) return UFFDGC_EINVAL;
  if (report->struct_size < kProbeReportV1) return UFFDGC_ESTRUCTSIZE;
  uffdgc::uffd::ProbeRequest request;
  if (options != nullptr) {
    if (options->struct_size < kProbeOptionsV1) return UFFDGC_ESTRUCTSIZE;
    if (options->requested_mode > UFFDGC_MODE_STW || (options->flags & ~kKnownFlags) != 0) {
      return UFFDGC_EINVAL;
    }
    request.requested_mode = options->requested_mode;
    request.flags = options->flags;
    if (options->watchdog_ms != 0) request.watchdog_ms = static_cast<int>(options->watchdog_ms);
  }
  uffdgc_probe_report full{};
  full.struct_size = report->struct_size;
  if (const uffdgc_result r = uffdgc::runtime::guard([&] {
        uffdgc::uffd::probe_kernel(request, &full);
        return UFFDGC_OK;
      });
      r != UFFDGC_OK) {
    return r;
  }
  // A caller built against an older, shorter struct gets only the fields it knows.
  std::memcpy(report, &full, std::min<size_t>(report->struct_size, sizeof(full)));
  return UFFDGC_OK;
}
