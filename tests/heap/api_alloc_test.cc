// Heap API unit tests: allocation (default, non-moving, large, variable, fast path), object
// size, zeroing, reference stores (single, bulk, overlapping), and that objects really move
// and survive byte for byte.
#include <algorithm>
#include <map>
#include <random>

#include "heap_test_support.h"

namespace heaptest {
namespace {

class AllocTest : public HeapFixture {};

bool IsZero(uffdgc_ref r, size_t from, size_t to) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(r);
  for (size_t i = from; i < to; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST_F(AllocTest, DefaultFixedObjectIsZeroedWithHeader) {
  uffdgc_ref r = Alloc(types_.node);
  ASSERT_NE(r, 0u);
  EXPECT_EQ(Word(r, 0), static_cast<uint64_t>(types_.node)) << "embedder header bits must be 0";
  EXPECT_TRUE(IsZero(r, 8, kNodeSize));
  EXPECT_EQ(uffdgc_object_size(mut_, r), kNodeSize);
  uffdgc_ref l = Alloc(types_.leaf);
  ASSERT_NE(l, 0u);
  EXPECT_NE(l, r);
  EXPECT_EQ(TypeOf(l), types_.leaf);
  EXPECT_EQ(uffdgc_object_size(mut_, l), kLeafSize);
}

TEST_F(AllocTest, VariableLengthObjects) {
  for (uint64_t n : {0ull, 1ull, 7ull, 8ull, 13ull, 1000ull}) {
    uffdgc_ref b = Alloc(types_.bytes, n);
    ASSERT_NE(b, 0u);
    EXPECT_EQ(TypeOf(b), types_.bytes);
    EXPECT_EQ(Length(b), n) << "length field not written";
    EXPECT_EQ(uffdgc_object_size(mut_, b), (kArrayBase + n + 7) / 8 * 8) << n;
    EXPECT_TRUE(IsZero(b, kArrayBase, kArrayBase + n));
    EXPECT_EQ(Id(b), 0u);
  }
  for (uint64_t n : {0ull, 1ull, 5ull, 512ull}) {
    uffdgc_ref a = Alloc(types_.ref_array, n);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(Length(a), n);
    EXPECT_EQ(uffdgc_object_size(mut_, a), kArrayBase + 8 * n);
    EXPECT_TRUE(IsZero(a, kArrayBase, kArrayBase + 8 * n));
  }
  // elem_size that is not a multiple of 8, length field not right after the header.
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF | UFFDGC_TYPE_VARIABLE, 20, nullptr, 0, "odd");
  t.elem_size = 3;
  t.length_offset = 8;
  uint32_t odd = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &odd), UFFDGC_OK);
  uffdgc_ref o = Alloc(odd, 5);
  ASSERT_NE(o, 0u);
  EXPECT_EQ(Word(o, 8), 5u);
  EXPECT_EQ(uffdgc_object_size(mut_, o), 40u);  // 20 + 15 = 35 -> 40
}

TEST_F(AllocTest, MemoryIsZeroedAfterCollectionsReuseIt) {
  // Fill the heap with non-zero garbage, collect, then every new object must be zero again.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2000; ++i) {
      uffdgc_ref g = Alloc(types_.bytes, 512);
      ASSERT_NE(g, 0u);
      std::memset(Bytes(g), 0xAB, 512);
      Word(g, kIdOffset) = ~0ull;
      // Only non-reference words get junk: reference slots must always hold references.
      uffdgc_ref n = Alloc(types_.node);
      ASSERT_NE(n, 0u);
      Word(n, kIdOffset) = ~0ull;
      Word(n, kNodeScalar) = 0xCDCDCDCDCDCDCDCDull;
      uffdgc_ref l = Alloc(types_.leaf);
      ASSERT_NE(l, 0u);
      std::memset(reinterpret_cast<void*>(l + 8), 0xCD, kLeafSize - 8);
    }
    Collect();
    for (int i = 0; i < 2000; ++i) {
      uffdgc_ref n = Alloc(types_.node);
      ASSERT_NE(n, 0u);
      ASSERT_TRUE(IsZero(n, 8, kNodeSize)) << "round " << round << " object " << i;
      uffdgc_ref b = Alloc(types_.bytes, 300);
      ASSERT_NE(b, 0u);
      ASSERT_TRUE(IsZero(b, 8, 16)) << "round " << round << " object " << i;
      ASSERT_TRUE(IsZero(b, kArrayBase, kArrayBase + 300)) << "round " << round;
      uffdgc_ref f;
      ASSERT_EQ(uffdgc_alloc_fast(mut_, types_.leaf, kLeafSize, &f), UFFDGC_OK);
      ASSERT_TRUE(IsZero(f, 8, kLeafSize)) << "round " << round << " fast object " << i;
    }
  }
}

TEST_F(AllocTest, FastPathAllocatesValidObjectsAcrossTlabs) {
  constexpr size_t kCount = 20000;  // ~1 MiB: many TLAB refills through uffdgc_alloc_slow
  uffdgc_ref* arr = H(Alloc(types_.ref_array, kCount));
  ASSERT_NE(*arr, 0u);
  for (size_t i = 0; i < kCount; ++i) {
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc_fast(mut_, types_.node, kNodeSize, &r), UFFDGC_OK) << i;
    ASSERT_NE(r, 0u);
    ASSERT_EQ(r % 8, 0u);
    ASSERT_EQ(Word(r, 0), static_cast<uint64_t>(types_.node));
    ASSERT_TRUE(IsZero(r, 8, kNodeSize)) << i;
    Word(r, kIdOffset) = i;
    Word(r, kNodeScalar) = ScalarFor(i);
    if (i > 0) uffdgc_store_ref(mut_, r, Slot(r, kNodeRefs[0]), *Elem(*arr, i - 1));
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
    uffdgc_poll(mut_);
  }
  // Objects do not overlap.
  std::vector<uffdgc_ref> addrs(kCount);
  for (size_t i = 0; i < kCount; ++i) addrs[i] = *Elem(*arr, i);
  std::sort(addrs.begin(), addrs.end());
  for (size_t i = 1; i < kCount; ++i) ASSERT_GE(addrs[i] - addrs[i - 1], kNodeSize);
  Collect();
  for (size_t i = 0; i < kCount; ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    ASSERT_EQ(TypeOf(r), types_.node);
    ASSERT_EQ(uffdgc_object_size(mut_, r), kNodeSize);
    ASSERT_EQ(Id(r), i);
    ASSERT_EQ(Word(r, kNodeScalar), ScalarFor(i));
    if (i > 0) {
      ASSERT_EQ(*Slot(r, kNodeRefs[0]), *Elem(*arr, i - 1));
    }
  }
  // The fast path keeps working after a collection retired the TLAB.
  uffdgc_ref r = 0;
  ASSERT_EQ(uffdgc_alloc_fast(mut_, types_.leaf, kLeafSize, &r), UFFDGC_OK);
  EXPECT_EQ(TypeOf(r), types_.leaf);
}

TEST_F(AllocTest, FastPathRoundsOddSizes) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 12, nullptr, 0, "odd12");
  uint32_t idx = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  uffdgc_ref a = 0, b = 0;
  ASSERT_EQ(uffdgc_alloc_fast(mut_, idx, 12, &a), UFFDGC_OK);
  ASSERT_EQ(uffdgc_alloc_fast(mut_, idx, 12, &b), UFFDGC_OK);
  EXPECT_EQ(uffdgc_object_size(mut_, a), 16u);
  EXPECT_EQ(b % 8, 0u);
  EXPECT_NE(a, b);
}

TEST_F(AllocTest, SlowPathDirectly) {
  uffdgc_ref r = 0;
  ASSERT_EQ(uffdgc_alloc_slow(mut_, types_.node, kNodeSize, &r), UFFDGC_OK);
  ASSERT_NE(r, 0u);
  EXPECT_EQ(TypeOf(r), types_.node);
  EXPECT_TRUE(IsZero(r, 8, kNodeSize));
  EXPECT_EQ(uffdgc_object_size(mut_, r), kNodeSize);
}

TEST_F(AllocTest, EmbedderHeaderBitsArePreservedAcrossMoves) {
  uffdgc_ref* arr = H(Alloc(types_.ref_array, 100));
  for (uint32_t i = 0; i < 100; ++i) {
    Garbage(2000);
    uffdgc_ref r = AllocId(i % 2 ? types_.node : types_.bytes, i, i % 2 ? 0 : 40);
    SetHeaderHigh(r, 0xC0DE0000u | i);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
  }
  Collect();
  Collect();
  for (uint32_t i = 0; i < 100; ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    EXPECT_EQ(HeaderHigh(r), 0xC0DE0000u | i);
    EXPECT_EQ(TypeOf(r), i % 2 ? types_.node : types_.bytes);
    ExpectIntact(r, i);
  }
}

// The core promise: after a collection with garbage interleaved, live objects have moved and
// every byte that is not a reference is unchanged; references point at the moved targets.
TEST_F(AllocTest, ObjectsMoveAndSurviveByteForByte) {
  constexpr uint32_t kLive = 2000;
  std::mt19937_64 rng(12345);
  uffdgc_ref* arr = H(Alloc(types_.ref_array, kLive));
  struct Rec {
    uffdgc_ref addr;
    uint32_t type;
    std::vector<uint8_t> bytes;
  };
  std::vector<Rec> recs(kLive);
  for (uint32_t i = 0; i < kLive; ++i) {
    Garbage(64 + rng() % 3000, 40 + rng() % 400);
    uint32_t kind = rng() % 4;
    uffdgc_ref r;
    if (kind == 0) {
      r = AllocId(types_.bytes, i, rng() % 600);
    } else if (kind == 1) {
      r = AllocId(types_.leaf, i);
    } else if (kind == 2) {
      r = AllocId(types_.node, i);
    } else {
      r = AllocId(types_.traced, i);
      Word(r, kTracedMask) = 0b00011;  // slots 0, 1 refs; 2..4 scalars
      for (uint32_t k = 2; k < kTracedSlots; ++k) Word(r, kTracedSlot0 + 8 * k) = rng();
    }
    ASSERT_NE(r, 0u);
    SetHeaderHigh(r, static_cast<uint32_t>(rng()));
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
    // Links: node slot 0 -> previous live object, slot 1 -> itself, slot 2 -> element 0.
    if (kind == 2) {
      if (i > 0) Store(r, kNodeRefs[0], *Elem(*arr, i - 1));
      Store(r, kNodeRefs[1], r);
      Store(r, kNodeRefs[2], *Elem(*arr, 0));
    } else if (kind == 3) {
      if (i > 0) Store(r, kTracedSlot0, *Elem(*arr, i - 1));
      Store(r, kTracedSlot0 + 8, r);
    }
  }
  for (uint32_t i = 0; i < kLive; ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    size_t size = uffdgc_object_size(mut_, r);
    recs[i].addr = r;
    recs[i].type = TypeOf(r);
    recs[i].bytes.assign(reinterpret_cast<uint8_t*>(r), reinterpret_cast<uint8_t*>(r) + size);
  }
  uffdgc_heap_stats before = HeapStats();
  Collect();
  uffdgc_heap_stats after = HeapStats();
  EXPECT_LT(after.moving_bytes_used, before.moving_bytes_used) << "nothing was compacted";
  EXPECT_GT(after.pages_compacted_last, 0u);

  std::map<uffdgc_ref, uint32_t> old_to_index;
  for (uint32_t i = 0; i < kLive; ++i) old_to_index[recs[i].addr] = i;
  uint32_t moved = 0;
  for (uint32_t i = 0; i < kLive; ++i) {
    uffdgc_ref r = *Elem(*arr, i);
    ASSERT_NE(r, 0u);
    ASSERT_EQ(uffdgc_object_size(mut_, r), recs[i].bytes.size()) << i;
    if (r != recs[i].addr) ++moved;
    const uint8_t* now = reinterpret_cast<const uint8_t*>(r);
    std::vector<bool> is_ref(recs[i].bytes.size(), false);
    if (recs[i].type == types_.node) {
      for (uint32_t off : kNodeRefs) std::fill_n(is_ref.begin() + off, 8, true);
    } else if (recs[i].type == types_.traced) {
      std::fill_n(is_ref.begin() + kTracedSlot0, 16, true);
    }
    for (size_t b = 0; b < recs[i].bytes.size(); ++b) {
      if (!is_ref[b]) {
        ASSERT_EQ(now[b], recs[i].bytes[b]) << "object " << i << " byte " << b;
      }
    }
    // References: same target object (by old address -> index), at its new address.
    auto check_ref = [&](size_t off) {
      uffdgc_ref old_target;
      std::memcpy(&old_target, &recs[i].bytes[off], 8);
      uffdgc_ref new_target = *Slot(r, off);
      if (old_target == 0) {
        EXPECT_EQ(new_target, 0u);
        return;
      }
      auto it = old_to_index.find(old_target);
      ASSERT_NE(it, old_to_index.end());
      EXPECT_EQ(new_target, *Elem(*arr, it->second)) << "object " << i << " slot " << off;
    };
    if (recs[i].type == types_.node) {
      for (uint32_t off : kNodeRefs) check_ref(off);
    } else if (recs[i].type == types_.traced) {
      check_ref(kTracedSlot0);
      check_ref(kTracedSlot0 + 8);
    }
  }
  EXPECT_GE(moved, kLive * 9 / 10) << "live objects behind garbage should slide down";
}

TEST_F(AllocTest, CyclesSurviveAndUnreachableCyclesDie) {
  uffdgc_ref* a = H(AllocId(types_.node, 1));
  Garbage(10000);
  uffdgc_ref* b = H(AllocId(types_.node, 2));
  Garbage(10000);
  uffdgc_ref* c = H(AllocId(types_.node, 3));
  Store(*a, kNodeRefs[0], *b);
  Store(*b, kNodeRefs[0], *c);
  Store(*c, kNodeRefs[0], *a);
  Store(*a, kNodeRefs[1], *a);
  // An unreachable cycle x <-> y, watched.
  uffdgc_ref* x = H(AllocId(types_.node, 10));
  uffdgc_ref* y = H(AllocId(types_.node, 11));
  Store(*x, kNodeRefs[0], *y);
  Store(*y, kNodeRefs[0], *x);
  uffdgc_ref* wx = Watch(x);
  *x = *y = 0;
  *b = *c = 0;
  Collect();
  EXPECT_EQ(Watched(wx), 0u) << "unreachable cycle survived";
  ExpectIntact(*a, 1);
  uffdgc_ref bb = *Slot(*a, kNodeRefs[0]);
  ExpectIntact(bb, 2);
  uffdgc_ref cc = *Slot(bb, kNodeRefs[0]);
  ExpectIntact(cc, 3);
  EXPECT_EQ(*Slot(cc, kNodeRefs[0]), *a);
  EXPECT_EQ(*Slot(*a, kNodeRefs[1]), *a);
}

// ---- non-moving and large objects ----

TEST_F(AllocTest, NonmovingKindNeverMovesAndItsReferencesAreUpdated) {
  Garbage(100000);
  uffdgc_ref* n = H(AllocId(types_.node, 1, 0, UFFDGC_ALLOC_NONMOVING));
  const uffdgc_ref addr = *n;
  Garbage(100000);
  uffdgc_ref child = AllocId(types_.leaf, 2);  // moving space, behind garbage
  Store(*n, kNodeRefs[0], child);
  Store(*n, kNodeRefs[1], *n);
  const uffdgc_ref child_before = child;
  Collect();
  EXPECT_EQ(*n, addr) << "non-moving object moved";
  ExpectIntact(*n, 1);
  EXPECT_EQ(*Slot(*n, kNodeRefs[1]), addr);
  uffdgc_ref c = *Slot(*n, kNodeRefs[0]);
  ExpectIntact(c, 2);
  EXPECT_NE(c, child_before) << "the moving child should have slid down";
  EXPECT_GE(HeapStats().nonmoving_bytes, kNodeSize);
  // Unreferenced non-moving objects die.
  uffdgc_ref* w = Watch(n);
  *n = 0;
  Collect();
  EXPECT_EQ(Watched(w), 0u);
}

TEST_F(AllocTest, NonmovingTypeNeverMoves) {
  Garbage(100000);
  uffdgc_ref* n = H(AllocId(types_.nm_node, 1));  // default kind: the type forces non-moving
  const uffdgc_ref addr = *n;
  Garbage(100000);
  Collect();
  Collect();
  EXPECT_EQ(*n, addr);
  ExpectIntact(*n, 1);
}

TEST_F(AllocTest, LargeKindAndThresholdObjectsNeverMove) {
  Garbage(100000);
  uffdgc_ref* small_large = H(AllocId(types_.leaf, 1, 0, UFFDGC_ALLOC_LARGE));
  const uffdgc_ref a1 = *small_large;
  uffdgc_ref* big = H(AllocId(types_.bytes, 2, 200000));  // above the 64 KiB default threshold
  const uffdgc_ref a2 = *big;
  uffdgc_ref* big_refs = H(AllocId(types_.ref_array, 3, 10000));  // 80 KiB of references
  const uffdgc_ref a3 = *big_refs;
  EXPECT_GE(HeapStats().large_bytes, 200000u + 80000u);
  for (uint32_t i = 0; i < 10000; i += 10) {
    Garbage(300);
    uffdgc_ref c = AllocId(types_.leaf, 1000 + i);
    uffdgc_store_ref(mut_, *big_refs, Elem(*big_refs, i), c);
  }
  Collect();
  EXPECT_EQ(*small_large, a1);
  EXPECT_EQ(*big, a2);
  EXPECT_EQ(*big_refs, a3);
  ExpectIntact(*small_large, 1);
  ExpectIntact(*big, 2);
  EXPECT_EQ(Id(*big_refs), 3u);
  for (uint32_t i = 0; i < 10000; ++i) {
    uffdgc_ref c = *Elem(*big_refs, i);
    if (i % 10 == 0) {
      ExpectIntact(c, 1000 + i);
    } else {
      ASSERT_EQ(c, 0u);
    }
  }
  // Unreferenced large objects die and their bytes are accounted back.
  uffdgc_ref* w = Watch(big);
  uint64_t large_before = HeapStats().large_bytes;
  *big = 0;
  Collect();
  EXPECT_EQ(Watched(w), 0u);
  EXPECT_LE(HeapStats().large_bytes + 200000u, large_before);
}

// UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS: a big reference array lives in the moving space
// (and moves, its references kept), a big byte array still in the large-object space.
TEST_F(AllocTest, LargeReferenceObjectsMoveWhenAsked) {
  uffdgc_heap_options o = Options(16u << 20);
  o.large_object_threshold = 4096;
  o.flags |= UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS;
  uffdgc_heap* h = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &h), UFFDGC_OK);
  Types t;
  ASSERT_EQ(RegisterStandardTypes(h, &t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(h, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope s;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &s), UFFDGC_OK);
  uffdgc_ref r = 0;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(uffdgc_alloc(m, t.bytes, 100, 0, &r), UFFDGC_OK);  // garbage below
  uffdgc_ref arr = 0, leaf = 0;
  ASSERT_EQ(uffdgc_alloc(m, t.ref_array, 2000, 0, &arr), UFFDGC_OK);  // 16 KiB of references
  uffdgc_ref* harr = uffdgc_handle_new(m, arr);
  ASSERT_EQ(uffdgc_alloc(m, t.bytes, 5000, 0, &leaf), UFFDGC_OK);
  uffdgc_ref* hleaf = uffdgc_handle_new(m, leaf);
  for (uint64_t i = 0; i < 2000; i += 97) {
    uffdgc_ref e = 0;
    ASSERT_EQ(uffdgc_alloc(m, t.leaf, 0, 0, &e), UFFDGC_OK);
    Word(e, kIdOffset) = 1000 + i;
    uffdgc_store_ref(m, *harr, Elem(*harr, i), e);
  }
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(h, &st), UFFDGC_OK);
  EXPECT_GE(st.large_bytes, 5000u);
  EXPECT_LT(st.large_bytes, 16000u) << "the reference array went to the large-object space";
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
  EXPECT_NE(*harr, arr) << "the reference array did not move (garbage lay below it)";
  EXPECT_EQ(*hleaf, leaf) << "a large leaf object moved";
  for (uint64_t i = 0; i < 2000; ++i) {
    const uffdgc_ref e = *Elem(*harr, i);
    if (i % 97 == 0) {
      ASSERT_NE(e, 0u);
      EXPECT_EQ(Id(e), 1000 + i);
    } else {
      EXPECT_EQ(e, 0u);
    }
  }
  ASSERT_EQ(uffdgc_handle_scope_close(m, &s), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(h), UFFDGC_OK);
}

TEST_F(AllocTest, LargeThresholdOption) {
  // Covered by a dedicated heap: threshold 4 KiB, so a 5 KiB default allocation is large.
  uffdgc_heap_options o = Options(16u << 20);
  o.large_object_threshold = 4096;
  uffdgc_heap* h = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &h), UFFDGC_OK);
  Types t;
  ASSERT_EQ(RegisterStandardTypes(h, &t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  // One thread may attach to a second heap.
  ASSERT_EQ(uffdgc_mutator_attach(h, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope s;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &s), UFFDGC_OK);
  uffdgc_ref r = 0;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(uffdgc_alloc(m, t.bytes, 100, 0, &r), UFFDGC_OK);
  ASSERT_EQ(uffdgc_alloc(m, t.bytes, 5000, 0, &r), UFFDGC_OK);
  Word(r, kIdOffset) = 99;
  uffdgc_ref* hr = uffdgc_handle_new(m, r);
  ASSERT_NE(hr, nullptr);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(h, &st), UFFDGC_OK);
  EXPECT_GE(st.large_bytes, 5000u);
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
  EXPECT_EQ(*hr, r) << "an object above the threshold moved";
  EXPECT_EQ(Id(*hr), 99u);
  ASSERT_EQ(uffdgc_handle_scope_close(m, &s), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(h), UFFDGC_OK);
}

// ---- reference stores ----

TEST_F(AllocTest, StoreRefAndLoadRef) {
  uffdgc_ref* n = H(AllocId(types_.node, 1));
  uffdgc_ref* l = H(AllocId(types_.leaf, 2));
  uffdgc_store_ref(mut_, *n, Slot(*n, kNodeRefs[2]), *l);
  EXPECT_EQ(uffdgc_load_ref(Slot(*n, kNodeRefs[2])), *l);
  uffdgc_store_ref_slow(mut_, *n, Slot(*n, kNodeRefs[1]), *n);  // the exported slow path
  EXPECT_EQ(uffdgc_load_ref(Slot(*n, kNodeRefs[1])), *n);
  uffdgc_store_ref(mut_, *n, Slot(*n, kNodeRefs[2]), 0);
  EXPECT_EQ(uffdgc_load_ref(Slot(*n, kNodeRefs[2])), 0u);
}

TEST_F(AllocTest, StoreRefsCopiesFromOutsideAndBetweenArrays) {
  constexpr size_t kN = 64;
  uffdgc_ref* src = H(Alloc(types_.ref_array, kN));
  uffdgc_ref* dst = H(Alloc(types_.ref_array, kN));
  for (size_t i = 0; i < kN; ++i) {
    Garbage(500);
    uffdgc_ref r = AllocId(types_.leaf, i);
    uffdgc_store_ref(mut_, *src, Elem(*src, i), r);
  }
  // From a C array (readable memory outside the heap) into dst[10..20).
  uffdgc_ref outside[10];
  for (size_t i = 0; i < 10; ++i) outside[i] = *Elem(*src, 50 + i);
  uffdgc_store_refs(mut_, *dst, Elem(*dst, 10), outside, 10);
  // Between arrays: src[0..10) -> dst[0..10), src[30..40) -> dst[54..64).
  uffdgc_store_refs(mut_, *dst, Elem(*dst, 0), Elem(*src, 0), 10);
  uffdgc_store_refs(mut_, *dst, Elem(*dst, 54), Elem(*src, 30), 10);
  uffdgc_store_refs(mut_, *dst, Elem(*dst, 20), Elem(*src, 0), 0);  // no-op
  *src = 0;  // dst alone keeps the copied objects alive
  Collect();
  for (size_t i = 0; i < kN; ++i) {
    uffdgc_ref r = *Elem(*dst, i);
    if (i < 10) {
      ExpectIntact(r, i);
    } else if (i < 20) {
      ExpectIntact(r, 50 + (i - 10));
    } else if (i >= 54) {
      ExpectIntact(r, 30 + (i - 54));
    } else {
      EXPECT_EQ(r, 0u) << i;
    }
  }
}

TEST_F(AllocTest, StoreRefsOverlapBehavesLikeMemmove) {
  constexpr size_t kN = 32;
  uffdgc_ref* arr = H(Alloc(types_.ref_array, kN));
  std::vector<uint64_t> model(kN);
  for (size_t i = 0; i < kN; ++i) {
    uffdgc_ref r = AllocId(types_.leaf, 100 + i);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), r);
    model[i] = 100 + i;
  }
  auto check = [&](const char* what) {
    for (size_t i = 0; i < kN; ++i) {
      uffdgc_ref r = *Elem(*arr, i);
      ASSERT_NE(r, 0u) << what << " " << i;
      ASSERT_EQ(Id(r), model[i]) << what << " element " << i;
    }
  };
  // Forward overlap: dst above src.
  uffdgc_store_refs(mut_, *arr, Elem(*arr, 5), Elem(*arr, 2), 20);
  std::copy_backward(model.begin() + 2, model.begin() + 22, model.begin() + 25);
  check("dst above src");
  // Backward overlap: dst below src.
  uffdgc_store_refs(mut_, *arr, Elem(*arr, 1), Elem(*arr, 4), 25);
  std::copy(model.begin() + 4, model.begin() + 29, model.begin() + 1);
  check("dst below src");
  // Same range.
  uffdgc_store_refs(mut_, *arr, Elem(*arr, 0), Elem(*arr, 0), kN);
  check("dst == src");
  Collect();
  check("after collect");
}

}  // namespace
}  // namespace heaptest
