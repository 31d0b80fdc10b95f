/*
 * The smallest embedding of this release: a runtime asks uffdgc at start-up which collector
 * mode this machine supports and why, using only the installed public header. The package
 * test (tests/package) builds this file against an installed uffdgc, from CMake and from
 * pkg-config.
 */
#include <stdio.h>
#include <string.h>
#include <uffdgc/uffdgc.h>

int main(void) {
  uffdgc_probe_report report;
  memset(&report, 0, sizeof(report));
  report.struct_size = sizeof(report); /* size-prefixed: lets the library grow the struct */
  uffdgc_result rc = uffdgc_probe_kernel(NULL, &report); /* NULL options: auto mode */
  if (rc != UFFDGC_OK) {
    fprintf(stderr, "uffdgc_probe_kernel: %s\n", uffdgc_result_name(rc));
    return 1;
  }
  printf("uffdgc %s on %s: %s mode (%s); mTHP %s\n", uffdgc_version(), report.kernel_release,
         uffdgc_mode_name(report.mode), report.mode_reason,
         report.mthp_policy == UFFDGC_MTHP_ALLOW ? "allowed" : "off (MADV_NOHUGEPAGE)");
  return report.mode == UFFDGC_MODE_AUTO ? 1 : 0; /* the verdict is never "auto" */
}
