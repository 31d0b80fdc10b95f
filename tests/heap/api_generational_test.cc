// Generational heaps (UFFDGC_HEAP_GENERATIONAL; design: .cycle.young, .barrier.remembered):
// young collections keep every young object an old one refers to, through every kind of store
// (slots, array copies, non-moving, large and traced objects, weak containers), rewrite those
// slots when the young objects move, leave old garbage for a full collection, and the policy
// turns triggered collections full once the old generation fills its share. The verifier (on
// in these tests) also checks at the start of every collection that each old-to-young slot is
// in the remembered set.
//
// Every mode collects young: stw in one pause, move and copy concurrently (design:
// .cycle.young.concurrent). The young-only expectations are asked wherever stats.generational
// says generations are in effect.
#include <algorithm>

#include "tests/heap/heap_test_support.h"
#include "tests/support/flip_gate.h"

namespace heaptest {
namespace {

class GenerationalTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    o.flags |= UFFDGC_HEAP_GENERATIONAL;
    return o;
  }
  bool Young() { return HeapStats().generational != 0; }
  // A rooted RefArray of n slots, made old by a full collection.
  uffdgc_ref* OldArray(uint64_t n, uint64_t id) {
    uffdgc_ref* a = H(AllocId(types_.ref_array, id, n));
    Collect();
    return a;
  }
  // A young Node with the given id, not rooted.
  uffdgc_ref YoungNode(uint64_t id) { return AllocId(types_.node, id); }
};

TEST_F(GenerationalTest, StatsTellWhetherGenerationsAreInEffect) {
  const uffdgc_heap_stats s = HeapStats();
  EXPECT_EQ(s.generational, 1u);
  uffdgc_attrs a{};
  a.struct_size = sizeof a;
  ASSERT_EQ(uffdgc_get_attrs(heap_, &a), UFFDGC_OK);
  EXPECT_EQ(a.young_begin_offset, UFFDGC_MUTATOR_YOUNG_BEGIN_OFFSET);
  EXPECT_EQ(a.young_size_offset, UFFDGC_MUTATOR_YOUNG_SIZE_OFFSET);
  EXPECT_EQ(a.remembered_cursor_offset, UFFDGC_MUTATOR_REMEMBERED_CURSOR_OFFSET);
  EXPECT_EQ(a.remembered_limit_offset, UFFDGC_MUTATOR_REMEMBERED_LIMIT_OFFSET);
  const auto* f = reinterpret_cast<const uffdgc_mutator_fast*>(mut_);
  if (s.generational != 0) {
    EXPECT_EQ(f->barrier_flag, UFFDGC_BARRIER_REMEMBER);
    EXPECT_NE(f->young_size, 0u);
    EXPECT_NE(f->remembered_cursor, nullptr);
  } else {
    EXPECT_EQ(f->barrier_flag & UFFDGC_BARRIER_REMEMBER, 0u);
    EXPECT_EQ(f->young_size, 0u) << "a heap without generations remembers nothing";
  }
}

// Old array -> young nodes, with young garbage around them: the young collection keeps and
// moves the nodes, rewrites the array's slots, frees the garbage and promotes the survivors.
TEST_F(GenerationalTest, YoungCollectionKeepsWhatOldSlotsReferTo) {
  constexpr uint64_t kN = 300;
  uffdgc_ref* arr = OldArray(kN, 1);
  const uint64_t old_used = HeapStats().moving_bytes_used;
  for (uint64_t i = 0; i < kN; ++i) {
    Garbage(600);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), YoungNode(100 + i));
  }
  const uffdgc_ref arr_before = *arr;
  const uint64_t young_used = HeapStats().moving_bytes_used - old_used;
  CollectYoung();
  const uffdgc_heap_stats s = HeapStats();
  for (uint64_t i = 0; i < kN; ++i) ExpectIntact(*Elem(*arr, i), 100 + i);
  if (s.generational == 0) return;
  EXPECT_EQ(*arr, arr_before) << "a young collection moved an old object";
  EXPECT_EQ(s.young_collections, 1u);
  EXPECT_EQ(s.last_cycle_young, 1u);
  EXPECT_EQ(s.remembered_slots_last, kN);
  EXPECT_GE(s.remembered_pages_last, 1u);
  EXPECT_LE(s.remembered_pages_last, 2u) << "300 slots of one array span at most two pages";
  EXPECT_GE(s.promoted_bytes, kN * kNodeSize);
  EXPECT_LT(s.moving_bytes_used - old_used, young_used / 4) << "the young garbage stayed";
  EXPECT_EQ(s.old_bytes, s.moving_bytes_used) << "survivors are old after a young collection";
  // Promoted: a second young collection has nothing to mark and moves nothing.
  const uffdgc_ref first = *Elem(*arr, 0);
  CollectYoung();
  EXPECT_EQ(*Elem(*arr, 0), first);
  EXPECT_EQ(HeapStats().remembered_slots_last, 0u);
}

// Old garbage stays until a full collection.
TEST_F(GenerationalTest, OldGarbageWaitsForAFullCollection) {
  uffdgc_ref* keep = H(AllocId(types_.node, 1));
  for (int i = 0; i < 200; ++i) Garbage(1000);
  // The garbage is old only if it survives a collection: keep it reachable through a chain.
  uffdgc_ref* chain = H(AllocId(types_.ref_array, 2, 2000));
  for (uint64_t i = 0; i < 2000; ++i) {
    uffdgc_store_ref(mut_, *chain, Elem(*chain, i), AllocId(types_.leaf, 10 + i));
  }
  Collect();
  const uint64_t with_chain = HeapStats().moving_bytes_used;
  *chain = 0;  // a root, not a heap slot: no barrier
  CollectYoung();
  const uffdgc_heap_stats young = HeapStats();
  if (young.generational != 0) {
    EXPECT_GE(young.moving_bytes_used, with_chain) << "a young collection freed old objects";
  }
  Collect();
  EXPECT_LT(HeapStats().moving_bytes_used, with_chain - 2000 * kLeafSize);
  ExpectIntact(*keep, 1);
}

// Every kind of holder outside the young generation: a non-moving node, a large array, a
// traced object, and bulk copies into an old array.
TEST_F(GenerationalTest, NonMovingLargeTracedAndArrayCopies) {
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 1, 0, UFFDGC_ALLOC_NONMOVING));
  uffdgc_ref* large = H(AllocId(types_.ref_array, 2, 20000, UFFDGC_ALLOC_LARGE));
  uffdgc_ref* traced = H(AllocId(types_.traced, 3));
  Word(*traced, kTracedMask) = 0b10101;
  uffdgc_ref* old = OldArray(64, 4);
  Garbage(20000);
  Store(*nm, kNodeRefs[1], YoungNode(10));
  uffdgc_store_ref(mut_, *large, Elem(*large, 19999), YoungNode(11));
  Store(*traced, kTracedSlot0 + 16, YoungNode(12));
  uffdgc_ref* young_src = H(AllocId(types_.ref_array, 5, 8));
  for (uint64_t i = 0; i < 8; ++i) {
    uffdgc_store_ref(mut_, *young_src, Elem(*young_src, i), YoungNode(20 + i));
  }
  uffdgc_store_refs(mut_, *old, Elem(*old, 10), Elem(*young_src, 0), 8);
  *young_src = 0;  // only the old array's copies keep the nodes now
  Garbage(20000);
  CollectYoung();
  ExpectIntact(*Slot(*nm, kNodeRefs[1]), 10);
  ExpectIntact(*Elem(*large, 19999), 11);
  ExpectIntact(*Slot(*traced, kTracedSlot0 + 16), 12);
  for (uint64_t i = 0; i < 8; ++i) ExpectIntact(*Elem(*old, 10 + i), 20 + i);
  if (Young()) {
    EXPECT_EQ(HeapStats().remembered_slots_last, 3u + 8u);
  }
  Collect();
  ExpectIntact(*Elem(*old, 17), 27);
}

// An old weak container: its young referent that died is cleared, the one that lives is
// forwarded, and the weak slot keeps nothing alive.
TEST_F(GenerationalTest, OldWeakContainerSlotsAreWeak) {
  uffdgc_ref* w = H(AllocId(types_.weak, 1));
  Collect();
  uffdgc_ref* live = H(YoungNode(10));
  Garbage(5000);
  Store(*w, kWeakRefs[0], *live);
  Store(*w, kWeakRefs[1], YoungNode(11));  // reachable only weakly
  CollectYoung();
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[0])), *live);
  ExpectIntact(*live, 10);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[1])), 0u)
      << "an old weak slot kept its young referent alive";
}

// Young objects with finalizers are queued when a young collection finds them dead; an old
// finalizable that died waits for a full collection.
TEST_F(GenerationalTest, FinalizationOfYoungAndOldObjects) {
  uffdgc_ref* old_holder = H(AllocId(types_.final_leaf, 1));
  Collect();
  *old_holder = 0;                 // old and dead
  AllocId(types_.final_leaf, 2);   // young and dead
  CollectYoung();
  uffdgc_ref r = 0;
  ASSERT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_OK);
  EXPECT_EQ(Id(r), Young() ? 2u : 1u);
  if (Young()) {
    EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_EEMPTY) << "an old object was finalized";
    Collect();
    ASSERT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_OK);
    EXPECT_EQ(Id(r), 1u);
  }
}

// A pinned young object stays where it is; an old slot to it is kept.
TEST_F(GenerationalTest, PinnedYoungObjectStays) {
  uffdgc_ref* arr = OldArray(4, 1);
  Garbage(30000);
  uffdgc_ref pinned = YoungNode(10);
  uffdgc_store_ref(mut_, *arr, Elem(*arr, 0), pinned);
  ASSERT_EQ(uffdgc_pin(mut_, pinned), UFFDGC_OK);
  Garbage(30000);
  uffdgc_store_ref(mut_, *arr, Elem(*arr, 1), YoungNode(11));
  CollectYoung();
  EXPECT_EQ(*Elem(*arr, 0), pinned);
  ExpectIntact(pinned, 10);
  ExpectIntact(*Elem(*arr, 1), 11);
  ASSERT_EQ(uffdgc_unpin(mut_, pinned), UFFDGC_OK);
}

// The last object of the young generation is pinned: its page stays, the region's top is an
// island, and the next young generation still starts on a page boundary.
TEST_F(GenerationalTest, PinnedObjectAtTheTopOfTheYoungGeneration) {
  uffdgc_ref* arr = OldArray(4, 1);
  for (int round = 0; round < 3; ++round) {
    Garbage(30000);
    const uffdgc_ref pinned = YoungNode(10 + round);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, round), pinned);
    ASSERT_EQ(uffdgc_pin(mut_, pinned), UFFDGC_OK);
    CollectYoung();
    EXPECT_EQ(*Elem(*arr, round), pinned);
    ASSERT_EQ(uffdgc_unpin(mut_, pinned), UFFDGC_OK);
    const uffdgc_heap_stats s = HeapStats();
    if (s.generational != 0) {
      EXPECT_EQ(s.old_bytes % 4096, 0u);
      EXPECT_EQ(s.old_bytes, s.moving_bytes_used);
    }
  }
  for (int round = 0; round < 3; ++round) ExpectIntact(*Elem(*arr, round), 10 + round);
}

// A young generation that is nearly all live is promoted where it lies (design:
// .cycle.young.dense): nothing moves, its dead objects become fillers (a weak slot to one is
// cleared, a dead finalizable one is queued); a sparse one slides as usual.
TEST_F(GenerationalTest, DenseYoungGenerationIsPromotedInPlace) {
  constexpr uint64_t kN = 2000;
  uffdgc_ref* arr = OldArray(kN, 1);
  uffdgc_ref* w = H(AllocId(types_.weak, 2));
  Collect();  // the weak container is old too
  const uffdgc_ref dead = YoungNode(5);  // under 1 % of the young bytes
  Store(*w, kWeakRefs[0], dead);
  AllocId(types_.final_leaf, 6);
  std::vector<uffdgc_ref> before(kN);
  for (uint64_t i = 0; i < kN; ++i) {
    before[i] = YoungNode(100 + i);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), before[i]);
  }
  const uffdgc_heap_stats s0 = HeapStats();
  CollectYoung();
  const uffdgc_heap_stats s1 = HeapStats();
  for (uint64_t i = 0; i < kN; ++i) ExpectIntact(*Elem(*arr, i), 100 + i);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[0])), 0u);
  uffdgc_ref f = 0;
  ASSERT_EQ(uffdgc_finalization_pop(mut_, &f), UFFDGC_OK);
  EXPECT_EQ(Id(f), 6u);
  if (s1.generational == 0) return;
  EXPECT_EQ(s1.young_promoted_in_place, s0.young_promoted_in_place + 1);
  for (uint64_t i = 0; i < kN; ++i) ASSERT_EQ(*Elem(*arr, i), before[i]) << "a dense young object moved";
  // Sparse: mostly garbage around the survivors, which slide.
  for (uint64_t i = 0; i < kN; ++i) {
    Garbage(400);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), YoungNode(10000 + i));
    before[i] = *Elem(*arr, i);
  }
  CollectYoung();
  const uffdgc_heap_stats s2 = HeapStats();
  EXPECT_EQ(s2.young_promoted_in_place, s1.young_promoted_in_place);
  uint64_t moved = 0;
  for (uint64_t i = 0; i < kN; ++i) {
    ExpectIntact(*Elem(*arr, i), 10000 + i);
    moved += *Elem(*arr, i) != before[i];
  }
  EXPECT_GT(moved, kN / 2);
}

// More old-to-young stores than a thread's log holds: the full logs are handed over, nothing
// is lost; stores into the same slot are remembered once.
TEST_F(GenerationalTest, FullLogsAreHandedOverAndSlotsKeptOnce) {
  constexpr uint64_t kN = 5000;
  uffdgc_ref* arr = OldArray(kN, 1);
  for (int round = 0; round < 3; ++round) {
    for (uint64_t i = 0; i < kN; ++i) {
      uffdgc_store_ref(mut_, *arr, Elem(*arr, i), YoungNode(10 + round * kN + i));
    }
  }
  CollectYoung();
  for (uint64_t i = 0; i < kN; ++i) ExpectIntact(*Elem(*arr, i), 10 + 2 * kN + i);
  const uffdgc_heap_stats s = HeapStats();
  if (s.generational == 0) return;
  EXPECT_GE(s.remembered_handovers, 3 * kN / 2048);
  EXPECT_EQ(s.remembered_slots_last, kN);
}

// Other threads' stores are remembered, also when the thread detaches before the collection.
TEST_F(GenerationalTest, OtherThreadsStoresAreRememberedAfterTheyDetach) {
  uffdgc_ref* arr = OldArray(100, 1);
  const uffdgc_ref holder = *arr;  // old: it does not move while the thread runs
  MutatorThread t(heap_, [&](uffdgc_mutator* m) {
    for (uint64_t i = 0; i < 100; ++i) {
      uffdgc_ref n = 0;
      ASSERT_EQ(uffdgc_alloc(m, types_.node, 0, UFFDGC_ALLOC_DEFAULT, &n), UFFDGC_OK);
      Word(n, kIdOffset) = 50 + i;
      Word(n, kNodeScalar) = ScalarFor(50 + i);
      uffdgc_store_ref(m, holder, Elem(holder, i), n);
    }
  });
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  t.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  Garbage(10000);
  CollectYoung();
  for (uint64_t i = 0; i < 100; ++i) ExpectIntact(*Elem(*arr, i), 50 + i);
}

// Move and copy: stores while a young cycle runs (design: .cycle.young.concurrent). With the
// cycle held between its plan and its flip, the mutator stores young objects that existed at
// pause 1 (they slide: the flip must rewrite the slots) and objects allocated since (the black
// block) into an old array and a non-moving node. A non-moving node's slot is both logged for
// the flip and remembered: it must be rewritten exactly once. Everything stays intact through
// this cycle, a young one and a full one after it.
TEST_F(GenerationalTest, StoresDuringAConcurrentYoungCycleAreForwardedOnce) {
  if (TestMode() == UFFDGC_MODE_STW) GTEST_SKIP() << "no concurrent cycle in the stw mode";
  constexpr uint64_t kN = 64;
  uffdgc_ref* arr = OldArray(2 * kN, 1);
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 2, 0, UFFDGC_ALLOC_NONMOVING));
  // Young nodes the roots keep, with garbage in between so that they slide.
  uffdgc_ref* young = H(AllocId(types_.ref_array, 3, kN));
  for (uint64_t i = 0; i < kN; ++i) {
    Garbage(2000);
    uffdgc_store_ref(mut_, *young, Elem(*young, i), YoungNode(100 + i));
  }
  uffdgc::test::FlipGate gate;
  gate.install_before_flip(heap_);
  MutatorThread collector(heap_, [](uffdgc_mutator* m) {
    ASSERT_EQ(uffdgc_collect_young(m), UFFDGC_OK);
  });
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  gate.wait_held();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  for (uint64_t i = 0; i < kN; ++i) {
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), *Elem(*young, i));     // sliding
    uffdgc_store_ref(mut_, *arr, Elem(*arr, kN + i), YoungNode(200 + i));  // black block
  }
  Store(*nm, kNodeRefs[0], *Elem(*young, 7));
  Store(*nm, kNodeRefs[1], YoungNode(300));
  *young = 0;  // a root: only the old slots keep the nodes from here on
  gate.release.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  collector.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  gate.wait_left();
  uffdgc::test_access::set_before_flip_hook(heap_, nullptr, nullptr);
  auto check = [&] {
    for (uint64_t i = 0; i < kN; ++i) {
      ExpectIntact(*Elem(*arr, i), 100 + i);
      ExpectIntact(*Elem(*arr, kN + i), 200 + i);
    }
    ExpectIntact(*Slot(*nm, kNodeRefs[0]), 107);
    ExpectIntact(*Slot(*nm, kNodeRefs[1]), 300);
  };
  check();
  const uffdgc_heap_stats s = HeapStats();
  EXPECT_EQ(s.last_cycle_young, 1u);
  EXPECT_GE(s.remembered_slots_last, 2 * kN + 2) << "the stores during the cycle were remembered";
  Garbage(20000);
  CollectYoung();
  check();
  Collect();
  check();
}

// Triggered collections are young until the old generation fills old_generation_pct; the
// first, with no old generation yet, is full.
class GenerationalPolicyTest : public GenerationalTest {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = GenerationalTest::MakeOptions();
    o.heap_limit = 16u << 20;
    o.trigger_allocated = 1u << 20;
    o.old_generation_pct = 10;
    return o;
  }
};

TEST_F(GenerationalPolicyTest, TriggeredCollectionsTurnFullWhenTheOldGenerationFills) {
  // Keeps every other node (4.8 MB in all): the old generation grows with each young
  // collection past 10 % of 16 MiB.
  constexpr uint64_t kKeep = 100000;
  uffdgc_ref* keep = H(AllocId(types_.ref_array, 1, kKeep, UFFDGC_ALLOC_LARGE));
  uint64_t kept = 0;
  std::vector<uint64_t> kinds;
  uffdgc_set_event_listener(
      heap_,
      [](const uffdgc_event* e, void* arg) {
        if (e->kind == UFFDGC_EVENT_CYCLE_END) {
          static_cast<std::vector<uint64_t>*>(arg)->push_back(e->cycle_kind);
        }
      },
      &kinds);
  for (uint64_t i = 0; kept < kKeep; ++i) {
    uffdgc_ref n = YoungNode(100 + i);
    if (i % 2 == 0) uffdgc_store_ref(mut_, *keep, Elem(*keep, kept++), n);
    uffdgc_poll(mut_);
  }
  // Concurrent modes trigger fewer collections (a trigger while a cycle runs is that cycle):
  // garbage until a few more have come.
  for (uint64_t i = 0; HeapStats().collections < 5 && i < 64; ++i) Garbage(1u << 20);
  uffdgc_set_event_listener(heap_, nullptr, nullptr);
  const uffdgc_heap_stats s = HeapStats();
  ASSERT_GT(s.collections, 0u);
  ASSERT_EQ(kinds.size(), s.collections);
  for (uint64_t i = 0; i < kept; ++i) ExpectIntact(*Elem(*keep, i), 100 + 2 * i);
  if (s.generational == 0) {
    EXPECT_EQ(s.young_collections, 0u);
    for (uint64_t k : kinds) EXPECT_EQ(k, UFFDGC_CYCLE_FULL);
    return;
  }
  ASSERT_GT(s.collections, 3u);
  EXPECT_GT(s.young_collections, 0u);
  EXPECT_LT(s.young_collections, s.collections - 1) << "the old generation never turned them full";
  // The first has no old generation to spare: full.
  EXPECT_EQ(kinds[0], UFFDGC_CYCLE_FULL);
  EXPECT_NE(std::find(kinds.begin() + 1, kinds.end(), UFFDGC_CYCLE_YOUNG), kinds.end());
  EXPECT_EQ(kinds.back(), UFFDGC_CYCLE_FULL) << "the old generation is far past its share";
  if (TestMode() != UFFDGC_MODE_STW) return;
  // Concurrent modes also collect full when allocation outruns a cycle (the space ran out
  // before its flip: timing, slower under sanitizers); stw's sequence is the policy's alone.
  // The next one young; once the old generation passed its share every one is full.
  EXPECT_EQ(kinds[1], UFFDGC_CYCLE_YOUNG);
  const auto first_full = std::find(kinds.begin() + 1, kinds.end(), UFFDGC_CYCLE_FULL);
  EXPECT_EQ(std::count(first_full, kinds.end(), UFFDGC_CYCLE_YOUNG), 0);
}

// A store that bypasses the barrier leaves an old-to-young slot out of the remembered set: the
// verifier reports it at the next collection instead of letting the object be freed.
TEST_F(GenerationalTest, RawStoreIsCaughtByTheVerifier) {
  if (!Young()) GTEST_SKIP() << "no young collections in this mode";
  if ((Options().flags & UFFDGC_HEAP_VERIFY) == 0) GTEST_SKIP() << "UFFDGC_TEST_VERIFY=0";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  uffdgc_ref* arr = OldArray(4, 1);
  EXPECT_DEATH(
      {
        *Elem(*arr, 2) = YoungNode(10);  // no uffdgc_store_ref
        (void)uffdgc_collect_young(mut_);
      },
      "remembered set lacks");
}

}  // namespace
}  // namespace heaptest
