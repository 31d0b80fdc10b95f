// Shared pieces of the C++ layer tests (tests/cxx): object layouts described with
// uffdgc::TypeBuilder, a heap fixture built only from uffdgc.hpp, and a watchdog.
#pragma once

#include <gtest/gtest.h>

#include "tests/support/require.h"
#include "tests/support/watchdog.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "uffdgc/uffdgc.hpp"

namespace cxxtest {

struct Node {
  uffdgc::ObjectHeader header;
  uffdgc::Ref<Node> left;
  uffdgc_ref right;  // both field spellings are accepted
  int64_t payload;
};

struct Array {
  uffdgc::ObjectHeader header;
  uint64_t length;
  uffdgc_ref* at() { return reinterpret_cast<uffdgc_ref*>(this + 1); }
};

struct Blob {  // leaf garbage
  uffdgc::ObjectHeader header;
  uint64_t words[7];
};

struct WeakBox {
  uffdgc::ObjectHeader header;
  uffdgc_ref target;
};

// The test mode (uffdgc::test::test_mode) with the verifier on.
inline uffdgc::HeapOptions TestOptions() {
  return uffdgc::HeapOptions().mode(uffdgc::test::test_mode()).verify().heap_limit(32u << 20);
}

using ::uffdgc::test::Watchdog;

// A heap in the test mode with the verifier on, the types above registered, and the test
// thread attached.
class CxxFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = uffdgc::Heap::create(TestOptions());
    ASSERT_TRUE(h.ok()) << h.name();
    heap_.emplace(std::move(h).value());
    auto node = heap_->register_type(
        uffdgc::TypeBuilder<Node>("cxx-node").ref(&Node::left).ref(&Node::right));
    ASSERT_TRUE(node.ok()) << node.name();
    node_ = *node;
    auto array = heap_->register_type(
        uffdgc::TypeBuilder<Array>("cxx-array").elements_are_refs(&Array::length));
    ASSERT_TRUE(array.ok()) << array.name();
    array_ = *array;
    auto blob = heap_->register_type(uffdgc::TypeBuilder<Blob>("cxx-blob").leaf());
    ASSERT_TRUE(blob.ok()) << blob.name();
    blob_ = *blob;
    auto weak = heap_->register_type(
        uffdgc::TypeBuilder<WeakBox>("cxx-weak").ref(&WeakBox::target).weak_container());
    ASSERT_TRUE(weak.ok()) << weak.name();
    weak_ = *weak;
    thread_.emplace(*heap_, this);
    ASSERT_TRUE(thread_->ok()) << thread_->status().name();
    m_ = thread_->mutator();
  }
  void TearDown() override {
    thread_.reset();  // detach before the heap goes
    heap_.reset();
  }

  uffdgc::Ref<Node> NewNode(int64_t payload) {
    auto n = m_.alloc(node_);
    EXPECT_TRUE(n.ok()) << n.name();
    if (!n.ok()) return {};
    (*n)->payload = payload;
    return *n;
  }
  // `count` unreachable blobs: garbage for the compactor to slide over.
  void Garbage(int count) {
    for (int i = 0; i < count; ++i) ASSERT_TRUE(m_.alloc(blob_).ok());
  }
  void Collect() { ASSERT_TRUE(m_.collect().ok()); }
  // Objects of a type that a heap walk sees (right after a collection: the live ones).
  size_t CountObjects(uint32_t type_index) {
    size_t n = 0;
    auto count = [&](uffdgc::Ref<void>, uint32_t type, size_t) {
      if (type == type_index) ++n;
    };
    EXPECT_TRUE(m_.heap_walk(count).ok());
    return n;
  }

  std::optional<uffdgc::Heap> heap_;
  std::optional<uffdgc::MutatorScope> thread_;
  uffdgc::Mutator m_;
  uffdgc::Type<Node> node_;
  uffdgc::Type<Array> array_;
  uffdgc::Type<Blob> blob_;
  uffdgc::Type<WeakBox> weak_;
};

}  // namespace cxxtest
