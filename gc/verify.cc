#include "gc/verify.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "gc/compact/compaction_plan.h"
#include "gc/heap_geometry.h"
#include "gc/mark/side_bitmap.h"
#include "gc/heap.h"

namespace uffdgc::gc {

void report_verification_failure(const char* what, uint64_t where, uint64_t value) {
  fprintf(stderr, "uffdgc: heap verification failed: %s (at 0x%llx, value 0x%llx)\n", what,
          static_cast<unsigned long long>(where), static_cast<unsigned long long>(value));
  abort();
}

void report_bad_reference(const void* slot, uint64_t value, const char* why) {
  if (slot != nullptr) {
    fprintf(stderr, "uffdgc: bad reference: slot 0x%llx holds 0x%llx, %s\n",
            static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(slot)),
            static_cast<unsigned long long>(value), why);
  } else {
    fprintf(stderr,
            "uffdgc: bad reference: 0x%llx (logged by the write barrier, pinned, loaded weakly "
            "or retained: no slot), %s\n",
            static_cast<unsigned long long>(value), why);
  }
  abort();
}

namespace {

[[noreturn]] void fail(const char* what, uint64_t where, uint64_t value) {
  report_verification_failure(what, where, value);
}

// fn(slot address, value) for every reference slot of the object at obj, which must have a
// registered type.
template <typename Fn>
void for_each_slot_value(const Heap& heap, uint64_t obj, Fn&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(obj);
  uint64_t header;
  __builtin_memcpy(&header, p, sizeof(header));
  const TypeDesc* t = heap.types.of_header(header);
  if (t == nullptr) fail("object with an unregistered type", obj, header);
  heap.types.for_each_ref_offset(p, *t, [&](size_t off) {
    uint64_t v;
    __builtin_memcpy(&v, p + off, sizeof(v));
    fn(obj + off, v);
  });
}

// One verification: the moving space parses, its live bytes match marking, and every
// reference (objects' and the library's roots) leads to an object start.
class HeapVerifier {
 public:
  HeapVerifier(Heap& heap, const VerifyExpectations& expect)
      : heap_(heap), expect_(expect), begin_(heap.moving.begin()), top_(heap.moving.top()) {
    if (!starts_.allocate(begin_, heap.moving.capacity())) fail("no memory for the verifier", 0, 0);
  }

  // 1. The moving space parses; remember object starts (fillers are not valid targets). The
  //    survivors of the cycle lie below the plan's new top; above it only new objects.
  void parse_moving_space() {
    const auto& segments = expect_.plan->segments();
    const uint64_t survivors_end =
        expect_.concurrent ? expect_.plan->new_top() : std::max(expect_.plan->new_top(), top_);
    size_t seg = 0;
    for (uint64_t a = begin_; a < top_;) {
      uint64_t header;
      __builtin_memcpy(&header, reinterpret_cast<const void*>(a), sizeof(header));
      const TypeDesc* t = heap_.types.of_header(header);
      if (t == nullptr) fail("object with an unregistered type", a, header);
      const uint64_t size = heap_.types.object_size(reinterpret_cast<const void*>(a));
      if (size == 0 || a + size > top_) fail("object runs past the top of the moving space", a, size);
      const uint32_t type = static_cast<uint32_t>(header & UFFDGC_HEADER_TYPE_MASK);
      while (seg < segments.size() && a >= segments[seg].live_end) ++seg;
      const bool slid = seg < segments.size() && a >= segments[seg].start;
      if (type >= kFirstUserType) {
        starts_.set(a);
        ++objects_;
        if (a < survivors_end && a >= expect_.young_begin) survivor_bytes_ += size;
        if (slid) slid_bytes_ += size;
      } else if (slid) {
        fail("filler inside a compacted region", a, header);
      }
      a += size;
    }
  }

  // The compaction's end and the bytes that survived against what marking found live.
  void check_live_bytes() const {
    if (!expect_.concurrent && top_ != expect_.plan->new_top()) {
      fail("top differs from the planned compaction end", top_, expect_.plan->new_top());
    }
    if (slid_bytes_ != expect_.plan->live_bytes()) {
      fail("bytes in the compacted regions differ from the side tables' live bytes", slid_bytes_,
           expect_.plan->live_bytes());
    }
    if (survivor_bytes_ != expect_.marked_moving_bytes) {
      fail("the moving-space bytes that survive differ from the bytes marked live",
           survivor_bytes_, expect_.marked_moving_bytes);
    }
    if (!expect_.concurrent && expect_.young_begin == 0) {
      uint64_t object_space_bytes = 0;
      heap_.objects.for_each([&](uint64_t, const ObjectPrefix& p) { object_space_bytes += p.size; });
      if (survivor_bytes_ + object_space_bytes != expect_.marked_bytes) {
        fail("the bytes that survive differ from the bytes marked live",
             survivor_bytes_ + object_space_bytes, expect_.marked_bytes);
      }
    }
  }

  // 2. Every reference of every object.
  void check_objects() {
    for (uint64_t a = starts_.next_set(begin_, top_); a < top_; a = starts_.next_set(a + 8, top_)) {
      check_object(a);
    }
    heap_.objects.for_each([&](uint64_t ref, const ObjectPrefix&) {
      check_object(ref);
      ++objects_;
    });
  }

  // 3. Every root the library holds.
  void check_roots() const {
    auto handle = [&](uffdgc_ref* slot) { check_ref(reinterpret_cast<uint64_t>(slot), *slot); };
    heap_.mutators.visit_thread_roots(SlotVisitor(handle));
    auto global = [&](uffdgc_ref* slot) {
      check_ref(reinterpret_cast<uint64_t>(slot), __atomic_load_n(slot, __ATOMIC_RELAXED));
    };
    heap_.mutators.visit_global_roots(SlotVisitor(global));
    for (uffdgc_ref r : heap_.finalization_ready) check_ref(0, r);
    for (uffdgc_ref r : heap_.finalizable) check_ref(0, r);
    for (const auto& [r, count] : heap_.pins) check_ref(0, r);
  }

  uint64_t objects() const { return objects_; }

 private:
  void check_ref(uint64_t where, uint64_t v) const {
    if (v == 0) return;
    if (heap_.moving.in_reservation(v)) {
      if (v >= top_ || (v & 7) != 0 || !starts_.test(v)) {
        fail("reference into the moving space that is not an object start", where, v);
      }
    } else if (!heap_.objects.contains(v)) {
      fail("reference to no known object", where, v);
    }
  }

  void check_object(uint64_t obj) const {
    for_each_slot_value(heap_, obj, [&](uint64_t at, uint64_t v) { check_ref(at, v); });
  }

  Heap& heap_;
  const VerifyExpectations& expect_;
  const uint64_t begin_, top_;
  SideBitmap starts_;
  uint64_t objects_ = 0, survivor_bytes_ = 0, slid_bytes_ = 0;
};

}  // namespace

uint64_t verify_remembered_set(Heap& heap) {
  const uint64_t young = heap.old_end.load(std::memory_order_relaxed);
  const uint64_t top = heap.moving.top();
  uint64_t found = 0;
  auto check_object = [&](uint64_t obj) {
    for_each_slot_value(heap, obj, [&](uint64_t at, uint64_t v) {
      if (v < young || v >= top) return;
      ++found;
      if (!heap.remembered.contains(reinterpret_cast<const uffdgc_ref*>(at))) {
        fail("an old object refers to a young one through a slot the remembered set lacks (a "
             "store that bypassed uffdgc_store_ref?)",
             at, v);
      }
    });
  };
  for (uint64_t a = heap.moving.begin(); a < young;) {
    uint64_t header;
    __builtin_memcpy(&header, reinterpret_cast<const void*>(a), sizeof(header));
    const uint64_t size = heap.types.object_size(reinterpret_cast<const void*>(a));
    if (size == 0 || a + size > young) fail("the old generation does not parse", a, header);
    if ((header & UFFDGC_HEADER_TYPE_MASK) >= kFirstUserType) check_object(a);
    a += size;
  }
  heap.objects.for_each([&](uint64_t ref, const ObjectPrefix&) { check_object(ref); });
  return found;
}

uint64_t verify_heap(Heap& heap, const VerifyExpectations& expect) {
  HeapVerifier verifier(heap, expect);
  verifier.parse_moving_space();
  verifier.check_live_bytes();
  verifier.check_objects();
  verifier.check_roots();
  return verifier.objects();
}

}  // namespace uffdgc::gc
