#include "os/uffd/signal_safe_format.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace uffdgc {
namespace {

TEST(SignalSafeMessage, FormatsNumbersAndErrnos) {
  SignalSafeMessage m;
  m.text("at ").hex(0x7f00dead1000).text(" n=").dec(-42).text(" ").errno_name(EBUSY);
  EXPECT_STREQ(m.c_str(), "at 0x7f00dead1000 n=-42 EBUSY (16)");
  SignalSafeMessage zero;
  zero.hex(0).text(" ").dec(0).text(" ").dec(INT64_MIN);
  EXPECT_STREQ(zero.c_str(), "0x0 0 -9223372036854775808");
}

TEST(SignalSafeMessage, TruncatesInsteadOfOverflowing) {
  SignalSafeMessage m;
  const std::string long_text(1000, 'x');
  m.text(long_text.c_str());
  EXPECT_EQ(m.size(), 255u);
  EXPECT_STREQ(errno_symbol(12345), "errno");
}

}  // namespace
}  // namespace uffdgc
