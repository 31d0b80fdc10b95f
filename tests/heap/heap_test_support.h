// Shared helpers for the heap/API tests (tests/heap, tests/misuse/heap_*, tests/stress,
// tests/fork). Public headers only: everything here goes through the C ABI and inline.h.
#pragma once

#include <gtest/gtest.h>

#include "tests/support/require.h"
#include "tests/support/watchdog.h"
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace heaptest {

// ---- Object layouts used by the tests ----------------------------------------------------
// Every test object keeps a 64-bit id at offset 8 so identity survives moves.
//   Node     fixed 48: hdr | id | ref@16 | ref@24 | ref@32 | scalar@40
//   Leaf     fixed 32, LEAF: hdr | id | scalar@16 | scalar@24
//   RefArray VARIABLE|ELEMENTS_ARE_REFS: hdr | id | length@16 | refs from 24
//   Bytes    VARIABLE|LEAF, elem 1: hdr | id | length@16 | bytes from 24
//   Weak     fixed 40, WEAK_CONTAINER: hdr | id | weak@16 | weak@24 | weak@32
//   Final    fixed 32, HAS_FINALIZER|LEAF: hdr | id | scalar@16 | scalar@24
//   FinalNode fixed 48, HAS_FINALIZER: same layout as Node
//   NmNode   fixed 48, NONMOVING: same layout as Node
//   Traced   fixed 64, trace callback: hdr | id | mask@16 | slot@24..56 (5 slots); slot i is a
//            reference iff bit i of mask is set, otherwise a scalar the collector must not touch
constexpr uint32_t kIdOffset = 8;
constexpr uint32_t kNodeSize = 48;
constexpr uint32_t kNodeRefs[3] = {16, 24, 32};
constexpr uint32_t kNodeScalar = 40;
constexpr uint32_t kLeafSize = 32;
constexpr uint32_t kArrayLengthOffset = 16;
constexpr uint32_t kArrayBase = 24;
constexpr uint32_t kWeakSize = 40;
constexpr uint32_t kWeakRefs[3] = {16, 24, 32};
constexpr uint32_t kTracedSize = 64;
constexpr uint32_t kTracedMask = 16;
constexpr uint32_t kTracedSlot0 = 24;
constexpr uint32_t kTracedSlots = 5;

inline uint64_t& Word(uffdgc_ref r, size_t offset) {
  return *reinterpret_cast<uint64_t*>(r + offset);
}
inline uffdgc_ref* Slot(uffdgc_ref r, size_t offset) {
  return reinterpret_cast<uffdgc_ref*>(r + offset);
}
inline uint64_t Id(uffdgc_ref r) { return Word(r, kIdOffset); }
inline uint32_t TypeOf(uffdgc_ref r) {
  return static_cast<uint32_t>(Word(r, 0) & UFFDGC_HEADER_TYPE_MASK);
}
inline uint32_t HeaderHigh(uffdgc_ref r) { return static_cast<uint32_t>(Word(r, 0) >> 32); }
// The header's high bits are the runtime's; in the concurrent modes the GC thread reads
// headers while mutators run, so the runtime updates them with atomic stores.
inline void SetHeaderHigh(uffdgc_ref r, uint32_t bits) {
  uint64_t* h = &Word(r, 0);
  __atomic_store_n(h, (__atomic_load_n(h, __ATOMIC_RELAXED) & UFFDGC_HEADER_TYPE_MASK) |
                          (static_cast<uint64_t>(bits) << 32),
                   __ATOMIC_RELAXED);
}
inline uffdgc_ref* Elem(uffdgc_ref array, size_t i) {
  return reinterpret_cast<uffdgc_ref*>(array + kArrayBase + 8 * i);
}
inline uint8_t* Bytes(uffdgc_ref array) { return reinterpret_cast<uint8_t*>(array + kArrayBase); }
inline uint64_t Length(uffdgc_ref array) { return Word(array, kArrayLengthOffset); }

// A deterministic byte pattern for payloads: byte i of object `id`.
inline uint8_t PatternByte(uint64_t id, size_t i) {
  uint64_t x = id * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x ^ (x >> 17));
}
inline uint64_t ScalarFor(uint64_t id) { return ~id * 0x94D049BB133111EBull; }

// Trace callback of the Traced type: visits slot i iff bit i of the mask word is set.
inline void TraceMasked(uffdgc_ref object, uffdgc_slot_visitor visit, void* ctx) {
  uint64_t mask = Word(object, kTracedMask);
  for (uint32_t i = 0; i < kTracedSlots; ++i) {
    if (mask & (1ull << i)) visit(Slot(object, kTracedSlot0 + 8 * i), ctx);
  }
}

struct Types {
  uint32_t node = 0, leaf = 0, ref_array = 0, bytes = 0, weak = 0, final_leaf = 0,
           final_node = 0, nm_node = 0, traced = 0;
};

inline uffdgc_type_info TypeInfo(uint32_t flags, uint32_t base_size, const uint32_t* refs,
                                 uint32_t nrefs, const char* name) {
  uffdgc_type_info t{};
  t.struct_size = sizeof t;
  t.flags = flags;
  t.base_size = base_size;
  t.ref_offsets = refs;
  t.num_ref_offsets = nrefs;
  t.name = name;
  return t;
}
inline uffdgc_type_info ArrayInfo(uint32_t flags, uint32_t elem_size, const char* name) {
  uffdgc_type_info t = TypeInfo(flags | UFFDGC_TYPE_VARIABLE, kArrayBase, nullptr, 0, name);
  t.elem_size = elem_size;
  t.length_offset = kArrayLengthOffset;
  return t;
}

inline uffdgc_result RegisterStandardTypes(uffdgc_heap* heap, Types* out) {
  uffdgc_result r;
  uffdgc_type_info t;
  t = TypeInfo(0, kNodeSize, kNodeRefs, 3, "Node");
  if ((r = uffdgc_type_register(heap, &t, &out->node)) != UFFDGC_OK) return r;
  t = TypeInfo(UFFDGC_TYPE_LEAF, kLeafSize, nullptr, 0, "Leaf");
  if ((r = uffdgc_type_register(heap, &t, &out->leaf)) != UFFDGC_OK) return r;
  t = ArrayInfo(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 8, "RefArray");
  if ((r = uffdgc_type_register(heap, &t, &out->ref_array)) != UFFDGC_OK) return r;
  t = ArrayInfo(UFFDGC_TYPE_LEAF, 1, "Bytes");
  if ((r = uffdgc_type_register(heap, &t, &out->bytes)) != UFFDGC_OK) return r;
  t = TypeInfo(UFFDGC_TYPE_WEAK_CONTAINER, kWeakSize, kWeakRefs, 3, "Weak");
  if ((r = uffdgc_type_register(heap, &t, &out->weak)) != UFFDGC_OK) return r;
  t = TypeInfo(UFFDGC_TYPE_HAS_FINALIZER | UFFDGC_TYPE_LEAF, kLeafSize, nullptr, 0, "Final");
  if ((r = uffdgc_type_register(heap, &t, &out->final_leaf)) != UFFDGC_OK) return r;
  t = TypeInfo(UFFDGC_TYPE_HAS_FINALIZER, kNodeSize, kNodeRefs, 3, "FinalNode");
  if ((r = uffdgc_type_register(heap, &t, &out->final_node)) != UFFDGC_OK) return r;
  t = TypeInfo(UFFDGC_TYPE_NONMOVING, kNodeSize, kNodeRefs, 3, "NmNode");
  if ((r = uffdgc_type_register(heap, &t, &out->nm_node)) != UFFDGC_OK) return r;
  t = TypeInfo(0, kTracedSize, nullptr, 0, "Traced");
  t.trace = &TraceMasked;
  if ((r = uffdgc_type_register(heap, &t, &out->traced)) != UFFDGC_OK) return r;
  return UFFDGC_OK;
}

// The collector mode of this run (uffdgc::test::test_mode).
inline uint32_t TestMode() { return ::uffdgc::test::test_mode(); }
inline bool ConcurrentTestMode() {
  return TestMode() == UFFDGC_MODE_MOVE || TestMode() == UFFDGC_MODE_COPY;
}
// Creates a heap; a mode this kernel does not support skips the test (fails when
// UFFDGC_TEST_REQUIRE lists the mode). Use as ASSERT-like: returns from the test on failure.
#define CREATE_HEAP_OR_SKIP(options, heap_out)                                          \
  do {                                                                                  \
    const uffdgc_result created_ = uffdgc_heap_create(&(options), (heap_out));           \
    if (created_ == UFFDGC_EUNSUPPORTED) {                                              \
      UFFDGC_TEST_UNAVAILABLE(::uffdgc::test::mode_capability((options).mode),          \
                              std::string(uffdgc_mode_name((options).mode)) +           \
                                  " mode is not supported here (uffdgc-probe)");       \
    }                                                                                   \
    ASSERT_EQ(created_, UFFDGC_OK);                                                     \
  } while (0)

// The test mode with the heap verifier after every collection. UFFDGC_TEST_VERIFY=0 turns the
// verifier off (to check that the tests themselves notice a broken collector).
inline uffdgc_heap_options Options(size_t heap_limit = 64u << 20) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = TestMode();
  const char* v = std::getenv("UFFDGC_TEST_VERIFY");
  o.flags = (v != nullptr && v[0] == '0') ? 0u : UFFDGC_HEAP_VERIFY;
  o.heap_limit = heap_limit;
  return o;
}

inline uffdgc_heap_stats Stats(uffdgc_heap* heap) {
  uffdgc_heap_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(uffdgc_heap_get_stats(heap, &s), UFFDGC_OK);
  return s;
}

using ::uffdgc::test::Watchdog;

// Runs fn on a fresh (unattached) thread and waits for it.
inline void OnOtherThread(const std::function<void()>& fn) {
  std::thread t(fn);
  t.join();
}

// Fixture: a heap in the test mode (TestMode) with the verifier on, the main thread attached and
// running, one handle scope open, the standard types registered.
class HeapFixture : public ::testing::Test {
 protected:
  virtual uffdgc_heap_options MakeOptions() { return Options(); }

  void SetUp() override {
    uffdgc_heap_options o = MakeOptions();
    CREATE_HEAP_OR_SKIP(o, &heap_);
    ASSERT_NE(heap_, nullptr);
    ASSERT_EQ(RegisterStandardTypes(heap_, &types_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_attach(heap_, this, &mut_), UFFDGC_OK);
    ASSERT_NE(mut_, nullptr);
    ASSERT_EQ(uffdgc_handle_scope_open(mut_, &scope_), UFFDGC_OK);
    scope_open_ = true;
  }

  void TearDown() override {
    if (mut_ != nullptr) {
      if (scope_open_) {
        EXPECT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_OK);
      }
      EXPECT_EQ(uffdgc_mutator_detach(mut_), UFFDGC_OK);
    }
    if (heap_ != nullptr) {
      EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_OK);
    }
  }

  uffdgc_ref Alloc(uint32_t type, uint64_t length = 0, uint32_t kind = UFFDGC_ALLOC_DEFAULT) {
    uffdgc_ref r = 0;
    uffdgc_result res = uffdgc_alloc(mut_, type, length, kind, &r);
    EXPECT_EQ(res, UFFDGC_OK) << uffdgc_result_name(res) << " type " << type << " length "
                              << length << " kind " << kind;
    if (res != UFFDGC_OK) return 0;
    EXPECT_NE(r, 0u);
    EXPECT_EQ(r % UFFDGC_OBJECT_ALIGNMENT, 0u);
    return r;
  }
  // Allocates and stamps the id (and scalars/payload derived from it).
  uffdgc_ref AllocId(uint32_t type, uint64_t id, uint64_t length = 0,
                     uint32_t kind = UFFDGC_ALLOC_DEFAULT) {
    uffdgc_ref r = Alloc(type, length, kind);
    if (r == 0) return 0;
    Word(r, kIdOffset) = id;
    if (type == types_.node || type == types_.nm_node || type == types_.final_node) {
      Word(r, kNodeScalar) = ScalarFor(id);
    } else if (type == types_.leaf || type == types_.final_leaf) {
      Word(r, 16) = ScalarFor(id);
      Word(r, 24) = ScalarFor(id + 1);
    } else if (type == types_.bytes) {
      for (uint64_t i = 0; i < length; ++i) Bytes(r)[i] = PatternByte(id, i);
    }
    return r;
  }
  // Checks the id and the payload derived from it.
  void ExpectIntact(uffdgc_ref r, uint64_t id) {
    ASSERT_NE(r, 0u) << "object " << id << " is null";
    ASSERT_EQ(Id(r), id);
    uint32_t type = TypeOf(r);
    if (type == types_.node || type == types_.nm_node || type == types_.final_node) {
      EXPECT_EQ(Word(r, kNodeScalar), ScalarFor(id)) << "object " << id;
    } else if (type == types_.leaf || type == types_.final_leaf) {
      EXPECT_EQ(Word(r, 16), ScalarFor(id)) << "object " << id;
      EXPECT_EQ(Word(r, 24), ScalarFor(id + 1)) << "object " << id;
    } else if (type == types_.bytes) {
      uint64_t n = Length(r);
      for (uint64_t i = 0; i < n; ++i) {
        if (Bytes(r)[i] != PatternByte(id, i)) {
          ADD_FAILURE() << "object " << id << " byte " << i << " corrupted";
          return;
        }
      }
    }
  }
  uffdgc_ref* H(uffdgc_ref r) {
    uffdgc_ref* h = uffdgc_handle_new(mut_, r);
    EXPECT_NE(h, nullptr);
    return h;
  }
  void Collect() { ASSERT_EQ(uffdgc_collect(mut_), UFFDGC_OK); }
  void CollectYoung() { ASSERT_EQ(uffdgc_collect_young(mut_), UFFDGC_OK); }
  void Store(uffdgc_ref holder, size_t offset, uffdgc_ref value) {
    uffdgc_store_ref(mut_, holder, Slot(holder, offset), value);
  }
  // A weak container (rooted by the returned handle) whose slot 0 watches the object in
  // *target (a rooted slot: the allocation may move it).
  uffdgc_ref* Watch(const uffdgc_ref* target) {
    uffdgc_ref w = Alloc(types_.weak);
    if (w == 0) return nullptr;
    uffdgc_store_ref(mut_, w, Slot(w, kWeakRefs[0]), *target);
    return H(w);
  }
  // What a watcher from Watch() sees now (0 once the collector found the referent dead).
  uffdgc_ref Watched(const uffdgc_ref* watcher) {
    return uffdgc_load_weak(mut_, *watcher, Slot(*watcher, kWeakRefs[0]));
  }
  // Allocates `bytes` of unreachable Bytes objects (garbage between live objects).
  void Garbage(size_t bytes, uint64_t chunk = 200) {
    for (size_t done = 0; done < bytes; done += kArrayBase + chunk) {
      uffdgc_ref g = Alloc(types_.bytes, chunk);
      if (g == 0) return;
      std::memset(Bytes(g), 0xAB, chunk);
    }
  }
  uffdgc_heap_stats HeapStats() { return Stats(heap_); }

  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* mut_ = nullptr;
  uffdgc_handle_scope scope_{};
  bool scope_open_ = false;
  Types types_;
};

// A mutator thread: attaches on start, then runs `body` (which must poll), detaches at the end.
class MutatorThread {
 public:
  MutatorThread(uffdgc_heap* heap, std::function<void(uffdgc_mutator*)> body)
      : thread_([this, heap, body = std::move(body)] {
          uffdgc_mutator* m = nullptr;
          uffdgc_result r = uffdgc_mutator_attach(heap, this, &m);
          attach_result_.store(r);
          if (r != UFFDGC_OK) {
            attached_.store(-1);
            return;
          }
          attached_.store(1);
          body(m);
          detach_result_.store(uffdgc_mutator_detach(m));
        }) {}
  ~MutatorThread() {
    if (thread_.joinable()) thread_.join();
  }
  void Join() { thread_.join(); }
  bool WaitAttached() {
    while (attached_.load() == 0) std::this_thread::yield();
    return attached_.load() == 1;
  }
  int attach_result() const { return attach_result_.load(); }
  int detach_result() const { return detach_result_.load(); }

 private:
  std::atomic<int> attached_{0};
  std::atomic<int> attach_result_{1};
  std::atomic<int> detach_result_{1};
  std::thread thread_;
};

// Waits for `flag` while parked (a running thread that blocks would stall collections).
inline void ParkedWait(uffdgc_mutator* m, const std::atomic<bool>& flag) {
  EXPECT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
  while (!flag.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  EXPECT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
}
// Polls until `flag` is set (a running thread that takes part in safepoints).
inline void PollUntil(uffdgc_mutator* m, const std::atomic<bool>& flag) {
  while (!flag.load()) {
    uffdgc_poll(m);
    std::this_thread::yield();
  }
}

}  // namespace heaptest
