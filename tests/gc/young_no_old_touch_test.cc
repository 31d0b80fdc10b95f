// A young collection reads, moves and writes no old page except the pages holding remembered
// slots (design: .cycle.young), shown with the old generation in zram.
//
// The old generation (~48 MiB: a chain of nodes with payloads, made old by a full collection)
// and a large object of the object space (old by definition) are pushed out with
// MADV_PAGEOUT; then the mutator allocates young garbage and young nodes that all refer to
// the large object, and stores some of them into a small old holder (the remembered slots:
// the mutator's stores bring that holder's page back itself). The young collection must then take no major fault
// (uffdgc_heap_stats.pause_major_faults: the stw mode runs it on the requesting thread) and
// leave the old range's residency as it was (mincore before and after), while keeping every
// young node the holder refers to and every old node intact. The old range must really have
// been out (most of its pages not resident), or the test proves nothing.
//
// In every mode: stw runs the young collection in one pause on the requesting thread; move and
// copy run it concurrently (design: .cycle.young.concurrent), so the residency check, taken
// once the GC thread is idle again, also covers the GC thread's marking and compaction.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/heap.h"
#include "tests/heap/heap_test_support.h"
#include "tests/support/require.h"
#include "tests/support/system_state.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace {

constexpr uint64_t kOldNodes = 200000;  // ~ 200k * (32 + 224) B = 49 MiB old
constexpr uint64_t kPayload = 200;
constexpr uint64_t kHolderSlots = 64;  // one page of the old generation holds them all
constexpr int kCycles = 3;

uint8_t Pattern(uint64_t id, uint64_t i) { return static_cast<uint8_t>(id * 131 + i * 7 + 3); }

class YoungNoOldTouch : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    if (std::string why = uffdgc::test::SystemState::instance().ensure_swap(); !why.empty()) {
      UFFDGC_TEST_UNAVAILABLE("swap", why);
    }
    uffdgc_heap_options o{};
    o.struct_size = sizeof(o);
    o.mode = GetParam();
    o.flags = UFFDGC_HEAP_GENERATIONAL;  // no verifier: it reads the whole heap
    o.heap_limit = 256ull << 20;
    o.trigger_occupancy_pct = 100;
    o.trigger_allocated = UINT64_MAX;  // collections only when the test asks
    const uffdgc_result r = uffdgc_heap_create(&o, &heap_);
    if (r == UFFDGC_EUNSUPPORTED) {
      UFFDGC_TEST_UNAVAILABLE("uffd", "this mode is not supported by this kernel");
    }
    ASSERT_EQ(r, UFFDGC_OK);
    const uint32_t node_refs[2] = {16, 24};
    uffdgc_type_info node{sizeof(node), 0, 32, 0, 0, 2, node_refs, nullptr, "node"};
    uffdgc_type_info bytes{sizeof(bytes), UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_LEAF, 24, 1, 16, 0,
                           nullptr, nullptr, "bytes"};
    uffdgc_type_info refs{sizeof(refs), UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS, 24,
                          8, 16, 0, nullptr, nullptr, "refs"};
    ASSERT_EQ(uffdgc_type_register(heap_, &node, &node_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_type_register(heap_, &bytes, &bytes_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_type_register(heap_, &refs, &refs_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_global_create(heap_, 0, &chain_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_global_create(heap_, 0, &holder_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_global_create(heap_, 0, &large_), UFFDGC_OK);
  }
  void TearDown() override {
    if (m_ != nullptr) {
      uffdgc_global_destroy(heap_, chain_);
      uffdgc_global_destroy(heap_, holder_);
      uffdgc_global_destroy(heap_, large_);
      uffdgc_mutator_detach(m_);
    }
    if (heap_ != nullptr) uffdgc_heap_destroy(heap_);
  }

  uffdgc_ref Alloc(uint32_t type, uint64_t length) {
    uffdgc_ref r = 0;
    EXPECT_EQ(uffdgc_alloc(m_, type, length, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    return r;
  }
  uffdgc_ref Node(uint64_t id, uffdgc_ref next) {
    const uffdgc_ref payload = Alloc(bytes_, kPayload);
    for (uint64_t i = 0; i < kPayload; ++i) {
      reinterpret_cast<uint8_t*>(payload + 24)[i] = Pattern(id, i);
    }
    const uffdgc_ref n = Alloc(node_, 0);
    *reinterpret_cast<uint64_t*>(n + 8) = id;
    uffdgc_store_ref(m_, n, reinterpret_cast<uffdgc_ref*>(n + 16), next);
    uffdgc_store_ref(m_, n, reinterpret_cast<uffdgc_ref*>(n + 24), payload);
    return n;
  }
  static std::string CheckNode(uffdgc_ref n, uint64_t id) {
    if (n == 0) return "node " + std::to_string(id) + " is null";
    if (*reinterpret_cast<uint64_t*>(n + 8) != id) return "node " + std::to_string(id) + ": id";
    const uffdgc_ref payload = *reinterpret_cast<uffdgc_ref*>(n + 24);
    for (uint64_t i = 0; i < kPayload; ++i) {
      if (reinterpret_cast<uint8_t*>(payload + 24)[i] != Pattern(id, i)) {
        return "node " + std::to_string(id) + ": payload byte " + std::to_string(i);
      }
    }
    return "";
  }
  // Pages of [begin, end) that are resident.
  static uint64_t Resident(uint64_t begin, uint64_t end) {
    std::vector<unsigned char> v((end - begin) / 4096);
    if (mincore(reinterpret_cast<void*>(begin), end - begin, v.data()) != 0) return UINT64_MAX;
    uint64_t n = 0;
    for (unsigned char c : v) n += c & 1;
    return n;
  }
  uffdgc_heap_stats Stats() { return heaptest::Stats(heap_); }
  // A concurrent cycle's compaction goes on after uffdgc_collect_young returns (at the flip).
  void WaitForTheGcThread() {
    while (heap_->gc_thread.busy()) usleep(1000);
  }

  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* m_ = nullptr;
  uint32_t node_ = 0, bytes_ = 0, refs_ = 0;
  uffdgc_global* chain_ = nullptr;
  uffdgc_global* holder_ = nullptr;
  uffdgc_global* large_ = nullptr;
};

TEST_P(YoungNoOldTouch, YoungCollectionsLeaveTheSwappedOutOldGenerationAlone) {
  ASSERT_EQ(Stats().generational, 1u);
  uffdgc_global_set(holder_, Alloc(refs_, kHolderSlots));
  uffdgc_ref large = 0;  // 4 MiB of references (to old nodes) in the large-object space
  ASSERT_EQ(uffdgc_alloc(m_, refs_, 1 << 19, UFFDGC_ALLOC_LARGE, &large), UFFDGC_OK);
  uffdgc_global_set(large_, large);
  for (uint64_t id = kOldNodes; id > 0; --id) {
    Alloc(bytes_, 96);  // garbage the full collection removes
    uffdgc_global_set(chain_, Node(id, uffdgc_global_get(chain_)));
  }
  for (uint64_t i = 0; i < (1 << 19); i += 64) {
    uffdgc_store_ref(m_, large, reinterpret_cast<uffdgc_ref*>(large + 24 + 8 * i),
                     uffdgc_global_get(chain_));
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // everything old
  WaitForTheGcThread();
  uint64_t next_young = 1ull << 40;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    const uint64_t old_begin = heap_->moving.begin();
    const uint64_t old_end = heap_->old_end.load();
    ASSERT_GT(old_end - old_begin, 40ull << 20);
    ASSERT_EQ(madvise(reinterpret_cast<void*>(old_begin), old_end - old_begin, MADV_PAGEOUT), 0);
    const uint64_t large_page = uffdgc_global_get(large_) & ~uint64_t{4095};
    ASSERT_EQ(madvise(reinterpret_cast<void*>(large_page), 4u << 20, MADV_PAGEOUT), 0);
    // Young work: garbage, and young nodes stored into the old holder.
    const uffdgc_ref holder = uffdgc_global_get(holder_);
    std::vector<uint64_t> ids(kHolderSlots);
    for (uint64_t i = 0; i < kHolderSlots; ++i) {
      for (int g = 0; g < 20; ++g) Alloc(bytes_, 400);
      ids[i] = next_young++;
      uffdgc_store_ref(m_, holder, reinterpret_cast<uffdgc_ref*>(holder + 24 + 8 * i),
                       Node(ids[i], uffdgc_global_get(large_)));
    }
    const uint64_t pages = (old_end - old_begin) / 4096;
    const uint64_t resident_before = Resident(old_begin, old_end);
    const uint64_t large_before = Resident(large_page, large_page + (4u << 20));
    ASSERT_LT(resident_before, pages / 10) << "the old generation did not reach swap";
    const uffdgc_heap_stats before = Stats();
    ASSERT_EQ(uffdgc_collect_young(m_), UFFDGC_OK);
    WaitForTheGcThread();
    const uffdgc_heap_stats after = Stats();
    const uint64_t resident_after = Resident(old_begin, old_end);
    const uint64_t large_after = Resident(large_page, large_page + (4u << 20));
    std::printf("%s young cycle %d: old generation %.0f MiB, %" PRIu64 " of %" PRIu64
                " pages resident before the cycle, %" PRIu64 " after; pause %.1f us, %" PRIu64
                " major faults in it; %" PRIu64 " remembered slots on %" PRIu64
                " pages; %.1f MiB promoted\n",
                uffdgc_mode_name(GetParam()), cycle, static_cast<double>(old_end - old_begin) / (1 << 20), resident_before,
                pages, resident_after, static_cast<double>(after.pause_ns_last) / 1e3,
                after.pause_major_faults - before.pause_major_faults, after.remembered_slots_last,
                after.remembered_pages_last,
                static_cast<double>(after.promoted_bytes - before.promoted_bytes) / (1 << 20));
    EXPECT_EQ(after.young_collections, before.young_collections + 1);
    EXPECT_EQ(after.remembered_slots_last, kHolderSlots);
    EXPECT_EQ(after.pause_major_faults, before.pause_major_faults)
        << "the young collection read a swapped-out old page";
    EXPECT_EQ(resident_after, resident_before) << "the young collection touched old pages";
    EXPECT_LT(large_before, 16u) << "the large object did not reach swap";
    EXPECT_EQ(large_after, large_before) << "the young collection read the large object";
    for (uint64_t i = 0; i < kHolderSlots; ++i) {
      ASSERT_EQ(CheckNode(*reinterpret_cast<uffdgc_ref*>(holder + 24 + 8 * i), ids[i]), "");
    }
  }
  // The old chain, read back from swap by the test itself.
  uint64_t id = 1;
  for (uffdgc_ref n = uffdgc_global_get(chain_); n != 0;
       n = *reinterpret_cast<uffdgc_ref*>(n + 16), ++id) {
    ASSERT_EQ(CheckNode(n, id), "");
  }
  EXPECT_EQ(id, kOldNodes + 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, YoungNoOldTouch,
                         ::testing::Values(UFFDGC_MODE_STW, UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(p.param == UFFDGC_MODE_STW    ? "Stw"
                                              : p.param == UFFDGC_MODE_MOVE ? "Move"
                                                                            : "Copy");
                         });

}  // namespace
