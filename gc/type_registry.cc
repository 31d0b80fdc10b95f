#include "gc/type_registry.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace uffdgc::gc {

namespace {

constexpr uint32_t kKnownFlags = UFFDGC_TYPE_LEAF | UFFDGC_TYPE_VARIABLE |
                                 UFFDGC_TYPE_ELEMENTS_ARE_REFS | UFFDGC_TYPE_HAS_FINALIZER |
                                 UFFDGC_TYPE_WEAK_CONTAINER | UFFDGC_TYPE_NONMOVING;
constexpr uint32_t kTypeInfoV1 = sizeof(uffdgc_type_info);
static_assert(UFFDGC_TYPE_MAX_REF_OFFSETS(48) == TypeRegistry::max_ref_offsets(48) &&
                  UFFDGC_TYPE_MAX_REF_OFFSETS(7) == TypeRegistry::max_ref_offsets(7) &&
                  UFFDGC_TYPE_MAX_REF_OFFSETS(UINT32_MAX) ==
                      TypeRegistry::max_ref_offsets(UINT32_MAX),
              "uffdgc.h documents the limit");

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

// Every layout check is done in 64 bits: a 32-bit sum such as 0xFFFFFFF8 + 8 wraps to 0 and
// would let an offset far outside the object through.
uffdgc_result TypeRegistry::check_layout(const uffdgc_type_info& info) {
  if ((info.flags & ~kKnownFlags) != 0) return UFFDGC_EINVAL;
  const bool variable = (info.flags & UFFDGC_TYPE_VARIABLE) != 0;
  const bool leaf = (info.flags & UFFDGC_TYPE_LEAF) != 0;
  const bool elems = (info.flags & UFFDGC_TYPE_ELEMENTS_ARE_REFS) != 0;
  const uint64_t base = info.base_size;
  if (base < kWordSize) return UFFDGC_EINVAL;
  if (variable) {
    const uint64_t len = info.length_offset;
    if (info.elem_size == 0 || len % 8 != 0 || len < kWordSize || len + 8 > base) {
      return UFFDGC_EINVAL;
    }
  }
  if (elems && (!variable || info.elem_size != kWordSize || base % 8 != 0)) return UFFDGC_EINVAL;
  if (leaf && (info.num_ref_offsets != 0 || elems || info.trace != nullptr)) return UFFDGC_EINVAL;
  if (info.num_ref_offsets > max_ref_offsets(info.base_size)) return UFFDGC_EINVAL;
  if (info.num_ref_offsets != 0 && info.ref_offsets == nullptr) return UFFDGC_EINVAL;
  for (uint32_t i = 0; i < info.num_ref_offsets; ++i) {
    const uint64_t off = info.ref_offsets[i];
    // A slot is 8-byte aligned, after the header, inside the fixed part of the object.
    if (off % 8 != 0 || off < kWordSize || off + 8 > base ||
        (variable && off == info.length_offset)) {
      return UFFDGC_EINVAL;
    }
  }
  return UFFDGC_OK;
}

uffdgc_result TypeRegistry::add(const uffdgc_type_info& info, uint32_t* index) {
  if (info.struct_size < kTypeInfoV1) return UFFDGC_ESTRUCTSIZE;
  if (const uffdgc_result r = check_layout(info); r != UFFDGC_OK) return r;
  // Sorted, the copy shows a slot named twice: the collector would rewrite it twice when the
  // object moves (forwarding an already forwarded address).
  std::unique_ptr<uint32_t[]> offsets;
  if (info.num_ref_offsets != 0) {
    offsets = std::make_unique<uint32_t[]>(info.num_ref_offsets);
    std::copy_n(info.ref_offsets, info.num_ref_offsets, offsets.get());
    std::sort(offsets.get(), offsets.get() + info.num_ref_offsets);
    if (std::adjacent_find(offsets.get(), offsets.get() + info.num_ref_offsets) !=
        offsets.get() + info.num_ref_offsets) {
      return UFFDGC_EINVAL;
    }
  }
  auto t = std::make_unique<TypeDesc>();
  t->flags = info.flags;
  t->base_size = info.base_size;
  t->elem_size = info.elem_size;
  t->length_offset = info.length_offset;
  t->num_refs = info.num_ref_offsets;
  t->trace = info.trace;
  t->ref_offsets = offsets.get();
  if (info.name != nullptr) std::strncpy(t->name, info.name, sizeof(t->name) - 1);

  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t i = count_.load(std::memory_order_relaxed);
  if (i >= kMaxTypes) return UFFDGC_ELIMIT;
  // Room first, so that nothing below can fail half-way (std::bad_alloc). Doubling: reserving
  // one more each time would copy the whole list on every registration.
  auto make_room = [](auto& list) {
    if (list.size() == list.capacity()) list.reserve(std::max<size_t>(16, 2 * list.capacity()));
  };
  make_room(owned_);
  make_room(owned_offsets_);
  if (offsets != nullptr) owned_offsets_.push_back(offsets.release());
  owned_.push_back(t.get());
  slots_[i].store(t.release(), std::memory_order_release);
  count_.store(i + 1, std::memory_order_release);
  *index = i;
  return UFFDGC_OK;
}

}  // namespace uffdgc::gc
