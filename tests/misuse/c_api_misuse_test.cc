// The C ABI refuses bad arguments with result codes.
#include <gtest/gtest.h>

#include <cstring>

#include "uffdgc/uffdgc.h"

namespace {

TEST(CApiMisuse, ProbeRejectsNullAndShortStructs) {
  EXPECT_EQ(uffdgc_probe_kernel(nullptr, nullptr), UFFDGC_EINVAL);
  uffdgc_probe_report report{};
  report.struct_size = 8;
  EXPECT_EQ(uffdgc_probe_kernel(nullptr, &report), UFFDGC_ESTRUCTSIZE);
  report.struct_size = sizeof(report);
  uffdgc_probe_options options{};
  options.struct_size = 4;
  EXPECT_EQ(uffdgc_probe_kernel(&options, &report), UFFDGC_ESTRUCTSIZE);
}

TEST(CApiMisuse, ProbeRejectsUnknownModesAndFlags) {
  uffdgc_probe_report report{};
  report.struct_size = sizeof(report);
  uffdgc_probe_options options{};
  options.struct_size = sizeof(options);
  options.requested_mode = 17;
  EXPECT_EQ(uffdgc_probe_kernel(&options, &report), UFFDGC_EINVAL);
  options.requested_mode = UFFDGC_MODE_AUTO;
  options.flags = 1u << 30;
  EXPECT_EQ(uffdgc_probe_kernel(&options, &report), UFFDGC_EINVAL);
}

TEST(CApiMisuse, NamesAreNeverNull) {
  EXPECT_STREQ(uffdgc_result_name(UFFDGC_OK), "UFFDGC_OK");
  EXPECT_STREQ(uffdgc_result_name(UFFDGC_ESTRUCTSIZE), "UFFDGC_ESTRUCTSIZE");
  EXPECT_STREQ(uffdgc_result_name(-999), "UFFDGC_E(unknown)");
  // Every code the header defines has its own name.
  for (int code = UFFDGC_EEMPTY; code <= UFFDGC_OK; ++code) {
    EXPECT_STRNE(uffdgc_result_name(code), "UFFDGC_E(unknown)") << code;
  }
  EXPECT_STREQ(uffdgc_result_name(UFFDGC_EEMPTY), "UFFDGC_EEMPTY");
  EXPECT_STREQ(uffdgc_mode_name(UFFDGC_MODE_STW), "stop-the-world");
  EXPECT_STREQ(uffdgc_mode_name(99), "unknown");
  EXPECT_STREQ(uffdgc_version(), "0.2.0");
}

}  // namespace
