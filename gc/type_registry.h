// Type descriptors (design: .embedder.types). Registered once, never
// moved or freed while the heap lives, readable without locks: object_size() and
// for_each_ref_offset() run during compaction, possibly in a SIGBUS handler, so they only read
// descriptors and the object's own bytes. Async-signal-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gc/heap_geometry.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {

struct TypeDesc {
  uint32_t flags = 0;
  uint32_t base_size = 0;
  uint32_t elem_size = 0;
  uint32_t length_offset = 0;
  uint32_t num_refs = 0;
  const uint32_t* ref_offsets = nullptr;  // owned by the registry
  uffdgc_trace_fn trace = nullptr;
  char name[48] = {};

  bool variable() const { return (flags & UFFDGC_TYPE_VARIABLE) != 0; }
  bool has_refs() const { return (flags & UFFDGC_TYPE_LEAF) == 0; }
  bool weak() const { return (flags & UFFDGC_TYPE_WEAK_CONTAINER) != 0; }
};

class TypeRegistry {
 public:
  static constexpr uint32_t kMaxTypes = 1u << 16;

  TypeRegistry();
  ~TypeRegistry();
  TypeRegistry(const TypeRegistry&) = delete;
  TypeRegistry& operator=(const TypeRegistry&) = delete;

  // Validates and copies `info`; UFFDGC_OK with *index, or the error code (uffdgc.h lists the
  // rules: UFFDGC_EINVAL for a layout that names memory outside the object or a slot twice).
  uffdgc_result add(const uffdgc_type_info& info, uint32_t* index);
  // The most reference offsets a type of base_size bytes can list: one per word after the
  // header (UFFDGC_TYPE_MAX_REF_OFFSETS in uffdgc.h).
  static constexpr uint32_t max_ref_offsets(uint32_t base_size) {
    return base_size < kWordSize ? 0 : base_size / kWordSize - 1;
  }

  // nullptr for an index that was never registered.
  const TypeDesc* get(uint32_t index) const {
    return index < kMaxTypes ? slots_[index].load(std::memory_order_acquire) : nullptr;
  }
  const TypeDesc* of_header(uint64_t header) const {
    return get(static_cast<uint32_t>(header & UFFDGC_HEADER_TYPE_MASK));
  }
  uint32_t count() const { return count_.load(std::memory_order_acquire); }

  // Size in bytes (rounded to 8) of the object whose copy starts at `obj`, or 0 when its
  // header names no registered type or its length overflows. Inline: marking, indexing and
  // compaction call it for every object.
  size_t object_size(const void* obj) const {
    uint64_t header;
    __builtin_memcpy(&header, obj, sizeof(header));
    const TypeDesc* t = of_header(header);
    return t == nullptr ? 0 : object_size(obj, *t);
  }
  // The same for an object whose type the caller has looked up already.
  static size_t object_size(const void* obj, const TypeDesc& t) {
    if (!t.variable()) return align_up(t.base_size, kWordSize);
    uint64_t length;
    __builtin_memcpy(&length, static_cast<const uint8_t*>(obj) + t.length_offset, sizeof(length));
    return size_for(t, length);
  }
  // Bytes for `length` elements of a type (rounded), 0 on overflow. For allocation.
  static size_t size_for(const TypeDesc& t, uint64_t length) {
    if (!t.variable()) return align_up(t.base_size, kWordSize);
    if (length > (UINT64_MAX - t.base_size - kWordSize) / t.elem_size) return 0;
    const uint64_t bytes = t.base_size + length * t.elem_size;
    if (bytes > (uint64_t{1} << 47)) return 0;
    return static_cast<size_t>(align_up(bytes, kWordSize));
  }

  // Calls fn(offset) for every reference slot of the object whose copy starts at `obj`
  // (strong and weak; the caller checks t.weak()). Fn: void(size_t offset).
  template <typename Fn>
  void for_each_ref_offset(const void* obj, const TypeDesc& t, Fn&& fn) const;

 private:
  static uffdgc_result check_layout(const uffdgc_type_info& info);

  std::atomic<const TypeDesc*> slots_[kMaxTypes];
  std::atomic<uint32_t> count_{0};
  std::mutex mu_;  // serialises registration only
  std::vector<TypeDesc*> owned_;
  std::vector<uint32_t*> owned_offsets_;
};

template <typename Fn>
void TypeRegistry::for_each_ref_offset(const void* obj, const TypeDesc& t, Fn&& fn) const {
  if (!t.has_refs()) return;
  const auto* base = static_cast<const uint8_t*>(obj);
  for (uint32_t i = 0; i < t.num_refs; ++i) fn(static_cast<size_t>(t.ref_offsets[i]));
  if ((t.flags & UFFDGC_TYPE_ELEMENTS_ARE_REFS) != 0) {
    uint64_t length;
    __builtin_memcpy(&length, base + t.length_offset, sizeof(length));
    for (uint64_t i = 0; i < length; ++i) fn(static_cast<size_t>(t.base_size + i * kWordSize));
  }
  if (t.trace != nullptr) {
    struct Ctx {
      const uint8_t* base;
      Fn* fn;
    } ctx{base, &fn};
    t.trace(
        reinterpret_cast<uffdgc_ref>(obj),
        [](uffdgc_ref* slot, void* c) {
          auto* cx = static_cast<Ctx*>(c);
          (*cx->fn)(static_cast<size_t>(reinterpret_cast<const uint8_t*>(slot) - cx->base));
        },
        &ctx);
  }
}

}  // namespace uffdgc::gc
