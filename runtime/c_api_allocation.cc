// The C ABI, "Allocation" (include/uffdgc/uffdgc.h): argument, type and thread-state checks,
// then one call into the allocator (runtime/allocator.h; the inline fast path is in
// include/uffdgc/inline.h).

#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "runtime/allocator.h"

using uffdgc::runtime::check_mutator;
using uffdgc::runtime::guard;
using uffdgc::runtime::running_owner;

extern "C" {

uffdgc_result uffdgc_alloc(uffdgc_mutator* m, uint32_t type_index, uint64_t length, uint32_t kind,
                           uffdgc_ref* out) {
  if (out == nullptr || kind > UFFDGC_ALLOC_LARGE) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  const uffdgc::gc::TypeDesc* t = m->heap->types.get(type_index);
  if (t == nullptr || type_index < uffdgc::gc::kFirstUserType) return UFFDGC_ETYPE;
  const size_t bytes = uffdgc::gc::TypeRegistry::size_for(*t, t->variable() ? length : 0);
  if (bytes == 0) return UFFDGC_EOVERFLOW;
  return guard([&] { return uffdgc::runtime::allocate(m, type_index, bytes, length, kind, out); });
}

uffdgc_result uffdgc_alloc_slow(uffdgc_mutator* m, uint32_t type_index, size_t bytes,
                                uffdgc_ref* out) {
  if (out == nullptr) return UFFDGC_EINVAL;
  *out = 0;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  const uffdgc::gc::TypeDesc* t = m->heap->types.get(type_index);
  if (t == nullptr || type_index < uffdgc::gc::kFirstUserType || t->variable() ||
      (t->flags & UFFDGC_TYPE_HAS_FINALIZER) != 0 ||
      bytes != uffdgc::gc::TypeRegistry::size_for(*t, 0)) {
    return UFFDGC_ETYPE;  // the fast path is for fixed-size types without finalizers only
  }
  return guard([&] {
    return uffdgc::runtime::allocate(m, type_index, bytes, 0, UFFDGC_ALLOC_DEFAULT, out);
  });
}

size_t uffdgc_object_size(uffdgc_mutator* m, uffdgc_ref ref) {
  if (!running_owner(m) || ref == 0 || (ref & 7) != 0) return 0;
  uffdgc_heap& heap = *m->heap;
  if (!heap.moving.contains(ref) && !heap.objects.contains(ref)) return 0;
  return heap.types.object_size(reinterpret_cast<const void*>(ref));
}

}  // extern "C"
