// Sources backed by 64K mTHP folios, moved in runs that cover whole aligned folios. On stock
// kernels each folio is split (one split per folio); the patched kernel of kernel-patches/
// keeps it whole. Either way every byte must arrive. The split counter is recorded.
#include <gtest/gtest.h>

#include "os/uffd/mthp.h"
#include "tests/support/require.h"
#include "tests/support/installer_fixture.h"
#include "tests/support/system_state.h"
#include "uffdgc/uffdgc.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace uffdgc::test {
namespace {

using uffd::InstallStatus;

constexpr size_t kFolioPages = 16;
constexpr size_t kFolios = 32;
constexpr size_t kPages = kFolioPages * kFolios;

// The kernel probe's verdict on moving a 64K folio (UFFDGC_FOLIO_MOVE_*), measured once.
uint32_t FolioMoveVerdict() {
  static const uint32_t verdict = [] {
    uffdgc_probe_options po{};
    po.struct_size = sizeof po;
    po.requested_mode = UFFDGC_MODE_AUTO;
    uffdgc_probe_report r{};
    r.struct_size = sizeof r;
    return uffdgc_probe_kernel(&po, &r) == UFFDGC_OK ? r.folio_move : UFFDGC_FOLIO_MOVE_FAILED;
  }();
  return verdict;
}

class MthpSource : public ::testing::Test {
 protected:
  void SetUp() override {
    SystemState& state = SystemState::instance();
    if (std::string why = state.set_mthp_enabled(64, "always"); !why.empty()) {
      UFFDGC_TEST_UNAVAILABLE("mthp", why);
    }
    // Only 64K: with another size enabled (2M "inherit" under a top-level "madvise", say) the
    // kernel may hand out other folio sizes for the MADV_HUGEPAGE source.
    for (uint32_t kib = 8; kib <= 2048; kib *= 2) {
      if (kib != 64) state.set_mthp_enabled(kib, "never");  // absent sizes: nothing to do
    }
  }
  void TearDown() override { SystemState::instance().restore_all(); }

  // Populates a 64K-aligned source; skips when the kernel did not hand out large folios.
  void expect_large_folios(int64_t before) {
    const int64_t allocated = uffd::read_mthp_stat(64, "anon_fault_alloc") - before;
    if (allocated < static_cast<int64_t>(kFolios / 2)) {
      UFFDGC_TEST_UNAVAILABLE("mthp", "only " + std::to_string(allocated) +
                                          " 64K folios allocated (fragmented memory?)");
    }
  }
};

TEST_F(MthpSource, WholeFolioRunsAreMovedAndSplitsCounted) {
  const int64_t alloc_before = uffd::read_mthp_stat(64, "anon_fault_alloc");
  InstallSetup s(kPages, 71, kFolioPages * kPageSize, MADV_HUGEPAGE);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  expect_large_folios(alloc_before);
  if (HasFatalFailure() || IsSkipped()) return;
  auto& installer = s.installer();
  const int64_t split_before = uffd::read_mthp_stat(64, "split");
  for (size_t f = 0; f < kFolios; ++f) {
    const uint64_t off = f * kFolioPages * kPageSize;
    const auto r = installer.install(s.dst.addr() + off, s.src.addr() + off, kFolioPages);
    ASSERT_EQ(r.status, InstallStatus::kDone) << "folio " << f;
  }
  const int64_t splits = uffd::read_mthp_stat(64, "split") - split_before;
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  RecordProperty("mthp_splits", std::to_string(splits));
  printf("64K folios moved: %zu, split counter delta: %lld, pages moved %llu, copied on EBUSY "
         "%llu\n",
         kFolios, static_cast<long long>(splits), static_cast<unsigned long long>(c.pages_moved),
         static_cast<unsigned long long>(c.pages_copied_on_ebusy));
  // Every page went by MOVE (EBUSY falls back to COPY page by page).
  EXPECT_EQ(c.pages_moved + c.pages_copied_on_ebusy, kPages);
  EXPECT_GT(c.pages_moved, 0u);
  // Each call covered one aligned folio frame whole (the shape; what the kernel did with the
  // folio is the split counter's business).
  if (c.pages_copied_on_ebusy == 0) {
    EXPECT_EQ(c.folio_frames_moved_whole, kFolios);
    EXPECT_EQ(c.folio_frames_moved_partly, 0u);
  }
  // The counter is system-wide (other processes under ctest -j split 64K folios too), so only
  // a lower bound holds: a kernel that splits to move (the probe's verdict) split ours.
  if (FolioMoveVerdict() == UFFDGC_FOLIO_MOVE_SPLIT) {
    EXPECT_GE(splits, static_cast<int64_t>(kFolios / 2)) << "the probe says MOVE splits folios";
  }
}

TEST_F(MthpSource, SwappedOutLargeFoliosMoveAndReadBack) {
  if (std::string why = SystemState::instance().ensure_swap(); !why.empty()) {
    UFFDGC_TEST_UNAVAILABLE("swap", why);
  }
  const int64_t alloc_before = uffd::read_mthp_stat(64, "anon_fault_alloc");
  InstallSetup s(kPages, 72, kFolioPages * kPageSize, MADV_HUGEPAGE);
  UFFDGC_SKIP_WITHOUT_UFFD(s);
  expect_large_folios(alloc_before);
  if (HasFatalFailure() || IsSkipped()) return;
  ASSERT_EQ(madvise(s.src.data(), s.src.bytes(), MADV_PAGEOUT), 0);
  ASSERT_GT(count_swapped(s.src.data(), kPages), kPages / 2);
  ASSERT_EQ(s.install_all().status, InstallStatus::kDone);
  s.expect_installed_and_source_released();
  const auto c = s.counts();
  printf("swapped mTHP: moved %llu, copied on EBUSY %llu\n",
         static_cast<unsigned long long>(c.pages_moved),
         static_cast<unsigned long long>(c.pages_copied_on_ebusy));
  EXPECT_EQ(c.pages_moved + c.pages_copied_on_ebusy, kPages);
  EXPECT_GT(c.pages_moved, 0u) << "swapped-out pages move (a swap entry moves without EBUSY)";
}

}  // namespace
}  // namespace uffdgc::test
