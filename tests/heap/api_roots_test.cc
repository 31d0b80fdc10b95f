// Heap API unit tests: handle scopes, globals, pins, weak containers, finalization.
#include <set>

#include "heap_test_support.h"

namespace heaptest {
namespace {

class RootsTest : public HeapFixture {};

// ---- handle scopes ----

TEST_F(RootsTest, HandleNewWithoutOpenScopeIsNull) {
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_OK);
  scope_open_ = false;
  uffdgc_ref r = Alloc(types_.leaf);
  EXPECT_EQ(uffdgc_handle_new(mut_, r), nullptr);
  // Reopening works.
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &scope_), UFFDGC_OK);
  scope_open_ = true;
  uffdgc_ref* h = uffdgc_handle_new(mut_, r);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(*h, r);
}

TEST_F(RootsTest, HandlesAreUpdatedWhenObjectsMove) {
  Garbage(50000);
  uffdgc_ref r = AllocId(types_.node, 42);
  uffdgc_ref* h = H(r);
  EXPECT_EQ(*h, r);
  uffdgc_ref* h2 = H(r);  // two handles to one object
  EXPECT_NE(h, h2);
  uffdgc_ref* hnull = H(0);
  Collect();
  ExpectIntact(*h, 42);
  EXPECT_EQ(*h, *h2);
  EXPECT_NE(*h, r) << "object behind garbage did not move";
  EXPECT_EQ(*hnull, 0u);
}

TEST_F(RootsTest, NestedScopesReleaseOnlyTheirHandles) {
  uffdgc_ref* outer = H(AllocId(types_.leaf, 1));
  uffdgc_ref* w_outer = Watch(outer);
  uffdgc_ref* w_in1 = H(Alloc(types_.weak));  // watchers live in the outer scope
  uffdgc_ref* w_in2 = H(Alloc(types_.weak));
  uffdgc_handle_scope inner;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &inner), UFFDGC_OK);
  uffdgc_ref* in1 = H(AllocId(types_.leaf, 2));
  uffdgc_store_ref(mut_, *w_in1, Slot(*w_in1, kWeakRefs[0]), *in1);
  uffdgc_handle_scope innermost;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &innermost), UFFDGC_OK);
  uffdgc_ref* in2 = H(AllocId(types_.leaf, 3));
  uffdgc_store_ref(mut_, *w_in2, Slot(*w_in2, kWeakRefs[0]), *in2);
  Collect();
  ExpectIntact(*outer, 1);
  ExpectIntact(*in1, 2);
  ExpectIntact(*in2, 3);
  EXPECT_EQ(Watched(w_in2), *in2);
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &innermost), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(w_in2), 0u) << "object held only by a closed scope's handle survived";
  ExpectIntact(*in1, 2);
  EXPECT_EQ(Watched(w_in1), *in1);
  // A handle made after closing the innermost scope belongs to `inner`.
  uffdgc_ref* in1b = H(*in1);
  *in1 = 0;
  Collect();
  ExpectIntact(*in1b, 2);
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &inner), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(w_in1), 0u) << "object held only by a closed scope's handle survived";
  ExpectIntact(*outer, 1);
  EXPECT_EQ(Watched(w_outer), *outer);
}

TEST_F(RootsTest, ManyHandlesInOneScope) {
  constexpr int kN = 20000;
  std::vector<uffdgc_ref*> hs;
  hs.reserve(kN);
  for (int i = 0; i < kN; ++i) {
    if (i % 16 == 0) Garbage(300);
    uffdgc_ref* h = H(AllocId(types_.leaf, i));
    ASSERT_NE(h, nullptr) << i;
    hs.push_back(h);
  }
  Collect();
  for (int i = 0; i < kN; ++i) ExpectIntact(*hs[i], i);
  // Scopes opened and closed many times reuse their storage.
  for (int round = 0; round < 100; ++round) {
    uffdgc_handle_scope s;
    ASSERT_EQ(uffdgc_handle_scope_open(mut_, &s), UFFDGC_OK);
    for (int i = 0; i < 300; ++i) ASSERT_NE(H(*hs[i]), nullptr);
    ASSERT_EQ(uffdgc_handle_scope_close(mut_, &s), UFFDGC_OK);
  }
  Collect();
  for (int i = 0; i < kN; i += 97) ExpectIntact(*hs[i], i);
}

// ---- globals ----

TEST_F(RootsTest, GlobalsKeepObjectsAliveAndAreUpdated) {
  Garbage(50000);
  uffdgc_ref a = AllocId(types_.node, 1);
  uffdgc_global* g = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, a, &g), UFFDGC_OK);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(uffdgc_global_get(g), a);
  Collect();
  uffdgc_ref now = uffdgc_global_get(g);
  ExpectIntact(now, 1);
  EXPECT_NE(now, a) << "object behind garbage did not move";
  // set: the old referent is no longer rooted.
  uffdgc_ref* wa = Watch(&now);  // `now` is stale only after a collection; Watch allocates once
  uffdgc_ref b = AllocId(types_.leaf, 2);
  uffdgc_global_set(g, b);
  EXPECT_EQ(uffdgc_global_get(g), b);
  Collect();
  EXPECT_EQ(Watched(wa), 0u);
  ExpectIntact(uffdgc_global_get(g), 2);
  // A null global, then destroy: the referent dies.
  uffdgc_global* gnull = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, 0, &gnull), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_get(gnull), 0u);
  uffdgc_ref bb = uffdgc_global_get(g);
  uffdgc_ref* wb = Watch(&bb);
  EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_destroy(heap_, gnull), UFFDGC_OK);
  EXPECT_EQ(uffdgc_global_get(g), 0u) << "a destroyed global still reads its referent";
  Collect();
  EXPECT_EQ(Watched(wb), 0u);
}

TEST_F(RootsTest, GlobalsFromAnotherAttachedThread) {
  std::atomic<uffdgc_global*> g{nullptr};
  std::atomic<bool> go{false};
  MutatorThread t(heap_, [&](uffdgc_mutator* m) {
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc(m, types_.leaf, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    Word(r, kIdOffset) = 5;
    Word(r, 16) = ScalarFor(5);
    Word(r, 24) = ScalarFor(6);
    uffdgc_global* gg = nullptr;
    ASSERT_EQ(uffdgc_global_create(heap_, r, &gg), UFFDGC_OK);
    g.store(gg);
    ParkedWait(m, go);
  });
  Watchdog dog("GlobalsFromAnotherAttachedThread");
  while (g.load() == nullptr) {
    uffdgc_poll(mut_);
    std::this_thread::yield();
  }
  Garbage(1000);
  Collect();
  ExpectIntact(uffdgc_global_get(g.load()), 5);
  go.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);  // never block while running
  t.Join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  Collect();
  ExpectIntact(uffdgc_global_get(g.load()), 5);  // globals outlive their creator
  EXPECT_EQ(uffdgc_global_destroy(heap_, g.load()), UFFDGC_OK);
}

// ---- pins ----

TEST_F(RootsTest, PinnedObjectKeepsAddressAndStaysAlive) {
  Garbage(200000);
  uffdgc_ref p = AllocId(types_.node, 1);
  ASSERT_EQ(uffdgc_pin(mut_, p), UFFDGC_OK);
  Garbage(200000);
  uffdgc_ref* live = H(AllocId(types_.leaf, 2));  // unpinned, pages away from p
  const uffdgc_ref live_before = *live;
  Store(p, kNodeRefs[0], *live);  // the pinned object's references are still updated
  uffdgc_ref* w = Watch(&p);
  Collect();
  // No handle refers to p: only the pin keeps it.
  EXPECT_EQ(Watched(w), p) << "pinned object moved or died";
  ExpectIntact(p, 1);
  ExpectIntact(*live, 2);
  EXPECT_NE(*live, live_before) << "unpinned object far from the pinned page did not move";
  EXPECT_EQ(*Slot(p, kNodeRefs[0]), *live) << "a pinned object's reference was not updated";
  Collect();
  EXPECT_EQ(Watched(w), p);
  ExpectIntact(p, 1);
  ASSERT_EQ(uffdgc_unpin(mut_, p), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(w), 0u) << "unpinned unreachable object survived";
  ExpectIntact(*live, 2);
}

// Issue 3 and design: .embedder.roots: "pinned pages left in place" / "their page is not moved".
// Live objects on other pages, also below the pinned one, still compact.
TEST_F(RootsTest, OnlyThePinnedPageStaysInPlace) {
  Garbage(400000);
  uffdgc_ref* below = H(AllocId(types_.leaf, 1));  // ~100 pages below the pinned object
  const uffdgc_ref below_before = *below;
  Garbage(400000);
  uffdgc_ref p = AllocId(types_.node, 2);
  ASSERT_EQ(uffdgc_pin(mut_, p), UFFDGC_OK);
  Garbage(100000);
  uffdgc_ref* above = H(AllocId(types_.leaf, 3));
  const uffdgc_ref above_before = *above;
  Collect();
  ExpectIntact(p, 2);
  EXPECT_GE(HeapStats().live_bytes_last, kNodeSize + 2 * kLeafSize);
  ExpectIntact(*below, 1);
  ExpectIntact(*above, 3);
  EXPECT_NE(*above, above_before);
  EXPECT_NE(*below, below_before)
      << "a live object 100 pages below the pinned page did not move: the whole heap below "
         "the highest pin was left in place";
  ASSERT_EQ(uffdgc_unpin(mut_, p), UFFDGC_OK);
}

TEST_F(RootsTest, PinsNest) {
  Garbage(100000);
  uffdgc_ref p = AllocId(types_.leaf, 1);
  ASSERT_EQ(uffdgc_pin(mut_, p), UFFDGC_OK);
  ASSERT_EQ(uffdgc_pin(mut_, p), UFFDGC_OK);
  uffdgc_ref* w = Watch(&p);
  ASSERT_EQ(uffdgc_unpin(mut_, p), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(w), p) << "one unpin of two pins released the object";
  ExpectIntact(p, 1);
  ASSERT_EQ(uffdgc_unpin(mut_, p), UFFDGC_OK);
  EXPECT_EQ(uffdgc_unpin(mut_, p), UFFDGC_ENOTFOUND);
  Collect();
  EXPECT_EQ(Watched(w), 0u);
}

TEST_F(RootsTest, PinnedObjectWithHandleMayMoveAfterUnpin) {
  Garbage(100000);
  uffdgc_ref* h = H(AllocId(types_.node, 1));
  const uffdgc_ref addr = *h;
  ASSERT_EQ(uffdgc_pin(mut_, *h), UFFDGC_OK);
  Collect();
  EXPECT_EQ(*h, addr);
  ASSERT_EQ(uffdgc_unpin(mut_, *h), UFFDGC_OK);
  Collect();
  ExpectIntact(*h, 1);  // it may move now; it must stay intact
}

TEST_F(RootsTest, ManyPinnedObjectsAmongMovingOnes) {
  constexpr int kN = 600;
  uffdgc_ref* arr = H(Alloc(types_.ref_array, kN));
  std::vector<uffdgc_ref> pinned;
  for (int i = 0; i < kN; ++i) {
    Garbage(700);
    uffdgc_ref r = i % 3 == 0 ? AllocId(types_.bytes, i, 100) : AllocId(types_.node, i);
    if (i % 7 == 0) {
      ASSERT_EQ(uffdgc_pin(mut_, r), UFFDGC_OK);
      pinned.push_back(r);
    }
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
    if (TypeOf(r) == types_.node && i > 0) Store(r, kNodeRefs[0], *Elem(*arr, i - 1));
  }
  Collect();
  Collect();
  size_t k = 0;
  for (int i = 0; i < kN; ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    ExpectIntact(r, i);
    if (i % 7 == 0) {
      EXPECT_EQ(r, pinned[k++]) << "pinned object " << i << " moved";
    }
    if (TypeOf(r) == types_.node && i > 0) {
      EXPECT_EQ(*Slot(r, kNodeRefs[0]), *Elem(*arr, i - 1));
    }
  }
  for (uffdgc_ref p : pinned) ASSERT_EQ(uffdgc_unpin(mut_, p), UFFDGC_OK);
  Collect();
  for (int i = 0; i < kN; ++i) ExpectIntact(*Elem(*arr, i), i);
}

TEST_F(RootsTest, PinningNonmovingAndLargeObjectsKeepsThemAlive) {
  uffdgc_ref n = AllocId(types_.node, 1, 0, UFFDGC_ALLOC_NONMOVING);
  uffdgc_ref l = AllocId(types_.bytes, 2, 100000);
  ASSERT_EQ(uffdgc_pin(mut_, n), UFFDGC_OK);
  ASSERT_EQ(uffdgc_pin(mut_, l), UFFDGC_OK);
  uffdgc_ref* wn = Watch(&n);
  uffdgc_ref* wl = Watch(&l);
  Collect();
  EXPECT_EQ(Watched(wn), n);
  EXPECT_EQ(Watched(wl), l);
  ExpectIntact(n, 1);
  ExpectIntact(l, 2);
  ASSERT_EQ(uffdgc_unpin(mut_, n), UFFDGC_OK);
  ASSERT_EQ(uffdgc_unpin(mut_, l), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(wn), 0u);
  EXPECT_EQ(Watched(wl), 0u);
}

// ---- weak containers ----

TEST_F(RootsTest, WeakSlotClearedWhenReferentDiesAndUpdatedWhenAlive) {
  uffdgc_ref* w = H(AllocId(types_.weak, 1));
  Garbage(50000);
  uffdgc_ref* live = H(AllocId(types_.leaf, 2));
  uffdgc_ref dead = AllocId(types_.leaf, 3);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[0]), *live);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[1]), dead);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[2]), *w);  // weak self-reference
  // Before any collection, loads return what was stored.
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[1])), dead);
  const uint64_t cleared_before = HeapStats().weak_slots_cleared;
  const uffdgc_ref live_before = *live;
  Collect();
  EXPECT_NE(*live, live_before);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[0])), *live);
  EXPECT_EQ(*Slot(*w, kWeakRefs[0]), *live) << "live weak slot not updated";
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[1])), 0u);
  EXPECT_EQ(*Slot(*w, kWeakRefs[1]), 0u) << "dead weak slot not cleared";
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[2])), *w);
  ExpectIntact(*w, 1);
  EXPECT_EQ(HeapStats().weak_slots_cleared, cleared_before + 1);
}

TEST_F(RootsTest, WeakContainerDoesNotKeepReferentsAlive) {
  // A chain reachable only through weak slots dies entirely, even via two weak hops.
  uffdgc_ref* w1 = H(Alloc(types_.weak));
  uffdgc_ref* w2 = H(Alloc(types_.weak));
  uffdgc_ref* n = H(AllocId(types_.node, 1));
  uffdgc_ref c = AllocId(types_.leaf, 2);
  Store(*n, kNodeRefs[0], c);
  uffdgc_store_ref(mut_, *w1, Slot(*w1, kWeakRefs[0]), *n);
  uffdgc_store_ref(mut_, *w2, Slot(*w2, kWeakRefs[0]), c);
  *n = 0;
  Collect();
  EXPECT_EQ(uffdgc_load_weak(mut_, *w1, Slot(*w1, kWeakRefs[0])), 0u);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w2, Slot(*w2, kWeakRefs[0])), 0u);
}

TEST_F(RootsTest, WeakReferentReachableFromStrongPathSurvives) {
  uffdgc_ref* w = H(Alloc(types_.weak));
  uffdgc_ref* root = H(AllocId(types_.node, 1));
  Garbage(20000);
  uffdgc_ref mid = AllocId(types_.node, 2);
  Store(*root, kNodeRefs[0], mid);
  Garbage(20000);
  uffdgc_ref leaf = AllocId(types_.leaf, 3);
  Store(mid, kNodeRefs[0], leaf);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[0]), leaf);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[1]), mid);
  Collect();
  uffdgc_ref mid_now = *Slot(*root, kNodeRefs[0]);
  uffdgc_ref leaf_now = *Slot(mid_now, kNodeRefs[0]);
  ExpectIntact(mid_now, 2);
  ExpectIntact(leaf_now, 3);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[0])), leaf_now);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[1])), mid_now);
}

TEST_F(RootsTest, VariableWeakArray) {
  uffdgc_type_info t = ArrayInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS | UFFDGC_TYPE_WEAK_CONTAINER, 8,
                                 "WeakArray");
  uint32_t idx = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  constexpr int kN = 100;
  uffdgc_ref* wa = H(Alloc(idx, kN));
  uffdgc_ref* strong = H(Alloc(types_.ref_array, kN));
  for (int i = 0; i < kN; ++i) {
    Garbage(400);
    uffdgc_ref r = AllocId(types_.leaf, i);
    uffdgc_store_ref(mut_, *wa, Elem(*wa, i), r);
    if (i % 2 == 0) uffdgc_store_ref(mut_, *strong, Elem(*strong, i), r);
  }
  Collect();
  for (int i = 0; i < kN; ++i) {
    uffdgc_ref r = uffdgc_load_weak(mut_, *wa, Elem(*wa, i));
    if (i % 2 == 0) {
      EXPECT_EQ(r, *Elem(*strong, i));
      ExpectIntact(r, i);
    } else {
      EXPECT_EQ(r, 0u) << i;
    }
  }
}

TEST_F(RootsTest, WeakSlotsToNonmovingAndLargeObjects) {
  uffdgc_ref* w = H(Alloc(types_.weak));
  uffdgc_ref* nm_live = H(AllocId(types_.nm_node, 1));
  uffdgc_ref nm_dead = AllocId(types_.nm_node, 2);
  uffdgc_ref large_dead = AllocId(types_.bytes, 3, 100000);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[0]), *nm_live);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[1]), nm_dead);
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[2]), large_dead);
  Collect();
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[0])), *nm_live);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[1])), 0u);
  EXPECT_EQ(uffdgc_load_weak(mut_, *w, Slot(*w, kWeakRefs[2])), 0u);
}

// ---- finalization ----

TEST_F(RootsTest, FinalizationQueueEmptyInitially) {
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_EEMPTY);
  Collect();
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &r), UFFDGC_EEMPTY);
}

TEST_F(RootsTest, UnreachableFinalizableObjectIsQueuedExactlyOnce) {
  Garbage(20000);
  AllocId(types_.final_leaf, 7);  // dropped at once
  uffdgc_ref* kept = H(AllocId(types_.final_leaf, 8));
  const uint64_t queued_before = HeapStats().objects_finalizable_queued;
  Collect();
  EXPECT_EQ(HeapStats().objects_finalizable_queued, queued_before + 1);
  // Survives further collections while queued (and may move); still one entry.
  Garbage(20000);
  Collect();
  uffdgc_ref f = 0;
  ASSERT_EQ(uffdgc_finalization_pop(mut_, &f), UFFDGC_OK);
  ASSERT_NE(f, 0u);
  EXPECT_EQ(TypeOf(f), types_.final_leaf);
  ExpectIntact(f, 7);
  uffdgc_ref again = 0;
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &again), UFFDGC_EEMPTY);
  // Dropped after popping: collected, never queued again.
  Collect();
  Collect();
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &again), UFFDGC_EEMPTY);
  EXPECT_EQ(HeapStats().objects_finalizable_queued, queued_before + 1);
  ExpectIntact(*kept, 8);
}

TEST_F(RootsTest, PoppedObjectCanBeRootedAndLivesOn) {
  AllocId(types_.final_leaf, 1);
  Collect();
  uffdgc_ref f = 0;
  ASSERT_EQ(uffdgc_finalization_pop(mut_, &f), UFFDGC_OK);
  uffdgc_ref* h = H(f);  // resurrected by the embedder
  uffdgc_ref* w = Watch(h);
  Garbage(20000);
  Collect();
  ExpectIntact(*h, 1);
  EXPECT_EQ(Watched(w), *h);
  uffdgc_ref again = 0;
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &again), UFFDGC_EEMPTY);
  *h = 0;
  Collect();
  EXPECT_EQ(Watched(w), 0u) << "a finalized object dropped again was not collected";
  EXPECT_EQ(uffdgc_finalization_pop(mut_, &again), UFFDGC_EEMPTY) << "finalized twice";
}

TEST_F(RootsTest, ManyFinalizableObjects) {
  constexpr int kN = 200;
  uffdgc_ref* keep = H(Alloc(types_.ref_array, kN));
  for (int i = 0; i < kN; ++i) {
    Garbage(300);
    uffdgc_ref f = AllocId(types_.final_leaf, 1000 + i);
    if (i % 2 == 0) uffdgc_store_ref(mut_, *keep, Elem(*keep, i), f);
  }
  Collect();
  std::multiset<uint64_t> popped;
  uffdgc_ref f = 0;
  while (uffdgc_finalization_pop(mut_, &f) == UFFDGC_OK) {
    ExpectIntact(f, Id(f));
    popped.insert(Id(f));
    if (popped.size() > static_cast<size_t>(kN)) break;
  }
  EXPECT_EQ(popped.size(), static_cast<size_t>(kN / 2));
  for (int i = 1; i < kN; i += 2) EXPECT_EQ(popped.count(1000 + i), 1u) << i;
  for (int i = 0; i < kN; i += 2) ExpectIntact(*Elem(*keep, i), 1000 + i);
  // Drop the rest: they are queued by the next collection.
  *keep = 0;
  Collect();
  popped.clear();
  while (uffdgc_finalization_pop(mut_, &f) == UFFDGC_OK) {
    popped.insert(Id(f));
    if (popped.size() > static_cast<size_t>(kN)) break;
  }
  EXPECT_EQ(popped.size(), static_cast<size_t>(kN / 2));
  for (int i = 0; i < kN; i += 2) EXPECT_EQ(popped.count(1000 + i), 1u) << i;
}

TEST_F(RootsTest, QueuedFinalizableObjectKeepsWhatItReaches) {
  uffdgc_ref f = AllocId(types_.final_node, 1);
  uffdgc_ref* fh = H(f);
  Garbage(20000);
  uffdgc_ref child = AllocId(types_.node, 2);
  Store(*fh, kNodeRefs[0], child);
  Garbage(20000);
  uffdgc_ref grandchild = AllocId(types_.bytes, 3, 500);
  Store(child, kNodeRefs[0], grandchild);
  *fh = 0;
  Collect();
  Garbage(20000);
  Collect();  // a second cycle while queued
  uffdgc_ref got = 0;
  ASSERT_EQ(uffdgc_finalization_pop(mut_, &got), UFFDGC_OK);
  ExpectIntact(got, 1);
  uffdgc_ref c = *Slot(got, kNodeRefs[0]);
  ExpectIntact(c, 2);
  ExpectIntact(*Slot(c, kNodeRefs[0]), 3);
}

}  // namespace
}  // namespace heaptest
