// A thread that must wait for the previous cycle's concurrent compaction to end (a collection
// asked for, or an allocation that found no space, while the GC thread still compacts) produces
// that compaction's unclaimed pages meanwhile (Cycle::assist_previous_compaction,
// ConcurrentCompaction::assist). The GC thread is held between the flip and its compaction
// (FlipGate), so every page the assist can take is still unproduced: the waiting thread must
// produce them, and the graph must come out whole (the heap verifier runs after each cycle).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "runtime/test_access.h"
#include "tests/support/collection_thread.h"
#include "tests/support/flip_gate.h"
#include "tests/support/require.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

using uffdgc::test::FlipGate;

struct Node {
  uint64_t header;
  uffdgc_ref next;
  uint64_t id;
};

class CompactionAssist : public ::testing::TestWithParam<uint32_t> {};

TEST_P(CompactionAssist, AThreadWaitingForTheCompactionProducesItsPages) {
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = GetParam();
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = 64u << 20;
  o.trigger_allocated = 1ull << 40;  // only the collections asked for below
  uffdgc_heap* heap = nullptr;
  UFFDGC_CREATE_HEAP_OR_SKIP(o, heap);
  static const uint32_t kRefs[] = {8};
  uffdgc_type_info node{};
  node.struct_size = sizeof node;
  node.base_size = sizeof(Node);
  node.num_ref_offsets = 1;
  node.ref_offsets = kRefs;
  node.name = "node";
  uint32_t node_t = 0;
  ASSERT_EQ(uffdgc_type_register(heap, &node, &node_t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &scope), UFFDGC_OK);
  // A list of kNodes nodes, each after two garbage nodes: everything slides.
  constexpr uint64_t kNodes = 100000;
  uffdgc_ref* head = uffdgc_handle_new(m, 0);
  for (uint64_t i = 0; i < kNodes; ++i) {
    uffdgc_ref n = 0, garbage = 0;
    ASSERT_EQ(uffdgc_alloc(m, node_t, 0, 0, &garbage), UFFDGC_OK);
    ASSERT_EQ(uffdgc_alloc(m, node_t, 0, 0, &garbage), UFFDGC_OK);
    ASSERT_EQ(uffdgc_alloc(m, node_t, 0, 0, &n), UFFDGC_OK);
    reinterpret_cast<Node*>(n)->id = kNodes - i;
    uffdgc_store_ref(m, n, &reinterpret_cast<Node*>(n)->next, *head);
    *head = n;
  }

  FlipGate flip;
  flip.install(heap);
  uffdgc::test::CollectionThread collector(heap);
  while (!flip.held.load()) uffdgc_poll(m);
  collector.finish(m);  // returns after the flip
  // The GC thread is held before its compaction: this collection waits for it and assists;
  // once this thread has nothing left to take it parks, and then the gate opens.
  std::thread releaser([&] {
    while (m->state.load() != uffdgc::runtime::MutatorState::kParked) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    flip.release.store(true);
  });
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
  releaser.join();
  flip.wait_left();
  uffdgc::test_access::set_after_flip_hook(heap, nullptr, nullptr);
  uffdgc_heap_stats st{};
  st.struct_size = sizeof st;
  ASSERT_EQ(uffdgc_heap_get_stats(heap, &st), UFFDGC_OK);
  // The compacted pages are about 2.3 MiB (100000 nodes of 24 bytes): hundreds of pages, of
  // which only the black block's may be left to the GC thread.
  EXPECT_GT(st.pages_by_assists, 300u);
  uint64_t count = 0;
  for (uffdgc_ref n = *head; n != 0; n = reinterpret_cast<const Node*>(n)->next) {
    ASSERT_EQ(reinterpret_cast<const Node*>(n)->id, ++count);
  }
  EXPECT_EQ(count, kNodes);
  ASSERT_EQ(uffdgc_handle_scope_close(m, &scope), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

INSTANTIATE_TEST_SUITE_P(Modes, CompactionAssist, ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY),
                         [](const ::testing::TestParamInfo<uint32_t>& p) {
                           return std::string(uffdgc_mode_name(p.param));
                         });

}  // namespace
