// The inline handle calls of inline.h (uffdgc_handle_scope_open_fast, _close_fast,
// uffdgc_handle_new_fast) as a release build runs them: unchecked, whatever this build's
// UFFDGC_CHECKED says. Their state (handle_top, handle_limit) is the thread's handle stack the
// collector scans, so the handles they make must root and follow their objects, and closing a
// scope must give its slots back, across the 256-slot blocks.
#undef UFFDGC_CHECKED
#include <cstddef>
#include <vector>

#include "heap_test_support.h"

namespace heaptest {
namespace {

class InlineHandlesTest : public HeapFixture {
 protected:
  uffdgc_ref* FastH(uffdgc_ref r) {
    uffdgc_ref* h = uffdgc_handle_new_fast(mut_, r);
    EXPECT_NE(h, nullptr);
    return h;
  }
  const uffdgc_mutator_fast& Fast() const { return *reinterpret_cast<uffdgc_mutator_fast*>(mut_); }
};

TEST_F(InlineHandlesTest, HandlesRootAndFollowTheirObjectsAcrossBlocks) {
  uffdgc_handle_scope scope;
  ASSERT_EQ(uffdgc_handle_scope_open_fast(mut_, &scope), UFFDGC_OK);
  constexpr uint64_t kHandles = 1000;  // four blocks of slots
  std::vector<uffdgc_ref*> handles;
  for (uint64_t i = 0; i < kHandles; ++i) {
    Garbage(2000);  // so that every object slides
    handles.push_back(FastH(AllocId(types_.node, i)));
  }
  const std::vector<uffdgc_ref> before = [&] {
    std::vector<uffdgc_ref> v;
    for (uffdgc_ref* h : handles) v.push_back(*h);
    return v;
  }();
  Collect();
  Collect();
  uint64_t moved = 0;
  for (uint64_t i = 0; i < kHandles; ++i) {
    ExpectIntact(*handles[i], i);
    moved += *handles[i] != before[i];
  }
  EXPECT_EQ(moved, kHandles) << "every object had garbage below it";
  ASSERT_EQ(uffdgc_handle_scope_close_fast(mut_, &scope), UFFDGC_OK);
}

TEST_F(InlineHandlesTest, ClosingAScopeGivesItsSlotsBackAndItsObjectsDie) {
  uffdgc_ref* kept = FastH(AllocId(types_.leaf, 7));
  uffdgc_ref* watcher = Watch(kept);  // in the outer scope; pointed at an inner object below
  for (int i = 0; i < 200; ++i) FastH(0);  // the inner scope starts near a block's end
  uffdgc_handle_scope inner;
  ASSERT_EQ(uffdgc_handle_scope_open_fast(mut_, &inner), UFFDGC_OK);
  uffdgc_ref* first_inner = FastH(AllocId(types_.leaf, 1));
  uffdgc_store_ref(mut_, *watcher, Slot(*watcher, kWeakRefs[0]), *first_inner);
  for (int i = 0; i < 300; ++i) FastH(AllocId(types_.leaf, 1000 + i));  // into the next block
  const uffdgc_ref* limit_inside = Fast().handle_limit;
  ASSERT_EQ(uffdgc_handle_scope_close_fast(mut_, &inner), UFFDGC_OK);
  EXPECT_NE(Fast().handle_limit, limit_inside) << "the close went back to the earlier block";
  EXPECT_EQ(FastH(0), first_inner) << "the next handle takes the inner scope's first slot";
  Collect();
  EXPECT_EQ(Watched(watcher), 0u) << "the inner scope's object is dead once it closed";
  ExpectIntact(*kept, 7);
}

TEST_F(InlineHandlesTest, WithoutAScopeAHandleIsNullAndTheFirstScopeStartsTheStack) {
  ASSERT_EQ(uffdgc_handle_scope_close(mut_, &scope_), UFFDGC_OK);  // the fixture's scope
  scope_open_ = false;
  EXPECT_EQ(Fast().handle_top, nullptr);
  EXPECT_EQ(uffdgc_handle_new_fast(mut_, 0), nullptr) << "no scope open";
  uffdgc_handle_scope first;
  ASSERT_EQ(uffdgc_handle_scope_open_fast(mut_, &first), UFFDGC_OK);  // the slow path
  uffdgc_ref* h = FastH(AllocId(types_.leaf, 3));
  ASSERT_NE(h, nullptr);
  Collect();
  ExpectIntact(*h, 3);
  ASSERT_EQ(uffdgc_handle_scope_close_fast(mut_, &first), UFFDGC_OK);
  EXPECT_EQ(Fast().handle_top, nullptr) << "closing the first scope leaves none open";
  EXPECT_EQ(uffdgc_handle_new_fast(mut_, 0), nullptr);
  ASSERT_EQ(uffdgc_handle_scope_open(mut_, &scope_), UFFDGC_OK);  // for the fixture
  scope_open_ = true;
}

TEST_F(InlineHandlesTest, AttrsPublishTheHandleStackOffsets) {
  uffdgc_attrs a{};
  a.struct_size = sizeof a;
  ASSERT_EQ(uffdgc_get_attrs(heap_, &a), UFFDGC_OK);
  EXPECT_EQ(a.handle_top_offset, offsetof(uffdgc_mutator_fast, handle_top));
  EXPECT_EQ(a.handle_limit_offset, offsetof(uffdgc_mutator_fast, handle_limit));
  // What a JIT would do with them: read the top, store, bump.
  auto* base = reinterpret_cast<char*>(mut_);
  auto** top = reinterpret_cast<uffdgc_ref**>(base + a.handle_top_offset);
  uffdgc_ref* const limit = *reinterpret_cast<uffdgc_ref**>(base + a.handle_limit_offset);
  ASSERT_LT(*top, limit);
  uffdgc_ref* slot = *top;
  *slot = AllocId(types_.leaf, 9);  // no safepoint between the allocation and the store
  ++*top;
  Collect();
  ExpectIntact(*slot, 9);
  EXPECT_EQ(FastH(0), slot + 1);
}

}  // namespace
}  // namespace heaptest
