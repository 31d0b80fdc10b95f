#include "runtime/heap.h"

#include <pthread.h>

#include <algorithm>
#include <new>

#include "gc/heap_geometry.h"
#include "os/uffd/feature_probe.h"
#include "gc/compact/fault_router.h"
#include "runtime/fork_handlers.h"
#include "runtime/reclaim_stats_watcher.h"
#include "runtime/sigbus_handler.h"

uffdgc_heap::~uffdgc_heap() {
  if (fork_handled) uffdgc::runtime::remove_fork_handled_heap(this);
  if (reclaim_stats_watched) uffdgc::runtime::release_reclaim_stats_watcher();
  gc_thread.wait_idle();
  if (concurrent()) uffdgc::gc::remove_heap_range(moving.begin());
  for (uffdgc_mutator* m : retired_mutators) delete m;
}

namespace uffdgc::runtime {

namespace {

// The first published options struct ended before old_generation_pct.
constexpr uint32_t kHeapOptionsV1 = offsetof(uffdgc_heap_options, old_generation_pct);
constexpr uint32_t kEmbedderV1 = sizeof(uffdgc_embedder);
constexpr uint32_t kKnownHeapFlags =
    UFFDGC_HEAP_VERIFY | UFFDGC_HEAP_EXTERNAL_SIGNALS | UFFDGC_HEAP_NO_SWAP_PREFETCH |
    UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS | UFFDGC_HEAP_NO_FORK_HANDLERS |
    UFFDGC_HEAP_GENERATIONAL;

}  // namespace

const uffdgc_probe_report& kernel_probe() {
  static const uffdgc_probe_report report = [] {
    uffdgc_probe_report r{};
    r.struct_size = sizeof(r);
    uffd::ProbeRequest request;
    request.flags = UFFDGC_PROBE_SKIP_FOLIO_TEST;  // the folio test is the tool's job
    uffd::probe_kernel(request, &r);
    return r;
  }();
  return report;
}

bool is_owner(const uffdgc_mutator* m) {
  return m != nullptr && m->heap != nullptr && pthread_equal(m->owner, pthread_self());
}

namespace {

// The options, validated into a configuration (defaults filled in later by create_heap).
uffdgc_result read_options(const uffdgc_heap_options* options, gc::HeapConfig& c) {
  if (options == nullptr) return UFFDGC_OK;
  if (options->struct_size < kHeapOptionsV1) return UFFDGC_ESTRUCTSIZE;
  if (options->mode > UFFDGC_MODE_STW || (options->flags & ~kKnownHeapFlags) != 0 ||
      options->trigger_occupancy_pct > 100 || options->gc_threads > 256) {
    return UFFDGC_EINVAL;
  }
  c.requested_mode = options->mode;
  c.flags = options->flags;
  if (options->gc_threads != 0) c.gc_threads = options->gc_threads;
  if (options->heap_limit != 0) c.heap_limit = options->heap_limit;
  c.nonmoving_limit = options->nonmoving_limit;
  c.trigger_allocated = options->trigger_allocated;
  if (options->trigger_occupancy_pct != 0) c.trigger_occupancy_pct = options->trigger_occupancy_pct;
  if (options->tlab_size != 0) c.tlab_size = options->tlab_size;
  if (options->large_object_threshold != 0) {
    c.large_object_threshold = options->large_object_threshold;
  }
  if (options->struct_size >= sizeof(uffdgc_heap_options)) {
    if (options->old_generation_pct > 100) return UFFDGC_EINVAL;
    if (options->old_generation_pct != 0) c.old_generation_pct = options->old_generation_pct;
  }
  if (options->embedder != nullptr) {
    if (options->embedder->struct_size < kEmbedderV1) return UFFDGC_ESTRUCTSIZE;
    c.embedder = *options->embedder;
    c.has_embedder = true;
  }
  return UFFDGC_OK;
}

}  // namespace

uffdgc_result create_heap(const uffdgc_heap_options* options, uffdgc_heap** out) {
  if (out == nullptr) return UFFDGC_EINVAL;
  *out = nullptr;
  gc::HeapConfig c;
  if (const uffdgc_result r = read_options(options, c); r != UFFDGC_OK) return r;
  if (c.heap_limit < (1u << 20) || c.heap_limit > (uint64_t{1} << 40) ||
      c.tlab_size < 4096 || c.tlab_size > (64u << 20) || c.tlab_size % 8 != 0) {
    return UFFDGC_EINVAL;
  }
  if (c.nonmoving_limit == 0) c.nonmoving_limit = c.heap_limit;
  // A TLAB bigger than the large-object threshold could hold an object the fast path should
  // never see.
  if (c.tlab_size > c.large_object_threshold) {
    c.tlab_size = static_cast<uint32_t>(std::max<uint64_t>(4096, c.large_object_threshold & ~7ull));
  }
  if (c.trigger_allocated == 0) c.trigger_allocated = c.heap_limit / 4;
  // The kernel decides what is possible: auto takes the probe's verdict; move and copy are
  // honoured when they work here (an explicit request overrides the quirk table, design:
  // .install.quirks), and refused otherwise.
  const uffdgc_probe_report& probe = kernel_probe();
  const uint32_t mode = c.requested_mode == UFFDGC_MODE_AUTO ? probe.mode : c.requested_mode;
  if (!uffd::mode_works(probe, mode, /*override_quirks=*/true)) return UFFDGC_EUNSUPPORTED;

  auto* heap = new (std::nothrow) uffdgc_heap;
  if (heap == nullptr) return UFFDGC_ENOMEM;
  heap->config = c;
  heap->objects.set_limit(c.nonmoving_limit);
  const bool nohugepage = mode == UFFDGC_MODE_MOVE && probe.mthp_policy == UFFDGC_MTHP_NOHUGEPAGE;
  if (heap->moving.reserve(c.heap_limit, nohugepage) != 0) {
    delete heap;
    return UFFDGC_ENOMEM;
  }
  heap->stats.struct_size = sizeof(uffdgc_heap_stats);
  heap->mode = mode;
  heap->stats.mode = heap->mode;
  if ((c.flags & UFFDGC_HEAP_GENERATIONAL) != 0 && !heap->enable_generations()) {
    delete heap;
    return UFFDGC_ENOMEM;
  }
  if (heap->concurrent()) {
    if ((c.flags & UFFDGC_HEAP_EXTERNAL_SIGNALS) == 0 && install_sigbus_handler() != 0) {
      delete heap;
      return UFFDGC_EINTERNAL;
    }
    if (!gc::add_heap_range(heap->moving.begin(), heap->moving.limit())) {
      heap->mode = UFFDGC_MODE_STW;  // set back so the destructor does not remove a range
      delete heap;
      return UFFDGC_ELIMIT;
    }
  }
  if ((c.flags & UFFDGC_HEAP_NO_FORK_HANDLERS) == 0) {
    if (!add_fork_handled_heap(heap)) {
      delete heap;
      return UFFDGC_EINTERNAL;
    }
    heap->fork_handled = true;
  }
  heap->reclaim_stats_watched = hold_reclaim_stats_watcher();
  *out = heap;
  return UFFDGC_OK;
}

}  // namespace uffdgc::runtime
