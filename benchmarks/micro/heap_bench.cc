// Micro benchmarks of the heap's public API (include/uffdgc/uffdgc.h, inline.h) against the
// figures issue 3 asks for: allocation fast path vs jemalloc, reference store with the barrier
// off and on, and a full stop-the-world collection of 256 MiB and 1 GiB heaps.
//
// HOW TO RUN (Release):
//
//   cmake --preset release && cmake --build --preset release --target uffdgc_bench_heap
//   build/release/benchmarks/uffdgc_bench_heap --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true          (one line; everything, ~2-3 minutes)
//   build/release/benchmarks/uffdgc_bench_heap --benchmark_filter=FullGC   # one group
//
// The FullGC cases fix their own Iterations and Repetitions(1) in the code (they are slow and
// use manual time), so --benchmark_repetitions applies to the micro cases only.
//
// Note: Debian's libjemalloc is built without a symbol prefix, so linking it (needed for the
// explicit mallocx/dallocx baseline) also makes jemalloc the process-wide malloc: the library's
// own std::vector buffers (mark stack, barrier snapshot buffer) use jemalloc in this binary.
//
// ---- 1. Allocation: BM_Alloc_* (items_per_second = objects/s) ----------------------------
// One iteration = 1024 allocations of a 32-byte object; each object's address is stored into a
// 1024-entry batch array (jemalloc needs it to free; the uffdgc loops do the same store).
//   BM_Alloc_UffdgcFast   uffdgc_alloc_fast() (inline TLAB bump, header write) of a LEAF type
//                         of base_size 32. Nothing is kept alive: the heap (heap_limit 64 MiB,
//                         default triggers, i.e. a collection every 16 MiB allocated) collects
//                         as it fills, and that time (the pause, plus the page faults on the
//                         released pages the TLABs are refilled from) is inside the timed loop.
//                         Counters: collections (in the run), gc_per_Mobj, gc_pause_pct (share of
//                         the loop's wall time spent in pauses), ns_per_obj_excl_gc (wall time
//                         minus pauses, per object), faults_per_Kobj (minor page faults of the
//                         process per 1000 objects, getrusage; also for jemalloc).
//   BM_Alloc_UffdgcCall   the same through uffdgc_alloc() (the exported, checked C call).
//   BM_Alloc_Jemalloc/batch:B/zero:Z
//                         steady state of jemalloc 5.3 (Debian libjemalloc2, default arena and
//                         thread cache): one iteration = B x { p = mallocx(32, Z ? MALLOCX_ZERO
//                         : 0); *(uint64_t*)p = i; ptrs[i] = p; } followed by B x dallocx(ptrs[i],
//                         0), both timed; items = B per iteration. B = 64 stays inside the
//                         thread cache, B = 4096 overflows it (flushes to the arena bins).
//                         zero:1 matches uffdgc's contract (memory is zeroed); zero:0 is plain
//                         malloc semantics. The word write mirrors uffdgc's header write.
// items_per_second is Google Benchmark's: items / CPU time of the loop (the CPU column), so
// time the thread spent preempted on a busy machine does not count; the Time column is wall.
// Check (untimed): every uffdgc allocation returned UFFDGC_OK, the last object carries its type
// in its header, and collections ran (once more than 4 trigger volumes were allocated).
//
// ---- 2. Reference store: BM_StoreRef/barrier:N (time_per_store, seconds; 1.2n = 1.2 ns) --
// A 4096-slot reference array (32 KiB, in the moving space) filled with references to 64 nodes;
// one iteration = 1024 uffdgc_store_ref() calls, slot i & 4095 <- node (i * 7) & 63, so every
// store overwrites a non-null reference. No allocation in the loop.
//   barrier:0  barrier off: the normal state outside a concurrent cycle (flag test + store);
//              a stop-the-world heap.
//   barrier:1  a concurrent (move) cycle held in marking: a collection is started on another
//              thread and its GC thread waits inside the trace callback of a gate object
//              (pause 1 has run, barrier_flag = UFFDGC_BARRIER_LOG). Every store logs the
//              reference it overwrites inline into the thread's log (inline.h); every 4096
//              stores the slow path hands the full log to the GC thread (a copy and a lock).
//              Iterations(16384) = 16.8 M stores = 128 MiB of handed-over logs, which the
//              released cycle then traces (untimed).
//   barrier:2  as barrier:1 with the holder pinned during the cycle (barrier_flag =
//              UFFDGC_BARRIER_SLOW): every store calls uffdgc_store_ref_slow(), which logs the
//              overwritten reference and the slot (the flip rewrites the pinned island's slots).
//   barrier:3  a generational stop-the-world heap (UFFDGC_HEAP_GENERATIONAL) whose holder is
//              old (a full collection ran after it was allocated) and whose 64 nodes are young:
//              every store is old-to-young and appends (holder, slot) to the thread's
//              remembered-set log inline; every 2048 stores the slow path hands it to the
//              heap's remembered set, which keeps each slot once (a bit test per entry).
//   barrier:4  the same heap with a young holder: the barrier's generational test fails on the
//              slot and nothing is logged (the cost every young-to-young store pays).
// Check (untimed): after the loop the held cycle is released and must succeed, the flag seen in
// the loop must be the case's, no other collection ran, and every slot must reach (by id) the
// node last stored into it, before and after one more collection.
//
// ---- 3. Full collection: BM_FullGC/heap_MiB:S/live_pct:P/gc_threads:T (manual time) -----
// Per iteration, untimed: create a heap (heap_limit = S + S/16 + 1 MiB, triggers off: the
// collection only runs when asked), fill it with S MiB of objects: 95 % nodes (48 bytes: header,
// next, other, id, check, tag) and 5 % reference arrays (8..64 elements, 80..528 bytes). Each
// object is live with probability P % (decided per object, so live and dead objects are
// interleaved at every scale and nearly everything slides). Live nodes form 4 chains through
// `next`, headed by 4 globals; `other` points to an earlier live node (half within the last 1024,
// half anywhere) and `check` holds that node's id. Live arrays form a 5th chain through element
// 0 (a 5th global), their other elements point to live nodes. Dead objects point at live ones
// and at each other, but nothing live points at a dead object.
// Timed: one uffdgc_collect() (wall clock around the call, SetIterationTime).
// Untimed: the stats (pause_ns_last, live_bytes_last, pages_compacted_last) and a walk of all
// five chains checking every header type, id, tag, chain order, `other` target id, array element
// targets, the node count and id sums, and that live_bytes_last equals the bytes the builder
// kept live. Any difference fails the case (SkipWithError). Then the heap is destroyed.
// Counters (per iteration averages): pause_ms (uffdgc_heap_get_stats), cpu_ms (process CPU time,
// all threads, across the uffdgc_collect call: with gc_threads:1 a wall time well above it means
// the machine was busy with something else), live_MiB,
// ms_per_live_MiB (timed ms / live MiB), pages_compacted, moving_MiB_after, build_s, and the
// pause split by the collector's phase events (an event listener stores their times):
// setup_ms (pause begin to "mark": stopping threads, retiring TLABs, side-table mmap), mark_ms,
// weak_ms (weak, finalization, object-space sweep), plan_ms (dense prefix, prefix sums),
// compact_ms (mremap flip, page compaction with gc_threads, from-space release), update_ms
// (roots and non-moving objects, up to the cycle end).
// Iterations: 5 for 256 MiB, 3 for 1 GiB (a fresh heap each; about 2 minutes for the eight).
//
// ---- 4. Young collections: BM_YoungGC/old_MiB:O/mode:M (manual time): see above BM_YoungGC.
#include <benchmark/benchmark.h>
#include <jemalloc/jemalloc.h>
#include <sys/resource.h>
#include <time.h>

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_minflt);
}

uint64_t rd(uffdgc_ref obj, size_t off) {
  uint64_t v;
  std::memcpy(&v, reinterpret_cast<const void*>(obj + off), sizeof(v));
  return v;
}

void wr(uffdgc_ref obj, size_t off, uint64_t v) {
  std::memcpy(reinterpret_cast<void*>(obj + off), &v, sizeof(v));
}

uffdgc_ref* slot_at(uffdgc_ref obj, size_t off) { return reinterpret_cast<uffdgc_ref*>(obj + off); }

uint32_t type_of(uffdgc_ref obj) {
  return static_cast<uint32_t>(rd(obj, 0) & UFFDGC_HEADER_TYPE_MASK);
}

// splitmix64: deterministic, cheap.
struct Rng {
  uint64_t s;
  uint64_t operator()() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

// ---- object layouts ----
constexpr uint32_t kSmallSize = 32;  // LEAF, allocation benchmark
constexpr uint32_t kNodeSize = 48;   // header, next, other, id, check, tag
constexpr size_t kNext = 8, kOther = 16, kId = 24, kCheck = 32, kTag = 40;
constexpr uint64_t kTagMagic = 0x5a5a'1234'c0de'0000ull;
constexpr size_t kArrLength = 8, kArrElems = 16;  // ref array: header, length, elements

// A heap with one mutator attached on the calling thread and the benchmark's three types.
class Session {
 public:
  explicit Session(const uffdgc_heap_options& options) {
    if (const uffdgc_result r = uffdgc_heap_create(&options, &heap_); r != UFFDGC_OK) {
      fail("uffdgc_heap_create", r);
      return;
    }
    uffdgc_type_info small{};
    small.struct_size = sizeof(small);
    small.flags = UFFDGC_TYPE_LEAF;
    small.base_size = kSmallSize;
    small.name = "bench.small32";
    static const uint32_t kNodeRefs[] = {kNext, kOther};
    uffdgc_type_info node{};
    node.struct_size = sizeof(node);
    node.base_size = kNodeSize;
    node.num_ref_offsets = 2;
    node.ref_offsets = kNodeRefs;
    node.name = "bench.node";
    uffdgc_type_info arr{};
    arr.struct_size = sizeof(arr);
    arr.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    arr.base_size = kArrElems;
    arr.elem_size = 8;
    arr.length_offset = kArrLength;
    arr.name = "bench.refarray";
    uffdgc_result r;
    if ((r = uffdgc_type_register(heap_, &small, &small_type)) != UFFDGC_OK ||
        (r = uffdgc_type_register(heap_, &node, &node_type)) != UFFDGC_OK ||
        (r = uffdgc_type_register(heap_, &arr, &array_type)) != UFFDGC_OK) {
      fail("uffdgc_type_register", r);
      return;
    }
    if ((r = uffdgc_mutator_attach(heap_, nullptr, &m)) != UFFDGC_OK) {
      fail("uffdgc_mutator_attach", r);
      m = nullptr;
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (m != nullptr) uffdgc_mutator_detach(m);
    if (heap_ != nullptr) {
      if (const uffdgc_result r = uffdgc_heap_destroy(heap_); r != UFFDGC_OK) {
        fprintf(stderr, "heap_bench: uffdgc_heap_destroy: %s\n", uffdgc_result_name(r));
      }
    }
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(const char* what, uffdgc_result r) {
    if (error_.empty()) error_ = std::string(what) + ": " + uffdgc_result_name(r);
  }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  uffdgc_heap* heap() const { return heap_; }
  uffdgc_heap_stats stats() const {
    uffdgc_heap_stats s{};
    s.struct_size = sizeof(s);
    uffdgc_heap_get_stats(heap_, &s);
    return s;
  }
  uffdgc_global* global(uffdgc_ref ref) {
    uffdgc_global* g = nullptr;
    if (const uffdgc_result r = uffdgc_global_create(heap_, ref, &g); r != UFFDGC_OK) {
      fail("uffdgc_global_create", r);
    }
    return g;
  }

  uffdgc_mutator* m = nullptr;
  uint32_t small_type = 0, node_type = 0, array_type = 0;

 private:
  uffdgc_heap* heap_ = nullptr;
  std::string error_;
};

uffdgc_heap_options base_options() {
  uffdgc_heap_options o{};
  o.struct_size = sizeof(o);
  o.mode = UFFDGC_MODE_STW;
  return o;
}

// =========================================================================================
// 1. Allocation
// =========================================================================================

constexpr int kAllocBatch = 1024;

template <bool kInline>
void alloc_uffdgc(benchmark::State& state) {
  uffdgc_heap_options o = base_options();
  o.heap_limit = 64 * kMiB;  // default triggers: collect every heap_limit / 4 = 16 MiB
  Session s(o);
  if (!s.ok()) {
    state.SkipWithError(s.error().c_str());
    return;
  }
  std::vector<uffdgc_ref> refs(kAllocBatch);
  uffdgc_ref* out = refs.data();
  const uint32_t type = s.small_type;
  uffdgc_mutator* const m = s.m;
  const uffdgc_heap_stats before = s.stats();
  uffdgc_result failed = UFFDGC_OK;
  const uint64_t f0 = minor_faults();
  const uint64_t t0 = now_ns();
  for (auto _ : state) {
    for (int i = 0; i < kAllocBatch; ++i) {
      uffdgc_ref r;
      const uffdgc_result rc = kInline ? uffdgc_alloc_fast(m, type, kSmallSize, &r)
                                       : uffdgc_alloc(m, type, 0, UFFDGC_ALLOC_DEFAULT, &r);
      if (UFFDGC_UNLIKELY(rc != UFFDGC_OK)) {
        failed = rc;
        break;
      }
      out[i] = r;
    }
    benchmark::ClobberMemory();
    if (UFFDGC_UNLIKELY(failed != UFFDGC_OK)) break;
  }
  const uint64_t elapsed = now_ns() - t0;
  const uint64_t faults = minor_faults() - f0;
  if (failed != UFFDGC_OK) {
    state.SkipWithError((std::string("allocation failed: ") + uffdgc_result_name(failed)).c_str());
    return;
  }
  // The last object was allocated after any collection, so its memory is still its own.
  const uffdgc_ref last = out[kAllocBatch - 1];
  if (state.iterations() > 0 && (last == 0 || type_of(last) != type)) {
    state.SkipWithError("the last allocated object does not carry its type in the header");
    return;
  }
  const uffdgc_heap_stats after = s.stats();
  const double objects = static_cast<double>(state.iterations()) * kAllocBatch;
  const double gcs = static_cast<double>(after.collections - before.collections);
  const double pause = static_cast<double>(after.pause_ns_total - before.pause_ns_total);
  if (objects > 4.0 * (16 * kMiB / kSmallSize) && gcs == 0) {
    state.SkipWithError("no collection although several trigger volumes were allocated");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(objects));
  state.counters["collections"] = gcs;
  state.counters["gc_per_Mobj"] = objects > 0 ? gcs * 1e6 / objects : 0;
  state.counters["gc_pause_pct"] = elapsed > 0 ? 100.0 * pause / static_cast<double>(elapsed) : 0;
  state.counters["ns_per_obj_excl_gc"] =
      objects > 0 ? (static_cast<double>(elapsed) - pause) / objects : 0;
  state.counters["faults_per_Kobj"] =
      objects > 0 ? static_cast<double>(faults) * 1000.0 / objects : 0;
}

void BM_Alloc_UffdgcFast(benchmark::State& state) { alloc_uffdgc<true>(state); }
void BM_Alloc_UffdgcCall(benchmark::State& state) { alloc_uffdgc<false>(state); }
BENCHMARK(BM_Alloc_UffdgcFast);
BENCHMARK(BM_Alloc_UffdgcCall);

void BM_Alloc_Jemalloc(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  const int flags = state.range(1) != 0 ? MALLOCX_ZERO : 0;
  std::vector<void*> ptrs(batch);
  void** p = ptrs.data();
  bool failed = false;
  const uint64_t f0 = minor_faults();
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      void* q = mallocx(kSmallSize, flags);
      if (UFFDGC_UNLIKELY(q == nullptr)) {
        failed = true;
        break;
      }
      const uint64_t word = i;
      std::memcpy(q, &word, sizeof(word));  // the counterpart of uffdgc's header write
      p[i] = q;
    }
    if (UFFDGC_UNLIKELY(failed)) break;
    benchmark::ClobberMemory();
    for (size_t i = 0; i < batch; ++i) dallocx(p[i], 0);
  }
  if (failed) {
    state.SkipWithError("mallocx returned NULL");
    return;
  }
  const auto objects = static_cast<double>(state.iterations()) * static_cast<double>(batch);
  state.SetItemsProcessed(static_cast<int64_t>(objects));
  state.counters["faults_per_Kobj"] =
      objects > 0 ? static_cast<double>(minor_faults() - f0) * 1000.0 / objects : 0;
}
BENCHMARK(BM_Alloc_Jemalloc)->ArgNames({"batch", "zero"})->ArgsProduct({{64, 4096}, {0, 1}});

// =========================================================================================
// 2. Reference store
// =========================================================================================

constexpr size_t kStoreSlots = 4096;
constexpr size_t kStoreValues = 64;
constexpr int kStoresPerIter = 1024;

// Holds a concurrent cycle's marking inside the trace of one object (the gate), so the timed
// loop runs with the barrier really on: pause 1 has run, the GC thread waits in the callback.
struct MarkingGate {
  static inline std::atomic<bool> armed{false}, entered{false}, released{false};
  static void trace(uffdgc_ref, uffdgc_slot_visitor, void*) {
    if (!armed.exchange(false)) return;
    entered.store(true);
    while (!released.load()) {
      timespec ts{0, 100000};
      nanosleep(&ts, nullptr);
    }
  }
};

// A collection started on its own thread and held in marking until release().
class HeldMarking {
 public:
  bool start(Session& s) {
    uffdgc_type_info gate{};
    gate.struct_size = sizeof gate;
    gate.base_size = 16;
    gate.trace = &MarkingGate::trace;
    gate.name = "bench.gate";
    uint32_t gate_type = 0;
    uffdgc_ref gate_obj = 0;
    uffdgc_result r = uffdgc_type_register(s.heap(), &gate, &gate_type);
    if (r == UFFDGC_OK) r = uffdgc_alloc(s.m, gate_type, 0, UFFDGC_ALLOC_DEFAULT, &gate_obj);
    if (r != UFFDGC_OK) {
      s.fail("gate", r);
      return false;
    }
    s.global(gate_obj);
    MarkingGate::entered.store(false);
    MarkingGate::released.store(false);
    MarkingGate::armed.store(true);
    thread_ = std::thread([this, heap = s.heap()] {
      uffdgc_mutator* cm = nullptr;
      result_ = uffdgc_mutator_attach(heap, nullptr, &cm);
      if (result_ == UFFDGC_OK) result_ = uffdgc_collect(cm);
      if (cm != nullptr) uffdgc_mutator_detach(cm);
      done_.store(true);
    });
    while (!MarkingGate::entered.load()) uffdgc_poll(s.m);  // pause 1 needs this thread
    return true;
  }
  // Lets the cycle finish (this thread takes part in its pauses); its result.
  uffdgc_result release(Session& s) {
    MarkingGate::released.store(true);
    while (!done_.load()) {
      uffdgc_poll(s.m);
      timespec ts{0, 100000};
      nanosleep(&ts, nullptr);
    }
    thread_.join();
    return result_;
  }

 private:
  std::thread thread_;
  std::atomic<bool> done_{false};
  uffdgc_result result_ = UFFDGC_OK;
};

void BM_StoreRef(benchmark::State& state) {
  const int64_t mode = state.range(0);
  const bool generational = mode >= 3;
  uffdgc_heap_options o = base_options();
  o.heap_limit = 64 * kMiB;
  if (generational) {
    o.mode = UFFDGC_MODE_STW;
    o.flags |= UFFDGC_HEAP_GENERATIONAL;
    o.trigger_allocated = uint64_t{1} << 40;
  } else if (mode != 0) {
    o.mode = UFFDGC_MODE_MOVE;
    o.trigger_allocated = uint64_t{1} << 40;  // only the held collection
  }
  Session s(o);
  if (!s.ok()) {
    state.SkipWithError(s.error().c_str());
    return;
  }
  // Setup: a 4096-slot holder and 64 value nodes, all kept alive by globals.
  uffdgc_ref holder = 0, values_arr = 0;
  uffdgc_result r = uffdgc_alloc(s.m, s.array_type, kStoreSlots, UFFDGC_ALLOC_DEFAULT, &holder);
  if (r == UFFDGC_OK) {
    r = uffdgc_alloc(s.m, s.array_type, kStoreValues, UFFDGC_ALLOC_DEFAULT, &values_arr);
  }
  if (r != UFFDGC_OK) {
    state.SkipWithError((std::string("uffdgc_alloc: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  uffdgc_global* holder_root = s.global(holder);
  uffdgc_global* values_root = s.global(values_arr);
  if (mode == 3 && (r = uffdgc_collect(s.m)) != UFFDGC_OK) {  // the holder becomes old
    state.SkipWithError((std::string("uffdgc_collect: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  std::array<uffdgc_ref, kStoreValues> values{};
  for (size_t i = 0; i < kStoreValues && r == UFFDGC_OK; ++i) {
    r = uffdgc_alloc_fast(s.m, s.node_type, kNodeSize, &values[i]);
    if (r != UFFDGC_OK) break;
    wr(values[i], kId, 1000 + i);
    // The fresh node may have triggered a collection: reload the arrays through the globals.
    values_arr = uffdgc_global_get(values_root);
    uffdgc_store_ref(s.m, values_arr, slot_at(values_arr, kArrElems + 8 * i), values[i]);
  }
  if (r != UFFDGC_OK || !s.ok()) {
    state.SkipWithError(!s.ok() ? s.error().c_str() : uffdgc_result_name(r));
    return;
  }
  holder = uffdgc_global_get(holder_root);
  values_arr = uffdgc_global_get(values_root);
  for (size_t i = 0; i < kStoreValues; ++i) values[i] = rd(values_arr, kArrElems + 8 * i);
  auto* slots = slot_at(holder, kArrElems);
  for (size_t i = 0; i < kStoreSlots; ++i) {
    uffdgc_store_ref(s.m, holder, &slots[i], values[i % kStoreValues]);
  }

  HeldMarking marking;
  const uint64_t collections_before = s.stats().collections;
  if (generational && s.stats().generational == 0) {
    state.SkipWithError("UFFDGC_HEAP_GENERATIONAL is not in effect");
    return;
  }
  if (mode == 1 || mode == 2) {
    if (!marking.start(s)) {
      state.SkipWithError(s.error().c_str());
      return;
    }
  }
  if (mode == 2 && (r = uffdgc_pin(s.m, holder)) != UFFDGC_OK) {
    state.SkipWithError((std::string("uffdgc_pin: ") + uffdgc_result_name(r)).c_str());
    marking.release(s);
    return;
  }
  const uint32_t barrier = __atomic_load_n(
      &reinterpret_cast<const uffdgc_mutator_fast*>(s.m)->barrier_flag, __ATOMIC_RELAXED);
  const uint32_t expected_barrier = mode == 1   ? UFFDGC_BARRIER_LOG
                                    : mode == 2 ? UFFDGC_BARRIER_SLOW
                                    : mode >= 3 ? UFFDGC_BARRIER_REMEMBER
                                                : 0;
  uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < kStoresPerIter; ++i, ++n) {
      uffdgc_store_ref(s.m, holder, &slots[n & (kStoreSlots - 1)],
                       values[(n * 7) & (kStoreValues - 1)]);
    }
    benchmark::ClobberMemory();
  }
  if ((mode == 1 || mode == 2) && (r = marking.release(s)) != UFFDGC_OK) {
    state.SkipWithError((std::string("held uffdgc_collect: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  if (mode == 2 && (r = uffdgc_unpin(s.m, uffdgc_global_get(holder_root))) != UFFDGC_OK) {
    state.SkipWithError((std::string("uffdgc_unpin: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  if (barrier != expected_barrier) {
    state.SkipWithError("the barrier flag is not the one this case measures");
    return;
  }

  // Check: the last stores landed, through the held collection if any (no other collection ran);
  // another collection keeps them. Slot j last received store k = the largest k < n with
  // k % 4096 == j, whose value index is (k * 7) & 63 = (j * 7) & 63; a slot never stored to
  // (j >= n) keeps its initial j % 64.
  auto expected_index = [n](size_t j) {
    return j < n ? (j * 7) & (kStoreValues - 1) : j % kStoreValues;
  };
  auto check = [&](const char* when) {
    holder = uffdgc_global_get(holder_root);
    for (size_t i = 0; i < kStoreSlots; ++i) {
      const uffdgc_ref v = rd(holder, kArrElems + 8 * i);
      const uint64_t id = v != 0 && type_of(v) == s.node_type ? rd(v, kId) : 0;
      if (id != 1000 + expected_index(i)) {
        state.SkipWithError((std::string(when) + ": a slot does not reach the node last stored")
                                .c_str());
        return false;
      }
    }
    return true;
  };
  if (!check("after the loop")) return;
  if (s.stats().collections != collections_before + (mode == 1 || mode == 2 ? 1 : 0)) {
    state.SkipWithError("a collection other than the held one ran during the store loop");
    return;
  }
  // A generational heap collects young first: the remembered slots must carry the nodes.
  if (generational && (r = uffdgc_collect_young(s.m)) != UFFDGC_OK) {
    state.SkipWithError((std::string("uffdgc_collect_young: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  if (generational && !check("after a young collection")) return;
  if (mode == 3 && s.stats().remembered_slots_last < kStoreSlots) {
    state.SkipWithError("the young collection did not find every remembered slot");
    return;
  }
  if ((r = uffdgc_collect(s.m)) != UFFDGC_OK) {
    state.SkipWithError((std::string("uffdgc_collect: ") + uffdgc_result_name(r)).c_str());
    return;
  }
  if (!check("after a collection")) return;
  const double stores = static_cast<double>(n);
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["time_per_store"] =
      benchmark::Counter(stores, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["stores"] = stores;
}
BENCHMARK(BM_StoreRef)->ArgName("barrier")->Arg(0);
BENCHMARK(BM_StoreRef)->ArgName("barrier")->Arg(1)->Iterations(16384);
BENCHMARK(BM_StoreRef)->ArgName("barrier")->Arg(2)->Iterations(16384);
BENCHMARK(BM_StoreRef)->ArgName("barrier")->Arg(3);
BENCHMARK(BM_StoreRef)->ArgName("barrier")->Arg(4);

// =========================================================================================
// 2b. Handle scopes and the safepoint poll
// =========================================================================================

// One iteration is a function frame of a runtime that roots its locals in handles: open a
// scope, make kFrameHandles handles, close it. Inline: inline.h's _fast calls (unchecked in
// this build unless UFFDGC_CHECKED is defined); Call: the exported, checked calls.
constexpr int kFrameHandles = 4;

template <bool kInline>
void handle_frame(benchmark::State& state) {
  uffdgc_heap_options o = base_options();
  o.heap_limit = 64 * kMiB;
  Session s(o);
  if (!s.ok()) {
    state.SkipWithError(s.error().c_str());
    return;
  }
  uffdgc_mutator* const m = s.m;
  uffdgc_ref obj = 0;
  if (uffdgc_alloc(m, s.small_type, 0, UFFDGC_ALLOC_DEFAULT, &obj) != UFFDGC_OK) {
    state.SkipWithError("allocation failed");
    return;
  }
  bool failed = false;
  for (auto _ : state) {
    uffdgc_handle_scope scope;
    const uffdgc_result opened =
        kInline ? uffdgc_handle_scope_open_fast(m, &scope) : uffdgc_handle_scope_open(m, &scope);
    for (int i = 0; i < kFrameHandles; ++i) {
      uffdgc_ref* h = kInline ? uffdgc_handle_new_fast(m, obj) : uffdgc_handle_new(m, obj);
      benchmark::DoNotOptimize(h);
      failed |= h == nullptr;
    }
    const uffdgc_result closed = kInline ? uffdgc_handle_scope_close_fast(m, &scope)
                                         : uffdgc_handle_scope_close(m, &scope);
    failed |= opened != UFFDGC_OK || closed != UFFDGC_OK;
  }
  if (failed) {
    state.SkipWithError("a handle scope call failed");
    return;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));  // frames
  state.counters["handles_per_frame"] = kFrameHandles;
}
void BM_HandleFrame_Inline(benchmark::State& state) { handle_frame<true>(state); }
void BM_HandleFrame_Call(benchmark::State& state) { handle_frame<false>(state); }
BENCHMARK(BM_HandleFrame_Inline);
BENCHMARK(BM_HandleFrame_Call);

// The safepoint poll with no safepoint requested: a load, a test, a branch.
void BM_Poll(benchmark::State& state) {
  Session s(base_options());
  if (!s.ok()) {
    state.SkipWithError(s.error().c_str());
    return;
  }
  uffdgc_mutator* const m = s.m;
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) uffdgc_poll(m);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_Poll);

// =========================================================================================
// 3. Full collection
// =========================================================================================

struct Expected {
  uint64_t live_bytes = 0, live_nodes = 0, live_arrays = 0, node_id_sum = 0;
  uint64_t array_elems = 0, array_elem_id_sum = 0;
  uint64_t objects = 0, bytes = 0;
};

constexpr int kChains = 4;

// Fills the heap with `target` bytes of objects, `live_pct` % of them reachable from the five
// globals (layout: top of file). Returns false (s.error() says why) on failure.
bool build_heap(Session& s, size_t target, uint32_t live_pct, uint64_t seed, Expected* e,
                std::array<uffdgc_global*, kChains + 1>* roots) {
  Rng rng{seed};
  std::vector<uffdgc_ref> live;
  live.reserve(target / kNodeSize * live_pct / 100 + 1024);
  auto pick = [&]() -> uffdgc_ref {
    if (live.empty()) return 0;
    const uint64_t x = rng();
    const size_t n = live.size();
    if ((x & 1) != 0 && n > 1024) return live[n - 1 - (x >> 1) % 1024];
    return live[(x >> 1) % n];
  };
  std::array<uffdgc_ref, kChains> heads{};
  uffdgc_ref array_head = 0, garbage = 0;
  uint64_t next_id = 1;
  uffdgc_mutator* const m = s.m;
  while (e->bytes < target) {
    const uint64_t x = rng();
    const bool is_array = (x & 0xff) < 13;  // ~5 % of the objects
    const bool is_live = (x >> 8) % 100 < live_pct;
    uffdgc_ref obj = 0;
    if (!is_array) {
      if (const uffdgc_result r = uffdgc_alloc_fast(m, s.node_type, kNodeSize, &obj);
          r != UFFDGC_OK) {
        s.fail("uffdgc_alloc_fast (build)", r);
        return false;
      }
      const uint64_t id = next_id++;
      wr(obj, kId, id);
      wr(obj, kTag, id ^ kTagMagic);
      const uffdgc_ref other = pick();
      uffdgc_store_ref(m, obj, slot_at(obj, kOther), other);
      if (is_live) {
        wr(obj, kCheck, other != 0 ? rd(other, kId) : 0);
        uffdgc_ref& head = heads[id % kChains];
        uffdgc_store_ref(m, obj, slot_at(obj, kNext), head);
        head = obj;
        live.push_back(obj);
        ++e->live_nodes;
        e->node_id_sum += id;
        e->live_bytes += kNodeSize;
      } else {
        uffdgc_store_ref(m, obj, slot_at(obj, kNext), garbage);
        garbage = obj;
      }
      e->bytes += kNodeSize;
    } else {
      const uint64_t len = 8 + (x >> 32) % 57;
      if (const uffdgc_result r = uffdgc_alloc(m, s.array_type, len, UFFDGC_ALLOC_DEFAULT, &obj);
          r != UFFDGC_OK) {
        s.fail("uffdgc_alloc (build)", r);
        return false;
      }
      const uint64_t size = kArrElems + 8 * len;
      if (rd(obj, kArrLength) != len) {
        s.fail("a fresh array does not carry its length");
        return false;
      }
      uffdgc_store_ref(m, obj, slot_at(obj, kArrElems), is_live ? array_head : garbage);
      for (uint64_t i = 1; i < len; ++i) {
        const uffdgc_ref v = pick();
        uffdgc_store_ref(m, obj, slot_at(obj, kArrElems + 8 * i), v);
        if (is_live && v != 0) {
          ++e->array_elems;
          e->array_elem_id_sum += rd(v, kId);
        }
      }
      if (is_live) {
        array_head = obj;
        ++e->live_arrays;
        e->live_bytes += size;
      }
      e->bytes += size;
    }
    ++e->objects;
  }
  for (int c = 0; c < kChains; ++c) (*roots)[c] = s.global(heads[c]);
  (*roots)[kChains] = s.global(array_head);
  return s.ok();
}

// Walks the five chains; returns "" or what is wrong.
std::string verify_heap(const Session& s, const Expected& e,
                        const std::array<uffdgc_global*, kChains + 1>& roots) {
  char buf[256];
  uint64_t nodes = 0, id_sum = 0;
  for (int c = 0; c < kChains; ++c) {
    uint64_t prev = UINT64_MAX;
    for (uffdgc_ref p = uffdgc_global_get(roots[c]); p != 0; p = rd(p, kNext)) {
      if (type_of(p) != s.node_type) {
        snprintf(buf, sizeof buf, "chain %d: object %#" PRIx64 " has type %u, not a node", c, p,
                 type_of(p));
        return buf;
      }
      const uint64_t id = rd(p, kId);
      if (rd(p, kTag) != (id ^ kTagMagic) || id >= prev || id % kChains != uint64_t(c)) {
        snprintf(buf, sizeof buf, "chain %d: node %#" PRIx64 " id %" PRIu64 " (previous %" PRIu64
                 ") has a bad tag or order", c, p, id, prev);
        return buf;
      }
      const uffdgc_ref other = rd(p, kOther);
      const uint64_t want = rd(p, kCheck);
      if ((other == 0 && want != 0) ||
          (other != 0 && (type_of(other) != s.node_type || rd(other, kId) != want))) {
        snprintf(buf, sizeof buf, "node id %" PRIu64 ": `other` does not reach node id %" PRIu64,
                 id, want);
        return buf;
      }
      prev = id;
      id_sum += id;
      if (++nodes > e.live_nodes) return "more nodes on the chains than were built (a cycle?)";
    }
  }
  if (nodes != e.live_nodes || id_sum != e.node_id_sum) {
    snprintf(buf, sizeof buf, "chains hold %" PRIu64 " nodes (id sum %" PRIu64 "), built %" PRIu64
             " (id sum %" PRIu64 ")", nodes, id_sum, e.live_nodes, e.node_id_sum);
    return buf;
  }
  uint64_t arrays = 0, elems = 0, elem_sum = 0;
  for (uffdgc_ref a = uffdgc_global_get(roots[kChains]); a != 0; a = rd(a, kArrElems)) {
    if (type_of(a) != s.array_type) return "array chain reaches an object that is no array";
    const uint64_t len = rd(a, kArrLength);
    if (len < 8 || len > 64) return "array chain: an array has a bad length";
    for (uint64_t i = 1; i < len; ++i) {
      const uffdgc_ref v = rd(a, kArrElems + 8 * i);
      if (v == 0) continue;
      if (type_of(v) != s.node_type || rd(v, kTag) != (rd(v, kId) ^ kTagMagic)) {
        return "an array element does not reach a node";
      }
      ++elems;
      elem_sum += rd(v, kId);
    }
    if (++arrays > e.live_arrays) return "more arrays on the chain than were built";
  }
  if (arrays != e.live_arrays || elems != e.array_elems || elem_sum != e.array_elem_id_sum) {
    return "the array chain differs from what was built";
  }
  return "";
}

// Phase boundaries of the last cycle, recorded by the event listener (it runs with the world
// stopped and must not call uffdgc: it only stores times).
struct PhaseTimes {
  static constexpr int kMax = 8;
  const char* names[kMax] = {};
  uint64_t start[kMax] = {};
  int count = 0;
  uint64_t pause_begin = 0, cycle_end = 0;
};

void record_phase(const uffdgc_event* ev, void* arg) {
  auto* p = static_cast<PhaseTimes*>(arg);
  if (ev->kind == UFFDGC_EVENT_PAUSE_BEGIN) {
    *p = PhaseTimes{};
    p->pause_begin = ev->time_ns;
  } else if (ev->kind == UFFDGC_EVENT_PHASE && p->count < PhaseTimes::kMax) {
    p->names[p->count] = ev->phase;
    p->start[p->count++] = ev->time_ns;
  } else if (ev->kind == UFFDGC_EVENT_CYCLE_END) {
    p->cycle_end = ev->time_ns;
  }
}

void BM_FullGC(benchmark::State& state) {
  const size_t heap_bytes = static_cast<size_t>(state.range(0)) * kMiB;
  const auto live_pct = static_cast<uint32_t>(state.range(1));
  const auto gc_threads = static_cast<uint32_t>(state.range(2));
  double pause_ms = 0, live_mib = 0, timed_ms = 0, cpu_ms = 0, pages = 0, after_mib = 0;
  double build_s = 0;
  // Phase names as the collector reports them (uffdgc.h); "setup" = pause begin to "mark".
  static const char* const kPhases[] = {"mark", "weak", "plan", "compact", "update"};
  double phase_ms[std::size(kPhases)] = {}, setup_ms = 0;
  uint64_t seed = 42;
  for (auto _ : state) {
    uffdgc_heap_options o = base_options();
    o.gc_threads = gc_threads;
    o.heap_limit = heap_bytes + heap_bytes / 16 + kMiB;
    o.trigger_allocated = SIZE_MAX;  // only the explicit collection below
    o.trigger_occupancy_pct = 100;
    Session s(o);
    Expected e;
    std::array<uffdgc_global*, kChains + 1> roots{};
    const uint64_t b0 = now_ns();
    if (!s.ok() || !build_heap(s, heap_bytes, live_pct, seed++, &e, &roots)) {
      state.SkipWithError(s.error().c_str());
      break;
    }
    build_s += static_cast<double>(now_ns() - b0) * 1e-9;
    PhaseTimes phases;
    uffdgc_set_event_listener(s.heap(), record_phase, &phases);
    const uffdgc_heap_stats before = s.stats();
    if (before.collections != 0) {
      state.SkipWithError("a collection ran while the heap was built");
      break;
    }
    const uint64_t c0 = process_cpu_ns();
    const uint64_t t0 = now_ns();
    const uffdgc_result r = uffdgc_collect(s.m);
    const uint64_t t1 = now_ns();
    const uint64_t c1 = process_cpu_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    if (r != UFFDGC_OK) {
      state.SkipWithError((std::string("uffdgc_collect: ") + uffdgc_result_name(r)).c_str());
      break;
    }
    const uffdgc_heap_stats st = s.stats();
    if (st.live_bytes_last != e.live_bytes) {
      char buf[160];
      snprintf(buf, sizeof buf, "live_bytes_last %" PRIu64 " != %" PRIu64 " bytes built live",
               st.live_bytes_last, e.live_bytes);
      state.SkipWithError(buf);
      break;
    }
    if (const std::string bad = verify_heap(s, e, roots); !bad.empty()) {
      state.SkipWithError(("after the collection: " + bad).c_str());
      break;
    }
    timed_ms += static_cast<double>(t1 - t0) * 1e-6;
    cpu_ms += static_cast<double>(c1 - c0) * 1e-6;
    pause_ms += static_cast<double>(st.pause_ns_last) * 1e-6;
    live_mib += static_cast<double>(st.live_bytes_last) / kMiB;
    pages += static_cast<double>(st.pages_compacted_last);
    after_mib += static_cast<double>(st.moving_bytes_used) / kMiB;
    if (phases.count > 0) {
      setup_ms += static_cast<double>(phases.start[0] - phases.pause_begin) * 1e-6;
    }
    for (int i = 0; i < phases.count; ++i) {
      const uint64_t end = i + 1 < phases.count ? phases.start[i + 1] : phases.cycle_end;
      for (size_t k = 0; k < std::size(kPhases); ++k) {
        if (phases.names[i] != nullptr && std::strcmp(phases.names[i], kPhases[k]) == 0) {
          phase_ms[k] += static_cast<double>(end - phases.start[i]) * 1e-6;
        }
      }
    }
  }
  if (state.error_occurred()) return;
  const auto avg = benchmark::Counter::kAvgIterations;
  state.counters["pause_ms"] = benchmark::Counter(pause_ms, avg);
  state.counters["cpu_ms"] = benchmark::Counter(cpu_ms, avg);
  state.counters["live_MiB"] = benchmark::Counter(live_mib, avg);
  state.counters["ms_per_live_MiB"] = live_mib > 0 ? timed_ms / live_mib : 0;
  state.counters["pages_compacted"] = benchmark::Counter(pages, avg);
  state.counters["moving_MiB_after"] = benchmark::Counter(after_mib, avg);
  state.counters["build_s"] = benchmark::Counter(build_s, avg);
  state.counters["setup_ms"] = benchmark::Counter(setup_ms, avg);
  for (size_t k = 0; k < std::size(kPhases); ++k) {
    state.counters[std::string(kPhases[k]) + "_ms"] = benchmark::Counter(phase_ms[k], avg);
  }
}

void full_gc_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"heap_MiB", "live_pct", "gc_threads"});
  b->UseManualTime()->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_FullGC)->Apply(full_gc_args)->ArgsProduct({{256}, {10, 50}, {1, 2}})
    ->Iterations(5)->Repetitions(1);
BENCHMARK(BM_FullGC)->Apply(full_gc_args)->ArgsProduct({{1024}, {10, 50}, {1, 2}})
    ->Iterations(3)->Repetitions(1);


// ---- 4. Young collections: BM_YoungGC/old_MiB:O/mode:M (manual time; design: .cycle.young) --
// One generational heap per case, mode M (3 stw, 1 move: the young cycle is concurrent and the
// timed span runs to the end of its compaction, found by polling the statistics until the
// cycle's duration, cycle_ns_last, is written, which happens last) (heap_limit = O + O/16 + 320 MiB,
// triggers off): O MiB of
// objects built as in BM_FullGC with every object live, plus a 4096-slot holder array, made old
// by one full collection (untimed). Per iteration, untimed: 4096 young nodes stored into the
// holder (remembered, old-to-young) with 32 MiB of young garbage nodes around them; timed: one
// uffdgc_collect_young(). Counters (per iteration): young_ms (timed wall), gc_cpu_ms
// (gc_cpu_ns_total; split into mark_cpu_ms, reclaim_cpu_ms (weak references to the flip),
// compact_cpu_ms), free_pages (move: free pages above the compacted end the cycle produced),
// pause_ms (the cycle's pauses, summed: one in stw, three in move),
// flip_ms (move: the flip pause, which rewrites the remembered slots), mark_start_ms (move:
// pause 1, which takes the remembered logs), remembered_slots,
// remembered_pages, promoted_KiB, old_MiB.
// Check: every collection is young, the holder's slots reach the nodes last stored (by id),
// and the old chains are intact (walked once after the last iteration). The claim it tests: a
// young collection's cost follows survivors and remembered slots, not the old generation's
// size; the same young work is done for 256 MiB, 1 GiB and 4 GiB of old data.
void BM_YoungGC(benchmark::State& state) {
  const size_t old_bytes = static_cast<size_t>(state.range(0)) * kMiB;
  constexpr size_t kHolderSlots = 4096;
  constexpr size_t kGarbageBytes = 32 * kMiB;
  uffdgc_heap_options o = base_options();
  o.mode = static_cast<uint32_t>(state.range(1));
  o.flags |= UFFDGC_HEAP_GENERATIONAL;
  o.heap_limit = old_bytes + old_bytes / 16 + 320 * kMiB;
  o.trigger_allocated = SIZE_MAX;
  o.trigger_occupancy_pct = 100;
  Session s(o);
  Expected e;
  std::array<uffdgc_global*, kChains + 1> roots{};
  uffdgc_ref holder = 0;
  if (!s.ok() || !build_heap(s, old_bytes, 100, 42, &e, &roots) ||
      uffdgc_alloc(s.m, s.array_type, kHolderSlots, UFFDGC_ALLOC_DEFAULT, &holder) != UFFDGC_OK) {
    state.SkipWithError(s.ok() ? "no holder" : s.error().c_str());
    return;
  }
  uffdgc_global* holder_root = s.global(holder);
  if (uffdgc_collect(s.m) != UFFDGC_OK || s.stats().generational == 0) {
    state.SkipWithError("the full collection failed or generations are not in effect");
    return;
  }
  // A concurrent cycle has ended when its duration is in the statistics.
  auto wait_for_cycle_end = [&](uint64_t cycle_ns_before) {
    while (o.mode != UFFDGC_MODE_STW && s.stats().cycle_ns_last == cycle_ns_before) {
      uffdgc_poll(s.m);
      std::this_thread::yield();
    }
  };
  wait_for_cycle_end(0);
  double young_ms = 0, cpu_ms = 0, pause_ms = 0, flip_ms = 0, slots = 0, pages = 0,
         promoted_kib = 0, mark_ms = 0, reclaim_ms = 0, compact_ms = 0, free_pages = 0,
         mark_start_ms = 0;
  uint64_t next_id = 1ull << 40;
  for (auto _ : state) {
    holder = uffdgc_global_get(holder_root);
    const uint64_t first_id = next_id;
    for (size_t i = 0; i < kHolderSlots; ++i) {
      for (size_t g = 0; g < kGarbageBytes / kHolderSlots / kNodeSize; ++g) {
        uffdgc_ref garbage = 0;
        uffdgc_alloc_fast(s.m, s.node_type, kNodeSize, &garbage);
      }
      uffdgc_ref n = 0;
      if (uffdgc_alloc_fast(s.m, s.node_type, kNodeSize, &n) != UFFDGC_OK) {
        state.SkipWithError("young allocation failed");
        return;
      }
      wr(n, kId, next_id++);
      uffdgc_store_ref(s.m, holder, slot_at(holder, kArrElems + 8 * i), n);
    }
    const uffdgc_heap_stats before = s.stats();
    const uint64_t t0 = now_ns();
    const uffdgc_result r = uffdgc_collect_young(s.m);
    if (r == UFFDGC_OK) wait_for_cycle_end(before.cycle_ns_last);
    const uint64_t t1 = now_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
    const uffdgc_heap_stats st = s.stats();
    if (r != UFFDGC_OK || st.last_cycle_young == 0) {
      state.SkipWithError("the collection failed or was not young");
      return;
    }
    holder = uffdgc_global_get(holder_root);
    for (size_t i = 0; i < kHolderSlots; ++i) {
      const uffdgc_ref n = rd(holder, kArrElems + 8 * i);
      if (n == 0 || rd(n, kId) != first_id + i) {
        state.SkipWithError("a holder slot does not reach the node stored last");
        return;
      }
    }
    young_ms += static_cast<double>(t1 - t0) * 1e-6;
    cpu_ms += static_cast<double>(st.gc_cpu_ns_total - before.gc_cpu_ns_total) * 1e-6;
    pause_ms += static_cast<double>(st.pause_ns_total - before.pause_ns_total) * 1e-6;
    flip_ms += static_cast<double>(st.pause_flip_ns_last) * 1e-6;
    mark_start_ms += static_cast<double>(st.pause_mark_start_ns_last) * 1e-6;
    mark_ms += static_cast<double>(st.gc_cpu_ns_mark - before.gc_cpu_ns_mark) * 1e-6;
    reclaim_ms += static_cast<double>(st.gc_cpu_ns_reclaim - before.gc_cpu_ns_reclaim) * 1e-6;
    compact_ms += static_cast<double>(st.gc_cpu_ns_compact - before.gc_cpu_ns_compact) * 1e-6;
    free_pages += static_cast<double>(st.free_pages_prefilled - before.free_pages_prefilled +
                                      st.free_pages_by_mutators - before.free_pages_by_mutators);
    slots += static_cast<double>(st.remembered_slots_last);
    pages += static_cast<double>(st.remembered_pages_last);
    promoted_kib += static_cast<double>(st.promoted_bytes - before.promoted_bytes) / 1024;
  }
  if (const std::string bad = verify_heap(s, e, roots); !bad.empty()) {
    state.SkipWithError(("the old data after the young collections: " + bad).c_str());
    return;
  }
  const auto avg = benchmark::Counter::kAvgIterations;
  state.counters["young_ms"] = benchmark::Counter(young_ms, avg);
  state.counters["gc_cpu_ms"] = benchmark::Counter(cpu_ms, avg);
  state.counters["pause_ms"] = benchmark::Counter(pause_ms, avg);
  state.counters["flip_ms"] = benchmark::Counter(flip_ms, avg);
  state.counters["mark_start_ms"] = benchmark::Counter(mark_start_ms, avg);
  state.counters["mark_cpu_ms"] = benchmark::Counter(mark_ms, avg);
  state.counters["reclaim_cpu_ms"] = benchmark::Counter(reclaim_ms, avg);
  state.counters["compact_cpu_ms"] = benchmark::Counter(compact_ms, avg);
  state.counters["free_pages"] = benchmark::Counter(free_pages, avg);
  state.counters["remembered_slots"] = benchmark::Counter(slots, avg);
  state.counters["remembered_pages"] = benchmark::Counter(pages, avg);
  state.counters["promoted_KiB"] = benchmark::Counter(promoted_kib, avg);
  state.counters["old_MiB"] = static_cast<double>(s.stats().old_bytes) / kMiB;
}
BENCHMARK(BM_YoungGC)->ArgNames({"old_MiB", "mode"})
    ->ArgsProduct({{256, 1024, 4096}, {UFFDGC_MODE_STW, UFFDGC_MODE_MOVE}})
    ->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10)->Repetitions(1);

}  // namespace

BENCHMARK_MAIN();
