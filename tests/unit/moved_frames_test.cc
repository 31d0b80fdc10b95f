// count_moved_frames (os/uffd/install_counters.h): which 64 KiB frames a MOVE covered whole
// from a source aligned alike (a 64K folio there can move unsplit) and which only in part.
#include <gtest/gtest.h>

#include "os/uffd/install_counters.h"

namespace uffdgc::test {
namespace {

using uffd::count_moved_frames;
using uffd::InstallCounters;
using uffd::kFolioFrameBytes;

constexpr uint64_t kFrame = kFolioFrameBytes;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kDst = 1000 * kFrame;  // frame aligned
constexpr uint64_t kSrc = 3000 * kFrame;

struct Frames {
  uint64_t whole, partly;
};

Frames count(uint64_t dst, uint64_t src, uint64_t bytes) {
  InstallCounters c;
  count_moved_frames(c, dst, src, bytes);
  return {c.folio_frames_moved_whole.load(), c.folio_frames_moved_partly.load()};
}

TEST(MovedFrames, AlignedWholeFramesAreWhole) {
  const Frames f = count(kDst, kSrc, 4 * kFrame);
  EXPECT_EQ(f.whole, 4u);
  EXPECT_EQ(f.partly, 0u);
}

TEST(MovedFrames, RaggedEndsArePartial) {
  // from the middle of one frame to the middle of the fourth: two whole in between
  const Frames f = count(kDst + 3 * kPage, kSrc + 3 * kPage, 3 * kFrame);
  EXPECT_EQ(f.whole, 2u);
  EXPECT_EQ(f.partly, 2u);
}

TEST(MovedFrames, SourceAtAnotherOffsetSplitsEveryFrame) {
  const Frames f = count(kDst, kSrc + kPage, 4 * kFrame);
  EXPECT_EQ(f.whole, 0u);
  EXPECT_EQ(f.partly, 4u);
}

TEST(MovedFrames, SourceAlignedAlikeAtAnotherFrameIsWhole) {
  // congruent modulo the frame, not equal: still whole
  const Frames f = count(kDst + kFrame, kSrc + 7 * kFrame, 2 * kFrame);
  EXPECT_EQ(f.whole, 2u);
  EXPECT_EQ(f.partly, 0u);
}

TEST(MovedFrames, OnePageInsideAFrame) {
  const Frames f = count(kDst + 5 * kPage, kSrc + 5 * kPage, kPage);
  EXPECT_EQ(f.whole, 0u);
  EXPECT_EQ(f.partly, 1u);
}

TEST(MovedFrames, SourceBelowDestinationAlignedAlike) {
  // src < dst: the unsigned difference still tells congruence
  const Frames f = count(kSrc, kDst, kFrame);
  EXPECT_EQ(f.whole, 1u);
  EXPECT_EQ(f.partly, 0u);
}

TEST(MovedFrames, NothingMovedCountsNothing) {
  const Frames f = count(kDst, kSrc, 0);
  EXPECT_EQ(f.whole, 0u);
  EXPECT_EQ(f.partly, 0u);
}

}  // namespace
}  // namespace uffdgc::test
