// The callbacks' half of the C ABI (include/uffdgc/uffdgc.h "Roots" and "Weak references"):
// what scan_roots, process_weak and update_weak call back into, during a pause or the GC
// thread's marking.
#include "gc/embedder_callbacks.h"
#include "gc/compact/compaction_plan.h"
#include "gc/mark/marker.h"
#include "gc/no_unwind.h"
#include "uffdgc/uffdgc.h"

extern "C" {

// Inside a pause (or the GC thread's marking): a mark that cannot be pushed (no memory) would
// free a live object, so that ends the process (runtime/c_boundary.h).
void uffdgc_root_visit(uffdgc_root_visitor* visitor, uffdgc_ref* slot) {
  if (visitor == nullptr || slot == nullptr) return;
  uffdgc::gc::or_abort("uffdgc_root_visit", [&] { visitor->fn(visitor, slot); });
}

// The value comes from a slot the embedder owns: anything that is not a reference is dead
// (from update_weak the object spaces are swept: membership decides before a mark is read).
int uffdgc_weak_is_live(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx == nullptr || ctx->marker == nullptr) return 0;
  return ctx->marker->is_live_reference(ref) ? 1 : 0;
}

void uffdgc_weak_retain(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx == nullptr || ctx->marker == nullptr || !ctx->retain_allowed) return;
  uffdgc::gc::or_abort("uffdgc_weak_retain", [&] { ctx->marker->mark(ref); });
}

uffdgc_ref uffdgc_weak_forward(uffdgc_weak_ctx* ctx, uffdgc_ref ref) {
  if (ctx == nullptr || ctx->plan == nullptr) return ref;
  return ctx->plan->forward(ref);
}

}  // extern "C"
