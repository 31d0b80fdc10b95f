// The C ABI, "Collection, introspection" (include/uffdgc/uffdgc.h): argument and thread-state
// checks, then one call into the collector (gc/collector.h, gc/heap_walk.h, gc/heap.h).

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "gc/collector.h"
#include "gc/heap_walk.h"
#include "runtime/c_api_checks.h"
#include "runtime/c_boundary.h"
#include "runtime/heap.h"
#include "runtime/mutator.h"
#include "runtime/reclaim_stats_watcher.h"

using uffdgc::runtime::check_mutator;
using uffdgc::runtime::guard;

namespace {

constexpr uint32_t kStatsV1 = offsetof(uffdgc_heap_stats, pause_mark_start_ns_last);

}  // namespace

extern "C" {

uffdgc_result uffdgc_collect(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  uffdgc::runtime::ensure_reclaim_stats_watcher();  // a forked child's first collection starts it
  return guard([&] { return uffdgc::gc::collect(m->heap, m); });
}

uffdgc_result uffdgc_collect_young(uffdgc_mutator* m) {
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  uffdgc::runtime::ensure_reclaim_stats_watcher();
  return guard([&] {
    return uffdgc::gc::collect(m->heap, m, uffdgc::gc::kAlwaysCollect,
                               uffdgc::gc::CycleKind::kYoung);
  });
}

uffdgc_result uffdgc_heap_walk(uffdgc_mutator* m,
                               int (*fn)(uffdgc_ref, uint32_t, size_t, void*), void* arg) {
  if (fn == nullptr) return UFFDGC_EINVAL;
  if (const uffdgc_result r = check_mutator(m, true); r != UFFDGC_OK) return r;
  uffdgc::gc::walk_heap(*m->heap, m, fn, arg);
  return UFFDGC_OK;
}

uffdgc_result uffdgc_heap_get_stats(uffdgc_heap* heap, uffdgc_heap_stats* out) {
  if (heap == nullptr || out == nullptr) return UFFDGC_EINVAL;
  if (out->struct_size < kStatsV1) return UFFDGC_ESTRUCTSIZE;
  uffdgc_heap_stats s = heap->read_stats();
  s.struct_size = out->struct_size;
  std::memcpy(out, &s, std::min<size_t>(out->struct_size, sizeof(s)));  // an older, shorter struct
  return UFFDGC_OK;
}

uffdgc_result uffdgc_set_event_listener(uffdgc_heap* heap, uffdgc_event_fn fn, void* arg) {
  if (heap == nullptr) return UFFDGC_EINVAL;
  heap->set_event_listener(fn, arg);
  return UFFDGC_OK;
}

}  // extern "C"
