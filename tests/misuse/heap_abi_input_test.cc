// Bad input through the C ABI (issue #11 §5): type layouts whose offsets only fit when a 32-bit
// sum wraps, duplicate or too many reference offsets; pins of addresses that are not object
// starts; slots holding values that are not references (ignored without the verifier, reported
// with the slot's address with it); stale handle-scope records; exceptions at the boundary;
// globals set by threads that are not running mutators.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

#include "tests/support/sanitizers.h"
#include "../heap/heap_test_support.h"
#include "gc/mark/marker.h"
#include "runtime/c_boundary.h"

namespace heaptest {
namespace {

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

class AbiInputTest : public HeapFixture {};

// ---- type descriptors ----

TEST_F(AbiInputTest, TypeRegisterRejectsOffsetsThatOnlyFitWhen32BitSumsWrap) {
  static const uint32_t kWraps[] = {0xFFFFFFF8u};  // 0xFFFFFFF8 + 8 == 0 in 32 bits
  uint32_t idx = 777;
  uffdgc_type_info t = TypeInfo(0, 48, kWraps, 1, "wrapping ref offset");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  t = TypeInfo(0, 0xFFFFFFFFu, kWraps, 1, "ref offset one byte past a 4 GiB base");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  t = ArrayInfo(UFFDGC_TYPE_LEAF, 1, "wrapping length offset");
  t.length_offset = 0xFFFFFFF8u;
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  t = ArrayInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 8, "wrapping length offset, ref elements");
  t.length_offset = 0xFFFFFFF8u;
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  EXPECT_EQ(idx, 777u) << "out_index written on failure";

  // The same offsets are fine where the object really is that big (nothing wraps in 64 bits).
  static const uint32_t kLast[] = {0xFFFFFFF0u};
  t = TypeInfo(0, 0xFFFFFFF8u, kLast, 1, "4 GiB with a slot in its last word");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  t = ArrayInfo(UFFDGC_TYPE_LEAF, 1, "length in the last word of a 4 GiB base");
  t.base_size = 0xFFFFFFF8u;
  t.length_offset = 0xFFFFFFF0u;
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  // Such an object does not fit this heap: no memory, no overflow of a 32-bit size.
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_alloc(mut_, idx, 1, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_ENOMEM);
  Collect();
}

TEST_F(AbiInputTest, TypeRegisterRejectsDuplicateRefOffsets) {
  static const uint32_t kDup[] = {16, 24, 16};
  static const uint32_t kDupAdjacent[] = {24, 24};
  uint32_t idx = 777;
  uffdgc_type_info t = TypeInfo(0, kNodeSize, kDup, 3, "dup");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  t = TypeInfo(0, kNodeSize, kDupAdjacent, 2, "dup");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL);
  EXPECT_EQ(idx, 777u);
  // Distinct offsets in any order are fine, and every one of them is traced and updated.
  static const uint32_t kUnsorted[] = {32, 16, 24};
  t = TypeInfo(0, kNodeSize, kUnsorted, 3, "unsorted");
  uint32_t unsorted = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &unsorted), UFFDGC_OK);
  Garbage(20000);
  uffdgc_ref* holder = H(Alloc(unsorted));
  for (int i = 0; i < 3; ++i) {
    uffdgc_ref leaf = AllocId(types_.leaf, 100 + i);
    Store(*holder, 16 + 8 * i, leaf);
  }
  Collect();
  for (int i = 0; i < 3; ++i) ExpectIntact(Word(*holder, 16 + 8 * i), 100 + i);
}

// The count is bounded before the array is read: a count past the documented maximum is refused
// even when the array behind it ends at an unreadable page.
TEST_F(AbiInputTest, TypeRegisterBoundsNumRefOffsets) {
  EXPECT_EQ(UFFDGC_TYPE_MAX_REF_OFFSETS(48), 5u);
  EXPECT_EQ(UFFDGC_TYPE_MAX_REF_OFFSETS(8), 0u);
  EXPECT_EQ(UFFDGC_TYPE_MAX_REF_OFFSETS(4), 0u);
  EXPECT_EQ(UFFDGC_TYPE_MAX_REF_OFFSETS(0xFFFFFFFFu), 0x1FFFFFFFu - 1);
  const long page = sysconf(_SC_PAGESIZE);
  void* map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  ASSERT_EQ(mprotect(static_cast<char*>(map) + page, page, PROT_NONE), 0);
  // Every word after the header of a 48-byte object: 5 offsets, the last ones of the page.
  auto* offsets = reinterpret_cast<uint32_t*>(static_cast<char*>(map) + page) - 5;
  for (uint32_t i = 0; i < 5; ++i) offsets[i] = 8 + 8 * i;
  uint32_t idx = 777;
  for (uint32_t n : {6u, 1000u, UINT32_MAX}) {
    uffdgc_type_info t = TypeInfo(0, 48, offsets, n, "too many");
    EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_EINVAL) << n << " offsets";
  }
  EXPECT_EQ(idx, 777u);
  uffdgc_type_info t = TypeInfo(0, 48, offsets, 5, "all words");
  EXPECT_EQ(uffdgc_type_register(heap_, &t, &idx), UFFDGC_OK);
  // The descriptor is a copy: the caller's array may go.
  ASSERT_EQ(munmap(map, 2 * page), 0);
  uffdgc_ref* h = H(Alloc(idx));
  uffdgc_ref leaf = AllocId(types_.leaf, 9);
  Store(*h, 40, leaf);
  Store(*h, 8, *h);  // a slot may point back at its own object
  Collect();
  ExpectIntact(Word(*h, 40), 9);
  EXPECT_EQ(Word(*h, 8), *h);
}

// ---- pins ----

// Every way an address can fail to be an object start, in every space.
TEST_F(AbiInputTest, PinRefusesAddressesThatAreNotObjectStarts) {
  uffdgc_ref* node = H(AllocId(types_.node, 1));
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 2, 0, UFFDGC_ALLOC_NONMOVING));
  uffdgc_ref* large = H(AllocId(types_.bytes, 3, 100000, UFFDGC_ALLOC_LARGE));
  uffdgc_ref* last = H(AllocId(types_.leaf, 4));
  uint64_t local = 0;
  const uffdgc_ref bad[] = {
      *node + 8,                               // interior, aligned
      *node + kNodeSize - 8,                   // the last word
      *node + 3,                               // unaligned
      *last + kLeafSize,                       // where the next object will be: not allocated
      *last + (8u << 20),                      // far above the top of the moving space
      *nm + 8,                                 // interior of a non-moving object
      *large + 4096,                           // interior of a large object
      reinterpret_cast<uffdgc_ref>(&local),    // the stack
      0x1000,                                  // nothing at all
  };
  for (uffdgc_ref b : bad) {
    EXPECT_EQ(uffdgc_pin(mut_, b), UFFDGC_EINVAL) << Hex(b);
    EXPECT_EQ(uffdgc_unpin(mut_, b), UFFDGC_ENOTFOUND) << Hex(b) << ": a refused pin was taken";
  }
  for (uffdgc_ref* good : {node, nm, large, last}) {
    EXPECT_EQ(uffdgc_pin(mut_, *good), UFFDGC_OK) << Hex(*good);
    EXPECT_EQ(uffdgc_unpin(mut_, *good), UFFDGC_OK);
  }
  Collect();
  ExpectIntact(*node, 1);
  ExpectIntact(*nm, 2);
  ExpectIntact(*large, 3);
  ExpectIntact(*last, 4);
}

// The objects compaction moved, the ones allocated after it, and ones other threads allocated:
// each is an object start, its interior is not, through several cycles.
TEST_F(AbiInputTest, PinKnowsObjectStartsAfterObjectsMove) {
  constexpr int kObjects = 6000;
  uffdgc_ref* keep = H(Alloc(types_.ref_array, kObjects / 7 + 1));
  uint64_t kept = 0;
  for (int i = 0; i < kObjects; ++i) {
    // Objects of several sizes, every 7th one kept, the rest garbage between them.
    const uint32_t type = i % 3 == 0 ? types_.node : i % 3 == 1 ? types_.leaf : types_.bytes;
    uffdgc_ref r = AllocId(type, 1000 + i, type == types_.bytes ? 8 + i % 300 : 0);
    ASSERT_NE(r, 0u);
    if (i % 7 == 0) uffdgc_store_ref(mut_, *keep, Elem(*keep, kept++), r);
  }
  // Objects another thread allocated: they lie in its TLABs.
  uffdgc_global* other = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, 0, &other), UFFDGC_OK);
  {
    std::atomic<bool> done{false};
    MutatorThread t(heap_, [&](uffdgc_mutator* m) {
      uffdgc_ref arr = 0;
      ASSERT_EQ(uffdgc_alloc(m, types_.ref_array, 64, 0, &arr), UFFDGC_OK);
      uffdgc_global_set(other, arr);
      for (uint64_t i = 0; i < 64; ++i) {
        uffdgc_ref r = 0;
        ASSERT_EQ(uffdgc_alloc(m, types_.node, 0, 0, &r), UFFDGC_OK);
        Word(r, kIdOffset) = 5000 + i;
        Word(r, kNodeScalar) = ScalarFor(5000 + i);
        arr = uffdgc_global_get(other);  // the allocation may have collected
        uffdgc_store_ref(m, arr, Elem(arr, i), r);
      }
      done.store(true);
    });
    ParkedWait(mut_, done);
    t.Join();
  }
  auto check_all = [&](const char* when) {
    SCOPED_TRACE(when);
    for (uint64_t i = 0; i < kept; ++i) {
      const uffdgc_ref r = *Elem(*keep, i);
      ASSERT_EQ(uffdgc_pin(mut_, r), UFFDGC_OK) << "kept object " << i << " at " << Hex(r);
      ASSERT_EQ(uffdgc_unpin(mut_, r), UFFDGC_OK);
      ASSERT_EQ(uffdgc_pin(mut_, r + 8), UFFDGC_EINVAL) << "interior of kept object " << i;
    }
    const uffdgc_ref arr = uffdgc_global_get(other);
    for (uint64_t i = 0; i < 64; ++i) {
      const uffdgc_ref r = *Elem(arr, i);
      ExpectIntact(r, 5000 + i);
      ASSERT_EQ(uffdgc_pin(mut_, r), UFFDGC_OK) << "another thread's object " << i;
      ASSERT_EQ(uffdgc_unpin(mut_, r), UFFDGC_OK);
      ASSERT_EQ(uffdgc_pin(mut_, r + 16), UFFDGC_EINVAL);
    }
  };
  check_all("before any collection");
  for (int cycle = 0; cycle < 3; ++cycle) {
    Collect();
    for (uint64_t i = 0; i < kept; ++i) ExpectIntact(*Elem(*keep, i), 1000 + 7 * i);
    check_all("after a collection");
    // New objects above the compacted ones, some garbage between them.
    Garbage(30000);
    uffdgc_ref* fresh = H(AllocId(types_.node, 9000 + cycle));
    EXPECT_EQ(uffdgc_pin(mut_, *fresh), UFFDGC_OK);
    EXPECT_EQ(uffdgc_unpin(mut_, *fresh), UFFDGC_OK);
    EXPECT_EQ(uffdgc_pin(mut_, *fresh + 24), UFFDGC_EINVAL);
  }
  EXPECT_EQ(uffdgc_global_destroy(heap_, other), UFFDGC_OK);
}

// Pins while allocation triggers collections (in the concurrent modes the cycles run beside the
// pins): a pinned object keeps its address and contents, an interior address is always refused,
// and objects allocated while a cycle ran (its black block, which slides at the flip) are still
// known as object starts afterwards.
TEST_F(AbiInputTest, PinWhileCollectionsRun) {
  constexpr uint64_t kPinned = 16, kFresh = 64;
  uffdgc_ref* objs = H(Alloc(types_.ref_array, kPinned));
  uffdgc_ref* fresh = H(Alloc(types_.ref_array, kFresh));
  for (uint64_t i = 0; i < kPinned; ++i) {
    uffdgc_store_ref(mut_, *objs, Elem(*objs, i), AllocId(types_.node, 100 + i));
  }
  const uint64_t start = HeapStats().collections;
  for (int round = 0; round < 400 && HeapStats().collections < start + 6; ++round) {
    const uint64_t i = static_cast<uint64_t>(round) % kPinned;
    const uffdgc_ref r = *Elem(*objs, i);
    ASSERT_EQ(uffdgc_pin(mut_, r), UFFDGC_OK) << "round " << round;
    ASSERT_EQ(uffdgc_pin(mut_, r + 8), UFFDGC_EINVAL) << "round " << round;
    Garbage(512 * 1024);  // may collect
    EXPECT_EQ(*Elem(*objs, i), r) << "a pinned object moved";
    ExpectIntact(r, 100 + i);
    ASSERT_EQ(uffdgc_unpin(mut_, r), UFFDGC_OK);
    const uint64_t f = static_cast<uint64_t>(round) % kFresh;
    uffdgc_ref n = AllocId(types_.node, 1000 + static_cast<uint64_t>(round));
    uffdgc_store_ref(mut_, *fresh, Elem(*fresh, f), n);
    for (uint64_t j = 0; j <= std::min<uint64_t>(static_cast<uint64_t>(round), kFresh - 1); ++j) {
      const uffdgc_ref o = *Elem(*fresh, j);
      ASSERT_EQ(uffdgc_pin(mut_, o), UFFDGC_OK) << "round " << round << ", fresh object " << j;
      ASSERT_EQ(uffdgc_unpin(mut_, o), UFFDGC_OK);
      ASSERT_EQ(uffdgc_pin(mut_, o + 16), UFFDGC_EINVAL) << "round " << round;
    }
    uffdgc_poll(mut_);
  }
  EXPECT_GE(HeapStats().collections, start + 1) << "no collection ran beside the pins";
}

// ---- slots that hold no reference ----

// Values that are not references, each stored where the collector reads references from.
struct ForeignValues {
  alignas(16) uint64_t buffer[8];  // memory the process owns, outside the heap
  std::vector<uffdgc_ref> values;
};

void FillForeign(ForeignValues* f, uffdgc_ref moving_object) {
  for (int i = 0; i < 8; ++i) f->buffer[i] = 0x5A5A5A5A00000000ull + i;
  f->values = {
      reinterpret_cast<uffdgc_ref>(&f->buffer[4]),  // an object-space object would have its mark
                                                    // word at buffer[3]
      0x40,                                         // the null page
      0x1000,
      0xffff800000001000ull,                        // kernel space
      moving_object + 3,                            // unaligned, inside an object
      moving_object + (16u << 20),                  // the moving space, far above its top
  };
}

uffdgc_ref g_embedder_root = 0;  // a root the embedder reports (scan_roots)

class NoVerifierTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    o.flags &= ~UFFDGC_HEAP_VERIFY;
    static uffdgc_embedder e{};
    e.struct_size = sizeof e;
    e.scan_roots = [](uffdgc_root_visitor* v, void*) { uffdgc_root_visit(v, &g_embedder_root); };
    o.embedder = &e;
    return o;
  }
};

// Without the verifier, in a release build, such values are not followed: the collector writes
// nothing outside the heap (the foreign buffer keeps its bytes), values outside the moving
// space stay in their slots, weak slots holding them are cleared as dead, live objects survive.
// A checked build (NDEBUG undefined) reports them even without the verifier.
TEST_F(NoVerifierTest, ValuesThatAreNotReferencesAreIgnored) {
  if (uffdgc::gc::kCheckedBuild) {
    GTEST_FLAG_SET(death_test_style, "fast");  // no collection ran yet: no GC thread
    ForeignValues f;
    FillForeign(&f, 0);
    uffdgc_ref* h = H(f.values[0]);
    EXPECT_DEATH(Collect(), "uffdgc: bad reference: slot " + Hex(reinterpret_cast<uintptr_t>(h)) +
                                " holds " + Hex(f.values[0]));
    *h = 0;
    return;
  }
  uffdgc_ref* anchor = H(AllocId(types_.node, 1));
  ForeignValues f;
  FillForeign(&f, *anchor);
  const size_t n = f.values.size();
  uffdgc_ref* arr = H(Alloc(types_.ref_array, n));
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 2, 0, UFFDGC_ALLOC_NONMOVING));
  std::vector<uffdgc_ref*> handles;
  std::vector<uffdgc_global*> globals;
  std::vector<uffdgc_ref*> weak;
  for (size_t i = 0; i < n; ++i) {
    const uffdgc_ref v = f.values[i];
    handles.push_back(H(v));
    uffdgc_global* g = nullptr;
    ASSERT_EQ(uffdgc_global_create(heap_, v, &g), UFFDGC_OK);
    globals.push_back(g);
    uffdgc_store_ref(mut_, *arr, Elem(*arr, i), v);
    uffdgc_ref w = Alloc(types_.weak);
    uffdgc_store_ref(mut_, w, Slot(w, kWeakRefs[0]), v);
    weak.push_back(H(w));
  }
  Store(*nm, kNodeRefs[0], f.values[0]);
  Store(*anchor, kNodeRefs[0], f.values[2]);
  for (size_t i = 0; i < n; ++i) {
    g_embedder_root = f.values[i];
    SCOPED_TRACE("embedder root " + Hex(g_embedder_root));
    Garbage(20000);
    Collect();
    for (int b = 0; b < 8; ++b) {
      ASSERT_EQ(f.buffer[b], 0x5A5A5A5A00000000ull + b) << "the collector wrote word " << b
                                                         << " of memory outside the heap";
    }
    ExpectIntact(*anchor, 1);
    ExpectIntact(*nm, 2);
    for (size_t j = 0; j < n; ++j) {
      if (j >= 4) continue;  // inside the moving space: may be rewritten when objects move
      EXPECT_EQ(*handles[j], f.values[j]) << "handle " << j;
      EXPECT_EQ(uffdgc_global_get(globals[j]), f.values[j]) << "global " << j;
      EXPECT_EQ(*Elem(*arr, j), f.values[j]) << "array element " << j;
    }
    EXPECT_EQ(Word(*nm, kNodeRefs[0]), f.values[0]);
    EXPECT_EQ(Word(*anchor, kNodeRefs[0]), f.values[2]);
    if (i < 4) {
      EXPECT_EQ(g_embedder_root, f.values[i]);
    }
    for (size_t j = 0; j < 4; ++j) {
      EXPECT_EQ(uffdgc_load_weak(mut_, *weak[j], Slot(*weak[j], kWeakRefs[0])), 0u)
          << "a weak slot holding " << Hex(f.values[j]) << " was not cleared as dead";
    }
  }
  g_embedder_root = 0;
  for (uffdgc_global* g : globals) EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
}

// With the verifier the first such value aborts the collection, naming the slot and the value.
// Death tests fork ("fast" style) so that the child has the parent's addresses; no collection
// runs before the fork, so there is no GC thread yet.
class BadSlotDeathTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    o.flags |= UFFDGC_HEAP_VERIFY;
    return o;
  }
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "fast");
    HeapFixture::SetUp();
  }
  static std::string Report(const void* slot, uint64_t value) {
    return "uffdgc: bad reference: slot " + Hex(reinterpret_cast<uintptr_t>(slot)) + " holds " +
           Hex(value) + ", ";
  }
};

TEST_F(BadSlotDeathTest, ForeignAddressInAHandle) {
  ForeignValues f;
  FillForeign(&f, 0);
  uffdgc_ref* h = H(f.values[0]);
  EXPECT_DEATH(Collect(), Report(h, f.values[0]) + "an address outside every space");
  *h = 0;
}

TEST_F(BadSlotDeathTest, SmallIntegerInAGlobal) {
  uffdgc_global* g = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, 0x1000, &g), UFFDGC_OK);
  EXPECT_DEATH(Collect(), "uffdgc: bad reference: slot 0x[0-9a-f]+ holds 0x1000, an address "
                          "outside every space");
  EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
}

// An interior pointer whose word looks like a header (the id word holds a type index): only the
// checked marker, which knows the object starts, tells it from an object.
TEST_F(BadSlotDeathTest, InteriorPointerInAnObjectSlot) {
  uffdgc_ref* holder = H(AllocId(types_.node, 1));
  uffdgc_ref* other = H(AllocId(types_.node, types_.leaf));
  Store(*holder, kNodeRefs[1], *other + kIdOffset);
  const void* slot = Slot(*holder, kNodeRefs[1]);
  EXPECT_DEATH(Collect(), Report(slot, *other + kIdOffset) + "a moving-space address where no "
                                                              "object starts");
  Store(*holder, kNodeRefs[1], 0);
}

TEST_F(BadSlotDeathTest, UnallocatedMovingAddressInANonMovingObject) {
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 1, 0, UFFDGC_ALLOC_NONMOVING));
  const uffdgc_ref bad = *H(AllocId(types_.leaf, 2)) + (16u << 20);
  Store(*nm, kNodeRefs[2], bad);
  EXPECT_DEATH(Collect(), Report(Slot(*nm, kNodeRefs[2]), bad) +
                              "a moving-space address that is not allocated");
  Store(*nm, kNodeRefs[2], 0);
}

// Weak slots are not traced, but their values are checked all the same.
TEST_F(BadSlotDeathTest, ForeignAddressInAWeakSlot) {
  ForeignValues f;
  FillForeign(&f, 0);
  uffdgc_ref* w = H(Alloc(types_.weak));
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[1]), f.values[0]);
  EXPECT_DEATH(Collect(), Report(Slot(*w, kWeakRefs[1]), f.values[0]) +
                              "an address outside every space");
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[1]), 0);
}

// ---- handle scopes ----

// A scope record that was closed must not close the scope opened after it at the same depth
// (that would drop the newer scope's handles). Watchers live in the fixture's outer scope.
TEST_F(AbiInputTest, ClosingAStaleScopeIsRefused) {
  uffdgc_ref* w = H(Alloc(types_.weak));
  auto watch = [&](uffdgc_ref target) {
    uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[0]), target);
  };
  uffdgc_handle_scope a;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &a), UFFDGC_OK);
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &a), UFFDGC_OK);
  uffdgc_handle_scope b;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &b), UFFDGC_OK);  // the depth and top `a` had
  uffdgc_ref* h = H(AllocId(types_.leaf, 7));
  watch(*h);
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &a), UFFDGC_ESTATE)
      << "a closed scope's record closed the newer scope at the same depth";
  Collect();
  EXPECT_EQ(Watched(w), *h) << "the newer scope's handle was dropped";
  ExpectIntact(*h, 7);

  // A copy of a record outlives the scope: once closed, it is stale too, also for the next
  // scope at that depth and top.
  const uffdgc_handle_scope b_copy = b;
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &b), UFFDGC_OK);
  uffdgc_handle_scope b_again = b_copy;
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &b_again), UFFDGC_ESTATE) << "closed twice";
  uffdgc_handle_scope c;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &c), UFFDGC_OK);
  uffdgc_ref* h3 = H(AllocId(types_.leaf, 9));
  watch(*h3);
  b_again = b_copy;
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &b_again), UFFDGC_ESTATE)
      << "a closed scope's record (same depth, same top) closed the open one";
  Collect();
  EXPECT_EQ(Watched(w), *h3) << "the open scope's handle was dropped";
  // Nesting rules hold as before.
  uffdgc_handle_scope d;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &d), UFFDGC_OK);
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &c), UFFDGC_ESTATE) << "outer scope first";
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &d), UFFDGC_OK);
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &c), UFFDGC_OK);
  Collect();
  EXPECT_EQ(Watched(w), 0u) << "the closed scope's handle still kept its object";
  // The fixture's scope is the innermost one again and still works.
  uffdgc_ref* h4 = H(AllocId(types_.leaf, 8));
  Collect();
  ExpectIntact(*h4, 8);
}

// A record filled by another mutator's open is refused, even one of the same depth, top and
// number of opens (each mutator's generations start elsewhere).
TEST_F(AbiInputTest, ClosingAnotherMutatorsScopeIsRefused) {
  uffdgc_ref* w = H(Alloc(types_.weak));
  uffdgc_handle_scope theirs{};
  OnOtherThread([&] {
    uffdgc_mutator* m = nullptr;
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m), UFFDGC_OK);
    uffdgc_handle_scope outer;
    ASSERT_EQ(uffdgc_handle_scope_open(m, &outer), UFFDGC_OK);
    ASSERT_NE(uffdgc_handle_new(m, 0), nullptr);  // one handle below, like the watcher here
    ASSERT_EQ(uffdgc_handle_scope_open(m, &theirs), UFFDGC_OK);
    ASSERT_EQ(uffdgc_handle_scope_close(m, &theirs), UFFDGC_OK);
    ASSERT_EQ(uffdgc_handle_scope_close(m, &outer), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  });
  uffdgc_handle_scope mine;
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &mine), UFFDGC_OK);  // depth 2, top 1, like `theirs`
  uffdgc_ref* h = H(AllocId(types_.leaf, 5));
  uffdgc_store_ref(mut_, *w, Slot(*w, kWeakRefs[0]), *h);
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &theirs), UFFDGC_ESTATE);
  Collect();
  EXPECT_EQ(Watched(w), *h) << "another mutator's record closed this mutator's scope";
  EXPECT_EQ(uffdgc_handle_scope_close(mut_, &mine), UFFDGC_OK);
}

// ---- exceptions at the boundary ----

TEST(AbiBoundary, GuardTurnsExceptionsIntoResultCodes) {
  using uffdgc::runtime::guard;
  using uffdgc::runtime::guard_or;
  EXPECT_EQ(guard([] { return UFFDGC_ETYPE; }), UFFDGC_ETYPE) << "results pass through";
  EXPECT_EQ(guard([]() -> uffdgc_result { throw std::bad_alloc(); }), UFFDGC_ENOMEM);
  const std::error_code no_thread = std::make_error_code(std::errc::resource_unavailable_try_again);
  EXPECT_EQ(guard([&]() -> uffdgc_result { throw std::system_error(no_thread); }),
            UFFDGC_EINTERNAL)
      << "a thread that cannot be created";
  EXPECT_EQ(guard([]() -> uffdgc_result { throw std::runtime_error("x"); }), UFFDGC_EINTERNAL);
  EXPECT_EQ(guard([]() -> uffdgc_result { throw 42; }), UFFDGC_EINTERNAL);
  int x = 0;
  EXPECT_EQ(guard_or<int*>(nullptr, [&] { return &x; }), &x);
  EXPECT_EQ(guard_or<int*>(nullptr, []() -> int* { throw std::bad_alloc(); }), nullptr);
  EXPECT_EQ(guard_or<uffdgc_ref>(0, []() -> uffdgc_ref { throw std::length_error("y"); }), 0u);
  static_assert(noexcept(guard([] { return UFFDGC_OK; })));
  static_assert(noexcept(guard_or<int>(0, [] { return 1; })));
}

TEST(AbiBoundary, OrAbortEndsTheProcessWithTheReason) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EQ(uffdgc::runtime::or_abort("here", [] { return 5; }), 5);
  EXPECT_DEATH(uffdgc::runtime::or_abort("the write barrier", [] { throw std::bad_alloc(); }),
               "uffdgc: out of memory in the write barrier");
  EXPECT_DEATH(
      uffdgc::runtime::or_abort("a pause", [] { throw std::runtime_error("thread creation"); }),
      "uffdgc: thread creation in a pause");
}

uint64_t AddressSpaceBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Real allocation failures (RLIMIT_AS in a child process): result codes and NULL, no exception,
// no abort, and the heap works once memory is back. Exit codes name the step that failed.
int RunOutOfAddressSpace(uint32_t mode) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = mode;
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = 16u << 20;
  uffdgc_heap* heap = nullptr;
  if (uffdgc_heap_create(&o, &heap) != UFFDGC_OK) return 10;
  Types types;
  if (RegisterStandardTypes(heap, &types) != UFFDGC_OK) return 11;
  uffdgc_mutator* m = nullptr;
  if (uffdgc_mutator_attach(heap, nullptr, &m) != UFFDGC_OK) return 12;
  uffdgc_handle_scope scope;
  if (uffdgc_handle_scope_open(m, &scope) != UFFDGC_OK) return 13;
  uffdgc_ref obj = 0;
  if (uffdgc_alloc(m, types.node, 0, 0, &obj) != UFFDGC_OK) return 14;
  uffdgc_ref* root = uffdgc_handle_new(m, obj);
  // A type whose descriptor copy needs 64 MiB: 16 Mi distinct offsets in a 128 MiB base.
  constexpr uint32_t kOffsets = 16u << 20;
  std::vector<uint32_t> offsets(kOffsets);
  for (uint32_t i = 0; i < kOffsets; ++i) offsets[i] = 8 + 8 * i;
  uffdgc_type_info big = TypeInfo(0, 8 + 8 * kOffsets, offsets.data(), kOffsets, "big");

  std::vector<uffdgc_global*> globals;
  globals.reserve(1u << 20);

  rlimit saved{};
  if (getrlimit(RLIMIT_AS, &saved) != 0) return 15;
  rlimit tight = saved;
  tight.rlim_cur = AddressSpaceBytes() + (8u << 20);
  if (setrlimit(RLIMIT_AS, &tight) != 0) return 16;
  uint32_t idx = 0;
  const uffdgc_result type_result = uffdgc_type_register(heap, &big, &idx);
  uffdgc_result global_result = UFFDGC_OK;
  for (int i = 0; i < (1 << 24) && global_result == UFFDGC_OK; ++i) {
    uffdgc_global* g = nullptr;
    global_result = uffdgc_global_create(heap, obj, &g);
    if (global_result == UFFDGC_OK && globals.size() < globals.capacity()) globals.push_back(g);
  }
  uffdgc_ref* handle = root;
  for (int i = 0; i < (1 << 24) && handle != nullptr; ++i) handle = uffdgc_handle_new(m, obj);
  if (setrlimit(RLIMIT_AS, &saved) != 0) return 17;

  if (type_result != UFFDGC_ENOMEM) return 20;
  if (global_result != UFFDGC_ENOMEM) return 21;
  if (handle != nullptr) return 22;
  // Memory is back: everything works, the globals made before the failure too.
  if (uffdgc_type_register(heap, &big, &idx) != UFFDGC_OK) return 30;
  if (uffdgc_collect(m) != UFFDGC_OK) return 31;
  if (globals.empty() || *root == 0 || uffdgc_global_get(globals.front()) != *root) return 32;
  if (uffdgc_handle_new(m, *root) == nullptr) return 33;
  if (uffdgc_handle_scope_close(m, &scope) != UFFDGC_OK) return 34;
  if (uffdgc_mutator_detach(m) != UFFDGC_OK) return 35;
  if (uffdgc_heap_destroy(heap) != UFFDGC_OK) return 36;
  return 0;
}

TEST(AbiBoundary, OutOfAddressSpaceGivesResultCodes) {
  if (uffdgc::test::kSanitizerShadow) {
    // A build property, not the machine's: the sanitizers reserve terabytes of shadow address
    // space at start-up, so a child under a small RLIMIT_AS fails inside the sanitizer runtime.
    GTEST_SKIP() << "sanitizer builds cannot run under an address-space limit";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  uffdgc_heap_options o = Options(16u << 20);
  uffdgc_heap* probe = nullptr;
  CREATE_HEAP_OR_SKIP(o, &probe);  // skips where this mode is not supported
  ASSERT_EQ(uffdgc_heap_destroy(probe), UFFDGC_OK);
  EXPECT_EXIT(std::_Exit(RunOutOfAddressSpace(TestMode())), ::testing::ExitedWithCode(0), "");
}

// ---- globals and threads that are not mutators ----

// A thread that is not a running mutator may clear a global at any time; no collection brings
// the old value back (the rewrite of the slot would otherwise race with the store).
TEST_F(AbiInputTest, GlobalClearedByAThreadThatIsNotAMutatorStaysCleared) {
  uffdgc_ref* keep = H(AllocId(types_.node, 1));
  std::atomic<bool> stop{false};
  std::atomic<int> round{-1};          // the round whose globals were set (by this thread)
  std::atomic<int> cleared_round{-1};  // the round whose globals the other thread cleared
  std::vector<uffdgc_global*> globals(8);
  for (auto& g : globals) ASSERT_EQ(uffdgc_global_create(heap_, *keep, &g), UFFDGC_OK);
  std::thread clearer([&] {
    while (!stop.load()) {
      const int r = round.load();
      if (r == cleared_round.load()) {
        std::this_thread::yield();
        continue;
      }
      for (uffdgc_global* g : globals) {
        const uffdgc_ref v = uffdgc_global_get(g);
        EXPECT_TRUE(v == 0 || (v & 7) == 0) << "torn value " << Hex(v);
        uffdgc_global_set(g, 0);
      }
      cleared_round.store(r);
    }
  });
  for (int r = 0; r < 60; ++r) {
    for (uffdgc_global* g : globals) uffdgc_global_set(g, *keep);
    round.store(r);
    Garbage(4096);
    Collect();  // the clearer stores while this rewrites the slots
    while (cleared_round.load() != r) uffdgc_poll(mut_);
    Collect();
    for (uffdgc_global* g : globals) {
      ASSERT_EQ(uffdgc_global_get(g), 0u) << "round " << r << ": a cleared global came back";
    }
  }
  stop.store(true);
  clearer.join();
  ExpectIntact(*keep, 1);
  for (uffdgc_global* g : globals) EXPECT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
  // A destroyed global reads as 0 and ignores stores from any thread while its heap lives.
  uffdgc_global* g = nullptr;
  ASSERT_EQ(uffdgc_global_create(heap_, *keep, &g), UFFDGC_OK);
  ASSERT_EQ(uffdgc_global_destroy(heap_, g), UFFDGC_OK);
  OnOtherThread([&] {
    EXPECT_EQ(uffdgc_global_get(g), 0u);
    uffdgc_global_set(g, *keep);
    EXPECT_EQ(uffdgc_global_get(g), 0u);
  });
}

}  // namespace
}  // namespace heaptest
