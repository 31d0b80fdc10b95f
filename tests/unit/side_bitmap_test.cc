// SideBitmap (gc/mark/side_bitmap.h): one bit per 8-byte word of a range that starts at a
// non-zero base; single bits set, tested and cleared, ranges set across bitmap words, and the
// searches forward (next_set, bounded by a limit) and backward (prev_set, bounded by a floor)
// across word boundaries and at both ends of the covered range.
#include <gtest/gtest.h>

#include <cstdint>

#include "gc/mark/side_bitmap.h"

namespace uffdgc::gc {
namespace {

// The bitmap never dereferences the addresses it covers: any 8-byte aligned base will do.
constexpr uint64_t kBase = 0x7f12'3456'0000;
constexpr uint64_t kBits = 2048;  // 32 bitmap words
constexpr uint64_t kBytes = kBits * 8;
constexpr uint64_t kEnd = kBase + kBytes;
constexpr uint64_t kAllOnes = ~uint64_t{0};

constexpr uint64_t addr(uint64_t bit) { return kBase + 8 * bit; }

class SideBitmapTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(bitmap.allocate(kBase, kBytes)); }

  SideBitmap bitmap;
};

TEST_F(SideBitmapTest, StartsClear) {
  for (uint64_t w = 0; w < kBits / 64; ++w) EXPECT_EQ(bitmap.word(w), 0u) << "word " << w;
  EXPECT_FALSE(bitmap.test(kBase));
  EXPECT_FALSE(bitmap.test(kEnd - 8));
  EXPECT_EQ(bitmap.next_set(kBase, kEnd), kEnd);
  EXPECT_EQ(bitmap.prev_set(kEnd - 8, kBase), UINT64_MAX);
}

TEST_F(SideBitmapTest, BitsCountWordsFromTheBase) {
  EXPECT_EQ(bitmap.bit_of(kBase), 0u);
  EXPECT_EQ(bitmap.bit_of(addr(70)), 70u);
  EXPECT_EQ(bitmap.addr_of(70), addr(70));
  ASSERT_TRUE(bitmap.set(addr(70)));
  EXPECT_EQ(bitmap.word(0), 0u);
  EXPECT_EQ(bitmap.word(1), uint64_t{1} << 6);
}

TEST_F(SideBitmapTest, SetReportsWhetherTheBitWasClear) {
  EXPECT_TRUE(bitmap.set(addr(9)));
  EXPECT_TRUE(bitmap.test(addr(9)));
  EXPECT_FALSE(bitmap.set(addr(9)));
  EXPECT_TRUE(bitmap.test(addr(9)));
  EXPECT_FALSE(bitmap.test(addr(8)));
  EXPECT_FALSE(bitmap.test(addr(10)));
  EXPECT_EQ(bitmap.word(0), uint64_t{1} << 9);
}

TEST_F(SideBitmapTest, ClearTakesBackOneBit) {
  ASSERT_TRUE(bitmap.set(addr(63)));
  ASSERT_TRUE(bitmap.set(addr(64)));
  bitmap.clear(addr(63));
  EXPECT_FALSE(bitmap.test(addr(63)));
  EXPECT_TRUE(bitmap.test(addr(64)));
  EXPECT_EQ(bitmap.word(0), 0u);
  EXPECT_EQ(bitmap.word(1), 1u);
  bitmap.clear(addr(63));  // already clear: nothing changes
  EXPECT_EQ(bitmap.word(0), 0u);
  EXPECT_TRUE(bitmap.set(addr(63)));  // clear again, so set says so
}

TEST_F(SideBitmapTest, SetRangeFromMidWordAcrossThreeWords) {
  // bits [40, 150): the top 24 bits of word 0, all of word 1, the low 22 bits of word 2
  bitmap.set_range(addr(40), (150 - 40) * 8);
  EXPECT_EQ(bitmap.word(0), kAllOnes << 40);
  EXPECT_EQ(bitmap.word(1), kAllOnes);
  EXPECT_EQ(bitmap.word(2), (uint64_t{1} << 22) - 1);
  EXPECT_EQ(bitmap.word(3), 0u);
  EXPECT_FALSE(bitmap.test(addr(39)));
  EXPECT_TRUE(bitmap.test(addr(40)));
  EXPECT_TRUE(bitmap.test(addr(149)));
  EXPECT_FALSE(bitmap.test(addr(150)));
}

TEST_F(SideBitmapTest, SetRangeInsideOneWord) {
  bitmap.set_range(addr(3), 7 * 8);  // bits 3..9
  EXPECT_EQ(bitmap.word(0), uint64_t{0x3f8});
  bitmap.set_range(addr(200), 8);  // one word, one bit
  EXPECT_EQ(bitmap.word(3), uint64_t{1} << 8);
  bitmap.set_range(addr(300), 0);  // nothing
  EXPECT_EQ(bitmap.word(4), 0u);
}

TEST_F(SideBitmapTest, SetRangeEndingOnAWordBoundary) {
  bitmap.set_range(addr(10), (128 - 10) * 8);  // bits [10, 128)
  EXPECT_EQ(bitmap.word(0), kAllOnes << 10);
  EXPECT_EQ(bitmap.word(1), kAllOnes);
  EXPECT_EQ(bitmap.word(2), 0u);
}

TEST_F(SideBitmapTest, SetRangeOverTheWholeRange) {
  bitmap.set_range(kBase, kBytes);
  for (uint64_t w = 0; w < kBits / 64; ++w) EXPECT_EQ(bitmap.word(w), kAllOnes) << "word " << w;
}

class SideBitmapSearch : public SideBitmapTest {
 protected:
  void SetUp() override {
    SideBitmapTest::SetUp();
    for (const uint64_t bit : {5, 20, 63, 64, 200}) ASSERT_TRUE(bitmap.set(addr(bit)));
  }
};

TEST_F(SideBitmapSearch, NextSetFindsTheFirstBitAtOrAfter) {
  EXPECT_EQ(bitmap.next_set(kBase, kEnd), addr(5));
  EXPECT_EQ(bitmap.next_set(addr(5), kEnd), addr(5));
  EXPECT_EQ(bitmap.next_set(addr(6), kEnd), addr(20));
  EXPECT_EQ(bitmap.next_set(addr(21), kEnd), addr(63));  // bit 63: the last of word 0
  EXPECT_EQ(bitmap.next_set(addr(64), kEnd), addr(64));  // bit 64: the first of word 1
  EXPECT_EQ(bitmap.next_set(addr(65), kEnd), addr(200));  // skips the empty word 2
  EXPECT_EQ(bitmap.next_set(addr(201), kEnd), kEnd);      // none: the limit
}

TEST_F(SideBitmapSearch, NextSetStopsBelowTheLimit) {
  EXPECT_EQ(bitmap.next_set(addr(6), addr(15)), addr(15));   // bit 20 is in the same word
  EXPECT_EQ(bitmap.next_set(addr(65), addr(150)), addr(150));  // bit 200 is two words on
  EXPECT_EQ(bitmap.next_set(addr(65), addr(201)), addr(200));
  EXPECT_EQ(bitmap.next_set(addr(21), addr(64)), addr(63));
  EXPECT_EQ(bitmap.next_set(addr(70), addr(60)), addr(60));  // start at or past the limit
}

TEST_F(SideBitmapSearch, PrevSetFindsTheLastBitAtOrBefore) {
  EXPECT_EQ(bitmap.prev_set(kEnd - 8, kBase), addr(200));
  EXPECT_EQ(bitmap.prev_set(addr(200), kBase), addr(200));
  EXPECT_EQ(bitmap.prev_set(addr(199), kBase), addr(64));  // skips the empty word 2
  EXPECT_EQ(bitmap.prev_set(addr(64), kBase), addr(64));
  EXPECT_EQ(bitmap.prev_set(addr(63), kBase), addr(63));
  EXPECT_EQ(bitmap.prev_set(addr(62), kBase), addr(20));
  EXPECT_EQ(bitmap.prev_set(addr(4), kBase), UINT64_MAX);  // none
}

TEST_F(SideBitmapSearch, PrevSetStopsAtTheFloor) {
  EXPECT_EQ(bitmap.prev_set(addr(199), addr(65)), UINT64_MAX);
  EXPECT_EQ(bitmap.prev_set(addr(199), addr(64)), addr(64));  // the floor is searched
  EXPECT_EQ(bitmap.prev_set(addr(62), addr(21)), UINT64_MAX);  // bit 20 is in the same word
  EXPECT_EQ(bitmap.prev_set(addr(150), addr(120)), UINT64_MAX);  // bit 64 is a word below
  EXPECT_EQ(bitmap.prev_set(addr(10), addr(30)), UINT64_MAX);  // start below the floor
}

TEST_F(SideBitmapTest, FirstAndLastBitsOfTheRange) {
  ASSERT_TRUE(bitmap.set(kBase));
  ASSERT_TRUE(bitmap.set(kEnd - 8));
  EXPECT_EQ(bitmap.word(0), 1u);
  EXPECT_EQ(bitmap.word(kBits / 64 - 1), uint64_t{1} << 63);
  EXPECT_EQ(bitmap.next_set(kBase, kEnd), kBase);
  EXPECT_EQ(bitmap.next_set(kBase + 8, kEnd), kEnd - 8);
  EXPECT_EQ(bitmap.prev_set(kEnd - 8, kBase), kEnd - 8);
  EXPECT_EQ(bitmap.prev_set(kEnd - 16, kBase), kBase);
  EXPECT_EQ(bitmap.prev_set(kEnd - 16, kBase + 8), UINT64_MAX);
  EXPECT_EQ(bitmap.next_set(kBase + 8, kEnd - 16), kEnd - 16);  // the last bit is past the limit
}

TEST_F(SideBitmapTest, AllocatingAgainStartsClearAtTheNewBase) {
  bitmap.set_range(kBase, kBytes);
  constexpr uint64_t kOtherBase = kBase + 0x10'0000;
  ASSERT_TRUE(bitmap.allocate(kOtherBase, kBytes));
  for (uint64_t w = 0; w < kBits / 64; ++w) EXPECT_EQ(bitmap.word(w), 0u) << "word " << w;
  EXPECT_EQ(bitmap.bit_of(kOtherBase + 8), 1u);
  EXPECT_TRUE(bitmap.set(kOtherBase + 8));
  EXPECT_EQ(bitmap.word(0), 2u);
}

}  // namespace
}  // namespace uffdgc::gc
