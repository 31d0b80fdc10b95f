// The C ABI, "Heap creation" and "Attributes" (include/uffdgc/uffdgc.h): argument checks, then
// one call (runtime/heap.h create_heap, the type registry); the attributes are the published
// offsets of inline.h.

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"

using uffdgc::runtime::guard;

namespace {

constexpr uint32_t kAttrsV1 = offsetof(uffdgc_attrs, handle_top_offset);  // ABI 0.1

}  // namespace

extern "C" {

uffdgc_result uffdgc_heap_create(const uffdgc_heap_options* options, uffdgc_heap** out) {
#if defined(UFFDGC_REQUIRES_POPCNT)
  // Built with -mpopcnt (CMakeLists.txt UFFDGC_X86_POPCNT): no heap on a CPU without it.
  if (!__builtin_cpu_supports("popcnt")) return UFFDGC_EUNSUPPORTED;
#endif
  return guard([&] { return uffdgc::runtime::create_heap(options, out); });
}

uffdgc_result uffdgc_heap_destroy(uffdgc_heap* heap) {
  if (heap == nullptr) return UFFDGC_EINVAL;
  if (heap->threads.count() != 0) return UFFDGC_ESTATE;
  delete heap;
  return UFFDGC_OK;
}

uffdgc_result uffdgc_type_register(uffdgc_heap* heap, const uffdgc_type_info* info,
                                   uint32_t* out_index) {
  if (heap == nullptr || info == nullptr || out_index == nullptr) return UFFDGC_EINVAL;
  return guard([&] { return heap->types.add(*info, out_index); });
}

uffdgc_result uffdgc_get_attrs(uffdgc_heap* heap, uffdgc_attrs* out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  if (out->struct_size < kAttrsV1) return UFFDGC_ESTRUCTSIZE;
  uffdgc_attrs a{};
  a.struct_size = out->struct_size;
  a.object_alignment = UFFDGC_OBJECT_ALIGNMENT;
  a.tlab_cursor_offset = UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET;
  a.tlab_limit_offset = UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET;
  a.poll_flag_offset = UFFDGC_MUTATOR_POLL_FLAG_OFFSET;
  a.barrier_flag_offset = UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET;
  a.header_type_mask = UFFDGC_HEADER_TYPE_MASK;
  a.handle_top_offset = UFFDGC_MUTATOR_HANDLE_TOP_OFFSET;
  a.handle_limit_offset = UFFDGC_MUTATOR_HANDLE_LIMIT_OFFSET;
  a.satb_cursor_offset = UFFDGC_MUTATOR_SATB_CURSOR_OFFSET;
  a.satb_limit_offset = UFFDGC_MUTATOR_SATB_LIMIT_OFFSET;
  a.moving_begin_offset = UFFDGC_MUTATOR_MOVING_BEGIN_OFFSET;
  a.moving_size_offset = UFFDGC_MUTATOR_MOVING_SIZE_OFFSET;
  a.young_begin_offset = UFFDGC_MUTATOR_YOUNG_BEGIN_OFFSET;
  a.young_size_offset = UFFDGC_MUTATOR_YOUNG_SIZE_OFFSET;
  a.remembered_cursor_offset = UFFDGC_MUTATOR_REMEMBERED_CURSOR_OFFSET;
  a.remembered_limit_offset = UFFDGC_MUTATOR_REMEMBERED_LIMIT_OFFSET;
  std::memcpy(out, &a, std::min<size_t>(out->struct_size, sizeof(a)));
  return UFFDGC_OK;
}

}  // extern "C"
