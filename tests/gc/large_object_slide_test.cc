// Objects larger than a compaction run (64 KiB to 4 MiB, with references) sliding through many
// cycles, with a trace callback that reads every byte of its object (issue #11 §4.5).
//
// A trace callback may read any byte of the object it is given (include/uffdgc/uffdgc.h: "read
// only the object's own bytes"), and the compaction calls it on the from-space copy of every
// object that overlaps the page it produces. An object that straddles the lower edge of a run
// is read whole by the pages below that run, so the from-space it covers above the run's
// first source word is not free yet: it must be neither recycled (the GC thread builds the
// next runs there) nor released until the pages below are done. The same holds for the black
// block, whose pages copy their source page whole: an object allocated during marking that
// spans more than the recycling window must not lose its upper pages before its lower ones
// are produced.
//
// Big objects: VARIABLE, 8-byte elements, a trace callback; words from 32 on are the payload,
// the first kRefs of them references (to small nodes and to other big objects), the last one
// the number of references the callback visits, and word 24 a checksum over every payload word
// that is not a reference. The callback recomputes the checksum and counts mismatches (a read
// of recycled or released from-space), then visits the references. Allocation-triggered
// cycles put big objects into the black block too; the mutator walks and checks everything
// right after each flip, so it produces pages in its SIGBUS handler while the GC thread runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#include "runtime/heap.h"
#include "tests/support/require.h"
#include "tests/support/trace_gate.h"
#include "tests/support/sanitizers.h"
#include "tests/support/watchdog.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

constexpr uint32_t kIdOffset = 8;
constexpr uint32_t kLengthOffset = 16;
constexpr uint32_t kChecksumOffset = 24;
constexpr uint32_t kBase = 32;  // payload words from here
constexpr uint64_t kRefs = 8;   // payload words 0..kRefs-1 are references

// The compaction calls the trace callback on the whole object for every page it overlaps
// (quadratic in the object's size); instrumented builds run less of it.
constexpr bool kSanitized = uffdgc::test::kSanitizerShadow;

std::atomic<uint64_t> g_trace_calls{0};
std::atomic<uint64_t> g_trace_mismatches{0};

uint64_t& W(uffdgc_ref r, uint64_t offset) { return *reinterpret_cast<uint64_t*>(r + offset); }
uint64_t PayloadWord(uint64_t id, uint64_t i) {
  uint64_t x = id * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 1;
  x ^= x >> 31;
  return x * 0x94D049BB133111EBull;
}

// The checksum of a big object's copy: every payload word after the references, including
// the last (the reference count). Reads all of them, like a real "checksum" trace would; kept
// cheap (sums the compiler vectorises), since the compaction calls the callback once for every
// page an object overlaps: a 4 MiB object is read whole 1024 times per cycle.
uint64_t Checksum(const uint64_t* words, uint64_t length) {
  uint64_t sum = 0, mix = 0x243F6A8885A308D3ull;
  for (uint64_t i = kRefs; i < length; ++i) {
    sum += words[i];
    mix ^= words[i];
  }
  return sum * 0x9E3779B97F4A7C15ull + mix;
}

// Async-signal-safe: arithmetic and relaxed atomics only.
void TraceBig(uffdgc_ref object, uffdgc_slot_visitor visit, void* ctx) {
  g_trace_calls.fetch_add(1, std::memory_order_relaxed);
  const uint64_t length = W(object, kLengthOffset);
  const auto* words = reinterpret_cast<const uint64_t*>(object + kBase);
  if (length <= kRefs || Checksum(words, length) != W(object, kChecksumOffset)) {
    g_trace_mismatches.fetch_add(1, std::memory_order_relaxed);
  }
  // How many references: the object's last word (kRefs when intact, clamped otherwise so a
  // bad read cannot make the collector rewrite words that are not references).
  uint64_t refs = length > kRefs ? words[length - 1] : 0;
  if (refs > kRefs) refs = kRefs;
  for (uint64_t i = 0; i < refs; ++i) visit(reinterpret_cast<uffdgc_ref*>(object + kBase + 8 * i), ctx);
}

struct Small {
  uint64_t header;
  uint64_t id;
  uint64_t check;
};

struct BigModel {
  uint64_t id;
  uint64_t length;  // payload words
  std::vector<uint64_t> ref_ids;  // per reference slot: id of the referent (0 = null)
};

class LargeObjectSlide : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    uffdgc_heap_options o{};
    o.struct_size = sizeof o;
    o.mode = GetParam();
    o.flags = UFFDGC_HEAP_VERIFY | UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS;
    o.heap_limit = 320u << 20;
    o.trigger_allocated = 40u << 20;  // cycles also start from allocation: big objects in the black block
    UFFDGC_CREATE_HEAP_OR_SKIP(o, heap_);
    uffdgc_type_info big{};
    big.struct_size = sizeof big;
    big.flags = UFFDGC_TYPE_VARIABLE;
    big.base_size = kBase;
    big.elem_size = 8;
    big.length_offset = kLengthOffset;
    big.trace = &TraceBig;
    big.name = "big-traced";
    ASSERT_EQ(uffdgc_type_register(heap_, &big, &big_), UFFDGC_OK);
    uffdgc_type_info small{};
    small.struct_size = sizeof small;
    small.flags = UFFDGC_TYPE_LEAF;
    small.base_size = sizeof(Small);
    small.name = "small";
    ASSERT_EQ(uffdgc_type_register(heap_, &small, &small_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_handle_scope_open(m_, &scope_), UFFDGC_OK);
    g_trace_mismatches.store(0);
    g_trace_calls.store(0);
  }
  void TearDown() override {
    if (heap_ == nullptr) return;
    uffdgc_handle_scope_close(m_, &scope_);
    uffdgc_mutator_detach(m_);
    EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_OK);
  }

  uffdgc_ref NewSmall(uint64_t id) {
    uffdgc_ref r = 0;
    EXPECT_EQ(uffdgc_alloc(m_, small_, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    if (r == 0) return 0;
    auto* s = reinterpret_cast<Small*>(r);
    s->id = id;
    s->check = ~id * 31;
    return r;
  }

  // A big object of `bytes`, its references still null; the caller stores them.
  uffdgc_ref NewBig(uint64_t id, uint64_t bytes) {
    const uint64_t length = (bytes - kBase) / 8;
    uffdgc_ref r = 0;
    EXPECT_EQ(uffdgc_alloc(m_, big_, length, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    if (r == 0) return 0;
    W(r, kIdOffset) = id;
    auto* words = reinterpret_cast<uint64_t*>(r + kBase);
    for (uint64_t i = kRefs; i + 1 < length; ++i) words[i] = PayloadWord(id, i);
    words[length - 1] = kRefs;
    W(r, kChecksumOffset) = Checksum(words, length);
    return r;
  }

  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* m_ = nullptr;
  uffdgc_handle_scope scope_{};
  uint32_t big_ = 0, small_ = 0;
};

TEST_P(LargeObjectSlide, TraceCallbacksReadIntactCopiesAcrossManyCycles) {
  uffdgc::test::Watchdog dog("LargeObjectSlide", 280);
  std::mt19937_64 rng(GetParam() * 7919 + 11);
  constexpr int kSlots = kSanitized ? 8 : 16;
  constexpr int kRounds = kSanitized ? 6 : 14;
  constexpr double kMaxLog2 = kSanitized ? 4.0 : 6.0;  // 64 KiB << 6 = 4 MiB (1 MiB)
  std::vector<uffdgc_ref*> slots;
  for (int i = 0; i < kSlots; ++i) slots.push_back(uffdgc_handle_new(m_, 0));
  std::vector<BigModel> model(kSlots);
  uffdgc_ref* tmp = uffdgc_handle_new(m_, 0);
  uffdgc_ref* small_tmp = uffdgc_handle_new(m_, 0);
  uint64_t next_id = 1;
  uint64_t moved_big = 0, checked_big = 0;
  std::vector<uffdgc_ref> last_address(kSlots, 0);

  // Every big object: id, length, payload words, checksum, its references.
  auto check_all = [&](const char* when, int round) {
    for (int i = 0; i < kSlots; ++i) {
      const uffdgc_ref r = *slots[i];
      const BigModel& b = model[i];
      if (b.id == 0) continue;
      ASSERT_NE(r, 0u) << when << " round " << round << " slot " << i;
      ASSERT_EQ(W(r, kIdOffset), b.id) << when << " round " << round << " slot " << i;
      ASSERT_EQ(W(r, kLengthOffset), b.length);
      const auto* words = reinterpret_cast<const uint64_t*>(r + kBase);
      uint64_t bad = 0;  // (one assertion per object: millions of words per round)
      while (bad + 1 < b.length && (bad < kRefs || words[bad] == PayloadWord(b.id, bad))) ++bad;
      ASSERT_EQ(bad + 1, b.length) << when << " round " << round << " slot " << i << " id "
                                   << b.id << ": word " << bad << " of " << b.length << " is wrong";
      ASSERT_EQ(words[b.length - 1], kRefs);
      ASSERT_EQ(W(r, kChecksumOffset), Checksum(words, b.length));
      for (uint64_t k = 0; k < kRefs; ++k) {
        const uffdgc_ref ref = static_cast<uffdgc_ref>(words[k]);
        if (b.ref_ids[k] == 0) {
          ASSERT_EQ(ref, 0u);
        } else {
          ASSERT_NE(ref, 0u) << when << " slot " << i << " ref " << k;
          ASSERT_EQ(W(ref, kIdOffset), b.ref_ids[k]) << when << " slot " << i << " ref " << k;
        }
      }
      ++checked_big;
      if (last_address[i] != 0 && last_address[i] != r) ++moved_big;
      last_address[i] = r;
    }
  };

  for (int round = 0; round < kRounds; ++round) {
    // Replace a third of the big objects: the dead ones leave holes the rest slides into.
    for (int n = 0; n < kSlots / 3 + 1; ++n) {
      const int i = static_cast<int>(rng() % kSlots);
      // Garbage first, large and small, so what follows slides down.
      for (int g = 0; g < 3; ++g) {
        if (rng() % 2 == 0) {
          NewSmall(0xdead);
        } else {
          NewBig(0xdead0000 + g, (64u << 10) + (rng() % (1u << 20)) / 8 * 8);
        }
      }
      // 64 KiB .. 4 MiB, log-uniform (the callback's cost grows with the square of the
      // size), not page multiples, so objects start and end anywhere in a page.
      const double f = std::uniform_real_distribution<double>(0.0, kMaxLog2)(rng);
      const uint64_t bytes =
          std::min<uint64_t>(4u << 20, static_cast<uint64_t>((64u << 10) * std::exp2(f))) / 8 * 8;
      const uint64_t id = next_id++;
      *tmp = NewBig(id, bytes);
      ASSERT_NE(*tmp, 0u);
      BigModel b{id, W(*tmp, kLengthOffset), std::vector<uint64_t>(kRefs, 0)};
      for (uint64_t k = 0; k < kRefs; ++k) {
        uffdgc_ref target = 0;
        uint64_t target_id = 0;
        if (k % 2 == 0) {
          const uint64_t sid = (id << 8) | k;
          *small_tmp = NewSmall(sid);  // may run a cycle: reload *tmp after
          target = *small_tmp;
          target_id = sid;
        } else {
          const int j = static_cast<int>(rng() % kSlots);
          if (j != i && model[j].id != 0) {
            target = *slots[j];
            target_id = model[j].id;
          }
        }
        uffdgc_ref obj = *tmp;
        uffdgc_store_ref(m_, obj, reinterpret_cast<uffdgc_ref*>(obj + kBase + 8 * k), target);
        b.ref_ids[k] = target_id;
      }
      *small_tmp = 0;
      // Another big object that referred to the old one keeps it alive; redirect those
      // references to the new object so the model stays exact.
      const uint64_t old_id = model[i].id;
      *slots[i] = *tmp;
      *tmp = 0;
      model[i] = b;
      last_address[i] = 0;
      for (int j = 0; j < kSlots; ++j) {
        if (j == i || model[j].id == 0) continue;
        for (uint64_t k = 0; k < kRefs; ++k) {
          if (old_id != 0 && model[j].ref_ids[k] == old_id) {
            uffdgc_ref obj = *slots[j];
            uffdgc_store_ref(m_, obj, reinterpret_cast<uffdgc_ref*>(obj + kBase + 8 * k), *slots[i]);
            model[j].ref_ids[k] = model[i].id;
          }
        }
      }
    }
    ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK) << "round " << round;
    // Concurrent modes: the compaction runs now; these reads fault pages in.
    check_all("after the flip", round);
    if (HasFatalFailure()) return;
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  uffdgc_mutator_park(m_);  // the compaction's verify pause stops the world
  heap_->gc_thread.wait_idle();
  uffdgc_mutator_unpark(m_);
  check_all("at the end", kRounds);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  std::printf("%s: %" PRIu64 " collections, %" PRIu64 " big objects checked, %" PRIu64
              " seen at a new address, %" PRIu64 " trace calls, %" PRIu64 " mismatches, %" PRIu64
              " pages by mutators, %" PRIu64 " pages recycled\n",
              uffdgc_mode_name(GetParam()), st.collections, checked_big, moved_big,
              g_trace_calls.load(), g_trace_mismatches.load(), st.pages_by_mutators,
              st.pages_recycled);
  EXPECT_EQ(g_trace_mismatches.load(), 0u)
      << "a trace callback read a from-space copy that was recycled or released";
  EXPECT_GE(st.collections, static_cast<uint64_t>(kRounds));
  EXPECT_GT(moved_big, 0u) << "no big object slid";
  EXPECT_GT(g_trace_calls.load(), 0u);
}

// The black block (objects allocated while the cycle marks) slides by whole pages, each page
// copied from its source page: a page below the cursor reads its own source page, which lies
// above the first object covering it. Reference arrays bigger than the recycling window
// (ConcurrentCompaction::kRecycleWindow, 4 MiB) are allocated while marking is held up by a
// trace callback (a gate), so they are certainly in the black block; their elements must all
// survive the compaction that follows. No trace callback reads them: this is about the block's
// page copies alone.
using uffdgc::test::TraceGate;

class BlackBlock : public ::testing::TestWithParam<uint32_t> {};

TEST_P(BlackBlock, ObjectsLargerThanTheRecyclingWindowSurvive) {
  uffdgc::test::Watchdog dog("BlackBlock", 280);
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = GetParam();
  o.flags = UFFDGC_HEAP_VERIFY | UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS;
  o.heap_limit = 256u << 20;
  o.trigger_allocated = 1ull << 40;
  uffdgc_heap* heap = nullptr;
  UFFDGC_CREATE_HEAP_OR_SKIP(o, heap);
  uffdgc::test::GateTypes types;
  ASSERT_EQ(uffdgc::test::register_gate_types(heap, sizeof(Small), &types), UFFDGC_OK);
  const uint32_t gate_t = types.gate, array_t = types.array, small_t = types.small;
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);

  // Garbage, then the gate and the small targets (they slide), so the block moves down too.
  constexpr uint64_t kTargets = 512;
  constexpr uint64_t kArrays = 1;
  constexpr uint64_t kLength = (7u << 20) / 8;  // 7 MiB of elements each
  uffdgc_ref tmp = 0;
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(uffdgc_alloc(m, array_t, 1000, 0, &tmp), UFFDGC_OK);
  uffdgc_ref* gate_h = uffdgc_handle_new(m, 0);
  ASSERT_EQ(uffdgc_alloc(m, gate_t, 0, 0, gate_h), UFFDGC_OK);
  uffdgc_ref* targets = uffdgc_handle_new(m, 0);
  ASSERT_EQ(uffdgc_alloc(m, array_t, kTargets, 0, targets), UFFDGC_OK);
  for (uint64_t i = 0; i < kTargets; ++i) {
    ASSERT_EQ(uffdgc_alloc(m, small_t, 0, 0, &tmp), UFFDGC_OK);
    reinterpret_cast<Small*>(tmp)->id = 1000 + i;
    uffdgc_store_ref(m, *targets, reinterpret_cast<uffdgc_ref*>(*targets + 24 + 8 * i), tmp);
  }
  std::vector<uffdgc_ref*> arrays;
  for (uint64_t a = 0; a < kArrays; ++a) arrays.push_back(uffdgc_handle_new(m, 0));

  TraceGate::arm();
  std::atomic<bool> flipped{false};
  std::atomic<uffdgc_result> collect_result{UFFDGC_OK};
  std::thread collector([&] {
    uffdgc_mutator* cm = nullptr;
    if (uffdgc_mutator_attach(heap, nullptr, &cm) != UFFDGC_OK) {
      collect_result.store(UFFDGC_EINTERNAL);
    } else {
      collect_result.store(uffdgc_collect(cm));  // returns after the flip
      uffdgc_mutator_detach(cm);
    }
    flipped.store(true);
  });
  // Pause 1 needs this thread at a safepoint; then marking reaches the gate and waits.
  while (!TraceGate::entered.load() && !flipped.load()) uffdgc_poll(m);
  ASSERT_TRUE(TraceGate::entered.load()) << "marking never traced the gate";
  for (uint64_t a = 0; a < kArrays; ++a) {
    ASSERT_EQ(uffdgc_alloc(m, array_t, kLength, 0, arrays[a]), UFFDGC_OK);
    for (uint64_t i = 0; i < kLength; ++i) {
      const uffdgc_ref t = *reinterpret_cast<uffdgc_ref*>(*targets + 24 + 8 * ((i * 7 + a) % kTargets));
      uffdgc_store_ref(m, *arrays[a], reinterpret_cast<uffdgc_ref*>(*arrays[a] + 24 + 8 * i), t);
    }
  }
  const uffdgc_ref before = *arrays[0];
  TraceGate::released.store(true);
  while (!flipped.load()) uffdgc_poll(m);
  collector.join();
  ASSERT_EQ(collect_result.load(), UFFDGC_OK);
  EXPECT_NE(*arrays[0], before) << "the black block should have slid down";

  auto check = [&](const char* when) {
    for (uint64_t a = 0; a < kArrays; ++a) {
      const uffdgc_ref arr = *arrays[a];
      ASSERT_EQ(*reinterpret_cast<uint64_t*>(arr + 16), kLength) << when;
      uint64_t i = 0;  // (one assertion per array: a million elements)
      for (; i < kLength; ++i) {
        const uffdgc_ref t = *reinterpret_cast<uffdgc_ref*>(arr + 24 + 8 * i);
        if (t == 0 || reinterpret_cast<Small*>(t)->id != 1000 + (i * 7 + a) % kTargets) break;
      }
      ASSERT_EQ(i, kLength) << when << ": array " << a << " element " << i << " is "
                            << *reinterpret_cast<uffdgc_ref*>(arr + 24 + 8 * i);
    }
  };
  check("during the compaction");  // faults the block's pages in from this thread
  uffdgc_mutator_park(m);
  heap->gc_thread.wait_idle();
  uffdgc_mutator_unpark(m);
  check("after the compaction");
  uffdgc_handle_scope_close(m, &scope);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

INSTANTIATE_TEST_SUITE_P(Modes, BlackBlock, ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(p.param == UFFDGC_MODE_MOVE ? "move" : "copy");
                         });

INSTANTIATE_TEST_SUITE_P(Modes, LargeObjectSlide,
                         ::testing::Values(UFFDGC_MODE_STW, UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(p.param == UFFDGC_MODE_STW ? "stw"
                                              : p.param == UFFDGC_MODE_MOVE ? "move" : "copy");
                         });

}  // namespace
