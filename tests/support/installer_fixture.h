// Common setup of the installer tests: a populated source, a registered destination, counters
// and a PageInstaller over them.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "os/uffd/fault_injection.h"
#include "os/uffd/kernel_abi.h"
#include "os/uffd/page_installer.h"
#include "tests/support/require.h"
#include "tests/support/test_pages.h"

namespace uffdgc::test {

struct InstallSetup {
  explicit InstallSetup(size_t npages, uint64_t pattern_seed = 1, size_t align = kPageSize,
                        int advice = MADV_NOHUGEPAGE, uint64_t features = UFFD_FEATURE_MOVE)
      : src(npages, align, advice),
        dst(npages, align, advice),
        range(dst, features),
        seed(pattern_seed) {
    fill_pattern(src.data(), npages, seed);
  }

  // Builds the installer; call after adjusting `config`.
  uffd::PageInstaller& installer() {
    config.uffd = range.uffd.fd();
    config.counters = &counters;
    if (injector_used) config.injector = &injector;
    installer_ = std::make_unique<uffd::PageInstaller>(config);
    return *installer_;
  }

  uffd::InstallResult install_all() {
    return installer().install(dst.addr(), src.addr(), src.pages());
  }

  void inject(const char* spec) {
    ASSERT_TRUE(injector.parse(spec)) << spec;
    injector_used = true;
  }

  // Destination holds the pattern; every source page has been consumed.
  void expect_installed_and_source_released() {
    EXPECT_EQ(first_mismatch(dst.data(), dst.pages(), seed), -1);
    for (size_t i = 0; i < src.pages(); ++i) {
      EXPECT_FALSE(page_present(src.page(i)) || page_swapped(src.page(i)))
          << "source page " << i << " was not released";
    }
  }

  uffd::InstallCounterValues counts() const { return uffd::read_counters(counters); }

  Region src;
  Region dst;
  RegisteredRange range;
  uint64_t seed;
  uffd::InstallCounters counters;
  uffd::FaultInjector injector;
  bool injector_used = false;
  uffd::InstallerConfig config;

 private:
  std::unique_ptr<uffd::PageInstaller> installer_;
};

#define UFFDGC_SKIP_WITHOUT_UFFD(setup)                                                  \
  do {                                                                                   \
    if ((setup).range.error != 0) UFFDGC_TEST_UNAVAILABLE("uffd", (setup).range.skip_reason()); \
  } while (0)

}  // namespace uffdgc::test
