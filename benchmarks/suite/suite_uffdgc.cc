// uffdgc-suite-uffdgc: the workloads (CONTRACT.md section 4) on uffdgc's public C ABI
// (uffdgc.h, inline.h), in the mode given by --mode (move, copy, stw, auto).
//
// How it embeds uffdgc, as a runtime would: objects are described by data (four types), every
// reference store goes through uffdgc_store_ref (the barrier), allocation is uffdgc_alloc_fast
// for fixed-size types and uffdgc_alloc for arrays and blobs, each thread polls once per
// allocation. References that must survive an allocation (a safepoint) live in a per-thread
// shadow stack that the heap scans through the embedder's scan_roots callback (the collector
// updates the slots when it moves objects); the churn table is a global root. The latency
// probe is an attached thread that parks around its sleep, so a pause delays its wake-up as a
// safepoint delays a Java thread's.
//
// Besides the contract's fields it prints: `pauses` (every pause of the measured phase with its
// kind = the first PHASE event after PAUSE_BEGIN), `cycles` (per collection, the stats the
// collector keeps about its last cycle as a monitor thread last saw them -- every 2 ms -- before
// the next cycle began: a cycle followed within 2 ms by the next may show partial values there,
// never in `pauses`), and `gc` (the final uffdgc_heap_stats, every field, zeros included).
#include <pthread.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace {

using suite::now_ns;

// ---- object model (CONTRACT.md section 3) ----
constexpr uint32_t kNodeSize = 32;   // header, left/next, right/other, value (GCBench: i, j)
constexpr uint32_t kTNodeSize = 24;  // header, left, right
constexpr size_t kLeft = 8, kRight = 16, kValue = 24;
constexpr size_t kLength = 8, kElems = 16;  // RefArray and Blob: header, length, data

uffdgc_heap* g_heap = nullptr;
uint32_t g_node_t = 0, g_tnode_t = 0, g_array_t = 0, g_blob_t = 0;

[[noreturn]] void fail(const char* what, uffdgc_result rc) {
  std::fprintf(stderr, "uffdgc-suite-uffdgc: %s: %s\n", what, uffdgc_result_name(rc));
  suite::Json j;
  j.field_bool("ok", false).field("error", std::string(what) + ": " + uffdgc_result_name(rc));
  suite::emit(j);
  std::_Exit(3);
}

inline uffdgc_ref* slot(uffdgc_ref obj, size_t off) { return reinterpret_cast<uffdgc_ref*>(obj + off); }
inline uffdgc_ref* elems(uffdgc_ref arr) { return slot(arr, kElems); }
inline int64_t get_i64(uffdgc_ref obj, size_t off) {
  int64_t v;
  std::memcpy(&v, reinterpret_cast<const void*>(obj + off), sizeof v);
  return v;
}
inline void set_i64(uffdgc_ref obj, size_t off, int64_t v) {
  std::memcpy(reinterpret_cast<void*>(obj + off), &v, sizeof v);
}

// ---- shadow stacks, scanned by scan_roots with the world stopped ----
struct RootStack {
  std::vector<uffdgc_ref> slots = std::vector<uffdgc_ref>(1 << 16);
  size_t top = 0;
};
constexpr int kMaxStacks = 80;
RootStack* g_stacks[kMaxStacks];
std::atomic<int> g_nstacks{0};

std::mutex g_stacks_lock;

// Before the thread attaches. The slot is filled before the count that publishes it grows, so
// a concurrent scan_roots (another thread's collection) never sees an empty slot.
RootStack* new_root_stack() {
  auto* s = new RootStack();
  std::lock_guard<std::mutex> g(g_stacks_lock);
  const int i = g_nstacks.load(std::memory_order_relaxed);
  if (i >= kMaxStacks) fail("too many threads", UFFDGC_ELIMIT);
  g_stacks[i] = s;
  g_nstacks.store(i + 1, std::memory_order_release);
  return s;
}

void scan_roots(uffdgc_root_visitor* v, void*) {
  const int n = g_nstacks.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    RootStack* s = g_stacks[i];
    for (size_t k = 0; k < s->top; ++k) {
      if (s->slots[k] != 0) uffdgc_root_visit(v, &s->slots[k]);
    }
  }
}

// A mutator thread's context.
struct Ctx {
  uffdgc_mutator* m = nullptr;
  RootStack* rs = nullptr;
  size_t push(uffdgc_ref r) {
    if (rs->top == rs->slots.size()) fail("shadow stack overflow", UFFDGC_EOVERFLOW);
    rs->slots[rs->top] = r;
    return rs->top++;
  }
  uffdgc_ref& at(size_t i) { return rs->slots[i]; }
  void pop_to(size_t base) { rs->top = base; }
  uffdgc_ref alloc_fixed(uint32_t type, uint32_t bytes) {
    uffdgc_poll(m);
    uffdgc_ref r;
    const uffdgc_result rc = uffdgc_alloc_fast(m, type, bytes, &r);
    if (UFFDGC_UNLIKELY(rc != UFFDGC_OK)) fail("allocation", rc);
    return r;
  }
  uffdgc_ref alloc_var(uint32_t type, uint64_t length) {
    uffdgc_poll(m);
    uffdgc_ref r;
    const uffdgc_result rc = uffdgc_alloc(m, type, length, UFFDGC_ALLOC_DEFAULT, &r);
    if (UFFDGC_UNLIKELY(rc != UFFDGC_OK)) fail("allocation", rc);
    return r;
  }
  void store(uffdgc_ref holder, size_t off, uffdgc_ref v) {
    uffdgc_store_ref(m, holder, slot(holder, off), v);
  }
};

Ctx attach_thread() {
  Ctx c;
  c.rs = new_root_stack();
  if (const uffdgc_result rc = uffdgc_mutator_attach(g_heap, nullptr, &c.m); rc != UFFDGC_OK) {
    fail("uffdgc_mutator_attach", rc);
  }
  return c;
}
void detach_thread(Ctx& c) {
  c.rs->top = 0;
  if (const uffdgc_result rc = uffdgc_mutator_detach(c.m); rc != UFFDGC_OK) {
    fail("uffdgc_mutator_detach", rc);
  }
}

// ---- pauses and cycles from the event listener ----
const char* const kKinds[] = {"mark-start", "mark-end", "flip", "mark", "weak", "plan",
                              "compact",    "update",   "verify"};
const char* intern_kind(const char* p) {
  if (p == nullptr) return "unknown";
  for (const char* k : kKinds) {
    if (std::strcmp(k, p) == 0) return k;
  }
  return "unknown";
}

struct Cycle {
  uint64_t cycle, begin_ns, end_ns, bytes_before, bytes_after;
};

struct Events {
  std::mutex lock;
  std::vector<suite::Pause> pauses;
  std::vector<Cycle> cycles;
  uint64_t cur_begin = 0, cur_cycle = UINT64_MAX, cycle_begin = 0;
  const char* cur_kind = nullptr;
  size_t dropped = 0;
} g_events;

void on_event(const uffdgc_event* e, void*) {
  std::lock_guard<std::mutex> g(g_events.lock);
  Events& ev = g_events;
  switch (e->kind) {
    case UFFDGC_EVENT_PAUSE_BEGIN:
      ev.cur_begin = e->time_ns;
      ev.cur_kind = nullptr;
      if (e->cycle != ev.cur_cycle) {
        ev.cur_cycle = e->cycle;
        ev.cycle_begin = e->time_ns;
      }
      break;
    case UFFDGC_EVENT_PHASE:
      if (ev.cur_kind == nullptr) ev.cur_kind = intern_kind(e->phase);
      break;
    case UFFDGC_EVENT_PAUSE_END:
      if (ev.pauses.size() < ev.pauses.capacity()) {
        ev.pauses.push_back(suite::Pause{ev.cur_kind != nullptr ? ev.cur_kind : "unknown",
                                         ev.cur_begin, e->pause_ns});
      } else {
        ++ev.dropped;
      }
      break;
    case UFFDGC_EVENT_CYCLE_END:
      if (ev.cycles.size() < ev.cycles.capacity()) {
        ev.cycles.push_back(Cycle{e->cycle, e->cycle == ev.cur_cycle ? ev.cycle_begin : 0,
                                  e->time_ns, e->bytes_before, e->bytes_after});
      }
      break;
    default:
      break;
  }
}

// ---- per-cycle statistics sampled by a monitor thread ----
uffdgc_heap_stats get_stats();
// The heap's statistics when the measured phase began (churn: after the build).
uffdgc_heap_stats g_stats_at_measured_start{};

uffdgc_heap_stats get_stats() {
  uffdgc_heap_stats s;
  std::memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  if (const uffdgc_result rc = uffdgc_heap_get_stats(g_heap, &s); rc != UFFDGC_OK) {
    fail("uffdgc_heap_get_stats", rc);
  }
  return s;
}

// Entries into the SIGBUS path that produced or waited for a page: each records one stall.
uint64_t sigbus_entries(const uffdgc_heap_stats& s) {
  uint64_t n = 0;
  for (const uint64_t c : s.stalls_log2_us) n += c;
  return n;
}

struct Monitor {
  std::vector<uffdgc_heap_stats> per_cycle;
  std::atomic<bool> stop{false};
  std::thread th;
  void start() {
    per_cycle.reserve(1 << 16);
    th = std::thread([this] {
      uint64_t seen = 0;
      while (!stop.load(std::memory_order_acquire)) {
        // The heap's "last cycle" fields are final only once the cycle's compaction ended:
        // keep the newest sample per collection count (overwritten until the next cycle starts).
        const uffdgc_heap_stats s = get_stats();
        if (s.collections != 0) {
          if (s.collections != seen && per_cycle.size() < per_cycle.capacity()) {
            per_cycle.push_back(s);
          } else if (!per_cycle.empty() && s.collections == seen) {
            per_cycle.back() = s;
          }
          seen = s.collections;
        }
        timespec ts{0, 2000000};
        nanosleep(&ts, nullptr);
      }
    });
  }
  void finish() {
    stop.store(true, std::memory_order_release);
    th.join();
  }
};

std::string stats_json(const uffdgc_heap_stats& s) {
  suite::Json j;
  j.field("mode", uffdgc_mode_name(s.mode))
      .field("collections", s.collections)
      .field("generational", static_cast<uint64_t>(s.generational))
      .field("young_collections", s.young_collections)
      .field("young_promoted_in_place", s.young_promoted_in_place)
      .field("promoted_bytes", s.promoted_bytes)
      .field("old_bytes", s.old_bytes)
      .field("remembered_handovers", s.remembered_handovers)
      .field("pauses", s.pauses)
      .field("pause_ns_total", s.pause_ns_total)
      .field("pause_ns_max", s.pause_ns_max)
      .field("time_to_safepoint_ns_max", s.time_to_safepoint_ns_max)
      .field("bytes_allocated", s.bytes_allocated)
      .field("moving_bytes_used", s.moving_bytes_used)
      .field("nonmoving_bytes", s.nonmoving_bytes)
      .field("large_bytes", s.large_bytes)
      .field("live_bytes_last", s.live_bytes_last)
      .field("pages_compacted_last", s.pages_compacted_last)
      .field("flip_ns_last", s.flip_ns_last)
      .field("compaction_ns_last", s.compaction_ns_last)
      .field("pages_moved", s.pages_moved)
      .field("pages_copied", s.pages_copied)
      .field("pages_copied_on_ebusy", s.pages_copied_on_ebusy)
      .field("pages_by_mutators", s.pages_by_mutators)
      .field("pause_mark_start_ns_last", s.pause_mark_start_ns_last)
      .field("pause_mark_end_ns_last", s.pause_mark_end_ns_last)
      .field("pause_flip_ns_last", s.pause_flip_ns_last)
      .field("mark_end_rounds_last", s.mark_end_rounds_last)
      .field("cycle_ns_last", s.cycle_ns_last)
      .field("gc_cpu_ns_total", s.gc_cpu_ns_total)
      .field("rss_before_last", s.rss_before_last)
      .field("rss_peak_last", s.rss_peak_last)
      .field("rss_after_last", s.rss_after_last)
      .field("pages_recycled", s.pages_recycled)
      .field("pages_eexist", s.pages_eexist)
      .field("install_eagain_retries", s.install_eagain_retries)
      .field("install_partial", s.install_partial)
      .field("prefetch_pages", s.prefetch_pages)
      .field("prefetch_paused", s.prefetch_paused)
      .field("pause_major_faults", s.pause_major_faults)
      .field("free_pages_prefilled", s.free_pages_prefilled)
      .field("free_pages_recycled", s.free_pages_recycled)
      .field("free_pages_by_mutators", s.free_pages_by_mutators)
      .field("install_ioctls", s.install_ioctls)
      .field("gc_minor_faults", s.gc_minor_faults)
      .field("gc_cpu_ns_mark", s.gc_cpu_ns_mark)
      .field("gc_cpu_ns_reclaim", s.gc_cpu_ns_reclaim)
      .field("gc_cpu_ns_compact", s.gc_cpu_ns_compact)
      .field("gc_cpu_ns_free_fill", s.gc_cpu_ns_free_fill)
      .field("alloc_stalls", s.alloc_stalls)
      .field("alloc_stall_ns", s.alloc_stall_ns)
      .field("gc_cpu_ns_kernel", s.gc_cpu_ns_kernel)
      .field("alloc_paced", s.alloc_paced)
      .field("alloc_paced_ns", s.alloc_paced_ns)
      .field("pages_by_assists", s.pages_by_assists)
      .field("folio_frames_moved_whole", s.folio_frames_moved_whole)
      .field("folio_frames_moved_partly", s.folio_frames_moved_partly);
  std::string h = "[";
  for (size_t i = 0; i < 24; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%" PRIu64, i != 0 ? "," : "", s.stalls_log2_us[i]);
    h += buf;
  }
  j.raw("stalls_log2_us", h + "]");
  return j.str();
}

// ---- 4.1 GCBench ----
void populate(Ctx& c, int depth, size_t node) {
  if (depth <= 0) return;
  --depth;
  uffdgc_ref l = c.alloc_fixed(g_node_t, kNodeSize);
  c.store(c.at(node), kLeft, l);
  uffdgc_ref r = c.alloc_fixed(g_node_t, kNodeSize);
  c.store(c.at(node), kRight, r);
  size_t s = c.push(uffdgc_load_ref(slot(c.at(node), kLeft)));
  populate(c, depth, s);
  c.pop_to(s);
  s = c.push(uffdgc_load_ref(slot(c.at(node), kRight)));
  populate(c, depth, s);
  c.pop_to(s);
}

uffdgc_ref make_tree(Ctx& c, int depth) {
  if (depth <= 0) return c.alloc_fixed(g_node_t, kNodeSize);
  const size_t base = c.push(make_tree(c, depth - 1));
  c.push(make_tree(c, depth - 1));
  uffdgc_ref n = c.alloc_fixed(g_node_t, kNodeSize);
  c.store(n, kLeft, c.at(base));
  c.store(n, kRight, c.at(base + 1));
  c.pop_to(base);
  return n;
}

uint64_t count_tree(uffdgc_ref n) {  // no safepoint inside
  if (n == 0) return 0;
  return 1 + count_tree(uffdgc_load_ref(slot(n, kLeft))) + count_tree(uffdgc_load_ref(slot(n, kRight)));
}

void gcbench(Ctx& c, const suite::Options& o, suite::Result& r) {
  const int max_d = o.depth, stretch_d = o.depth + 2, long_d = o.depth;
  constexpr int kArraySize = 500000;
  auto timed = [&](auto&& build) {
    const uint64_t t = now_ns();
    uffdgc_ref tree = build();
    r.op_latency.add(now_ns() - t);
    ++r.ops;
    return tree;
  };
  const uint64_t t0 = now_ns();
  const size_t base = c.push(0);
  c.at(base) = timed([&] { return make_tree(c, stretch_d); });
  if (count_tree(c.at(base)) != suite::tree_size(stretch_d)) ++r.check_failures;
  c.at(base) = 0;
  const size_t long_lived = c.push(0);
  c.at(long_lived) = timed([&] {
    const size_t s = c.push(c.alloc_fixed(g_node_t, kNodeSize));
    populate(c, long_d, s);
    const uffdgc_ref n = c.at(s);
    c.pop_to(s);
    return n;
  });
  const size_t array = c.push(c.alloc_var(g_blob_t, sizeof(double) * kArraySize));
  {
    auto* a = reinterpret_cast<double*>(c.at(array) + kElems);
    for (int i = 0; i < kArraySize; ++i) a[i] = 1.0 / i;
  }
  for (int d = 4; d <= max_d; d += 2) {
    const uint64_t iters = 2 * suite::tree_size(stretch_d) / suite::tree_size(d);
    for (uint64_t i = 0; i < iters; ++i) {
      timed([&] {
        const size_t s = c.push(c.alloc_fixed(g_node_t, kNodeSize));
        populate(c, d, s);
        const uffdgc_ref n = c.at(s);
        c.pop_to(s);
        return n;
      });
    }
    for (uint64_t i = 0; i < iters; ++i) timed([&] { return make_tree(c, d); });
  }
  const double* a = reinterpret_cast<const double*>(c.at(array) + kElems);
  if (count_tree(c.at(long_lived)) != suite::tree_size(long_d) || a[1000] != 1.0 / 1000) {
    ++r.check_failures;
  }
  c.pop_to(base);
  r.wall_s = static_cast<double>(now_ns() - t0) * 1e-9;
  r.live_mib = static_cast<double>(suite::tree_size(long_d) * 32 + kArraySize * 8) / 1048576.0;
}

// ---- 4.2 binary-trees ----
uffdgc_ref bottom_up(Ctx& c, int depth) {
  if (depth <= 0) return c.alloc_fixed(g_tnode_t, kTNodeSize);
  const size_t base = c.push(bottom_up(c, depth - 1));
  c.push(bottom_up(c, depth - 1));
  uffdgc_ref n = c.alloc_fixed(g_tnode_t, kTNodeSize);
  c.store(n, kLeft, c.at(base));
  c.store(n, kRight, c.at(base + 1));
  c.pop_to(base);
  return n;
}

uint64_t item_check(uffdgc_ref n) {  // no safepoint inside
  const uffdgc_ref l = uffdgc_load_ref(slot(n, kLeft));
  if (l == 0) return 1;
  return 1 + item_check(l) + item_check(uffdgc_load_ref(slot(n, kRight)));
}

void binary_trees(Ctx& c, const suite::Options& o, suite::Result& r) {
  const int n = o.depth;
  const uint64_t t0 = now_ns();
  const size_t base = c.push(0);
  auto one = [&](int d) {
    const uint64_t t = now_ns();
    const uffdgc_ref tree = bottom_up(c, d);
    const uint64_t k = item_check(tree);
    r.op_latency.add(now_ns() - t);
    ++r.ops;
    if (k != suite::tree_size(d)) ++r.check_failures;
    return tree;
  };
  one(n + 1);
  c.at(base) = one(n);  // long-lived
  for (int d = 4; d <= n; d += 2) {
    const uint64_t iters = uint64_t{1} << (n - d + 4);
    for (uint64_t i = 0; i < iters; ++i) one(d);
  }
  if (item_check(c.at(base)) != suite::tree_size(n)) ++r.check_failures;
  c.pop_to(base);
  r.wall_s = static_cast<double>(now_ns() - t0) * 1e-9;
  r.live_mib = static_cast<double>(suite::tree_size(n) * 24) / 1048576.0;
}

// ---- 4.3 churn ----
uffdgc_ref build_unit(Ctx& c, suite::Rng& rng) {
  suite::UnitShape s;
  suite::draw_unit(rng, &s);
  const size_t root = c.push(c.alloc_var(g_array_t, suite::kChains + 1));
  const size_t blob = c.push(c.alloc_var(g_blob_t, s.blob_len));
  set_i64(c.at(blob), kElems, s.sum);
  c.store(c.at(root), kElems + 8 * suite::kChains, c.at(blob));
  const size_t head = c.push(0);
  int v = 0;
  for (int ch = 0; ch < suite::kChains; ++ch) {
    const int first = v;
    v += s.chain_len[ch];
    c.at(head) = 0;
    for (int k = s.chain_len[ch] - 1; k >= 0; --k) {
      const uffdgc_ref n = c.alloc_fixed(g_node_t, kNodeSize);
      set_i64(n, kValue, s.values[first + k]);
      c.store(n, kLeft, c.at(head));
      c.store(n, kRight, (k & 1) == 0 ? c.at(root) : c.at(blob));
      c.at(head) = n;
    }
    c.store(c.at(root), kElems + 8 * static_cast<size_t>(ch), c.at(head));
  }
  const uffdgc_ref u = c.at(root);
  c.pop_to(root);
  return u;
}

bool check_unit(uffdgc_ref u) {  // no safepoint inside
  if (u == 0) return false;
  int64_t sum = 0;
  for (int ch = 0; ch < suite::kChains; ++ch) {
    for (uffdgc_ref n = uffdgc_load_ref(&elems(u)[ch]); n != 0; n = uffdgc_load_ref(slot(n, kLeft))) {
      sum += get_i64(n, kValue);
    }
  }
  const uffdgc_ref b = uffdgc_load_ref(&elems(u)[suite::kChains]);
  return b != 0 && get_i64(b, kElems) == sum;
}

struct ChurnOut {
  uint64_t mutations = 0;
  double mutations_per_s = 0;
  uint64_t t0 = 0, t1 = 0;
};

void churn(Ctx& main_ctx, const suite::Options& o, suite::Result& r, suite::Probe& probe,
           ChurnOut& out) {
  const uint64_t units = suite::churn_units(o.live_mib);
  const uint64_t hot = suite::churn_hot(units, o.replace_fraction, o.threads);
  const uint64_t b0 = now_ns();
  uffdgc_global* table = nullptr;
  {
    Ctx& c = main_ctx;
    const uffdgc_ref t = c.alloc_var(g_array_t, units);
    if (const uffdgc_result rc = uffdgc_global_create(g_heap, t, &table); rc != UFFDGC_OK) {
      fail("uffdgc_global_create", rc);
    }
    suite::Rng rng(o.seed);
    for (uint64_t i = 0; i < units; ++i) {
      const uffdgc_ref u = build_unit(c, rng);
      const uffdgc_ref tt = uffdgc_global_get(table);
      uffdgc_store_ref(c.m, tt, &elems(tt)[i], u);
    }
  }
  r.build_s = static_cast<double>(now_ns() - b0) * 1e-9;
  r.live_mib = o.live_mib;
  r.minflt_at_measured_start = suite::minor_faults_now();
  g_stats_at_measured_start = get_stats();

  struct Worker {
    suite::Hist hist;
    uint64_t ops = 0, bad = 0;
  };
  std::vector<Worker> workers(static_cast<size_t>(o.threads));
  const uint64_t t0 = now_ns();
  out.t0 = t0;
  suite::Budget budget(o.ops, o.seconds, t0);
  probe.set_measuring(true);
  auto work = [&](int t, Ctx* given) {
    Ctx c = given != nullptr ? *given : attach_thread();
    Worker& w = workers[static_cast<size_t>(t)];
    suite::Rng rng(suite::thread_seed(o.seed, t));
    while (budget.claim()) {
      const uint64_t s = now_ns();
      const uint64_t i = suite::churn_pick(rng, hot, o.threads, t);
      {
        const uffdgc_ref tt = uffdgc_global_get(table);
        if (!check_unit(uffdgc_load_ref(&elems(tt)[i]))) ++w.bad;
      }
      const uffdgc_ref u = build_unit(c, rng);
      const uffdgc_ref tt = uffdgc_global_get(table);
      uffdgc_store_ref(c.m, tt, &elems(tt)[i], u);
      uffdgc_poll(c.m);
      const uint64_t e = now_ns();
      w.hist.add(e - s);
      ++w.ops;
      if ((w.ops & 63) == 0) budget.check_time(e);
    }
    if (given == nullptr) detach_thread(c);
  };
  // The reference mutator of the issue-4 pause series: swaps two chain heads inside one cold
  // unit (never one a worker reads), through the barrier; the checksum stays valid.
  std::atomic<uint64_t> mutations{0};
  std::thread mutator;
  if (o.mutate_rate != 0 && hot >= units) {
    fail("--mutate-rate needs cold units: --replace-fraction must be < 1", UFFDGC_EINVAL);
  }
  if (o.mutate_rate != 0) {
    mutator = std::thread([&] {
      Ctx c = attach_thread();
      suite::Rng rng(suite::thread_seed(o.seed, 999));
      const uint64_t lo = hot, span = units - lo;
      const uint64_t start = now_ns();
      uint64_t n = 0;
      while (!budget.over()) {
        const uffdgc_ref tt = uffdgc_global_get(table);
        const uffdgc_ref u = uffdgc_load_ref(&elems(tt)[lo + rng() % span]);
        const size_t a = rng() % suite::kChains, b = (a + 1 + rng() % (suite::kChains - 1)) % suite::kChains;
        const uffdgc_ref x = uffdgc_load_ref(&elems(u)[a]), y = uffdgc_load_ref(&elems(u)[b]);
        uffdgc_store_ref(c.m, u, &elems(u)[a], y);
        uffdgc_store_ref(c.m, u, &elems(u)[b], x);
        ++n;
        uffdgc_poll(c.m);
        if (o.mutate_rate > 0 && (n & 255) == 0) {
          const uint64_t due = start + static_cast<uint64_t>(static_cast<double>(n) / o.mutate_rate * 1e9);
          const uint64_t now = now_ns();
          if (due > now) {
            uffdgc_mutator_park(c.m);
            timespec ts{static_cast<time_t>((due - now) / 1000000000ull),
                        static_cast<long>((due - now) % 1000000000ull)};
            nanosleep(&ts, nullptr);
            uffdgc_mutator_unpark(c.m);
          }
        }
      }
      mutations.store(n);
      detach_thread(c);
    });
  }
  std::vector<std::thread> threads;
  for (int t = 1; t < o.threads; ++t) threads.emplace_back(work, t, nullptr);
  work(0, &main_ctx);
  // Parked while it waits: the others' collections must not wait for this thread.
  uffdgc_mutator_park(main_ctx.m);
  for (auto& th : threads) th.join();
  const uint64_t t1 = now_ns();
  if (mutator.joinable()) mutator.join();
  uffdgc_mutator_unpark(main_ctx.m);
  out.t1 = t1;
  r.wall_s = static_cast<double>(t1 - t0) * 1e-9;
  probe.set_measuring(false);
  for (const Worker& w : workers) {
    r.op_latency.merge(w.hist);
    r.ops += w.ops;
    r.check_failures += w.bad;
  }
  r.completed = o.ops == 0 || r.ops >= o.ops;
  out.mutations = mutations.load();
  out.mutations_per_s = r.wall_s > 0 ? static_cast<double>(out.mutations) / r.wall_s : 0;
  // A final check of every unit, hot and cold (untimed).
  const uffdgc_ref tt = uffdgc_global_get(table);
  for (uint64_t i = 0; i < units; ++i) {
    if (!check_unit(uffdgc_load_ref(&elems(tt)[i]))) ++r.check_failures;
  }
  uffdgc_global_destroy(g_heap, table);
}

uint32_t register_type(const uffdgc_type_info& info) {
  uint32_t idx = 0;
  if (const uffdgc_result rc = uffdgc_type_register(g_heap, &info, &idx); rc != UFFDGC_OK) {
    fail("uffdgc_type_register", rc);
  }
  return idx;
}

}  // namespace

int main(int argc, char** argv) {
  const suite::Options o =
      suite::parse_options(argc, argv, {"--mode", "--gc-threads", "--mutate-rate", "--generations"});
  uffdgc_heap_options ho;
  std::memset(&ho, 0, sizeof ho);
  ho.struct_size = sizeof ho;
  if (o.mode == "move") ho.mode = UFFDGC_MODE_MOVE;
  else if (o.mode == "copy") ho.mode = UFFDGC_MODE_COPY;
  else if (o.mode == "stw") ho.mode = UFFDGC_MODE_STW;
  else if (o.mode == "auto") ho.mode = UFFDGC_MODE_AUTO;
  else {
    std::fprintf(stderr, "uffdgc-suite-uffdgc: --mode move|copy|stw|auto\n");
    return 2;
  }
  ho.gc_threads = static_cast<uint32_t>(o.gc_threads);
  ho.heap_limit = static_cast<size_t>(o.heap_mib * 1048576.0);
  if (o.verify) ho.flags |= UFFDGC_HEAP_VERIFY;
  if (o.generations) ho.flags |= UFFDGC_HEAP_GENERATIONAL;
  // The churn table (a large reference array) moves with the heap rather than costing the flip
  // pause a rewrite of each of its slots (benchmarks/README.md, "What runs").
  ho.flags |= UFFDGC_HEAP_MOVE_LARGE_REFERENCE_OBJECTS;
  uffdgc_embedder emb;
  std::memset(&emb, 0, sizeof emb);
  emb.struct_size = sizeof emb;
  emb.scan_roots = scan_roots;
  ho.embedder = &emb;
  if (const uffdgc_result rc = uffdgc_heap_create(&ho, &g_heap); rc != UFFDGC_OK) {
    fail((std::string("uffdgc_heap_create (mode ") + o.mode + ")").c_str(), rc);
  }
  g_events.pauses.reserve(1 << 20);
  g_events.cycles.reserve(1 << 18);
  if (const uffdgc_result rc = uffdgc_set_event_listener(g_heap, on_event, nullptr); rc != UFFDGC_OK) {
    fail("uffdgc_set_event_listener", rc);
  }

  static const uint32_t kTwoRefs[] = {kLeft, kRight};
  uffdgc_type_info node{};
  node.struct_size = sizeof node;
  node.base_size = kNodeSize;
  node.num_ref_offsets = 2;
  node.ref_offsets = kTwoRefs;
  node.name = "suite.node";
  g_node_t = register_type(node);
  uffdgc_type_info tnode = node;
  tnode.base_size = kTNodeSize;
  tnode.name = "suite.tnode";
  g_tnode_t = register_type(tnode);
  uffdgc_type_info arr{};
  arr.struct_size = sizeof arr;
  arr.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
  arr.base_size = kElems;
  arr.elem_size = 8;
  arr.length_offset = kLength;
  arr.name = "suite.refarray";
  g_array_t = register_type(arr);
  uffdgc_type_info blob{};
  blob.struct_size = sizeof blob;
  blob.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_LEAF;
  blob.base_size = kElems;
  blob.elem_size = 1;
  blob.length_offset = kLength;
  blob.name = "suite.blob";
  g_blob_t = register_type(blob);

  const uffdgc_heap_stats s0 = get_stats();
  suite::Result r;
  r.collector = std::string("uffdgc-") + (s0.mode == UFFDGC_MODE_STW ? "stw" : uffdgc_mode_name(s0.mode)) +
                (s0.generational != 0 ? "-gen" : "");

  // The probe: attached, parked while it sleeps.
  thread_local uffdgc_mutator* probe_m = nullptr;
  suite::ProbeHooks hooks;
  hooks.thread_start = [] {
    if (const uffdgc_result rc = uffdgc_mutator_attach(g_heap, nullptr, &probe_m); rc != UFFDGC_OK) {
      fail("probe attach", rc);
    }
  };
  hooks.before_sleep = [] { uffdgc_mutator_park(probe_m); };
  hooks.after_sleep = [] { uffdgc_mutator_unpark(probe_m); };
  hooks.thread_end = [] { uffdgc_mutator_detach(probe_m); };
  suite::Probe probe(hooks);
  probe.start();
  Monitor monitor;
  monitor.start();

  Ctx main_ctx = attach_thread();
  ChurnOut co;
  uint64_t t0 = now_ns(), t1 = 0;
  r.minflt_at_measured_start = suite::minor_faults_now();  // churn sets it again after its build
  g_stats_at_measured_start = get_stats();
  if (o.workload == "gcbench") {
    probe.set_measuring(true);
    gcbench(main_ctx, o, r);
    t1 = now_ns();
  } else if (o.workload == "binary-trees") {
    probe.set_measuring(true);
    binary_trees(main_ctx, o, r);
    t1 = now_ns();
  } else {
    churn(main_ctx, o, r, probe, co);
    t0 = co.t0;
    t1 = co.t1;
  }
  probe.set_measuring(false);
  r.minflt_measured = suite::minor_faults_now() - r.minflt_at_measured_start;
  const uffdgc_heap_stats at_end = get_stats();
  detach_thread(main_ctx);
  probe.stop();
  monitor.finish();
  r.probe_late = probe.hist();
  const uffdgc_heap_stats st = get_stats();

  suite::Json j = suite::result_json(o, r);
  j.field("requested_mode", o.mode).field("gc_threads", o.gc_threads);
  // The measured phase's share of the collector's own faults and of the allocation, so that
  // the mutators' faults per MiB allocated can be told apart from the collector's.
  j.field("gc_minflt_measured", at_end.gc_minor_faults - g_stats_at_measured_start.gc_minor_faults)
      .field("bytes_allocated_measured",
             at_end.bytes_allocated - g_stats_at_measured_start.bytes_allocated);
  {
    std::lock_guard<std::mutex> g(g_events.lock);
    j.raw("pauses", suite::pauses_json(g_events.pauses, t0, t1));
    j.field("pauses_dropped", static_cast<uint64_t>(g_events.dropped));
    std::string cyc = "[";
    bool first = true;
    char buf[256];
    for (const Cycle& c : g_events.cycles) {
      if (c.end_ns < t0 || c.end_ns > t1 + 60000000000ull) continue;
      std::snprintf(buf, sizeof buf, "%s[%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
                    first ? "" : ",", c.cycle,
                    (static_cast<double>(c.end_ns) - static_cast<double>(t0)) * 1e-9,
                    c.begin_ns != 0 ? c.end_ns - c.begin_ns : 0, c.bytes_before, c.bytes_after);
      cyc += buf;
      first = false;
    }
    j.raw("cycle_events", cyc + "]");  // [cycle, end t_s, cycle_ns (first pause to end), before, after]
  }
  {
    std::string cyc = "[";
    bool first = true;
    char buf[1024];
    for (const uffdgc_heap_stats& s : monitor.per_cycle) {
      std::snprintf(buf, sizeof buf,
                    "%s{\"collections\":%" PRIu64 ",\"cycle_ns\":%" PRIu64
                    ",\"mark_start_ns\":%" PRIu64 ",\"mark_end_ns\":%" PRIu64 ",\"flip_ns\":%" PRIu64
                    ",\"mark_end_rounds\":%" PRIu64 ",\"rss_before\":%" PRIu64 ",\"rss_peak\":%" PRIu64
                    ",\"rss_after\":%" PRIu64 ",\"live_bytes\":%" PRIu64 ",\"gc_cpu_ns_total\":%" PRIu64
                    ",\"gc_minor_faults\":%" PRIu64 ",\"install_ioctls\":%" PRIu64
                    ",\"pages_installed\":%" PRIu64 ",\"sigbus_entries\":%" PRIu64
                    ",\"gc_cpu_ns_mark\":%" PRIu64 ",\"gc_cpu_ns_reclaim\":%" PRIu64
                    ",\"gc_cpu_ns_compact\":%" PRIu64 ",\"gc_cpu_ns_free_fill\":%" PRIu64
                    ",\"alloc_stalls\":%" PRIu64 ",\"alloc_stall_ns\":%" PRIu64
                    ",\"alloc_paced\":%" PRIu64 ",\"alloc_paced_ns\":%" PRIu64
                    ",\"young\":%u,\"remembered_slots\":%" PRIu64
                    ",\"remembered_pages\":%" PRIu64 ",\"remembered_scan_ns\":%" PRIu64 "}",
                    first ? "" : ",", s.collections, s.cycle_ns_last, s.pause_mark_start_ns_last,
                    s.pause_mark_end_ns_last, s.pause_flip_ns_last, s.mark_end_rounds_last,
                    s.rss_before_last, s.rss_peak_last, s.rss_after_last, s.live_bytes_last,
                    s.gc_cpu_ns_total, s.gc_minor_faults, s.install_ioctls,
                    s.pages_moved + s.pages_copied, sigbus_entries(s), s.gc_cpu_ns_mark,
                    s.gc_cpu_ns_reclaim, s.gc_cpu_ns_compact, s.gc_cpu_ns_free_fill,
                    s.alloc_stalls, s.alloc_stall_ns, s.alloc_paced, s.alloc_paced_ns,
                    s.last_cycle_young, s.remembered_slots_last, s.remembered_pages_last,
                    s.remembered_scan_ns_last);
      cyc += buf;
      first = false;
    }
    j.raw("cycles", cyc + "]");
  }
  if (o.mutate_rate != 0) {
    j.field("mutate_rate", o.mutate_rate).field("mutations", co.mutations)
        .field("mutations_per_s", co.mutations_per_s);
  }
  j.raw("gc", stats_json(st));
  if (const uffdgc_result rc = uffdgc_heap_destroy(g_heap); rc != UFFDGC_OK) {
    fail("uffdgc_heap_destroy", rc);
  }
  suite::emit(j);
  return r.check_failures == 0 ? 0 : 1;
}
