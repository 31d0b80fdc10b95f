// The stop-the-world collector end to end, on layouts chosen to hit the hard cases of sliding
// compaction: objects that straddle page edges, reference arrays spanning many pages, a pinned
// dense prefix with garbage in it, parallel page production, and the snapshot barrier's log.
// The heap verifier (UFFDGC_HEAP_VERIFY) runs after every collection; contents are checked too.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "runtime/test_access.h"
#include "tests/support/flip_gate.h"
#include "tests/support/require.h"
#include "tests/support/sanitizers.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

struct Node {
  uint64_t header;
  uffdgc_ref next;
  uffdgc_ref other;
  uint64_t id;
  uint64_t payload[3];  // 56 bytes: objects do not divide the page evenly, so some straddle
};

struct RefArray {
  uint64_t header;
  uint64_t length;
  uffdgc_ref elems[];
};

struct CollectorParam {
  uint32_t mode;
  uint32_t gc_threads;
};

class Collector : public ::testing::TestWithParam<CollectorParam> {
 protected:
  void SetUp() override {
    uffdgc_heap_options o{};
    o.struct_size = sizeof(o);
    o.flags = UFFDGC_HEAP_VERIFY;
    o.heap_limit = 128u << 20;
    o.mode = GetParam().mode;
    o.gc_threads = GetParam().gc_threads;
    o.trigger_allocated = 1ull << 40;  // collections only when asked
    const uffdgc_result rc = uffdgc_heap_create(&o, &heap_);
    if (rc == UFFDGC_EUNSUPPORTED) {
      UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(o.mode),
                              std::string(uffdgc_mode_name(o.mode)) + " mode is not supported by this kernel (see uffdgc-probe)");
    }
    ASSERT_EQ(rc, UFFDGC_OK);
    static const uint32_t node_refs[] = {offsetof(Node, next), offsetof(Node, other)};
    uffdgc_type_info t{};
    t.struct_size = sizeof(t);
    t.base_size = sizeof(Node);
    t.num_ref_offsets = 2;
    t.ref_offsets = node_refs;
    t.name = "node";
    ASSERT_EQ(uffdgc_type_register(heap_, &t, &node_), UFFDGC_OK);
    uffdgc_type_info a{};
    a.struct_size = sizeof(a);
    a.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    a.base_size = sizeof(RefArray);
    a.elem_size = 8;
    a.length_offset = offsetof(RefArray, length);
    a.name = "ref-array";
    ASSERT_EQ(uffdgc_type_register(heap_, &a, &array_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_handle_scope_open(m_, &scope_), UFFDGC_OK);
  }
  void TearDown() override {
    if (heap_ == nullptr) return;
    uffdgc_handle_scope_close(m_, &scope_);
    uffdgc_mutator_detach(m_);
    EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_OK);
  }

  Node* node(uint64_t id) {
    uffdgc_ref r = 0;
    EXPECT_EQ(uffdgc_alloc_fast(m_, node_, sizeof(Node), &r), UFFDGC_OK);
    auto* n = reinterpret_cast<Node*>(r);
    n->id = id;
    for (int i = 0; i < 3; ++i) n->payload[i] = id * 31 + i;
    return n;
  }
  // uffdgc_collect returns once the cycle has flipped: a test that holds the cycle (a gate)
  // asks for it on a thread of its own.
  std::thread CollectOnAThreadOfItsOwn() {
    return std::thread([this] {
      uffdgc_mutator* m = nullptr;
      ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m), UFFDGC_OK);
      EXPECT_EQ(uffdgc_collect(m), UFFDGC_OK);
      uffdgc_mutator_detach(m);
    });
  }
  static bool intact(const Node* n, uint64_t id) {
    return n->id == id && n->payload[0] == id * 31 && n->payload[2] == id * 31 + 2;
  }

  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* m_ = nullptr;
  uffdgc_handle_scope scope_{};
  uint32_t node_ = 0, array_ = 0;
};

// A linked list threaded through garbage: every third node survives. After compaction the
// survivors are packed, in order, and every link points at the right node.
TEST_P(Collector, SlidesSurvivorsInOrderAcrossPageEdges) {
  constexpr uint64_t kNodes = 200000;
  uffdgc_ref* head = uffdgc_handle_new(m_, 0);
  Node* prev = nullptr;
  for (uint64_t i = 0; i < kNodes; ++i) {
    Node* n = node(i);
    if (i % 3 != 0) continue;
    if (prev == nullptr) {
      *head = reinterpret_cast<uffdgc_ref>(n);
    } else {
      uffdgc_store_ref(m_, reinterpret_cast<uffdgc_ref>(prev), &prev->next,
                       reinterpret_cast<uffdgc_ref>(n));
    }
    prev = n;
  }
  const uffdgc_ref old_head = *head;
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  // Concurrent modes resume allocation at the next page boundary above the sliding region.
  const uint64_t live = (kNodes + 2) / 3 * sizeof(Node);
  EXPECT_EQ(st.moving_bytes_used,
            GetParam().mode == UFFDGC_MODE_STW ? live : (live + 4095) / 4096 * 4096);
  EXPECT_GT(st.pages_compacted_last, 0u);
  uint64_t expect = 0;
  uffdgc_ref prev_addr = 0;
  for (uffdgc_ref p = *head; p != 0; p = reinterpret_cast<Node*>(p)->next, expect += 3) {
    ASSERT_TRUE(intact(reinterpret_cast<Node*>(p), expect)) << "node " << expect;
    if (prev_addr != 0) {
      EXPECT_EQ(p, prev_addr + sizeof(Node)) << "survivors are packed";
    }
    prev_addr = p;
  }
  EXPECT_EQ(expect, (kNodes + 2) / 3 * 3);
  EXPECT_EQ(*head, old_head) << "the first survivor was already at the bottom";
}

// The kernel-event counters of the statistics: installs through userfaultfd ioctls only in the
// concurrent modes, and minor faults of the collector's own work (its side tables are fresh
// memory on a heap's first collection).
TEST_P(Collector, CountsInstallIoctlsAndCollectorFaults) {
  uffdgc_ref* head = uffdgc_handle_new(m_, 0);
  for (uint64_t i = 0; i < 100000; ++i) {
    Node* n = node(i);
    if (i % 2 != 0) continue;
    uffdgc_store_ref(m_, reinterpret_cast<uffdgc_ref>(n), &n->next, *head);
    *head = reinterpret_cast<uffdgc_ref>(n);
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // returns after the first cycle's compaction ended
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  EXPECT_GT(st.gc_minor_faults, 0u);
  if (GetParam().mode == UFFDGC_MODE_STW) {
    EXPECT_EQ(st.install_ioctls, 0u) << "stop-the-world compaction installs nothing";
  } else {
    EXPECT_GT(st.install_ioctls, 0u);
    EXPECT_GT(st.pages_moved + st.pages_copied, 0u);
  }
  // The collector's CPU by phase: each phase did work, and the phases are parts of the total.
  EXPECT_GT(st.gc_cpu_ns_mark, 0u);
  EXPECT_GT(st.gc_cpu_ns_reclaim, 0u);
  EXPECT_GT(st.gc_cpu_ns_compact, 0u);
  EXPECT_LE(st.gc_cpu_ns_mark + st.gc_cpu_ns_reclaim + st.gc_cpu_ns_compact, st.gc_cpu_ns_total);
  EXPECT_LE(st.gc_cpu_ns_free_fill, st.gc_cpu_ns_compact);
  if (GetParam().mode != UFFDGC_MODE_STW) {
    EXPECT_GT(st.gc_cpu_ns_free_fill, 0u);
  }
}

// An allocation that finds the moving space full while a concurrent cycle runs waits for the
// flip, which frees the space below the black block: an allocation stall, counted with its
// time (ZGC's "allocation stall"). The cycle is held before its flip until the allocating
// thread has filled the space.
TEST_P(Collector, AnAllocationThatWaitsForTheFlipIsAStall) {
  if (GetParam().mode == UFFDGC_MODE_STW) GTEST_SKIP() << "a concurrent mode's wait";
  for (uint64_t i = 0; i < (16u << 20) / sizeof(Node); ++i) node(i);  // garbage, below a trigger
  uffdgc::test::FlipGate gate;
  gate.install_before_flip(heap_);
  std::thread collector = CollectOnAThreadOfItsOwn();
  ASSERT_EQ(uffdgc_mutator_park(m_), UFFDGC_OK);
  gate.wait_held();
  ASSERT_EQ(uffdgc_mutator_unpark(m_), UFFDGC_OK);
  // Releases the flip once allocation has stood still for 30 ms: the allocating thread waits
  // inside uffdgc_alloc_fast (or, if it never had to, is done).
  std::thread releaser([&] {
    uint64_t last = 0;
    for (int still = 0; still < 3;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      uffdgc_heap_stats st{};
      st.struct_size = sizeof(st);
      ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
      still = st.bytes_allocated == last ? still + 1 : 0;
      last = st.bytes_allocated;
    }
    gate.release.store(true);
  });
  // More than the space holds: what marking allocates stays (black) until the flip.
  for (uint64_t i = 0; i < (128u << 20) / sizeof(Node); ++i) node(i);
  releaser.join();
  ASSERT_EQ(uffdgc_mutator_park(m_), UFFDGC_OK);
  collector.join();
  ASSERT_EQ(uffdgc_mutator_unpark(m_), UFFDGC_OK);
  gate.wait_left();
  uffdgc::test_access::set_before_flip_hook(heap_, nullptr, nullptr);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  EXPECT_GE(st.alloc_stalls, 1u);
  EXPECT_GT(st.alloc_stall_ns, 0u);
}

// Allocation resumes at the compacted end while the concurrent compaction still runs: those
// free pages are registered with the to-space and handed out zero-filled, by the GC thread
// ahead of the allocation top or by the mutator's own fault. Fresh objects must read as zero
// (the allocator relies on it), and the statistics must say who filled the pages.
TEST_P(Collector, FreePagesAboveTheCompactedEndAreZeroFilled) {
  constexpr uint64_t kNodes = 150000;
  uffdgc_ref* keep = uffdgc_handle_new(m_, 0);
  for (uint64_t i = 0; i < kNodes; ++i) {
    Node* n = node(i);
    if (i % 4 == 0) {
      n->next = *keep;  // initialising store of a fresh object (no barrier needed)
      *keep = reinterpret_cast<uffdgc_ref>(n);
    }
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // returns after the flip
  // 8 MiB of fresh nodes: more than the GC thread fills ahead, so both paths are likely used.
  uint64_t nonzero = 0;
  for (uint64_t i = 0; i < (8u << 20) / sizeof(Node); ++i) {
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc_fast(m_, node_, sizeof(Node), &r), UFFDGC_OK);
    const auto* n = reinterpret_cast<const Node*>(r);
    nonzero += (n->id | n->next | n->other | n->payload[0] | n->payload[1] | n->payload[2]) != 0;
  }
  EXPECT_EQ(nonzero, 0u) << "fresh objects must be zero";
  // The second cycle waits for the first one's compaction; the third for the second's, in
  // which nobody allocated: its GC thread filled ahead unopposed. (In the first, a mutator
  // that runs while the GC thread waits for a CPU fills every page it touches itself.)
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  if (GetParam().mode == UFFDGC_MODE_STW) {
    EXPECT_EQ(st.free_pages_prefilled + st.free_pages_by_mutators, 0u);
  } else {
    EXPECT_GT(st.free_pages_prefilled, 0u) << "the GC thread fills ahead from the start";
    EXPECT_LE(st.free_pages_recycled, st.free_pages_prefilled);
  }
  uint64_t expect = kNodes;
  for (uffdgc_ref p = *keep; p != 0; p = reinterpret_cast<Node*>(p)->next) {
    expect -= 4;
    ASSERT_TRUE(intact(reinterpret_cast<Node*>(p), expect)) << "node " << expect;
  }
  EXPECT_EQ(expect, 0u);
}

// What a cycle frees is the next allocation space (design: .memory.recycling): in move mode the GC
// thread zero-fills the free pages above the compacted end in free from-space pages it moves
// there in long runs, instead of giving them back and faulting fresh ones in. Counted, not
// timed: most of those pages are recycled, each install ioctl carries many pages, and the
// GC thread takes far fewer page faults than it installs pages. Copy mode recycles nothing.
// Every UFFDIO_MOVE of the compaction covers whole 64 KiB frames from a source at the same
// offset in its frame (ConcurrentCompaction::install_in_frames): a MOVE over part of a large
// folio would split it on any kernel. Survivors slide by amounts that are no multiple of a
// frame (two of every three nodes die), so runs start and end inside frames.
TEST_P(Collector, MovesWholeFoliosFramesOnly) {
  constexpr uint64_t kNodes = 300000;  // ~18 MiB of 64-byte nodes
  uffdgc_ref* keep = uffdgc_handle_new(m_, 0);
  for (uint64_t i = 0; i < kNodes; ++i) {
    Node* n = node(i);
    if (i % 3 == 0) {
      n->next = *keep;
      *keep = reinterpret_cast<uffdgc_ref>(n);
    }
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  std::printf("frames moved whole %llu, in part %llu; pages moved %llu copied %llu\n",
              (unsigned long long)st.folio_frames_moved_whole,
              (unsigned long long)st.folio_frames_moved_partly,
              (unsigned long long)st.pages_moved, (unsigned long long)st.pages_copied);
  if (GetParam().mode == UFFDGC_MODE_MOVE) {
    EXPECT_GT(st.folio_frames_moved_whole, 0u);
    EXPECT_EQ(st.folio_frames_moved_partly, 0u);
  } else {
    EXPECT_EQ(st.folio_frames_moved_whole + st.folio_frames_moved_partly, 0u);
  }
  uint64_t expect = (kNodes + 2) / 3 * 3;
  for (uffdgc_ref p = *keep; p != 0; p = reinterpret_cast<Node*>(p)->next) {
    expect -= 3;
    ASSERT_TRUE(intact(reinterpret_cast<Node*>(p), expect)) << "node " << expect;
  }
  EXPECT_EQ(expect, 0u);
}

TEST_P(Collector, FreedFromSpaceBecomesTheNextAllocationSpace) {
  constexpr uint64_t kNodes = 400000;  // 25 MiB of 64-byte nodes, a quarter of them kept
  uffdgc_ref* keep = uffdgc_handle_new(m_, 0);
  for (uint64_t i = 0; i < kNodes; ++i) {
    Node* n = node(i);
    if (i % 4 == 0) {
      n->next = *keep;
      *keep = reinterpret_cast<uffdgc_ref>(n);
    }
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // returns after the first cycle's compaction ended
  uffdgc_heap_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(uffdgc_heap_get_stats(heap_, &st), UFFDGC_OK);
  const uint64_t installed = st.pages_moved + st.pages_copied + st.pages_copied_on_ebusy;
  std::printf("prefilled %llu recycled %llu by mutators %llu; installed %llu in %llu ioctls; "
              "GC minor faults %llu\n",
              (unsigned long long)st.free_pages_prefilled,
              (unsigned long long)st.free_pages_recycled,
              (unsigned long long)st.free_pages_by_mutators, (unsigned long long)installed,
              (unsigned long long)st.install_ioctls, (unsigned long long)st.gc_minor_faults);
  if (GetParam().mode == UFFDGC_MODE_MOVE) {
    // About 18 MiB were freed; the next allocation space takes at least 8 MiB of it.
    EXPECT_GE(st.free_pages_recycled, (8u << 20) / 4096);
    EXPECT_GE(installed, 32 * st.install_ioctls) << "runs, not pages";
    // (Without sanitizers: their shadow memory's faults count too. It is an eighth here.)
    if (!uffdgc::test::kAddressSanitizer && !uffdgc::test::kThreadSanitizer) {
      EXPECT_LT(st.gc_minor_faults, installed / 4) << "the GC thread faulted its pages in";
    }
  } else if (GetParam().mode == UFFDGC_MODE_COPY) {
    EXPECT_EQ(st.free_pages_recycled, 0u);
  }
  uint64_t expect = kNodes;
  for (uffdgc_ref p = *keep; p != 0; p = reinterpret_cast<Node*>(p)->next) {
    expect -= 4;
    ASSERT_TRUE(intact(reinterpret_cast<Node*>(p), expect)) << "node " << expect;
  }
  EXPECT_EQ(expect, 0u);
}

// Reference arrays that span many pages, their elements pointing into garbage-interleaved
// nodes: every element is rewritten by the page that holds it.
TEST_P(Collector, RewritesReferenceArraysSpanningPages) {
  constexpr uint64_t kLen = 7000;  // 56 KiB: below the large-object threshold, so it moves
  uffdgc_ref* arr_handle = uffdgc_handle_new(m_, 0);
  for (int i = 0; i < 1000; ++i) node(1u << 30);  // garbage below, so the array slides
  ASSERT_EQ(uffdgc_alloc(m_, array_, kLen, UFFDGC_ALLOC_DEFAULT, arr_handle), UFFDGC_OK);
  for (uint64_t i = 0; i < kLen; ++i) {
    node(1u << 31);  // garbage between the survivors
    Node* n = node(i);
    auto* arr = reinterpret_cast<RefArray*>(*arr_handle);
    uffdgc_store_ref(m_, *arr_handle, &arr->elems[i], reinterpret_cast<uffdgc_ref>(n));
  }
  const uffdgc_ref before = *arr_handle;
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  EXPECT_NE(*arr_handle, before) << "the array should have slid down";
  auto* arr = reinterpret_cast<RefArray*>(*arr_handle);
  ASSERT_EQ(arr->length, kLen);
  for (uint64_t i = 0; i < kLen; ++i) {
    ASSERT_TRUE(intact(reinterpret_cast<Node*>(arr->elems[i]), i)) << "element " << i;
  }
}

// A pinned object keeps its address; the garbage below it becomes fillers (not walked as
// objects), and everything above still compacts.
TEST_P(Collector, PinnedObjectStaysAndTheRestCompacts) {
  uffdgc_ref* list = uffdgc_handle_new(m_, 0);
  for (int i = 0; i < 5000; ++i) node(1u << 30);  // garbage below the pin
  Node* pinned = node(42);
  const uffdgc_ref pinned_addr = reinterpret_cast<uffdgc_ref>(pinned);
  ASSERT_EQ(uffdgc_pin(m_, pinned_addr), UFFDGC_OK);
  for (uint64_t i = 0; i < 20000; ++i) {
    Node* n = node(i);
    if (i % 2 == 0) {
      uffdgc_store_ref(m_, reinterpret_cast<uffdgc_ref>(n), &n->next, *list);
      *list = reinterpret_cast<uffdgc_ref>(n);
    }
  }
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  EXPECT_TRUE(intact(reinterpret_cast<Node*>(pinned_addr), 42)) << "pinned object moved or died";
  uint64_t count = 0;
  for (uffdgc_ref p = *list; p != 0; p = reinterpret_cast<Node*>(p)->next) {
    ASSERT_GT(p, pinned_addr) << "survivors above the pin stay above it";
    ++count;
  }
  EXPECT_EQ(count, 10000u);
  struct Walk {
    uint64_t objects = 0;
  } walk;
  ASSERT_EQ(uffdgc_heap_walk(
                m_,
                [](uffdgc_ref, uint32_t, size_t, void* arg) {
                  ++static_cast<Walk*>(arg)->objects;
                  return 0;
                },
                &walk),
            UFFDGC_OK);
  EXPECT_EQ(walk.objects, 10001u) << "dead objects below the pin must be fillers now";
  ASSERT_EQ(uffdgc_unpin(m_, pinned_addr), UFFDGC_OK);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // unpinned and unreachable: gone
  ASSERT_EQ(uffdgc_heap_walk(
                m_,
                [](uffdgc_ref, uint32_t, size_t, void* arg) {
                  ++static_cast<Walk*>(arg)->objects;
                  return 0;
                },
                &(walk = Walk{})),
            UFFDGC_OK);
  EXPECT_EQ(walk.objects, 10000u);
}

// A dead object cut by a pinned island's last page edge, and a live object right above it in
// the same allocation buffer: between planning and the flip (concurrent modes), a pin of that
// object parses from the buffer's start through the island. The island's fillers must leave an
// object start where the dead object ended, or the parse meets the dead object's payload and
// the pin of a real object is refused (seen under TSan in the fault storms).
TEST_P(Collector, PinAboveAnIslandEdgeBeforeTheFlip) {
  if (GetParam().mode == UFFDGC_MODE_STW) {
    GTEST_SKIP() << "stop-the-world: islands are filled and compacted in one pause";
  }
  Node* a = node(1);
  const auto a_addr = reinterpret_cast<uffdgc_ref>(a);
  uffdgc_ref* a_root = uffdgc_handle_new(m_, a_addr);
  const uint64_t edge = (a_addr + sizeof(Node) + 4095) & ~uint64_t{4095};
  // Dead, from right after `a` to 800 bytes past the edge of a's page.
  const uint64_t dead_bytes = edge + 800 - (a_addr + sizeof(Node));
  uffdgc_ref dead = 0;
  ASSERT_EQ(uffdgc_alloc(m_, array_, (dead_bytes - sizeof(RefArray)) / 8, UFFDGC_ALLOC_DEFAULT,
                         &dead),
            UFFDGC_OK);
  ASSERT_EQ(dead, a_addr + sizeof(Node)) << "one allocation buffer from the first object on";
  // Its elements read as no object header (zeros would parse as one-word fillers).
  auto* dead_array = reinterpret_cast<RefArray*>(dead);
  for (uint64_t i = 0; i < dead_array->length; ++i) dead_array->elems[i] = a_addr;
  Node* b = node(2);
  const auto b_addr = reinterpret_cast<uffdgc_ref>(b);
  uffdgc_ref* b_root = uffdgc_handle_new(m_, b_addr);
  ASSERT_EQ(b_addr, edge + 800);
  ASSERT_EQ(uffdgc_pin(m_, a_addr), UFFDGC_OK);

  uffdgc::test::FlipGate gate;
  gate.install_before_flip(heap_);
  std::thread collector = CollectOnAThreadOfItsOwn();
  ASSERT_EQ(uffdgc_mutator_park(m_), UFFDGC_OK);  // the cycle's pauses wait for no parked thread
  gate.wait_held();
  ASSERT_EQ(uffdgc_mutator_unpark(m_), UFFDGC_OK);
  EXPECT_EQ(uffdgc_pin(m_, b_addr), UFFDGC_OK) << "the parse from the buffer's start failed";
  gate.release.store(true);
  ASSERT_EQ(uffdgc_mutator_park(m_), UFFDGC_OK);  // and so does the flip
  collector.join();
  ASSERT_EQ(uffdgc_mutator_unpark(m_), UFFDGC_OK);
  gate.wait_left();
  uffdgc::test_access::set_before_flip_hook(heap_, nullptr, nullptr);
  ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);  // after the held cycle's compaction
  EXPECT_EQ(*a_root, a_addr);
  EXPECT_TRUE(intact(reinterpret_cast<Node*>(*a_root), 1));
  EXPECT_TRUE(intact(reinterpret_cast<Node*>(*b_root), 2));
  EXPECT_EQ(*b_root, b_addr) << "pinned";
  EXPECT_EQ(uffdgc_unpin(m_, a_addr), UFFDGC_OK);
  EXPECT_EQ(uffdgc_unpin(m_, b_addr), UFFDGC_OK);
}

// Random graphs with cross links, collected repeatedly: each collection must keep exactly the
// reachable objects with their fields.
TEST_P(Collector, RandomGraphSurvivesRepeatedCollections) {
  std::mt19937_64 rng(GetParam().mode * 1000 + GetParam().gc_threads);
  constexpr int kRoots = 64;
  std::vector<uffdgc_ref*> roots;
  for (int i = 0; i < kRoots; ++i) roots.push_back(uffdgc_handle_new(m_, 0));
  uint64_t next_id = 1;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 50000; ++i) {
      Node* n = node(next_id++);
      const auto r = reinterpret_cast<uffdgc_ref>(n);
      uffdgc_ref* root = roots[rng() % kRoots];
      if (rng() % 4 == 0) {
        uffdgc_store_ref(m_, r, &n->next, *root);
        *root = r;
      }
      if (rng() % 8 == 0) uffdgc_store_ref(m_, r, &n->other, *roots[rng() % kRoots]);
    }
    ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK) << "round " << round;
    for (uffdgc_ref* root : roots) {
      for (uffdgc_ref p = *root; p != 0; p = reinterpret_cast<Node*>(p)->next) {
        const auto* n = reinterpret_cast<Node*>(p);
        ASSERT_TRUE(intact(n, n->id)) << "round " << round;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, Collector,
                         ::testing::Values(CollectorParam{UFFDGC_MODE_STW, 1},
                                           CollectorParam{UFFDGC_MODE_STW, 2},
                                           CollectorParam{UFFDGC_MODE_MOVE, 1},
                                           CollectorParam{UFFDGC_MODE_MOVE, 2},
                                           CollectorParam{UFFDGC_MODE_COPY, 1},
                                           CollectorParam{UFFDGC_MODE_COPY, 2}),
                         [](const auto& param_info) {
                           const char* mode = param_info.param.mode == UFFDGC_MODE_STW ? "stw"
                                              : param_info.param.mode == UFFDGC_MODE_MOVE ? "move"
                                                                                          : "copy";
                           return std::string(mode) + "_threads" +
                                  std::to_string(param_info.param.gc_threads);
                         });

}  // namespace
