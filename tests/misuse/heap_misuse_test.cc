// Misuse of the heap API: every documented error comes back as a result code (never a crash,
// never silent corruption), and a refused call changes nothing.
#include <climits>
#include <cstdint>

#include "../heap/heap_test_support.h"

namespace heaptest {
namespace {

// ---- heap creation ----

TEST(HeapMisuse, CreateRejectsNullOutAndShortStructs) {
  uffdgc_heap_options o = Options(8u << 20);
  EXPECT_EQ(uffdgc_heap_create(&o, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_heap_create(nullptr, nullptr), UFFDGC_EINVAL);
  uffdgc_heap* heap = reinterpret_cast<uffdgc_heap*>(0x1);
  o.struct_size = 4;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_ESTRUCTSIZE);
  o.struct_size = 0;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_ESTRUCTSIZE);
  // The embedder struct is size-prefixed too.
  uffdgc_embedder e{};
  e.struct_size = 4;
  o = Options(8u << 20);
  o.embedder = &e;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_ESTRUCTSIZE);
}

TEST(HeapMisuse, CreateRejectsUnknownModeAndFlagsAndBadValues) {
  uffdgc_heap* heap = nullptr;
  uffdgc_heap_options o = Options(8u << 20);
  o.mode = 17;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_EINVAL);
  o = Options(8u << 20);
  o.flags = 1u << 31;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_EINVAL);
  o = Options(8u << 20);
  o.trigger_occupancy_pct = 101;
  EXPECT_EQ(uffdgc_heap_create(&o, &heap), UFFDGC_EINVAL) << "occupancy above 100 %";
  EXPECT_EQ(heap, nullptr);
}

TEST(HeapMisuse, NullHeapEverywhere) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 16, nullptr, 0, "x");
  uint32_t idx = 0;
  EXPECT_EQ(uffdgc_heap_destroy(nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_type_register(nullptr, &t, &idx), UFFDGC_EINVAL);
  uffdgc_mutator* m = nullptr;
  EXPECT_EQ(uffdgc_mutator_attach(nullptr, nullptr, &m), UFFDGC_EINVAL);
  uffdgc_global* g = nullptr;
  EXPECT_EQ(uffdgc_global_create(nullptr, 0, &g), UFFDGC_EINVAL);
  uffdgc_heap_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(uffdgc_heap_get_stats(nullptr, &s), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_set_event_listener(nullptr, nullptr, nullptr), UFFDGC_EINVAL);
  uffdgc_attrs a{};
  a.struct_size = sizeof a;
  EXPECT_EQ(uffdgc_get_attrs(nullptr, &a), UFFDGC_EINVAL);
  // void entry points: no crash.
  uffdgc_atfork_prepare(nullptr);
  uffdgc_atfork_parent(nullptr);
  uffdgc_atfork_child(nullptr);
}

// "A null mutator returns UFFDGC_EINVAL" (uffdgc.h, heap section).
#define EXPECT_REFUSED_NULL_MUTATOR(call)                                              \
  do {                                                                                 \
    uffdgc_result res_ = (call);                                                       \
    EXPECT_EQ(res_, UFFDGC_EINVAL) << #call << " -> " << uffdgc_result_name(res_);     \
  } while (0)

TEST(HeapMisuse, NullMutatorEverywhere) {
  uffdgc_ref r = 0;
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_mutator_detach(nullptr));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_mutator_park(nullptr));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_mutator_unpark(nullptr));
  EXPECT_REFUSED_NULL_MUTATOR(
      uffdgc_run_checkpoint(nullptr, [](uffdgc_mutator*, void*) {}, nullptr));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_alloc(nullptr, 2, 0, UFFDGC_ALLOC_DEFAULT, &r));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_alloc_slow(nullptr, 2, 16, &r));
  uffdgc_handle_scope scope;
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_handle_scope_open(nullptr, &scope));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_handle_scope_close(nullptr, &scope));
  EXPECT_EQ(uffdgc_handle_new(nullptr, 0), nullptr);
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_pin(nullptr, 0x1000));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_unpin(nullptr, 0x1000));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_finalization_pop(nullptr, &r));
  EXPECT_REFUSED_NULL_MUTATOR(uffdgc_collect(nullptr));
  EXPECT_REFUSED_NULL_MUTATOR(
      uffdgc_heap_walk(nullptr, [](uffdgc_ref, uint32_t, size_t, void*) { return 0; }, nullptr));
  EXPECT_EQ(uffdgc_mutator_vm_thread(nullptr), nullptr);
  EXPECT_EQ(uffdgc_global_get(nullptr), 0u);
  uffdgc_global_set(nullptr, 0);  // no crash
  uffdgc_safepoint_slow(nullptr);  // no crash
  EXPECT_EQ(uffdgc_load_weak(nullptr, 0, nullptr), 0u);
}

class MisuseFixture : public HeapFixture {};

TEST_F(MisuseFixture, NullOutPointersAndCallbacks) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 16, nullptr, 0, "x");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, nullptr), UFFDGC_EINVAL);
  uint32_t idx = 0;
  EXPECT_EQ(uffdgc_type_register(heap_, nullptr, &idx), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_alloc(mut_, types_.node, 0, UFFDGC_ALLOC_DEFAULT, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_alloc_slow(mut_, types_.node, kNodeSize, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_run_checkpoint(mut_, nullptr, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_handle_scope_open(mut_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_global_create(heap_, 0, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_global_destroy(heap_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_finalization_pop(mut_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_heap_walk(mut_, nullptr, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_heap_get_stats(heap_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_get_attrs(heap_, nullptr), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_mutator_attach(heap_, nullptr, nullptr), UFFDGC_EINVAL);
  uffdgc_global* g = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, 0, &g), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_destroy(nullptr, g), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
  // Null references: pin refuses with EINVAL; unpin of null may say EINVAL or ENOTFOUND.
  EXPECT_EQ(uffdgc_pin(mut_, 0), UFFDGC_EINVAL);
  uffdgc_result res = uffdgc_unpin(mut_, 0);
  EXPECT_TRUE(res == UFFDGC_EINVAL || res == UFFDGC_ENOTFOUND) << uffdgc_result_name(res);
}

TEST_F(MisuseFixture, ShortStructSizes) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 16, nullptr, 0, "x");
  uint32_t idx = 0;
  t.struct_size = 8;
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_ESTRUCTSIZE);
  t.struct_size = 0;
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_ESTRUCTSIZE);
  uffdgc_heap_stats s{};
  s.struct_size = 8;
  EXPECT_EQ(uffdgc_heap_get_stats(heap_, &s), UFFDGC_ESTRUCTSIZE);
  uffdgc_attrs a{};
  a.struct_size = 4;
  EXPECT_EQ(uffdgc_get_attrs(heap_, &a), UFFDGC_ESTRUCTSIZE);
}

// ---- type registration ----

struct BadType {
  const char* what;
  uffdgc_type_info info;
};

TEST_F(MisuseFixture, TypeRegisterRejectsUnknownFlagsAndOutOfRangeLayouts) {
  static const uint32_t kRefs16[] = {16};
  static const uint32_t kRefsOut[] = {48};      // beyond a 48-byte object
  static const uint32_t kRefsHeader[] = {0};    // the header word is not a reference slot
  static const uint32_t kRefsUnaligned[] = {12};
  std::vector<BadType> bad;
  auto add = [&](const char* what, uffdgc_type_info t) { bad.push_back({what, t}); };
  add("unknown flag bit", TypeInfo(1u << 20, 16, nullptr, 0, "bad"));
  add("base_size 0", TypeInfo(UFFDGC_TYPE_LEAF, 0, nullptr, 0, "bad"));
  add("base_size smaller than the header", TypeInfo(UFFDGC_TYPE_LEAF, 4, nullptr, 0, "bad"));
  add("ref offset past the end", TypeInfo(0, 48, kRefsOut, 1, "bad"));
  add("ref offset in the header", TypeInfo(0, 48, kRefsHeader, 1, "bad"));
  add("unaligned ref offset", TypeInfo(0, 48, kRefsUnaligned, 1, "bad"));
  add("ref offsets NULL with a count", TypeInfo(0, 48, nullptr, 2, "bad"));
  add("LEAF with ref offsets", TypeInfo(UFFDGC_TYPE_LEAF, 48, kRefs16, 1, "bad"));
  {
    uffdgc_type_info t = ArrayInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 4, "bad");
    add("ELEMENTS_ARE_REFS with elem_size 4", t);
  }
  {
    uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 24, nullptr, 0, "bad");
    t.elem_size = 8;
    add("ELEMENTS_ARE_REFS without VARIABLE", t);
  }
  {
    uffdgc_type_info t = ArrayInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS | UFFDGC_TYPE_LEAF, 8, "bad");
    add("LEAF with ELEMENTS_ARE_REFS", t);
  }
  {
    uffdgc_type_info t = ArrayInfo(UFFDGC_TYPE_LEAF, 1, "bad");
    t.length_offset = 20;  // the uint64_t length would end at 28 > base_size 24
    add("length field outside the base", t);
  }
  {
    uffdgc_type_info t = ArrayInfo(UFFDGC_TYPE_LEAF, 1, "bad");
    t.length_offset = 0;  // overlaps the header
    add("length field in the header", t);
  }
  for (const BadType& b : bad) {
    uint32_t idx = 12345;
    uffdgc_result r = uffdgc_type_register(heap_, &b.info, &idx);
    EXPECT_EQ(r, UFFDGC_EINVAL) << b.what << ": got " << uffdgc_result_name(r);
    EXPECT_EQ(idx, 12345u) << b.what << ": out_index written on failure";
  }
  // The heap still works.
  uffdgc_ref r = Alloc(types_.node);
  EXPECT_NE(r, 0u);
  Collect();
}

// ---- allocation ----

TEST_F(MisuseFixture, AllocRejectsUnknownTypes) {
  uffdgc_ref r = 0xdead;
  for (uint32_t t : {0u, 1u, 9999u, UINT32_MAX}) {
    EXPECT_EQ(uffdgc_alloc(mut_, t, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_ETYPE) << t;
    EXPECT_EQ(uffdgc_alloc_slow(mut_, t, 16, &r), UFFDGC_ETYPE) << t;
  }
  // A type index of another heap is unknown here.
  uffdgc_heap_options o = Options(8u << 20);
  uffdgc_heap* other = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &other), UFFDGC_OK);
  uint32_t idx = 0;
  for (int i = 0; i < 20; ++i) {
    uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 16, nullptr, 0, "other");
    ASSERT_EQ(uffdgc_type_register(other, &t, &idx), UFFDGC_OK);
  }
  EXPECT_EQ(uffdgc_alloc(mut_, idx, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_ETYPE)
      << "index " << idx << " exists only in another heap";
  EXPECT_EQ(uffdgc_heap_destroy(other), UFFDGC_OK);
}

TEST_F(MisuseFixture, AllocSlowRejectsVariableTypes) {
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_alloc_slow(mut_, types_.bytes, kArrayBase, &r), UFFDGC_ETYPE)
      << "the fast path is for fixed-size types only; the slow path checks";
  EXPECT_EQ(uffdgc_alloc_slow(mut_, types_.ref_array, kArrayBase, &r), UFFDGC_ETYPE);
}

TEST_F(MisuseFixture, AllocSlowRejectsWrongSize) {
  uffdgc_ref r = 0;
  uffdgc_result res = uffdgc_alloc_slow(mut_, types_.node, 8, &r);  // smaller than the type
  EXPECT_TRUE(res == UFFDGC_EINVAL || res == UFFDGC_ETYPE) << uffdgc_result_name(res);
  res = uffdgc_alloc_slow(mut_, types_.node, SIZE_MAX - 7, &r);
  EXPECT_TRUE(res == UFFDGC_EINVAL || res == UFFDGC_ETYPE || res == UFFDGC_EOVERFLOW)
      << uffdgc_result_name(res);
}

TEST_F(MisuseFixture, AllocRejectsBadKinds) {
  uffdgc_ref r = 0;
  for (uint32_t kind : {3u, 4u, 0x100u, UINT32_MAX}) {
    EXPECT_EQ(uffdgc_alloc(mut_, types_.node, 0, kind, &r), UFFDGC_EINVAL) << kind;
  }
}

TEST_F(MisuseFixture, AllocSizeOverflow) {
  uffdgc_ref r = 0;
  // elem 8: 8 * 2^61 wraps to 0.
  EXPECT_EQ(uffdgc_alloc(mut_, types_.ref_array, 1ull << 61, 0, &r), UFFDGC_EOVERFLOW);
  EXPECT_EQ(uffdgc_alloc(mut_, types_.ref_array, UINT64_MAX, 0, &r), UFFDGC_EOVERFLOW);
  EXPECT_EQ(uffdgc_alloc(mut_, types_.ref_array, (UINT64_MAX / 8) + 1, 0, &r),
            UFFDGC_EOVERFLOW);
  // elem 1: base + length wraps.
  EXPECT_EQ(uffdgc_alloc(mut_, types_.bytes, UINT64_MAX - 4, 0, &r), UFFDGC_EOVERFLOW);
  // base + length fits, rounding up to 8 wraps.
  EXPECT_EQ(uffdgc_alloc(mut_, types_.bytes, UINT64_MAX - kArrayBase - 2, 0, &r),
            UFFDGC_EOVERFLOW);
  EXPECT_EQ(uffdgc_alloc(mut_, types_.bytes, UINT64_MAX - kArrayBase - 2, UFFDGC_ALLOC_LARGE,
                         &r),
            UFFDGC_EOVERFLOW);
  // Huge but representable in the address space: no overflow, just no memory.
  uffdgc_result res = uffdgc_alloc(mut_, types_.bytes, 1ull << 44, 0, &r);
  EXPECT_EQ(res, UFFDGC_ENOMEM) << uffdgc_result_name(res);
  res = uffdgc_alloc(mut_, types_.bytes, 1ull << 44, UFFDGC_ALLOC_NONMOVING, &r);
  EXPECT_EQ(res, UFFDGC_ENOMEM) << uffdgc_result_name(res);
  // Beyond any address space: either answer names the problem.
  res = uffdgc_alloc(mut_, types_.bytes, 1ull << 50, 0, &r);
  EXPECT_TRUE(res == UFFDGC_ENOMEM || res == UFFDGC_EOVERFLOW) << uffdgc_result_name(res);
  // The heap still works.
  r = Alloc(types_.node);
  EXPECT_NE(r, 0u);
  Collect();
}

// ---- pins, finalization ----

TEST_F(MisuseFixture, UnpinWithoutPin) {
  uffdgc_ref* h = H(Alloc(types_.node));
  EXPECT_EQ(uffdgc_unpin(mut_, *h), UFFDGC_ENOTFOUND);
  ASSERT_EQ(uffdgc_pin(mut_, *h), UFFDGC_OK);
  EXPECT_EQ(uffdgc_unpin(mut_, *h), UFFDGC_OK);
  EXPECT_EQ(uffdgc_unpin(mut_, *h), UFFDGC_ENOTFOUND);
  // An address that is not an object at all.
  uffdgc_ref bogus = *h + 8;
  uffdgc_result res = uffdgc_unpin(mut_, bogus);
  EXPECT_TRUE(res == UFFDGC_ENOTFOUND || res == UFFDGC_EINVAL) << uffdgc_result_name(res);
  Collect();
}

TEST_F(MisuseFixture, FinalizationPopEmpty) {
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_EEMPTY);
  Collect();
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_EEMPTY);
}

// ---- thread state ----

TEST_F(MisuseFixture, DestroyWithAttachedMutators) {
  EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_ESTATE);
  // Parked still counts as attached.
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_ESTATE);
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  // The heap is untouched.
  uffdgc_ref* h = H(AllocId(types_.leaf, 3));
  Collect();
  ExpectIntact(*h, 3);
}

TEST_F(MisuseFixture, DestroyWithAMutatorOfAnotherThread) {
  std::atomic<bool> attached{false}, done{false};
  std::thread t([&] {
    uffdgc_mutator* m = nullptr;
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
    attached.store(true);
    while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);  // detach while parked is allowed
  });
  while (!attached.load()) std::this_thread::yield();
  // Detach ours; the other thread's mutator is still attached.
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_OK);
  scope_open_ = false;
  ASSERT_EQ(uffdgc_mutator_detach(mut_), UFFDGC_OK);
  mut_ = nullptr;
  EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_ESTATE);
  done.store(true);
  t.join();
  // TearDown destroys it.
}

TEST_F(MisuseFixture, DetachedMutatorIsRefused) {
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_OK);
  scope_open_ = false;
  uffdgc_mutator* stale = mut_;
  ASSERT_EQ(uffdgc_mutator_detach(mut_), UFFDGC_OK);
  mut_ = nullptr;
  // "another thread's, a detached or a parked one ... returns UFFDGC_ESTATE"
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_mutator_detach(stale), UFFDGC_ESTATE) << "double detach";
  EXPECT_EQ(uffdgc_mutator_park(stale), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_alloc(stale, types_.node, 0, 0, &r), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_collect(stale), UFFDGC_ESTATE);
  uffdgc_handle_scope s;
  EXPECT_EQ(uffdgc_handle_scope_open(stale, &s), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_handle_new(stale, 0), nullptr);
  // Attach again: a fresh mutator works.
  ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &mut_), UFFDGC_OK);
  EXPECT_EQ(uffdgc_collect(mut_), UFFDGC_OK);
}

TEST_F(MisuseFixture, GlobalOfAnotherHeapOrDestroyedTwice) {
  uffdgc_heap_options o = Options(8u << 20);
  uffdgc_heap* other = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &other), UFFDGC_OK);
  uffdgc_global* g = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, 0, &g), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_destroy(other, g), UFFDGC_ENOTFOUND) << "a global of another heap";
  EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_ENOTFOUND) << "destroyed twice";
  EXPECT_EQ(uffdgc_heap_destroy(other), UFFDGC_OK);
}

TEST_F(MisuseFixture, DoubleAttach) {
  uffdgc_mutator* again = reinterpret_cast<uffdgc_mutator*>(0x1);
  EXPECT_EQ(uffdgc_mutator_attach(heap_, nullptr, &again), UFFDGC_ESTATE);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_attach(heap_, nullptr, &again), UFFDGC_ESTATE)
      << "a parked thread is still attached";
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  Collect();
}

TEST_F(MisuseFixture, ParkedThreadCannotTouchTheHeap) {
  uffdgc_ref* h = H(AllocId(types_.node, 1));
  uffdgc_ref* arr = H(Alloc(types_.ref_array, 4));
  uffdgc_ref obj = *h;
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_mutator_park(mut_), UFFDGC_ESTATE) << "park twice";
  EXPECT_EQ(uffdgc_alloc(mut_, types_.node, 0, 0, &r), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_alloc_slow(mut_, types_.node, kNodeSize, &r), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_collect(mut_), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_pin(mut_, obj), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_unpin(mut_, obj), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_heap_walk(mut_, [](uffdgc_ref, uint32_t, size_t, void*) { return 0; },
                             nullptr),
            UFFDGC_ESTATE);
  EXPECT_EQ(uffdgc_run_checkpoint(mut_, [](uffdgc_mutator*, void*) {}, nullptr),
            UFFDGC_ESTATE);
  // Void entry points refuse silently: nothing is stored.
  uffdgc_ref src[2] = {obj, obj};
  uffdgc_store_refs(mut_, *arr, Elem(*arr, 0), src, 2);
  uffdgc_store_ref_slow(mut_, *arr, Elem(*arr, 2), obj);
  EXPECT_EQ(*Elem(*arr, 0), 0u) << "store_refs from a parked thread stored";
  EXPECT_EQ(*Elem(*arr, 2), 0u) << "store_ref_slow from a parked thread stored";
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_ESTATE) << "unpark while running";
  // Nothing changed: the object was not pinned by the refused call.
  EXPECT_EQ(uffdgc_unpin(mut_, obj), UFFDGC_ENOTFOUND);
  EXPECT_EQ(HeapStats().collections, 0u) << "the refused collect ran";
  Collect();
  ExpectIntact(*h, 1);
}

TEST_F(MisuseFixture, CallsFromAThreadThatDoesNotOwnTheMutator) {
  uffdgc_ref* h = H(AllocId(types_.node, 1));
  uffdgc_ref* arr = H(Alloc(types_.ref_array, 4));
  uffdgc_ref obj = *h;
  // A non-owner thread that is not attached at all, then one attached to the heap.
  for (int attached = 0; attached < 2; ++attached) {
    SCOPED_TRACE(attached ? "other thread attached" : "other thread detached");
    OnOtherThread([&] {
      uffdgc_mutator* own = nullptr;
      if (attached) {
        ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &own), UFFDGC_OK);
      }
      uffdgc_ref r = 0;
      EXPECT_EQ(uffdgc_alloc(mut_, types_.node, 0, 0, &r), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_alloc_slow(mut_, types_.node, kNodeSize, &r), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_collect(mut_), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_pin(mut_, obj), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_unpin(mut_, obj), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_heap_walk(mut_, [](uffdgc_ref, uint32_t, size_t, void*) { return 0; },
                                 nullptr),
                UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_run_checkpoint(mut_, [](uffdgc_mutator*, void*) {}, nullptr),
                UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_mutator_park(mut_), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_mutator_detach(mut_), UFFDGC_ESTATE);
      uffdgc_handle_scope s;
      EXPECT_EQ(uffdgc_handle_scope_open(mut_, &s), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_ESTATE);
      EXPECT_EQ(uffdgc_handle_new(mut_, obj), nullptr);
      uffdgc_ref src[2] = {obj, obj};
      uffdgc_store_refs(mut_, *arr, Elem(*arr, 0), src, 2);
      uffdgc_store_ref_slow(mut_, *arr, Elem(*arr, 2), obj);
      EXPECT_EQ(*Elem(*arr, 0), 0u) << "store_refs with another thread's mutator stored";
      EXPECT_EQ(*Elem(*arr, 2), 0u) << "store_ref_slow with another thread's mutator stored";
      if (own != nullptr) {
        EXPECT_EQ(uffdgc_mutator_detach(own), UFFDGC_OK);
      }
    });
  }
  // Everything still works for the owner: still running, scope still open, nothing pinned.
  EXPECT_EQ(uffdgc_unpin(mut_, obj), UFFDGC_ENOTFOUND);
  EXPECT_EQ(HeapStats().collections, 0u);
  uffdgc_ref* h2 = H(*h);
  ASSERT_NE(h2, nullptr);
  Collect();
  ExpectIntact(*h, 1);
  ExpectIntact(*h2, 1);
}

TEST_F(MisuseFixture, CloseScopeThatIsNotOpenOrOutOfOrder) {
  uffdgc_handle_scope never{};
  uffdgc_result res = uffdgc_handle_scope_close(mut_, &never);
  EXPECT_NE(res, UFFDGC_OK) << "closing a scope that was never opened";
  uffdgc_handle_scope inner;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &inner), UFFDGC_OK);
  res = uffdgc_handle_scope_close(mut_, &scope_);  // outer first
  EXPECT_NE(res, UFFDGC_OK) << "closing an outer scope while an inner one is open";
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &inner), UFFDGC_OK);
  // The outer scope is still usable.
  uffdgc_ref* h = H(AllocId(types_.leaf, 1));
  ASSERT_NE(h, nullptr);
  Collect();
  ExpectIntact(*h, 1);
}

TEST_F(MisuseFixture, ObjectSizeOfNothing) {
  EXPECT_EQ(uffdgc_object_size(nullptr, 0), 0u);
  EXPECT_EQ(uffdgc_object_size(mut_, 0), 0u);
}

TEST_F(MisuseFixture, NullMutatorStoresNothing) {
  uffdgc_ref* arr = H(Alloc(types_.ref_array, 4));
  uffdgc_ref* obj = H(Alloc(types_.leaf));
  uffdgc_ref src[2] = {*obj, *obj};
  uffdgc_store_refs(nullptr, *arr, Elem(*arr, 0), src, 2);
  uffdgc_store_ref_slow(nullptr, *arr, Elem(*arr, 2), *obj);
  EXPECT_EQ(*Elem(*arr, 0), 0u);
  EXPECT_EQ(*Elem(*arr, 2), 0u);
}

}  // namespace
}  // namespace heaptest
