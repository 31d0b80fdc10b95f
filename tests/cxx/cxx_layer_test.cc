// The C++ layer (include/uffdgc/uffdgc.hpp): results, types, RAII of heaps, threads, handle
// scopes, globals and pins; handles that survive collections and C++ moves.
#include <cstddef>
#include <utility>
#include <vector>

#include "cxx_test_support.h"

namespace cxxtest {
namespace {

// ---- Results and types (no heap needed for most) -------------------------------------------

TEST(CxxResult, StatusAndResultCarryCodes) {
  uffdgc::Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_STREQ(ok.name(), "UFFDGC_OK");
  uffdgc::Status bad(UFFDGC_EINVAL);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.code(), UFFDGC_EINVAL);
  uffdgc::Result<int> r = 5;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  uffdgc::Result<int> e = uffdgc::Status(UFFDGC_ENOMEM);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.code(), UFFDGC_ENOMEM);
  EXPECT_EQ(e.value_or(7), 7);
  // An "error" built from OK still reports an error, never a value-less success.
  uffdgc::Result<int> odd = uffdgc::Status(UFFDGC_OK);
  EXPECT_FALSE(odd.ok());
  EXPECT_NE(odd.code(), UFFDGC_OK);
}

TEST(CxxResultDeathTest, ValueOfAnErrorAbortsNamingTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  uffdgc::Result<int> e = uffdgc::Status(UFFDGC_ETYPE);
  EXPECT_DEATH((void)e.value(), "Result::value\\(\\) on an error.*code -7");
}

TEST(CxxTypes, BuilderComputesOffsetsFromMembers) {
  uffdgc::TypeBuilder<Node> b("node");
  b.ref(&Node::left).ref(&Node::right);
  const uffdgc_type_info& info = b.info();
  EXPECT_EQ(info.struct_size, sizeof(uffdgc_type_info));
  EXPECT_EQ(info.base_size, sizeof(Node));
  ASSERT_EQ(info.num_ref_offsets, 2u);
  EXPECT_EQ(info.ref_offsets[0], offsetof(Node, left));
  EXPECT_EQ(info.ref_offsets[1], offsetof(Node, right));
  EXPECT_STREQ(info.name, "node");
  EXPECT_EQ(info.flags, 0u);

  uffdgc::TypeBuilder<Array> a("array");
  a.elements_are_refs(&Array::length);
  EXPECT_EQ(a.info().flags, UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS);
  EXPECT_EQ(a.info().elem_size, 8u);
  EXPECT_EQ(a.info().length_offset, offsetof(Array, length));
  EXPECT_EQ(a.info().num_ref_offsets, 0u);
  EXPECT_EQ(a.info().ref_offsets, nullptr);

  uffdgc::TypeBuilder<> raw;  // untyped: sizes and offsets by number
  raw.size(40).ref(8).ref(16).has_finalizer();
  EXPECT_EQ(raw.info().base_size, 40u);
  EXPECT_EQ(raw.info().flags, UFFDGC_TYPE_HAS_FINALIZER);
  EXPECT_EQ(raw.info().name, nullptr);
}

TEST(CxxTypes, FastPathOnlyForFixedMovableSmallTypes) {
  auto heap = uffdgc::Heap::create(TestOptions().large_object_threshold(256));
  ASSERT_TRUE(heap.ok()) << heap.name();
  auto node = heap->register_type(uffdgc::TypeBuilder<Node>("n").ref(&Node::left));
  ASSERT_TRUE(node.ok());
  EXPECT_GE(node->index(), 2u) << "0 and 1 are fillers";
  EXPECT_EQ(node->fast_bytes(), sizeof(Node));
  auto array =
      heap->register_type(uffdgc::TypeBuilder<Array>("a").elements_are_refs(&Array::length));
  ASSERT_TRUE(array.ok());
  EXPECT_EQ(array->fast_bytes(), 0u);
  auto nm = heap->register_type(uffdgc::TypeBuilder<Node>("nm").nonmoving());
  ASSERT_TRUE(nm.ok());
  EXPECT_EQ(nm->fast_bytes(), 0u);
  auto fin = heap->register_type(uffdgc::TypeBuilder<Blob>("f").leaf().has_finalizer());
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(fin->fast_bytes(), 0u);
  auto big = heap->register_type(uffdgc::TypeBuilder<>("big").size(512).leaf());
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->fast_bytes(), 0u) << "at or above the large-object threshold";
  EXPECT_NE(node->index(), array->index());
}

TEST(CxxTypes, RegistrationErrorsAreResults) {
  auto heap = uffdgc::Heap::create(TestOptions());
  ASSERT_TRUE(heap.ok());
  uffdgc_type_info info{};  // struct_size 0
  auto r = heap->register_type(info);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.code(), UFFDGC_OK);
}

// ---- Heap and MutatorScope RAII ------------------------------------------------------------

TEST(CxxHeap, CreateMoveAndDestroy) {
  auto created = uffdgc::Heap::create(TestOptions());
  ASSERT_TRUE(created.ok()) << created.name();
  uffdgc::Heap a = std::move(created).value();
  uffdgc_heap* raw = a.raw();
  ASSERT_NE(raw, nullptr);
  uffdgc::Heap b = std::move(a);
  EXPECT_EQ(a.raw(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.raw(), raw);
  auto st = b.stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->mode, uffdgc::test::test_mode());
  EXPECT_EQ(st->collections, 0u);
  EXPECT_EQ(st->pause_ns_mean(), 0u);
  auto attrs = b.attrs();
  ASSERT_TRUE(attrs.ok());
  EXPECT_EQ(attrs->poll_flag_offset, static_cast<uint32_t>(UFFDGC_MUTATOR_POLL_FLAG_OFFSET));
  EXPECT_TRUE(b.destroy().ok());
  EXPECT_EQ(b.raw(), nullptr);
  EXPECT_TRUE(b.destroy().ok()) << "destroying an empty Heap is a no-op";
}

TEST(CxxHeap, DestroyRefusedWhileAThreadIsAttached) {
  auto heap = uffdgc::Heap::create(TestOptions());
  ASSERT_TRUE(heap.ok());
  {
    uffdgc::MutatorScope thread(*heap);
    ASSERT_TRUE(thread.ok());
    EXPECT_EQ(heap->destroy().code(), UFFDGC_ESTATE);
    EXPECT_NE(heap->raw(), nullptr) << "a refused destroy keeps the heap";
  }
  EXPECT_TRUE(heap->destroy().ok());
}

TEST(CxxHeapDeathTest, HeapDestructorWithAttachedThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto heap = uffdgc::Heap::create(TestOptions()).value();
        auto* leaked = new uffdgc::MutatorScope(heap);  // still attached when heap dies
        (void)leaked;
      },
      "Heap destroyed while threads are still attached.*code -6");
}

TEST(CxxMutatorScope, AttachDetachIsScopedAndRepeatable) {
  auto heap = uffdgc::Heap::create(TestOptions());
  ASSERT_TRUE(heap.ok());
  int vm_thread = 0;
  for (int i = 0; i < 3; ++i) {
    uffdgc::MutatorScope thread(*heap, &vm_thread);
    ASSERT_TRUE(thread.ok()) << thread.status().name();
    EXPECT_EQ(thread.mutator().vm_thread(), &vm_thread);
    // One mutator per thread per heap: a second attach fails and changes nothing.
    uffdgc::MutatorScope again(*heap);
    EXPECT_FALSE(again.ok());
    EXPECT_FALSE(again.mutator());
  }
  // All detached: the heap can go.
  EXPECT_TRUE(heap->destroy().ok());
}

TEST(CxxMutatorScope, MoveTransfersTheAttachment) {
  auto heap = uffdgc::Heap::create(TestOptions());
  ASSERT_TRUE(heap.ok());
  auto attached = uffdgc::MutatorScope::attach(*heap);
  ASSERT_TRUE(attached.ok()) << attached.name();
  uffdgc::MutatorScope moved = std::move(attached).value();
  ASSERT_TRUE(moved.mutator());
  EXPECT_TRUE(moved->collect().ok());
  EXPECT_TRUE(moved.detach().ok());
  EXPECT_FALSE(moved.mutator());
  EXPECT_TRUE(moved.detach().ok()) << "detach is idempotent";
  EXPECT_TRUE(heap->destroy().ok());
}

TEST(CxxMutatorScopeDeathTest, DestroyedOnAnotherThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto heap = uffdgc::Heap::create(TestOptions()).value();
        auto* scope = new uffdgc::MutatorScope(heap);
        std::thread([scope] { delete scope; }).join();
      },
      "MutatorScope: detach failed.*code -6");
}

// ---- Allocation, stores, loads --------------------------------------------------------------

TEST_F(CxxFixture, AllocWritesHeadersAndLengths) {
  uffdgc::HandleScope scope(m_);
  uffdgc::Ref<Node> n = NewNode(42);
  ASSERT_TRUE(n);
  EXPECT_EQ(n.header().type_index(), node_.index());
  EXPECT_EQ(n->payload, 42);
  EXPECT_TRUE(n->left.is_null());
  EXPECT_EQ(m_.object_size(n), sizeof(Node));
  n.header().set_embedder_bits(0xabcd);
  EXPECT_EQ(n.header().embedder_bits(), 0xabcdu);
  EXPECT_EQ(n.header().type_index(), node_.index());

  auto a = m_.alloc(array_, 10);
  ASSERT_TRUE(a.ok()) << a.name();
  EXPECT_EQ((*a)->length, 10u);
  EXPECT_EQ((*a).header().type_index(), array_.index());
  EXPECT_EQ(m_.object_size(*a), sizeof(Array) + 10 * sizeof(uffdgc_ref));
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*a)->at()[i], 0u);

  auto nm = m_.alloc_nonmoving(node_);
  ASSERT_TRUE(nm.ok()) << nm.name();
  auto large = m_.alloc_large(array_, 100);
  ASSERT_TRUE(large.ok()) << large.name();
  EXPECT_EQ((*large)->length, 100u);
}

// uffdgc_alloc_fast bumps the TLAB without looking at the type, so a finalizable type would
// never be queued and a non-moving one would move. Mutator::alloc sends them to uffdgc_alloc.
TEST_F(CxxFixture, FinalizableAndNonMovingTypesTakeTheCheckedPath) {
  auto fin = heap_->register_type(uffdgc::TypeBuilder<Blob>("cxx-final").leaf().has_finalizer());
  ASSERT_TRUE(fin.ok());
  auto nm = heap_->register_type(uffdgc::TypeBuilder<Node>("cxx-nm").ref(&Node::left).nonmoving());
  ASSERT_TRUE(nm.ok());
  uffdgc::HandleScope scope(m_);
  Garbage(10);  // the TLAB has room: the fast path would succeed
  ASSERT_TRUE(m_.alloc(*fin).ok());
  Garbage(1000);
  uffdgc::Handle<Node> pinned_by_type = scope.handle(m_.alloc(*nm).value());
  uffdgc_ref at = pinned_by_type.raw();
  Collect();
  auto queued = m_.finalization_pop();
  ASSERT_TRUE(queued.ok()) << queued.name();
  EXPECT_EQ(queued->header().type_index(), fin->index());
  EXPECT_EQ(pinned_by_type.raw(), at) << "a NONMOVING type never moves";
}

TEST_F(CxxFixture, AllocErrorsAreResults) {
  auto bad = m_.alloc(array_, ~uint64_t{0});  // size overflows
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.code(), UFFDGC_OK);
}

TEST_F(CxxFixture, StoresAndLoadsThroughMembersAndSlots) {
  uffdgc::HandleScope scope(m_);
  auto a = scope.handle(NewNode(1));
  auto b = scope.handle(NewNode(2));
  m_.store(a, &Node::left, b);               // Handle holder, Handle value, Ref<Node> field
  m_.store(a.get(), &Node::right, b.get());  // Ref holder, Ref value, uffdgc_ref field
  EXPECT_EQ(m_.load(a.get(), &Node::left), b.get());
  EXPECT_EQ(m_.load(a.get(), &Node::right), b.raw());
  m_.store(a, &Node::right, nullptr);
  EXPECT_EQ(uffdgc::load_ref(a->right), 0u);
  m_.store(a, &Node::right, 0);  // a literal 0 is a null reference too
  EXPECT_EQ(uffdgc::load_ref(a->right), 0u);

  auto arr = scope.handle(m_.alloc(array_, 4).value());
  m_.store(arr, &arr->at()[3], a);  // a slot inside the holder
  EXPECT_EQ(arr->at()[3], a.raw());
  auto copy = scope.handle(m_.alloc(array_, 4).value());
  m_.store_refs(copy, copy->at(), arr->at(), 4);
  EXPECT_EQ(copy->at()[3], a.raw());
  Collect();
  EXPECT_EQ(copy->at()[3], a.raw()) << "both updated to the new address";
  EXPECT_EQ(m_.load(a.get(), &Node::left)->payload, 2);
}

// ---- Handles --------------------------------------------------------------------------------

TEST_F(CxxFixture, HandlesFollowTheirObjectAcrossCollections) {
  uffdgc::HandleScope scope(m_);
  Garbage(2000);  // dead objects below: the live node must slide down
  uffdgc::Handle<Node> h = scope.handle(NewNode(1234));
  uffdgc_ref before = h.raw();
  Collect();
  EXPECT_NE(h.raw(), before) << "sliding compaction moves the node over the garbage";
  EXPECT_EQ(h->payload, 1234);
  EXPECT_EQ(h.get().header().type_index(), node_.index());
}

TEST_F(CxxFixture, HandleCopiesAndMovesNameTheSameSlot) {
  uffdgc::HandleScope scope(m_);
  std::vector<uffdgc::Handle<Node>> handles;
  for (int i = 0; i < 300; ++i) {
    Garbage(5);
    uffdgc::Handle<Node> h = scope.handle(NewNode(i));
    if (i > 0) m_.store(h, &Node::left, handles.back());  // a chain
    handles.push_back(h);  // copies; the vector reallocates (moves) them several times
  }
  uffdgc::Handle<Node> last = std::move(handles.back());
  Collect();
  Collect();
  for (int i = 0; i < 300; ++i) ASSERT_EQ(handles[static_cast<size_t>(i)]->payload, i);
  // Walk the chain from the moved-to handle.
  uffdgc::Ref<Node> n = last.get();
  for (int i = 299; i >= 0; --i, n = uffdgc::load_ref(n->left)) {
    ASSERT_TRUE(n);
    ASSERT_EQ(n->payload, i);
  }
  EXPECT_FALSE(n);
  uffdgc::Handle<void> untyped = last;  // widening keeps the slot
  EXPECT_EQ(untyped.slot(), last.slot());
  EXPECT_EQ(untyped.cast<Node>()->payload, 299);
}

TEST_F(CxxFixture, ClosingAHandleScopeReleasesItsRoots) {
  uffdgc::HandleScope outer(m_);
  uffdgc::Handle<Node> kept = outer.handle(NewNode(1));
  {
    uffdgc::HandleScope inner(m_);
    ASSERT_TRUE(inner.ok());
    for (int i = 0; i < 10; ++i) {
      auto a = inner.handle(m_.alloc(array_, 3).value());  // only arrays live in inner
      (void)a;
    }
    Collect();
    EXPECT_EQ(CountObjects(array_.index()), 10u);
  }
  Collect();
  EXPECT_EQ(CountObjects(array_.index()), 0u) << "inner's handles died with it";
  EXPECT_EQ(kept->payload, 1);
}

TEST_F(CxxFixture, HandlesOnlyInTheInnermostScope) {
  uffdgc::HandleScope outer(m_);
  {
    uffdgc::HandleScope inner(m_);
    auto wrong = outer.try_handle(NewNode(1));
    EXPECT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.code(), UFFDGC_ESTATE);
    EXPECT_TRUE(inner.try_handle(NewNode(2)).ok());
  }
  EXPECT_TRUE(outer.try_handle(NewNode(3)).ok());
  // Mutator::new_handle goes to the innermost scope, like uffdgc_handle_new.
  uffdgc::Handle<Node> h = m_.new_handle(NewNode(4));
  ASSERT_FALSE(h.empty());
  Collect();
  EXPECT_EQ(h->payload, 4);
}

TEST_F(CxxFixture, NewHandleWithoutAScopeIsEmpty) {
  uffdgc::Handle<Node> h = m_.new_handle(NewNode(1));
  EXPECT_TRUE(h.empty());
}

using CxxFixtureDeathTest = CxxFixture;

TEST_F(CxxFixtureDeathTest, HandleInAnOuterScopeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  uffdgc::HandleScope outer(m_);
  uffdgc::HandleScope inner(m_);
  EXPECT_DEATH((void)outer.handle(uffdgc::Ref<Node>()), "HandleScope::handle.*code -6");
}

TEST_F(CxxFixture, EscapedHandleOutlivesItsScope) {
  uffdgc::HandleScope outer(m_);
  auto make_chain = [&](int n) {
    uffdgc::EscapableHandleScope scope(m_);
    EXPECT_TRUE(scope.ok());
    uffdgc::Handle<Node> head = scope.handle(uffdgc::Ref<Node>());
    for (int i = 0; i < n; ++i) {
      Garbage(3);
      uffdgc::Ref<Node> node = NewNode(i);
      m_.store(node, &Node::left, head);
      head.set(node);
    }
    return scope.escape(head.get());
  };
  uffdgc::Handle<Node> chain = make_chain(50);
  Collect();
  int count = 0;
  for (uffdgc::Ref<Node> n = chain.get(); n; n = uffdgc::load_ref(n->left)) {
    EXPECT_EQ(n->payload, 49 - count);
    ++count;
  }
  EXPECT_EQ(count, 50);
}

// ---- Globals and pins -----------------------------------------------------------------------

TEST_F(CxxFixture, GlobalsRootUntilDestroyedAndMove) {
  auto g = uffdgc::Global<Node>::create(*heap_, NewNode(7));
  ASSERT_TRUE(g.ok()) << g.name();
  Garbage(1000);
  Collect();
  EXPECT_EQ((*g)->payload, 7);
  EXPECT_EQ(CountObjects(node_.index()), 1u);

  uffdgc::Global<Node> moved = std::move(g).value();
  EXPECT_FALSE(moved.empty());
  moved.set(NewNode(8));
  Collect();
  EXPECT_EQ(moved->payload, 8);
  EXPECT_EQ(CountObjects(node_.index()), 1u) << "the global now roots only the new node";

  uffdgc::Global<Node> assigned;
  EXPECT_TRUE(assigned.empty());
  assigned = std::move(moved);
  EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
  Collect();
  EXPECT_EQ(assigned->payload, 8);

  EXPECT_TRUE(assigned.destroy().ok());
  EXPECT_TRUE(assigned.empty());
  Collect();
  EXPECT_EQ(CountObjects(node_.index()), 0u);
}

TEST_F(CxxFixture, GlobalsFromAnotherAttachedThread) {
  uffdgc::Global<Node> g;
  {
    uffdgc::HandleScope scope(m_);
    auto n = scope.handle(NewNode(5));
    uffdgc_ref raw = n.raw();  // no safepoint on this thread until the helper is done
    std::thread([&] {
      uffdgc::MutatorScope other(*heap_);
      ASSERT_TRUE(other.ok());
      auto created = uffdgc::Global<Node>::create(*heap_, raw);  // any attached thread
      ASSERT_TRUE(created.ok());
      g = std::move(created).value();
    }).join();
  }
  Collect();
  EXPECT_EQ(g->payload, 5);
}

TEST_F(CxxFixture, PinScopeKeepsTheAddress) {
  uffdgc::HandleScope scope(m_);
  Garbage(2000);
  uffdgc::Handle<Node> h = scope.handle(NewNode(99));
  uffdgc_ref pinned_at = h.raw();
  {
    uffdgc::PinScope pin(m_, h);
    ASSERT_TRUE(pin.ok()) << pin.status().name();
    Collect();
    EXPECT_EQ(pin.get().raw(), pinned_at);
    EXPECT_EQ(h.raw(), pinned_at) << "a pinned object does not move";
    EXPECT_EQ(pin->payload, 99);
  }
  Collect();
  EXPECT_EQ(h->payload, 99);
}

TEST_F(CxxFixture, PinScopeAloneKeepsTheObjectAlive) {
  uffdgc::Ref<Node> n = NewNode(3);
  {
    uffdgc::PinScope pin(m_, n);
    ASSERT_TRUE(pin.ok());
    Collect();
    EXPECT_EQ(pin->payload, 3);
    EXPECT_EQ(CountObjects(node_.index()), 1u);
  }
  Collect();
  EXPECT_EQ(CountObjects(node_.index()), 0u);
}

// ---- Weak, finalization, walks, stats ------------------------------------------------------

TEST_F(CxxFixture, WeakLoadClearsForDeadReferents) {
  uffdgc::HandleScope scope(m_);
  auto box = scope.handle(m_.alloc(weak_).value());
  auto strong = scope.handle(NewNode(1));
  m_.store(box, &WeakBox::target, strong);
  Collect();
  EXPECT_EQ(m_.load_weak(box, &box->target), strong.raw());
  strong.set(nullptr);
  Collect();
  EXPECT_EQ(m_.load_weak(box, &box->target), 0u);
}

TEST_F(CxxFixture, FinalizationQueueEmpty) {
  auto r = m_.finalization_pop();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), UFFDGC_EEMPTY);
}

TEST_F(CxxFixture, HeapWalkStopsWhenTheCallbackSaysSo) {
  uffdgc::HandleScope scope(m_);
  for (int i = 0; i < 10; ++i) (void)scope.handle(NewNode(i));
  size_t seen = 0;
  auto stop_at_three = [&](uffdgc::Ref<void>, uint32_t, size_t) { return ++seen == 3; };
  EXPECT_TRUE(m_.heap_walk(stop_at_three).ok());
  EXPECT_EQ(seen, 3u);
}

TEST_F(CxxFixture, PauseRecorderSeesEveryPause) {
  uffdgc::PauseRecorder recorder(2);  // capacity 2: the rest is counted as dropped
  ASSERT_TRUE(heap_->set_event_listener(recorder).ok());
  for (int i = 0; i < 4; ++i) {
    Garbage(500);
    Collect();
  }
  ASSERT_TRUE(heap_->clear_event_listener().ok());
  auto recorded = heap_->stats();  // one pause per cycle in stw, three or more concurrently
  ASSERT_TRUE(recorded.ok());
  Collect();  // not recorded
  auto st = heap_->stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->collections, 5u);
  EXPECT_EQ(recorder.count(), 2u);
  EXPECT_EQ(recorder.dropped(), recorded->pauses - 2);
  EXPECT_EQ(recorder.cycles(), 4u);
  EXPECT_GT(recorder.bytes_reclaimed(), 0u);
  EXPECT_GT(recorder.max_ns(), 0u);
  EXPECT_LE(recorder.max_ns(), st->pause_ns_max);
  EXPECT_LE(recorder.percentile_ns(50), recorder.percentile_ns(100));
  EXPECT_LE(recorder.percentile_ns(100), recorder.max_ns());
  EXPECT_GT(st->pause_ns_mean(), 0u);
}

TEST_F(CxxFixture, EventListenerLambda) {
  int pauses = 0, phases = 0;
  auto listener = [&](const uffdgc_event& e) {
    if (e.kind == UFFDGC_EVENT_PAUSE_END) ++pauses;
    if (e.kind == UFFDGC_EVENT_PHASE) ++phases;
  };
  ASSERT_TRUE(heap_->set_event_listener(listener).ok());
  Collect();
  ASSERT_TRUE(heap_->clear_event_listener().ok());
  auto st = heap_->stats();  // one pause in stw, three or more in a concurrent mode
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(pauses, static_cast<int>(st->pauses));
  EXPECT_GE(pauses, uffdgc::test::test_mode() == UFFDGC_MODE_STW ? 1 : 3);
  EXPECT_GT(phases, 0);
}

}  // namespace
}  // namespace cxxtest
