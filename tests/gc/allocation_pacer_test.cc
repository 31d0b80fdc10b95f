// Allocation pacing (gc/allocation_pacer.h): while a concurrent cycle marks, a thread that
// takes more than its budget of the free space waits for marking to progress instead of running
// the space out. Marking is held before it reaches the live data (the root is TraceGate's
// holder, whose trace waits before it visits its slot), so
// marking progress is 0 and the budget is AllocationPacer::kFloor of the headroom: allocating
// half the headroom must wait until marking is released, and the waits are counted. Without
// pacing the allocations finish while marking is still held.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gc/allocation_pacer.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "tests/support/collection_thread.h"
#include "tests/support/require.h"
#include "tests/support/trace_gate.h"
#include "uffdgc/uffdgc.h"

namespace {

using uffdgc::gc::AllocationPacer;
using uffdgc::test::array_element;
using uffdgc::test::TraceGate;

TEST(AllocationPacer, BudgetGrowsWithMarkingProgress) {
  AllocationPacer p;
  EXPECT_FALSE(p.over_budget(1 << 30));  // not started: no pacing
  p.start(1000, 1000 + 1000000, 500000);
  EXPECT_FALSE(p.over_budget(1000 + 250000));  // the floor
  EXPECT_TRUE(p.over_budget(1000 + 250001));
  p.progress(250000);  // half marked: floor + half the span
  EXPECT_FALSE(p.over_budget(1000 + 550000));
  EXPECT_TRUE(p.over_budget(1000 + 550001));
  p.progress(10000000);  // more than expected: the whole span, no more
  EXPECT_FALSE(p.over_budget(1000 + 850000));
  EXPECT_TRUE(p.over_budget(1000 + 850001));
  p.stop();
  EXPECT_FALSE(p.over_budget(1000 + 999999));
  p.start(1000, 1000 + 1000000, 0);  // no estimate (a first cycle): no pacing
  EXPECT_FALSE(p.over_budget(1000 + 999999));
}

class AllocationPacing : public ::testing::TestWithParam<uint32_t> {};

TEST_P(AllocationPacing, AThreadAheadOfMarkingWaitsForIt) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = GetParam();
  o.heap_limit = 64u << 20;
  o.trigger_allocated = 1ull << 40;  // only the collections asked for below
  uffdgc_heap* heap = nullptr;
  UFFDGC_CREATE_HEAP_OR_SKIP(o, heap);
  uffdgc::test::GateTypes types;
  ASSERT_EQ(uffdgc::test::register_gate_types(heap, 64, &types), UFFDGC_OK);
  const uint32_t held_t = types.holder, array_t = types.array, leaf_t = types.small;
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);
  // 8 MiB live, all of it behind the held object: root -> held -> array -> leaves.
  constexpr uint64_t kLive = 8u << 20, kLeaves = kLive / 64;
  uffdgc_ref* root = uffdgc_handle_new(m, 0);
  ASSERT_EQ(uffdgc_alloc(m, held_t, 0, 0, root), UFFDGC_OK);
  uffdgc_ref arr = 0;
  ASSERT_EQ(uffdgc_alloc(m, array_t, kLeaves, 0, &arr), UFFDGC_OK);
  uffdgc_store_ref(m, *root, reinterpret_cast<uffdgc_ref*>(*root + 8), arr);
  for (uint64_t i = 0; i < kLeaves; ++i) {
    uffdgc_ref leaf_ref = 0;
    ASSERT_EQ(uffdgc_alloc(m, leaf_t, 0, 0, &leaf_ref), UFFDGC_OK);
    arr = *reinterpret_cast<uffdgc_ref*>(*root + 8);
    uffdgc_store_ref(m, arr, array_element(arr, i), leaf_ref);
  }
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);  // the estimate of live bytes for the next cycle
  // Its compaction goes on after uffdgc_collect returns and traces the held object too: wait
  // for the GC thread to finish before arming the hold.
  ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
  while (heap->gc_thread.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(heap, &st), UFFDGC_OK);
  ASSERT_GE(st.live_bytes_last, kLive);
  const uint64_t paced_before = st.alloc_paced;

  TraceGate::arm();
  uffdgc::test::CollectionThread collector(heap);
  while (!TraceGate::entered.load()) uffdgc_poll(m);
  const uint64_t headroom = heap->moving.limit() - heap->moving.top();
  // Marking is released once this thread waits (parked: paced) or has allocated everything,
  // whichever comes first (at most 20 s: then the test fails below).
  std::atomic<bool> released{false}, loop_done{false};
  std::thread releaser([&] {
    for (int ms = 0; ms < 20000; ++ms) {
      if (m->state.load() == uffdgc::runtime::MutatorState::kParked || loop_done.load()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    released.store(true);
    TraceGate::released.store(true);
  });
  uint64_t allocated = 0;
  while (allocated < headroom / 2) {
    uffdgc_ref tmp = 0;
    ASSERT_EQ(uffdgc_alloc(m, leaf_t, 0, 0, &tmp), UFFDGC_OK);
    allocated += 64;
  }
  const bool finished_while_held = !released.load();
  loop_done.store(true);
  releaser.join();
  collector.finish(m);
  ASSERT_EQ(uffdgc_heap_get_stats(heap, &st), UFFDGC_OK);
  EXPECT_FALSE(finished_while_held) << "half the headroom was allocated while marking was held";
  EXPECT_GT(st.alloc_paced, paced_before);
  EXPECT_GT(st.alloc_paced_ns, 0u);
  ASSERT_EQ(uffdgc_handle_scope_close(m, &scope), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

INSTANTIATE_TEST_SUITE_P(Modes, AllocationPacing, ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(uffdgc_mode_name(p.param));
                         });

}  // namespace
