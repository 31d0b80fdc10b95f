#include "gc/type_registry.h"

#include <cstring>

namespace uffdgc::gc {

namespace {

constexpr uint32_t kKnownFlags = UFFDGC_TYPE_LEAF | UFFDGC_TYPE_VARIABLE |
                                 UFFDGC_TYPE_ELEMENTS_ARE_REFS | UFFDGC_TYPE_HAS_FINALIZER |
                                 UFFDGC_TYPE_WEAK_CONTAINER | UFFDGC_TYPE_NONMOVING;
constexpr uint32_t kTypeInfoV1 = sizeof(uffdgc_type_info);

}  // namespace

TypeRegistry::TypeRegistry() {
  for (auto& s : slots_) s.store(nullptr, std::memory_order_relaxed);
  // The two filler types of heap_geometry.h.
  auto* word = new TypeDesc;
  word->flags = UFFDGC_TYPE_LEAF;
  word->base_size = kWordSize;
  std::strcpy(word->name, "filler-word");
  auto* filler = new TypeDesc;
  filler->flags = UFFDGC_TYPE_LEAF | UFFDGC_TYPE_VARIABLE;
  filler->base_size = 2 * kWordSize;
  filler->elem_size = 1;
  filler->length_offset = kWordSize;
  std::strcpy(filler->name, "filler");
  owned_ = {word, filler};
  slots_[kFillerWordType].store(word, std::memory_order_release);
  slots_[kFillerType].store(filler, std::memory_order_release);
  count_.store(kFirstUserType, std::memory_order_release);
}

TypeRegistry::~TypeRegistry() {
  for (TypeDesc* t : owned_) delete t;
  for (uint32_t* o : owned_offsets_) delete[] o;
}

uffdgc_result TypeRegistry::add(const uffdgc_type_info& info, uint32_t* index) {
  if (info.struct_size < kTypeInfoV1) return UFFDGC_ESTRUCTSIZE;
  if ((info.flags & ~kKnownFlags) != 0) return UFFDGC_EINVAL;
  const bool variable = (info.flags & UFFDGC_TYPE_VARIABLE) != 0;
  const bool leaf = (info.flags & UFFDGC_TYPE_LEAF) != 0;
  const bool elems = (info.flags & UFFDGC_TYPE_ELEMENTS_ARE_REFS) != 0;
  if (info.base_size < kWordSize) return UFFDGC_EINVAL;
  if (variable && (info.elem_size == 0 || info.length_offset % 8 != 0 ||
                   info.length_offset + 8 > info.base_size || info.length_offset < kWordSize)) {
    return UFFDGC_EINVAL;
  }
  if (elems && (!variable || info.elem_size != kWordSize || info.base_size % 8 != 0)) {
    return UFFDGC_EINVAL;
  }
  if (leaf && (info.num_ref_offsets != 0 || elems || info.trace != nullptr)) return UFFDGC_EINVAL;
  if (info.num_ref_offsets != 0 && info.ref_offsets == nullptr) return UFFDGC_EINVAL;
  for (uint32_t i = 0; i < info.num_ref_offsets; ++i) {
    const uint32_t off = info.ref_offsets[i];
    // A slot is 8-byte aligned, after the header, inside the fixed part of the object.
    if (off % 8 != 0 || off < kWordSize || off + 8 > info.base_size ||
        (variable && off == info.length_offset)) {
      return UFFDGC_EINVAL;
    }
  }
  auto* t = new TypeDesc;
  t->flags = info.flags;
  t->base_size = info.base_size;
  t->elem_size = info.elem_size;
  t->length_offset = info.length_offset;
  t->num_refs = info.num_ref_offsets;
  t->trace = info.trace;
  if (info.name != nullptr) std::strncpy(t->name, info.name, sizeof(t->name) - 1);
  uint32_t* offsets = nullptr;
  if (t->num_refs != 0) {
    offsets = new uint32_t[t->num_refs];
    std::memcpy(offsets, info.ref_offsets, t->num_refs * sizeof(uint32_t));
  }
  t->ref_offsets = offsets;

  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t i = count_.load(std::memory_order_relaxed);
  if (i >= kMaxTypes) {
    delete t;
    delete[] offsets;
    return UFFDGC_ELIMIT;
  }
  owned_.push_back(t);
  if (offsets != nullptr) owned_offsets_.push_back(offsets);
  slots_[i].store(t, std::memory_order_release);
  count_.store(i + 1, std::memory_order_release);
  *index = i;
  return UFFDGC_OK;
}

size_t TypeRegistry::size_for(const TypeDesc& t, uint64_t length) {
  if (!t.variable()) return align_up(t.base_size, kWordSize);
  if (length > (UINT64_MAX - t.base_size - kWordSize) / t.elem_size) return 0;
  const uint64_t bytes = t.base_size + length * t.elem_size;
  if (bytes > (uint64_t{1} << 47)) return 0;
  return static_cast<size_t>(align_up(bytes, kWordSize));
}

size_t TypeRegistry::object_size(const void* obj) const {
  uint64_t header;
  __builtin_memcpy(&header, obj, sizeof(header));
  const TypeDesc* t = of_header(header);
  if (t == nullptr) return 0;
  if (!t->variable()) return align_up(t->base_size, kWordSize);
  uint64_t length;
  __builtin_memcpy(&length, static_cast<const uint8_t*>(obj) + t->length_offset, sizeof(length));
  return size_for(*t, length);
}

}  // namespace uffdgc::gc
