// What the collector hands the embedder's callbacks (uffdgc_embedder in include/uffdgc/uffdgc.h):
// the root visitor scan_roots calls uffdgc_root_visit with, and the context process_weak and
// update_weak pass to uffdgc_weak_is_live / _retain / _forward (runtime/c_api_roots_weak.cc).
#pragma once

#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {
class CompactionPlan;
class Marker;
}  // namespace uffdgc::gc

struct uffdgc_root_visitor {
  void (*fn)(uffdgc_root_visitor* self, uffdgc_ref* slot);
  void* ctx;
};

struct uffdgc_weak_ctx {
  uffdgc::gc::Marker* marker;              // liveness (process_weak, update_weak)
  const uffdgc::gc::CompactionPlan* plan;  // update_weak
  bool retain_allowed = true;              // process_weak only
};
