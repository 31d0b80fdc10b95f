// Heap API unit tests: heap lifecycle, attributes, type registration, attach/detach.
#include <cstddef>
#include <set>

#include "heap_test_support.h"

namespace heaptest {
namespace {

TEST(HeapLifecycle, CreateWithDefaultsAndDestroy) {
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(nullptr, &heap), UFFDGC_OK);
  ASSERT_NE(heap, nullptr);
  uffdgc_heap_stats s = Stats(heap);
  EXPECT_NE(s.mode, static_cast<uint32_t>(UFFDGC_MODE_AUTO)) << "stats must report the effective mode";
  EXPECT_EQ(s.collections, 0u);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

TEST(HeapLifecycle, RequestedModeIsReportedAndHeapsAreIndependent) {
  uffdgc_heap_options o = Options(32u << 20);
  uffdgc_heap *a = nullptr, *b = nullptr;
  CREATE_HEAP_OR_SKIP(o, &a);
  ASSERT_EQ(uffdgc_heap_create(&o, &b), UFFDGC_OK);
  EXPECT_NE(a, b);
  if (o.mode != UFFDGC_MODE_AUTO) {
    EXPECT_EQ(Stats(a).mode, o.mode);
  }
  // One thread may be attached to two heaps at once (one mutator per thread per heap).
  uffdgc_mutator *ma = nullptr, *mb = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(a, nullptr, &ma), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_attach(b, nullptr, &mb), UFFDGC_OK);
  EXPECT_NE(ma, mb);
  EXPECT_EQ(uffdgc_collect(ma), UFFDGC_OK);
  EXPECT_EQ(Stats(a).collections, 1u);
  EXPECT_EQ(Stats(b).collections, 0u);
  EXPECT_EQ(uffdgc_mutator_detach(ma), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_detach(mb), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(a), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(b), UFFDGC_OK);
}

TEST(HeapLifecycle, AutoModeIsResolved) {
  uffdgc_heap_options o = Options(32u << 20);
  o.mode = UFFDGC_MODE_AUTO;
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_OK);
  // Auto resolves to what the kernel probe chooses for this machine.
  uffdgc_probe_options po{};
  po.struct_size = sizeof po;
  po.requested_mode = UFFDGC_MODE_AUTO;
  po.flags = UFFDGC_PROBE_SKIP_FOLIO_TEST;
  uffdgc_probe_report report{};
  report.struct_size = sizeof report;
  ASSERT_EQ(uffdgc_probe_kernel(&po, &report), UFFDGC_OK);
  EXPECT_EQ(Stats(heap).mode, report.mode) << report.mode_reason;
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

TEST(HeapLifecycle, CreateDestroyRepeatedly) {
  for (int i = 0; i < 20; ++i) {
    uffdgc_heap_options o = Options(8u << 20);
    uffdgc_heap* heap = nullptr;
    ASSERT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_OK);
    uffdgc_mutator* m = nullptr;
    ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
    Types t;
    ASSERT_EQ(RegisterStandardTypes(heap, &t), UFFDGC_OK);
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc(m, t.node, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
    ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
  }
}

TEST(Attrs, OffsetsMatchInlineHeader) {
  uffdgc_heap* heap = nullptr;
  uffdgc_heap_options o = Options(8u << 20);
  ASSERT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_OK);
  uffdgc_attrs a{};
  a.struct_size = sizeof a;
  ASSERT_EQ(uffdgc_get_attrs(heap, &a), UFFDGC_OK);
  EXPECT_EQ(a.object_alignment, UFFDGC_OBJECT_ALIGNMENT);
  EXPECT_EQ(a.tlab_cursor_offset, static_cast<uint32_t>(UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET));
  EXPECT_EQ(a.tlab_limit_offset, static_cast<uint32_t>(UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET));
  EXPECT_EQ(a.poll_flag_offset, static_cast<uint32_t>(UFFDGC_MUTATOR_POLL_FLAG_OFFSET));
  EXPECT_EQ(a.barrier_flag_offset, static_cast<uint32_t>(UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET));
  EXPECT_EQ(a.header_type_mask, UFFDGC_HEADER_TYPE_MASK);
  EXPECT_EQ(offsetof(uffdgc_mutator_fast, tlab_cursor),
            static_cast<size_t>(UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET));
  EXPECT_EQ(offsetof(uffdgc_mutator_fast, tlab_limit),
            static_cast<size_t>(UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET));
  EXPECT_EQ(offsetof(uffdgc_mutator_fast, poll_flag),
            static_cast<size_t>(UFFDGC_MUTATOR_POLL_FLAG_OFFSET));
  EXPECT_EQ(offsetof(uffdgc_mutator_fast, barrier_flag),
            static_cast<size_t>(UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET));

  // A freshly attached mutator: no safepoint pending, barrier off (stop-the-world mode),
  // cursor <= limit.
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  const char* base = reinterpret_cast<const char*>(m);
  EXPECT_EQ(*reinterpret_cast<const uint32_t*>(base + a.poll_flag_offset), 0u);
  EXPECT_EQ(*reinterpret_cast<const uint32_t*>(base + a.barrier_flag_offset), 0u);
  EXPECT_LE(*reinterpret_cast<const uintptr_t*>(base + a.tlab_cursor_offset),
            *reinterpret_cast<const uintptr_t*>(base + a.tlab_limit_offset));
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
  EXPECT_EQ(*reinterpret_cast<const uint32_t*>(base + a.poll_flag_offset), 0u)
      << "poll flag left set after the collection";
  EXPECT_EQ(*reinterpret_cast<const uint32_t*>(base + a.barrier_flag_offset), 0u)
      << "barrier left on after a stop-the-world collection";
  EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

class TypeTest : public HeapFixture {};

TEST_F(TypeTest, IndicesAreDistinctAndNeverFillers) {
  std::set<uint32_t> seen = {types_.node,   types_.leaf,       types_.ref_array,
                             types_.bytes,  types_.weak,       types_.final_leaf,
                             types_.final_node, types_.nm_node, types_.traced};
  EXPECT_EQ(seen.size(), 9u);
  for (uint32_t t : seen) {
    EXPECT_NE(t, 0u);
    EXPECT_NE(t, 1u);
  }
}

TEST_F(TypeTest, FixedSizesAreRoundedToEightBytes) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 20, nullptr, 0, nullptr);  // name may be NULL
  uint32_t idx = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  uffdgc_ref r = Alloc(idx);
  ASSERT_NE(r, 0u);
  EXPECT_EQ(TypeOf(r), idx);
  EXPECT_EQ(uffdgc_object_size(mut_, r), 24u);
  uffdgc_type_info t8 = TypeInfo(UFFDGC_TYPE_LEAF, 8, nullptr, 0, "header-only");
  ASSERT_EQ(uffdgc_type_register(heap_, &t8, &idx), UFFDGC_OK);
  r = Alloc(idx);
  ASSERT_NE(r, 0u);
  EXPECT_EQ(uffdgc_object_size(mut_, r), 8u);
}

TEST_F(TypeTest, RefOffsetsAreCopiedAtRegistration) {
  uint32_t offsets[2] = {16, 32};
  uffdgc_type_info t = TypeInfo(0, 40, offsets, 2, "copied");
  uint32_t idx = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  offsets[0] = 8;  // if the library kept the pointer, it would now trace the id word
  offsets[1] = 24;
  char name[16] = "scratch";
  t.name = name;
  std::memset(name, 0, sizeof name);

  uffdgc_ref* holder = H(Alloc(idx));
  Word(*holder, 8) = 0x1234567890abcdefull;  // not a reference
  Word(*holder, 24) = 0xfedcba0987654321ull;  // not a reference
  uffdgc_ref* a = H(AllocId(types_.leaf, 1));
  Store(*holder, 16, *a);
  uffdgc_ref* b = H(AllocId(types_.leaf, 2));
  Store(*holder, 32, *b);
  *a = 0;
  *b = 0;
  Garbage(256 << 10);
  Collect();
  EXPECT_EQ(Word(*holder, 8), 0x1234567890abcdefull);
  EXPECT_EQ(Word(*holder, 24), 0xfedcba0987654321ull);
  ExpectIntact(*Slot(*holder, 16), 1);
  ExpectIntact(*Slot(*holder, 32), 2);
}

TEST_F(TypeTest, TraceCallbackVisitsOnlyWhatItReports) {
  uffdgc_ref* t = H(AllocId(types_.traced, 7));
  Word(*t, kTracedMask) = 0b10101;  // slots 0, 2, 4 are references
  const uint64_t scalar1 = 0x00007f0000001000ull;  // looks like an address; must not be touched
  const uint64_t scalar3 = 0xdeadbeefdeadbeefull;
  Word(*t, kTracedSlot0 + 8) = scalar1;
  Word(*t, kTracedSlot0 + 24) = scalar3;
  for (uint32_t i : {0u, 2u, 4u}) {
    Garbage(16 << 10);
    uffdgc_ref c = AllocId(types_.leaf, 100 + i);
    Store(*t, kTracedSlot0 + 8 * i, c);
  }
  Garbage(64 << 10);
  Collect();
  EXPECT_EQ(Word(*t, kTracedMask), 0b10101u);
  EXPECT_EQ(Word(*t, kTracedSlot0 + 8), scalar1);
  EXPECT_EQ(Word(*t, kTracedSlot0 + 24), scalar3);
  for (uint32_t i : {0u, 2u, 4u}) ExpectIntact(*Slot(*t, kTracedSlot0 + 8 * i), 100 + i);
}

TEST_F(TypeTest, RegisterFromAnyThreadAndAfterCollections) {
  Collect();
  uint32_t idx = 0;
  OnOtherThread([&] {  // not attached
    uffdgc_type_info t = TypeInfo(0, kNodeSize, kNodeRefs, 3, "late");
    EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  });
  ASSERT_GE(idx, 2u);
  uffdgc_ref* n = H(AllocId(idx, 5));
  uffdgc_ref c = AllocId(types_.leaf, 6);
  Store(*n, kNodeRefs[0], c);
  Collect();
  EXPECT_EQ(TypeOf(*n), idx);
  EXPECT_EQ(Id(*n), 5u);
  ExpectIntact(*Slot(*n, kNodeRefs[0]), 6);
}

TEST_F(TypeTest, ManyTypes) {
  std::vector<uint32_t> idx(200);
  for (uint32_t i = 0; i < idx.size(); ++i) {
    uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 16 + 8 * (i % 10), nullptr, 0, "many");
    ASSERT_EQ(uffdgc_type_register(heap_, &t, &idx[i]), UFFDGC_OK) << i;
  }
  std::set<uint32_t> distinct(idx.begin(), idx.end());
  EXPECT_EQ(distinct.size(), idx.size());
  uffdgc_ref* arr = H(Alloc(types_.ref_array, idx.size()));
  for (uint32_t i = 0; i < idx.size(); ++i) {
    uffdgc_ref r = Alloc(idx[i]);
    Word(r, 8) = i;
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
  }
  Collect();
  for (uint32_t i = 0; i < idx.size(); ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    ASSERT_EQ(TypeOf(r), idx[i]);
    EXPECT_EQ(Word(r, 8), i);
    EXPECT_EQ(uffdgc_object_size(mut_, r), 16u + 8 * (i % 10));
  }
}

// ---- attach / detach ----

TEST(Threads, AttachDetachAndVmThread) {
  uffdgc_heap_options o = Options(8u << 20);
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_OK);
  int token = 0;
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, &token, &m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_vm_thread(m), &token);
  OnOtherThread([&] { EXPECT_EQ(uffdgc_mutator_vm_thread(m), &token); });  // any thread
  EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  // Attach again after detaching.
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_vm_thread(m), nullptr);
  EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

TEST(Threads, ManyThreadsAttachConcurrently) {
  uffdgc_heap_options o = Options(32u << 20);
  uffdgc_heap* heap = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_OK);
  Types types;
  ASSERT_EQ(RegisterStandardTypes(heap, &types), UFFDGC_OK);
  Watchdog dog("ManyThreadsAttachConcurrently");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        uffdgc_mutator* m = nullptr;
        if (uffdgc_mutator_attach(heap, &threads, &m) != UFFDGC_OK) return;
        uffdgc_ref r = 0;
        for (int k = 0; k < 100; ++k) {
          if (uffdgc_alloc(m, types.node, 0, UFFDGC_ALLOC_DEFAULT, &r) != UFFDGC_OK) return;
          uffdgc_poll(m);
        }
        if (round % 5 == i % 5 && uffdgc_collect(m) != UFFDGC_OK) return;
        if (uffdgc_mutator_detach(m) != UFFDGC_OK) return;
      }
      ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

class DetachTest : public HeapFixture {};

TEST_F(DetachTest, DetachDropsTheThreadsHandles) {
  std::atomic<uffdgc_ref> obj{0};
  MutatorThread t(heap_, [&](uffdgc_mutator* m) {
    uffdgc_handle_scope s;
    ASSERT_EQ(uffdgc_handle_scope_open(m, &s), UFFDGC_OK);
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc(m, types_.leaf, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    Word(r, kIdOffset) = 77;
    ASSERT_NE(uffdgc_handle_new(m, r), nullptr);
    obj.store(r);
    // Detach with the scope still open: "handles die with it".
  });
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);  // never block while running
  t.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  ASSERT_EQ(t.detach_result(), UFFDGC_OK);
  uffdgc_ref o = obj.load();
  ASSERT_NE(o, 0u);
  EXPECT_EQ(Id(o), 77u);  // nothing collected since; still readable
  uffdgc_ref* oh = H(o);
  uffdgc_ref* w = Watch(oh);
  *oh = 0;
  Collect();
  EXPECT_EQ(Watched(w), 0u) << "object held only by a detached thread's handle survived";
}

}  // namespace
}  // namespace heaptest
