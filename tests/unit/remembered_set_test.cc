// The remembered set (gc/barrier/remembered_set.h, design: .barrier.remembered) on its own:
// each slot once whatever the number of stores, moving-space slots counted by page, slots
// outside the moving space kept too, and retire(): the set is empty at once, a slot stored
// again after it is remembered again (a stale bit would lose it: the young collection after
// would free its referent), with or without clear_retired() in between, and the retired
// tables come back clean after as many retires as one likes.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "gc/barrier/remembered_set.h"
#include "gc/heap_geometry.h"

namespace uffdgc::gc {
namespace {

constexpr uint64_t kBegin = 0x100000000;  // a made-up reservation: the set never reads slots
constexpr uint64_t kBytes = 64ull << 20;
constexpr uint64_t kOutside = 0x7f0000001000;  // an object-space slot

uffdgc_ref* Slot(uint64_t addr) { return reinterpret_cast<uffdgc_ref*>(addr); }

void Add(RememberedSet& set, std::vector<uint64_t> slots) {
  std::vector<uffdgc_ref> pairs;
  for (uint64_t s : slots) {
    pairs.push_back(s & ~uint64_t{4095});  // any holder: the set keeps it alongside
    pairs.push_back(s);
  }
  std::lock_guard<std::mutex> lock(set.lock);
  set.add(pairs.data(), slots.size());
}

TEST(RememberedSet, KeepsEachSlotOnceAndCountsPages) {
  RememberedSet set;
  ASSERT_TRUE(set.allocate(kBegin, kBytes));
  Add(set, {kBegin + 8, kBegin + 16, kBegin + 8, kBegin + kPageSize + 8, kOutside, kOutside});
  ASSERT_EQ(set.slots().size(), 4u);
  EXPECT_EQ(set.moving_pages(), 2u);
  EXPECT_TRUE(set.contains(Slot(kBegin + 8)));
  EXPECT_TRUE(set.contains(Slot(kOutside)));
  EXPECT_FALSE(set.contains(Slot(kBegin + 24)));
  EXPECT_EQ(set.slots()[0].holder, kBegin);
}

TEST(RememberedSet, RetireEmptiesAtOnceAndSlotsComeBack) {
  RememberedSet set;
  ASSERT_TRUE(set.allocate(kBegin, kBytes));
  Add(set, {kBegin + 8, kBegin + kPageSize, kOutside});
  set.retire();
  EXPECT_TRUE(set.slots().empty());
  EXPECT_EQ(set.moving_pages(), 0u);
  EXPECT_FALSE(set.contains(Slot(kBegin + 8)));
  EXPECT_FALSE(set.contains(Slot(kOutside)));
  // Stored again before the retired tables are cleared: remembered again.
  Add(set, {kBegin + 8, kOutside});
  EXPECT_EQ(set.slots().size(), 2u);
  EXPECT_EQ(set.moving_pages(), 1u);
  set.clear_retired();
  EXPECT_TRUE(set.contains(Slot(kBegin + 8))) << "clearing the old tables cleared the new";
  EXPECT_EQ(set.slots().size(), 2u);
}

TEST(RememberedSet, TablesComeBackCleanWithOrWithoutClearRetired) {
  RememberedSet set;
  ASSERT_TRUE(set.allocate(kBegin, kBytes));
  for (int round = 0; round < 6; ++round) {
    Add(set, {kBegin + 8, kBegin + 64, kBegin + 3 * kPageSize, kOutside});
    ASSERT_EQ(set.slots().size(), 4u) << "round " << round << ": a stale bit dropped a slot";
    ASSERT_EQ(set.moving_pages(), 2u) << "round " << round;
    set.retire();
    if (round % 2 == 0) set.clear_retired();  // else the next retire clears them first
  }
}

}  // namespace
}  // namespace uffdgc::gc
