// uffdgc-suite-boehm: the workloads on the Boehm-Demers-Weiser collector (Debian libgc 8.2,
// conservative, non-moving, stop-the-world with parallel marking). Objects with pointers come
// from GC_MALLOC, blobs and the double array from GC_MALLOC_ATOMIC, the churn table from
// GC_MALLOC_IGNORE_OFF_PAGE; nothing is freed. The heap limit is GC_set_max_heap_size(--heap-mib).
// Pauses: GC_set_on_collection_event, from GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD
// (kind "stw"); every worker and the probe thread are registered (GC_register_my_thread), so
// they are stopped with the world.
#define GC_THREADS
#include <gc/gc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"
#include "native.h"

namespace {

constexpr size_t kMaxPauses = 1 << 20;
std::vector<suite::Pause> g_pauses;
std::atomic<size_t> g_npauses{0};
uint64_t g_stop_begin = 0;
uint64_t g_collections = 0;

void on_event(GC_EventType e) {
  // Called by the collecting thread with the allocation lock held: no allocation here.
  if (e == GC_EVENT_PRE_STOP_WORLD) {
    g_stop_begin = suite::now_ns();
  } else if (e == GC_EVENT_POST_START_WORLD) {
    const size_t n = g_npauses.load(std::memory_order_relaxed);
    if (n < kMaxPauses) {
      g_pauses[n] = suite::Pause{"stw", g_stop_begin, suite::now_ns() - g_stop_begin};
      g_npauses.store(n + 1, std::memory_order_release);
    }
  } else if (e == GC_EVENT_END) {
    ++g_collections;
  }
}

struct Boehm {
  static constexpr bool kFrees = false;
  static void* alloc(size_t n) { return check(GC_MALLOC(n)); }
  static void* alloc_atomic(size_t n) { return check(GC_MALLOC_ATOMIC(n)); }
  static void* alloc_table(size_t n) { return check(GC_MALLOC_IGNORE_OFF_PAGE(n)); }
  static void release(void*) {}
  static void thread_start() {
    if (GC_thread_is_registered()) return;  // the main thread (GC_INIT)
    GC_stack_base sb;
    GC_get_stack_base(&sb);
    if (GC_register_my_thread(&sb) == GC_SUCCESS) registered_here = true;
  }
  static void thread_end() {
    if (registered_here) GC_unregister_my_thread();
    registered_here = false;
  }
  static thread_local bool registered_here;
  static void* check(void* p) {
    if (p == nullptr) {
      std::fprintf(stderr, "uffdgc-suite-boehm: out of memory (GC_set_max_heap_size limit)\n");
      std::printf("{\"ok\":false,\"error\":\"out of memory: Boehm heap limit reached\"}\n");
      std::fflush(stdout);
      std::_Exit(3);
    }
    return p;
  }
};

thread_local bool Boehm::registered_here = false;

}  // namespace

int main(int argc, char** argv) {
  const suite::Options o = suite::parse_options(argc, argv, {});
  GC_INIT();
  GC_allow_register_threads();
  GC_set_max_heap_size(static_cast<GC_word>(o.heap_mib * 1048576.0));
  g_pauses.resize(kMaxPauses);
  GC_set_on_collection_event(on_event);

  suite::Result r;
  r.collector = "boehm";
  suite::ProbeHooks hooks;
  hooks.thread_start = [] { Boehm::thread_start(); };
  hooks.thread_end = [] { Boehm::thread_end(); };
  suite::Probe probe(hooks);
  probe.start();
  r.minflt_at_measured_start = suite::minor_faults_now();  // churn sets it after its build
  uint64_t t0 = suite::now_ns(), t1 = 0;
  if (o.workload == "gcbench") {
    probe.set_measuring(true);
    suite::native::gcbench<Boehm>(o, r);
    t1 = suite::now_ns();
  } else if (o.workload == "binary-trees") {
    probe.set_measuring(true);
    suite::native::binary_trees<Boehm>(o, r);
    t1 = suite::now_ns();
  } else {
    suite::native::churn<Boehm>(o, r, probe);
    t1 = suite::now_ns();
    t0 = t1 - static_cast<uint64_t>(r.wall_s * 1e9);
  }
  probe.set_measuring(false);
  r.minflt_measured = suite::minor_faults_now() - r.minflt_at_measured_start;
  probe.stop();
  r.probe_late = probe.hist();
  g_pauses.resize(g_npauses.load(std::memory_order_acquire));
  suite::Json j = suite::result_json(o, r);
  j.raw("pauses", suite::pauses_json(g_pauses, t0, t1));
  suite::Json gc;
  gc.field("collections", static_cast<uint64_t>(GC_get_gc_no()))
      .field("heap_size", static_cast<uint64_t>(GC_get_heap_size()))
      .field("pauses_total", static_cast<uint64_t>(g_pauses.size()))
      .field("markers", static_cast<int64_t>(GC_get_parallel() + 1));
  j.raw("gc", gc.str());
  suite::emit(j);
  return r.check_failures == 0 ? 0 : 1;
}
