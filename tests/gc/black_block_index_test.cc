// A mutator that touches a page of the black block right after the flip waits only until the
// block's index has passed that page's source (CompactionPlan::block_page_indexed), not for the
// whole block's index: objects allocated while marking ran, before the mark-end pause, were indexed
// before the flip and are readable while the GC thread is held before it indexes the rest
// (runtime/test_access.h set_after_flip_hook). Without the watermark the reads below wait for the
// GC thread, which the gate holds: the watchdog then releases it after 10 s and the test fails.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime/heap.h"
#include "runtime/test_access.h"
#include "tests/support/flip_gate.h"
#include "tests/support/require.h"
#include "tests/support/trace_gate.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

using uffdgc::test::FlipGate;
using uffdgc::test::TraceGate;

struct Small {
  uint64_t header;
  uint64_t id;
};

class BlackBlockIndex : public ::testing::TestWithParam<uint32_t> {};

TEST_P(BlackBlockIndex, PagesIndexedBeforeTheFlipAreReadableWhileTheRestIsIndexed) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = GetParam();
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = 128u << 20;
  o.trigger_allocated = 1ull << 40;  // only the collection asked for below
  uffdgc_heap* heap = nullptr;
  UFFDGC_CREATE_HEAP_OR_SKIP(o, heap);
  uffdgc::test::GateTypes types;
  ASSERT_EQ(uffdgc::test::register_gate_types(heap, sizeof(Small), &types), UFFDGC_OK);
  const uint32_t gate_t = types.gate, array_t = types.array, small_t = types.small;
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);

  uffdgc_ref tmp = 0;
  for (int i = 0; i < 200000; ++i) ASSERT_EQ(uffdgc_alloc(m, small_t, 0, 0, &tmp), UFFDGC_OK);
  uffdgc_ref* gate_h = uffdgc_handle_new(m, 0);
  ASSERT_EQ(uffdgc_alloc(m, gate_t, 0, 0, gate_h), UFFDGC_OK);
  uffdgc_ref* objects = uffdgc_handle_new(m, 0);

  FlipGate flip;
  flip.install(heap);
  TraceGate::arm();
  std::atomic<bool> flipped{false};
  std::thread collector([&] {
    uffdgc_mutator* cm = nullptr;
    ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &cm), UFFDGC_OK);
    EXPECT_EQ(uffdgc_collect(cm), UFFDGC_OK);  // returns after the flip
    uffdgc_mutator_detach(cm);
    flipped.store(true);
  });
  while (!TraceGate::entered.load()) uffdgc_poll(m);
  // Marking is held: these are black, and below where the mark-end pause will cut.
  constexpr uint64_t kObjects = 100000;  // 1.6 MiB of objects and 0.8 MiB of array
  ASSERT_EQ(uffdgc_alloc(m, array_t, kObjects, 0, objects), UFFDGC_OK);
  for (uint64_t i = 0; i < kObjects; ++i) {
    ASSERT_EQ(uffdgc_alloc(m, small_t, 0, 0, &tmp), UFFDGC_OK);
    reinterpret_cast<Small*>(tmp)->id = i;
    uffdgc_store_ref(m, *objects, reinterpret_cast<uffdgc_ref*>(*objects + 24 + 8 * i), tmp);
  }
  for (int i = 0; i < 8192; ++i) ASSERT_EQ(uffdgc_alloc(m, small_t, 0, 0, &tmp), UFFDGC_OK);
  TraceGate::released.store(true);
  ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);  // the remaining pauses
  flip.wait_held();
  while (!flipped.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  collector.join();
  ASSERT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);

  // The GC thread is held before it indexes the rest of the block: read everything.
  std::atomic<bool> read{false}, timed_out{false};
  std::thread watchdog([&] {
    for (int ms = 0; ms < 10000 && !read.load(); ++ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!read.load()) {
      timed_out.store(true);
      flip.release.store(true);
    }
  });
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < kObjects; ++i) {
    const uffdgc_ref r = *reinterpret_cast<uffdgc_ref*>(*objects + 24 + 8 * i);
    wrong += reinterpret_cast<const Small*>(r)->id != i;
  }
  read.store(true);
  watchdog.join();
  EXPECT_FALSE(timed_out.load()) << "the reads waited for the GC thread to index the whole block";
  EXPECT_EQ(wrong, 0u);
  flip.release.store(true);
  flip.wait_left();
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);  // after the held cycle's compaction
  uffdgc::test_access::set_after_flip_hook(heap, nullptr, nullptr);
  for (uint64_t i = 0; i < kObjects; ++i) {
    const uffdgc_ref r = *reinterpret_cast<uffdgc_ref*>(*objects + 24 + 8 * i);
    ASSERT_EQ(reinterpret_cast<const Small*>(r)->id, i);
  }
  ASSERT_EQ(uffdgc_handle_scope_close(m, &scope), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

INSTANTIATE_TEST_SUITE_P(Modes, BlackBlockIndex, ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(uffdgc_mode_name(p.param));
                         });

}  // namespace
