// The snapshot-at-the-beginning barrier (design: .barrier.slow-path; include/uffdgc/inline.h
// uffdgc_store_ref): while a concurrent cycle marks, every store logs the non-null value it
// overwrites; a slot in the moving space is logged inline into the thread's SatbLog, a slot
// elsewhere (its object does not slide) or any slot while pins exist through the slow path,
// which logs the slot as well; a full log is handed to the GC thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "runtime/test_access.h"
#include "tests/support/collection_thread.h"
#include "tests/support/require.h"
#include "tests/support/trace_gate.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

using uffdgc::gc::Phase;
using uffdgc::gc::SatbLog;
using uffdgc::test_access::set_barrier_phase;
using uffdgc::test_access::take_handed_over_logs;
using uffdgc::test::array_element;
using uffdgc::test::TraceGate;

std::vector<uffdgc_ref> logged(const uffdgc_mutator* m) {
  std::vector<uffdgc_ref> v(m->logs.satb.begin(), m->logs.satb.end());
  std::sort(v.begin(), v.end());
  return v;
}

uint32_t register_array(uffdgc_heap* heap) {
  uffdgc::test::GateTypes types;
  EXPECT_EQ(uffdgc::test::register_gate_types(heap, 16, &types), UFFDGC_OK);
  return types.array;
}

TEST(SnapshotBarrier, PublishesTheLogAndTheMovingSpaceInTheAttributes) {
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(nullptr, &heap), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_attrs a{};
  a.struct_size = sizeof a;
  ASSERT_EQ(uffdgc_get_attrs(heap, &a), UFFDGC_OK);
  EXPECT_EQ(a.satb_cursor_offset, offsetof(uffdgc_mutator_fast, satb_cursor));
  EXPECT_EQ(a.satb_limit_offset, offsetof(uffdgc_mutator_fast, satb_limit));
  EXPECT_EQ(a.moving_begin_offset, offsetof(uffdgc_mutator_fast, moving_begin));
  EXPECT_EQ(a.moving_size_offset, offsetof(uffdgc_mutator_fast, moving_size));
  const auto* base = reinterpret_cast<const unsigned char*>(m);
  const auto cursor = *reinterpret_cast<uffdgc_ref* const*>(base + a.satb_cursor_offset);
  const auto limit = *reinterpret_cast<uffdgc_ref* const*>(base + a.satb_limit_offset);
  EXPECT_EQ(static_cast<size_t>(limit - cursor), SatbLog::kEntries);
  const auto begin = *reinterpret_cast<const uintptr_t*>(base + a.moving_begin_offset);
  const auto size = *reinterpret_cast<const uintptr_t*>(base + a.moving_size_offset);
  uffdgc_ref obj = 0;
  ASSERT_EQ(uffdgc_alloc(m, register_array(heap), 4, 0, &obj), UFFDGC_OK);
  EXPECT_LT(obj - begin, size);
  // A caller built against ABI 0.1 (no handle or log offsets) still gets its fields.
  uffdgc_attrs old{};
  old.struct_size = offsetof(uffdgc_attrs, handle_top_offset);
  old.handle_top_offset = 12345;
  ASSERT_EQ(uffdgc_get_attrs(heap, &old), UFFDGC_OK);
  EXPECT_EQ(old.barrier_flag_offset, a.barrier_flag_offset);
  EXPECT_EQ(old.handle_top_offset, 12345u);  // beyond its struct_size: untouched
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

// With the flag on, every store logs the value it overwrites, with it off nothing is logged.
// These slots lie outside the moving space (like an object space's): the flip must rewrite
// them, so each store takes the slow path and logs its slot as well.
TEST(SnapshotBarrier, SlotsOutsideTheMovingSpaceAreLoggedThroughTheSlowPath) {
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(nullptr, &heap), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_ref slots[4] = {0x1000, 0, 0x3000, 0x4000};
  uffdgc_store_ref(m, 0, &slots[0], 0x1111);
  EXPECT_TRUE(m->logs.satb.empty());
  // What a concurrent cycle's pause 1 turns on: the flag and the marking phase.
  set_barrier_phase(heap, Phase::kConcurrentMark, false);
  __atomic_store_n(&m->fast.barrier_flag, UFFDGC_BARRIER_LOG, __ATOMIC_RELAXED);
  uffdgc_store_ref(m, 0, &slots[0], 0x2222);  // logs 0x1111
  uffdgc_store_ref(m, 0, &slots[1], 0x5555);  // overwrote null: nothing to log
  const uffdgc_ref src[2] = {0x6666, 0x7777};
  uffdgc_store_refs(m, 0, &slots[2], src, 2);  // logs 0x3000, 0x4000
  __atomic_store_n(&m->fast.barrier_flag, 0u, __ATOMIC_RELAXED);
  EXPECT_EQ(logged(m), (std::vector<uffdgc_ref>{0x1111, 0x3000, 0x4000}));
  std::vector<uffdgc_ref*> slot_log = m->logs.slots;
  std::sort(slot_log.begin(), slot_log.end());
  EXPECT_EQ(slot_log, (std::vector<uffdgc_ref*>{&slots[0], &slots[1], &slots[2], &slots[3]}));
  set_barrier_phase(heap, Phase::kIdle, false);  // detach drops the logs
  EXPECT_EQ(slots[0], 0x2222u);
  EXPECT_EQ(slots[1], 0x5555u);
  EXPECT_EQ(slots[2], 0x6666u);
  EXPECT_EQ(slots[3], 0x7777u);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

// A slot in the moving space is logged inline (no slot log) until the log is full; the slow
// path then hands the log over and goes on; with UFFDGC_BARRIER_SLOW (pins exist) the slot
// is logged too; once marking is complete, a full log is dropped instead of handed over.
TEST(SnapshotBarrier, MovingSpaceSlotsAreLoggedInlineAndAFullLogIsHandedOver) {
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(nullptr, &heap), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_ref array = 0;
  ASSERT_EQ(uffdgc_alloc(m, register_array(heap), 2, 0, &array), UFFDGC_OK);
  set_barrier_phase(heap, Phase::kConcurrentMark, false);
  __atomic_store_n(&m->fast.barrier_flag, UFFDGC_BARRIER_LOG, __ATOMIC_RELAXED);
  for (size_t i = 1; i <= SatbLog::kEntries; ++i) uffdgc_store_ref(m, array, array_element(array, 0), i);
  EXPECT_EQ(m->logs.satb.size(), SatbLog::kEntries - 1);  // the first store overwrote null
  EXPECT_TRUE(m->logs.slots.empty());
  uffdgc_store_ref(m, array, array_element(array, 1), 7);  // null overwritten: nothing logged
  uffdgc_store_ref(m, array, array_element(array, 0), 1);  // logs 4096: the log is full
  EXPECT_TRUE(m->logs.satb.full());
  EXPECT_TRUE(take_handed_over_logs(heap).empty());
  uffdgc_store_ref(m, array, array_element(array, 0), 2);  // slow path: hand over, then log 1
  EXPECT_EQ(logged(m), std::vector<uffdgc_ref>{1});
  {
    const std::vector<std::vector<uffdgc_ref>> handed = take_handed_over_logs(heap);
    ASSERT_EQ(handed.size(), 1u);
    std::vector<uffdgc_ref> expected(SatbLog::kEntries);
    for (size_t i = 0; i < SatbLog::kEntries; ++i) expected[i] = i + 1;
    EXPECT_EQ(handed[0], expected);
  }
  EXPECT_TRUE(m->logs.slots.empty());
  // What uffdgc_pin does during a cycle.
  set_barrier_phase(heap, Phase::kConcurrentMark, true);
  __atomic_store_n(&m->fast.barrier_flag, UFFDGC_BARRIER_SLOW, __ATOMIC_RELAXED);
  uffdgc_store_ref(m, array, array_element(array, 1), 8);  // logs 7, and the slot
  EXPECT_EQ(logged(m), (std::vector<uffdgc_ref>{1, 7}));
  EXPECT_EQ(m->logs.slots, std::vector<uffdgc_ref*>{array_element(array, 1)});
  m->logs.slots.clear();  // the thread's own logs, emptied as a mark-end pause would
  m->logs.satb.clear();
  // Marking complete: the inline path keeps logging until the log is full, the slow path
  // then drops it (every object it names is marked).
  set_barrier_phase(heap, Phase::kWeak, false);
  __atomic_store_n(&m->fast.barrier_flag, UFFDGC_BARRIER_LOG, __ATOMIC_RELAXED);
  for (size_t i = 0; i < SatbLog::kEntries; ++i) uffdgc_store_ref(m, array, array_element(array, 0), 3);
  EXPECT_TRUE(m->logs.satb.full());
  uffdgc_store_ref(m, array, array_element(array, 0), 4);
  EXPECT_TRUE(m->logs.satb.empty());
  EXPECT_TRUE(take_handed_over_logs(heap).empty());
  EXPECT_EQ(*array_element(array, 0), 4u);
  EXPECT_EQ(*array_element(array, 1), 8u);
  __atomic_store_n(&m->fast.barrier_flag, 0u, __ATOMIC_RELAXED);
  set_barrier_phase(heap, Phase::kIdle, false);  // detach drops the logs
  *array_element(array, 0) = *array_element(array, 1) = 0;
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

// A real cycle: root -> G -> A -> X, marking held inside G's trace (TraceGate's holder). The
// mutator moves X from A into N (allocated during marking: black, never scanned) and clears A's
// slot. X is then reachable only from N, and marking finds it only through the inline log of the
// store that cleared A's slot; without it X is freed and N's slot dangles.
struct Payload {
  uint64_t header;
  uint64_t magic;
};
constexpr uint64_t kMagic = 0x5a7b0a11c0ffee;

class SnapshotBarrierCycle : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SnapshotBarrierCycle, AnObjectUnlinkedDuringMarkingSurvivesThroughTheInlineLog) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = GetParam();
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = 64u << 20;
  o.trigger_allocated = 1ull << 40;  // only the collection asked for below
  uffdgc_heap* heap = nullptr;
  UFFDGC_CREATE_HEAP_OR_SKIP(o, heap);
  uffdgc_type_info payload{};
  payload.struct_size = sizeof payload;
  payload.flags = UFFDGC_TYPE_LEAF;
  payload.base_size = sizeof(Payload);
  payload.name = "payload";
  uint32_t payload_t = 0;
  ASSERT_EQ(uffdgc_type_register(heap, &payload, &payload_t), UFFDGC_OK);
  uffdgc::test::GateTypes types;
  ASSERT_EQ(uffdgc::test::register_gate_types(heap, 16, &types), UFFDGC_OK);
  const uint32_t held_t = types.holder, array_t = types.array;
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);
  uffdgc_ref* g = uffdgc_handle_new(m, 0);
  uffdgc_ref* n = uffdgc_handle_new(m, 0);
  uffdgc_ref a = 0, x = 0;
  ASSERT_EQ(uffdgc_alloc(m, held_t, 0, 0, g), UFFDGC_OK);
  ASSERT_EQ(uffdgc_alloc(m, array_t, 1, 0, &a), UFFDGC_OK);
  uffdgc_store_ref(m, *g, reinterpret_cast<uffdgc_ref*>(*g + 8), a);
  ASSERT_EQ(uffdgc_alloc(m, payload_t, 0, 0, &x), UFFDGC_OK);
  reinterpret_cast<Payload*>(x)->magic = kMagic;
  uffdgc_store_ref(m, a, array_element(a, 0), x);
  // Garbage below, so the survivors slide.
  uffdgc_ref tmp = 0;
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(uffdgc_alloc(m, payload_t, 0, 0, &tmp), UFFDGC_OK);
  a = x = 0;  // only G reaches them now

  TraceGate::arm();
  uffdgc::test::CollectionThread collector(heap);
  while (!TraceGate::entered.load()) uffdgc_poll(m);
  ASSERT_NE(__atomic_load_n(&m->fast.barrier_flag, __ATOMIC_RELAXED), 0u);
  a = uffdgc_load_ref(reinterpret_cast<uffdgc_ref*>(*g + 8));
  x = uffdgc_load_ref(array_element(a, 0));
  ASSERT_EQ(uffdgc_alloc(m, array_t, 1, 0, n), UFFDGC_OK);
  uffdgc_store_ref(m, *n, array_element(*n, 0), x);  // overwrites null: nothing logged
  const size_t before = m->logs.satb.size();
  uffdgc_store_ref(m, a, array_element(a, 0), 0);  // logs x, inline
  EXPECT_EQ(m->logs.satb.size(), before + 1);
  EXPECT_TRUE(m->logs.slots.empty());
  a = x = 0;
  TraceGate::released.store(true);
  collector.finish(m);
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);  // and once more, with x moved
  x = uffdgc_load_ref(array_element(*n, 0));
  ASSERT_NE(x, 0u);
  EXPECT_EQ(reinterpret_cast<const Payload*>(x)->magic, kMagic);
  ASSERT_EQ(uffdgc_handle_scope_close(m, &scope), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

INSTANTIATE_TEST_SUITE_P(Modes, SnapshotBarrierCycle,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(uffdgc_mode_name(p.param));
                         });

}  // namespace
