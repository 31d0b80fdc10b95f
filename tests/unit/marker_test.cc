// The marker (gc/mark/marker.h) on a gc::Heap of its own, with no runtime and no threads
// (gc/mutators.h is stubbed): objects are laid out by bumping the moving space and writing
// their headers. What marking leaves behind is what compaction reads, so each test checks the
// side tables themselves: a mark bit per reachable object start, a live bit per word of each
// reachable object and none elsewhere, live bytes per 512-byte chunk after recount_chunks,
// the counters; and what it must not do: trace through weak containers (their holders are
// recorded instead), trace the black block (live without a mark bit), follow a value that is
// not a reference. Checked marking (the verify flag) aborts with the slot's address instead.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gc/heap.h"
#include "gc/heap_geometry.h"
#include "gc/mark/marker.h"
#include "gc/mutators.h"

namespace uffdgc::gc {
namespace {

// The collector's view of a process without mutator threads.
class NoMutators final : public Mutators {
 public:
  uint64_t stop_the_world(uffdgc_mutator*) override { return 0; }
  void resume_the_world() override {}
  void poll(uffdgc_mutator*) override {}
  void park(uffdgc_mutator*) override {}
  void unpark(uffdgc_mutator*) override {}
  void visit_thread_roots(SlotVisitor) override {}
  void visit_global_roots(SlotVisitor) override {}
  uint64_t cut_allocation() override { return 0; }
  void retire_tlabs() override {}
  void set_barrier_flags(uint32_t) override {}
  void take_satb_logs(std::vector<std::vector<uffdgc_ref>>&) override {}
  void append_logged_slots(std::vector<uffdgc_ref*>&) override {}
  void take_remembered_logs() override {}
  void set_young_range(uint64_t, uint64_t) override {}
  void hand_over_satb_logs() override {}
};

class BareHeap final : public Heap {
 public:
  explicit BareHeap(bool verify) : Heap(no_mutators_) {
    if (verify) config.flags |= UFFDGC_HEAP_VERIFY;
  }

 private:
  NoMutators no_mutators_;
};

class MarkerTest : public ::testing::TestWithParam<bool> {  // param: the verify flag
 protected:
  // A checked build marks checked whatever the flag.
  static bool checked() { return GetParam() || kCheckedBuild; }

  void SetUp() override {
    ASSERT_EQ(heap.moving.reserve(1 << 20, false), 0);
    heap.objects.set_limit(1 << 20);
    heap.mark_epoch = 1;
    const uint32_t node_slots[] = {8, 16};
    uffdgc_type_info node{};
    node.struct_size = sizeof node;
    node.base_size = 32;  // header, two references, a payload word
    node.num_ref_offsets = 2;
    node.ref_offsets = node_slots;
    ASSERT_EQ(heap.types.add(node, &node_type), UFFDGC_OK);
    uffdgc_type_info weak = node;
    weak.flags = UFFDGC_TYPE_WEAK_CONTAINER;
    ASSERT_EQ(heap.types.add(weak, &weak_type), UFFDGC_OK);
    uffdgc_type_info array{};
    array.struct_size = sizeof array;
    array.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    array.base_size = 16;  // header, length; then `length` references
    array.elem_size = 8;
    array.length_offset = 8;
    ASSERT_EQ(heap.types.add(array, &array_type), UFFDGC_OK);
  }

  uint64_t node(uint64_t a = 0, uint64_t b = 0, uint32_t type = 0) {
    const uint64_t r = heap.moving.bump(32);
    auto* w = reinterpret_cast<uint64_t*>(r);
    w[0] = type != 0 ? type : node_type;
    w[1] = a;
    w[2] = b;
    w[3] = 0x5EED;
    return r;
  }
  uint64_t array_of(const std::vector<uint64_t>& refs) {
    const uint64_t r = heap.moving.bump(16 + 8 * refs.size());
    auto* w = reinterpret_cast<uint64_t*>(r);
    w[0] = array_type;
    w[1] = refs.size();
    std::memcpy(w + 2, refs.data(), 8 * refs.size());
    return r;
  }
  static void set_slot(uint64_t obj, int i, uint64_t v) { reinterpret_cast<uint64_t*>(obj)[1 + i] = v; }

  // Tables and a marker over the space as it is now (the top is the marking limit).
  Marker& start() {
    EXPECT_TRUE(tables.allocate(heap.moving.begin(), heap.moving.top() - heap.moving.begin()));
    marker = std::make_unique<Marker>(heap, tables);
    marker->learn_object_starts();
    return *marker;
  }

  // Every word of [obj, obj + size) has its live bit, and obj its mark bit.
  void expect_live(uint64_t obj, uint64_t size) {
    EXPECT_TRUE(tables.mark.test(obj)) << std::hex << obj;
    for (uint64_t w = obj; w < obj + size; w += 8) EXPECT_TRUE(tables.live.test(w)) << std::hex << w;
  }
  void expect_dead(uint64_t obj, uint64_t size) {
    EXPECT_FALSE(tables.mark.test(obj)) << std::hex << obj;
    for (uint64_t w = obj; w < obj + size; w += 8) EXPECT_FALSE(tables.live.test(w)) << std::hex << w;
  }

  BareHeap heap{GetParam()};
  uint32_t node_type = 0, weak_type = 0, array_type = 0;
  MarkTables tables;
  std::unique_ptr<Marker> marker;
};

TEST_P(MarkerTest, MarksWhatIsReachableAndNothingElse) {
  const uint64_t dead1 = node();
  const uint64_t leaf = node();
  const uint64_t mid = node(leaf, 0);
  const uint64_t dead2 = node(mid, 0);  // refers into the live graph: still dead
  const uint64_t arr = array_of({mid, 0, leaf});
  const uint64_t root = node(arr, 0);
  set_slot(leaf, 0, root);  // a cycle
  Marker& m = start();
  EXPECT_EQ(m.checked(), checked());
  m.mark(root, nullptr);
  m.drain();
  EXPECT_TRUE(m.idle());
  expect_live(root, 32);
  expect_live(arr, 16 + 24);
  expect_live(mid, 32);
  expect_live(leaf, 32);
  expect_dead(dead1, 32);
  expect_dead(dead2, 32);
  EXPECT_EQ(m.marked_objects(), 4u);
  EXPECT_EQ(m.marked_bytes(), 32u * 3 + 40);
  EXPECT_EQ(m.marked_moving_bytes(), m.marked_bytes());
  EXPECT_TRUE(m.is_marked(leaf));
  EXPECT_FALSE(m.is_marked(dead2));
  m.mark(leaf);  // marked already: nothing to trace
  EXPECT_TRUE(m.idle());
}

TEST_P(MarkerTest, LiveBytesPerChunkSumTheLiveWordsInEachChunk) {
  // 20 nodes of 32 bytes (640 bytes: the first chunk and a part of the second), every other one
  // reachable from an array after them.
  std::vector<uint64_t> nodes, kept;
  for (int i = 0; i < 20; ++i) nodes.push_back(node());
  for (int i = 0; i < 20; i += 2) kept.push_back(nodes[i]);
  const uint64_t arr = array_of(kept);
  Marker& m = start();
  m.mark(arr);
  m.drain();
  m.recount_chunks();
  const uint64_t begin = heap.moving.begin();
  std::vector<uint64_t> expected(tables.chunks, 0);
  for (uint64_t obj : kept) expected[(obj - begin) / kChunkSize] += 32;
  for (uint64_t w = arr; w < arr + 16 + 8 * kept.size(); w += 8) expected[(w - begin) / kChunkSize] += 8;
  const uint64_t used_chunks = (heap.moving.top() - begin + kChunkSize - 1) / kChunkSize;
  for (uint64_t c = 0; c < used_chunks; ++c) EXPECT_EQ(tables.chunk_bytes[c], expected[c]) << c;
}

TEST_P(MarkerTest, WeakContainersAreRecordedNotTracedThrough) {
  const uint64_t only_weakly_reachable = node();
  const uint64_t holder = node(only_weakly_reachable, 0, weak_type);
  const uint64_t root = node(holder, 0);
  Marker& m = start();
  m.mark(root);
  m.drain();
  expect_live(holder, 32);
  expect_dead(only_weakly_reachable, 32);
  ASSERT_EQ(m.weak_holders().size(), 1u);
  EXPECT_EQ(m.weak_holders()[0], holder);
  EXPECT_TRUE(m.is_live_reference(holder));
  EXPECT_FALSE(m.is_live_reference(only_weakly_reachable));
}

TEST_P(MarkerTest, TheBlackBlockIsLiveWithoutBeingTraced) {
  const uint64_t old_target = node();
  const uint64_t old = node();
  Marker& m = start();
  // Allocated after marking began (above the limit): live, never traced, so what it refers to
  // is not marked through it.
  const uint64_t black = node(old_target, 0);
  m.set_black_begin(black);
  m.mark(black);
  m.mark(old);
  m.drain();
  EXPECT_TRUE(m.is_marked(black));
  EXPECT_FALSE(m.is_marked(old_target));
  expect_live(old, 32);
  EXPECT_EQ(m.marked_objects(), 1u);  // old only
}

TEST_P(MarkerTest, ValuesThatAreNoReferenceAreIgnoredOrReported) {
  const uint64_t a = node();
  const uint64_t b = node();
  const uint64_t root = node(a + 8, 0);  // an interior pointer
  Marker& m = start();
  if (checked()) {
    // Checked marking reports the slot and the value.
    EXPECT_DEATH(
        {
          m.mark(root);
          m.drain();
        },
        "bad reference");
    EXPECT_DEATH(m.mark(b + 4, &b), "bad reference");               // misaligned
    EXPECT_DEATH(m.mark(heap.moving.top() + 64, &b), "bad reference");  // not allocated
    EXPECT_DEATH(m.mark(0x1000, &b), "bad reference");                 // outside the heap
    return;
  }
  m.mark(root);
  m.mark(b + 4);
  m.mark(heap.moving.top() + 64);
  m.mark(0x1000);
  m.drain();
  expect_live(root, 32);
  expect_dead(b, 32);
  EXPECT_FALSE(m.is_live_reference(b + 4));
  EXPECT_FALSE(m.is_live_reference(0x1000));
}

TEST_P(MarkerTest, ObjectSpaceObjectsAreMarkedByEpoch) {
  const uint64_t target = node();
  const uint64_t nm = heap.objects.allocate(32, ObjectKind::kNonMoving);
  ASSERT_NE(nm, 0u);
  auto* w = reinterpret_cast<uint64_t*>(nm);
  w[0] = node_type;
  w[1] = target;
  const uint64_t unreachable = heap.objects.allocate(32, ObjectKind::kNonMoving);
  ASSERT_NE(unreachable, 0u);
  reinterpret_cast<uint64_t*>(unreachable)[0] = node_type;
  Marker& m = start();
  m.mark(nm);
  m.drain();
  EXPECT_TRUE(m.is_marked(nm));
  EXPECT_TRUE(ObjectSpace::is_marked(nm, heap.mark_epoch));
  EXPECT_FALSE(m.is_marked(unreachable));
  expect_live(target, 32);
  EXPECT_EQ(m.marked_bytes() - m.marked_moving_bytes(), 32u);
}

INSTANTIATE_TEST_SUITE_P(Marking, MarkerTest, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "Verify" : "NoVerify"; });

}  // namespace
}  // namespace uffdgc::gc
