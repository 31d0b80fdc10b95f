// uffdgc-suite-malloc: the no-GC floor (CONTRACT.md). Plain malloc/free; the binary links
// Debian's jemalloc (built without a symbol prefix), so malloc IS jemalloc 5.3 here. Every
// object a workload drops is freed by hand. --heap-mib is accepted and ignored (no heap limit:
// the memory cgroup is the only limit).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common.h"
#include "native.h"

namespace {

struct Malloc {
  static constexpr bool kFrees = true;
  static void* alloc(size_t n) { return check(std::malloc(n)); }
  static void* alloc_atomic(size_t n) { return check(std::malloc(n)); }
  static void* alloc_table(size_t n) { return check(std::malloc(n)); }
  static void release(void* p) { std::free(p); }
  static void thread_start() {}
  static void thread_end() {}
  static void* check(void* p) {
    if (p == nullptr) {
      std::fprintf(stderr, "uffdgc-suite-malloc: out of memory\n");
      std::abort();
    }
    return p;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const suite::Options o = suite::parse_options(argc, argv, {});
  suite::Result r;
  r.collector = "jemalloc";
  suite::Probe probe(suite::ProbeHooks{});
  probe.start();
  r.minflt_at_measured_start = suite::minor_faults_now();  // churn sets it after its build
  if (o.workload == "gcbench") {
    probe.set_measuring(true);
    suite::native::gcbench<Malloc>(o, r);
  } else if (o.workload == "binary-trees") {
    probe.set_measuring(true);
    suite::native::binary_trees<Malloc>(o, r);
  } else {
    suite::native::churn<Malloc>(o, r, probe);
  }
  probe.set_measuring(false);
  r.minflt_measured = suite::minor_faults_now() - r.minflt_at_measured_start;
  probe.stop();
  r.probe_late = probe.hist();
  suite::Json j = suite::result_json(o, r);
  j.raw("pauses", "[]");
  suite::emit(j);
  return r.check_failures == 0 ? 0 : 1;
}
