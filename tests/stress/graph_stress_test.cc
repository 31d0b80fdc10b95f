// Randomized object-graph stress test with a shadow model ("nothing lost, nothing corrupted").
//
// Several mutator threads each own a subgraph (objects carry a unique 64-bit id at offset 8;
// the high bits name the owning thread) rooted in handles, a global, embedder root slots
// (scan_roots), an embedder weak slot that always retains (process_weak) and pins. They share
// one array rooted in a global, through which objects of one thread become reachable from
// another. Object kinds: fixed nodes with 3 reference slots, traced objects (trace callback,
// per-object mask), reference arrays (small and large), byte arrays with a payload, weak
// containers, finalizable leaves, non-moving nodes (by type and by allocation kind), large
// objects (by size and by kind), leaves. Mutations: allocate and attach, link (cycles arise),
// clear, root reassign, bulk array copies (overlapping), weak loads (with resurrection), weak
// stores, embedder weak slots, pins/unpins, shared-array exchange, explicit collections.
// Collections are also triggered by allocation volume.
//
// Checks:
//  * after every collection a thread observes (event listener counts cycles), the thread
//    re-verifies its whole own subgraph against its model: ids, types, embedder header bits,
//    sizes, payloads, non-moving addresses, pin addresses, every strong slot;
//  * at the end of every round all threads park; the checker collects and verifies the whole
//    reachable graph against the union of the models (shape and contents, each id at exactly one
//    address), weak slots (cleared iff the referent is unreachable in the model, else forwarded),
//    the heap walk (exactly the reachable objects plus queued finalizable ones), and the
//    finalization queue (every unreachable finalizable object exactly once, intact).
//
// The mode-parameterised variant (GraphStressModes: MOVE, COPY and STW with 2, 4 and 8 threads)
// adds, besides the workers: a collector thread that runs cycles back to back
// (uffdgc_collect in a loop), churn threads that attach, build and check a private structure
// and detach again, many of them deliberately while a concurrent cycle is marking (detached
// threads' barrier logs), some parked across a cycle, some detaching with a scope still open,
// and workers that park across a cycle now and then and re-check their subgraph afterwards.
// The helpers stop at the round barrier too, so the checker's full verification still sees a
// quiescent heap.
//
// Seed: printed; UFFDGC_TEST_SEED=<n> replays it (exactly for the single-thread test).
// Duration: UFFDGC_STRESS_SECONDS (default 12 s single-thread + 25 s multi-thread, 7 s per
// mode/thread-count combination).
// UFFDGC_STRESS_DEBUG=1 prints the live graph size per thread after every verification.

#include "tests/stress/graph_stress_model.h"
#include "tests/stress/graph_stress_mutator.h"
#include "tests/stress/graph_stress_verify.h"

namespace heaptest {
namespace {

using namespace graph_stress;  // NOLINT: the test's own model

// ---- the driver ----

uint64_t SeedFromEnv() {
  if (const char* e = std::getenv("UFFDGC_TEST_SEED")) return std::strtoull(e, nullptr, 0);
  return std::random_device{}() * 0x100000001ull ^ static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
}
double SecondsFromEnv(double def) {
  if (const char* e = std::getenv("UFFDGC_STRESS_SECONDS")) return std::strtod(e, nullptr);
  return def;
}

// ---- churn threads: attach, build and check a private chain, detach ----

struct ChurnThread {
  Stress& s;
  std::mt19937_64 rng;
  uint64_t base;  // id prefix (never a model id: those start at 1 << kIdShift per worker)
  uint64_t next = 1;

  uint64_t R(uint64_t n) { return n == 0 ? 0 : rng() % n; }

  // Polls (a running thread must) until a concurrent cycle is marking, up to max_ms.
  void AwaitMarking(uffdgc_mutator* m, int max_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    while (!s.marking.load() && std::chrono::steady_clock::now() < until) {
      if (m != nullptr) uffdgc_poll(m);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // head -> ... via slot 0; slot 1 is null or the next node; ids listed head first.
  bool Check(uffdgc_ref r, const std::vector<uint64_t>& ids, const std::vector<bool>& dup,
             const char* when) {
    s.churn_checks.fetch_add(1);
    for (size_t k = 0; k < ids.size(); ++k) {
      if (r == 0 || Id(r) != ids[k] || TypeOf(r) != s.churn_type ||
          Word(r, kNodeScalar) != ScalarFor(ids[k])) {
        s.Fail(std::string("churn thread ") + when + ": node " + std::to_string(k) + " (" +
               Hex(ids[k]) + ") wrong at " + Hex(r) + (r ? " id " + Hex(Id(r)) : ""));
        return false;
      }
      const uffdgc_ref nx = *Slot(r, kNodeRefs[0]);
      if (*Slot(r, kNodeRefs[1]) != (dup[k] ? nx : 0) || *Slot(r, kNodeRefs[2]) != 0) {
        s.Fail(std::string("churn thread ") + when + ": node " + Hex(ids[k]) + " slots wrong");
        return false;
      }
      r = nx;
    }
    if (r != 0) s.Fail(std::string("churn thread ") + when + ": chain too long");
    return r == 0;
  }

  void Session(const std::function<bool()>& round_over) {
    if (R(2) == 0) AwaitMarking(nullptr, 30);  // attach while a cycle marks, if one does soon
    const bool marking_before = s.marking.load();
    uffdgc_mutator* m = nullptr;
    if (uffdgc_mutator_attach(s.heap, this, &m) != UFFDGC_OK) {
      s.Fail("churn thread: attach failed");
      return;
    }
    s.churn_sessions.fetch_add(1);
    if (marking_before && s.marking.load()) s.churn_attach_marking.fetch_add(1);
    uffdgc_handle_scope scope;
    uffdgc_handle_scope_open(m, &scope);
    uffdgc_ref* head = uffdgc_handle_new(m, 0);
    std::vector<uint64_t> ids;
    std::vector<bool> dup;
    const uint64_t n = 10 + R(120);
    for (uint64_t i = 0; i < n && !round_over(); ++i) {
      uffdgc_ref r = 0;
      if (uffdgc_alloc(m, s.churn_type, 0, UFFDGC_ALLOC_DEFAULT, &r) != UFFDGC_OK) {
        s.Fail("churn thread: allocation failed");
        break;
      }
      const uint64_t id = base | next++;
      Word(r, kIdOffset) = id;
      Word(r, kNodeScalar) = ScalarFor(id);
      const bool d = !ids.empty() && R(4) == 0;
      uffdgc_store_ref(m, r, Slot(r, kNodeRefs[0]), *head);
      if (d) uffdgc_store_ref(m, r, Slot(r, kNodeRefs[1]), *head);
      // Overwrite a non-null slot (logged by the snapshot barrier while marking), then clear.
      uffdgc_store_ref(m, r, Slot(r, kNodeRefs[2]), *head);
      uffdgc_store_ref(m, r, Slot(r, kNodeRefs[2]), 0);
      *head = r;
      ids.insert(ids.begin(), id);
      dup.insert(dup.begin(), d);
      uffdgc_poll(m);
    }
    Check(*head, ids, dup, "after building");
    if (R(3) == 0) {  // parked across a cycle
      const uint64_t before = s.cycle_ends.load();
      uffdgc_mutator_park(m);
      AwaitCycleEnd(s, before);
      uffdgc_mutator_unpark(m);
      s.churn_parked_across.fetch_add(1);
      Check(*head, ids, dup, "after parking across a cycle");
    }
    if (R(2) == 0) AwaitMarking(m, 30);  // detach while a cycle marks, if one does soon
    if (R(2) == 0) uffdgc_handle_scope_close(m, &scope);  // else the handles die with m
    const bool marking_at_detach = s.marking.load();
    if (uffdgc_mutator_detach(m) != UFFDGC_OK) s.Fail("churn thread: detach failed");
    if (marking_at_detach) s.churn_detach_marking.fetch_add(1);
  }
};

struct StressConfig {
  int workers = 1;
  double seconds = 10;
  int ops_per_round = 600;
  int mode = -1;             // UFFDGC_MODE_*; -1: Options() (stop-the-world or UFFDGC_TEST_MODE)
  bool collector_thread = false;
  int churn_threads = 0;
  bool park_across = false;
  bool heap_verifier = true;  // UFFDGC_HEAP_VERIFY after every cycle (the model checks either way)
  bool generational = false;  // UFFDGC_HEAP_GENERATIONAL; explicit collections young or full
};

// Whether the run has shown every behaviour RunStress asserts it saw (the workers are parked at
// the round barrier when this reads their counters).
bool Exercised(const Stress& s, const StressConfig& cfg, uint32_t mode) {
  uint64_t weak_clears = s.weak_cleared_checked, parked = 0;
  for (int wi = 0; wi < s.workers_n; ++wi) {
    weak_clears += s.workers[wi]->weak_reads_cleared;
    parked += s.workers[wi]->parked_across;
  }
  if (s.popped == 0 || weak_clears == 0) return false;
  if (cfg.collector_thread && s.collector_cycles.load() == 0) return false;
  if (cfg.generational && Stats(s.heap).young_collections == 0) {
    return false;
  }
  if (cfg.churn_threads > 0) {
    if (s.churn_sessions.load() == 0 || s.churn_parked_across.load() == 0) return false;
    if ((mode == UFFDGC_MODE_MOVE || mode == UFFDGC_MODE_COPY) &&
        s.churn_attach_marking.load() + s.churn_detach_marking.load() == 0) {
      return false;
    }
  }
  return !cfg.park_across || parked > 0;
}

void RunStress(const StressConfig& cfg) {
  const int workers_n = cfg.workers;
  const double seconds = cfg.seconds;
  const int ops_per_round = cfg.ops_per_round;
  Stress s;
  g_stress = &s;
  s.seed = SeedFromEnv();
  s.workers_n = workers_n;
  s.park_across = cfg.park_across;
  s.generational = cfg.generational;
  std::printf("graph stress: %d thread(s)%s%s%s, %.0f s, UFFDGC_TEST_SEED=%" PRIu64 "\n",
              workers_n, cfg.collector_thread ? " + back-to-back collector" : "",
              cfg.churn_threads > 0 ? " + attach/detach churn" : "",
              cfg.generational ? ", generational" : "", seconds, s.seed);
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(s.seed));

  uffdgc_embedder emb{};
  emb.struct_size = sizeof emb;
  emb.vm = &s;
  emb.scan_roots = &ScanRoots;
  emb.process_weak = &ProcessWeak;
  emb.update_weak = &UpdateWeak;
  const size_t scale = workers_n > 4 ? 2 : 1;
  uffdgc_heap_options o = Options(scale * (64u << 20));
  if (cfg.mode >= 0) o.mode = static_cast<uint32_t>(cfg.mode);
  if (!cfg.heap_verifier) o.flags &= ~UFFDGC_HEAP_VERIFY;
  if (cfg.generational) o.flags |= UFFDGC_HEAP_GENERATIONAL;
  o.nonmoving_limit = scale * (48u << 20);
  o.trigger_allocated = 2u << 20;
  o.large_object_threshold = kLargeThreshold;
  o.tlab_size = 16 << 10;
  o.embedder = &emb;
  const uffdgc_result created = uffdgc_heap_create(&o, &s.heap);
  if (created == UFFDGC_EUNSUPPORTED) {
    UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(o.mode),
                            std::string(uffdgc_mode_name(o.mode)) + " mode is not supported here (uffdgc-probe)");
  }
  ASSERT_EQ(created, UFFDGC_OK);
  ASSERT_EQ(Stats(s.heap).mode, o.mode);
  ASSERT_EQ(RegisterStandardTypes(s.heap, &s.types), UFFDGC_OK);
  {
    uffdgc_type_info churn = TypeInfo(0, kNodeSize, kNodeRefs, 3, "ChurnNode");
    ASSERT_EQ(uffdgc_type_register(s.heap, &churn, &s.churn_type), UFFDGC_OK);
  }
  s.our_types = {s.types.node,  s.types.leaf, s.types.ref_array,  s.types.bytes, s.types.weak,
                 s.types.final_leaf, s.types.nm_node, s.types.traced};
  ASSERT_EQ(uffdgc_set_event_listener(s.heap, &CountCycles, &s), UFFDGC_OK);

  uffdgc_mutator* main_m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(s.heap, nullptr, &main_m), UFFDGC_OK);
  {
    uffdgc_ref arr = 0;
    ASSERT_EQ(uffdgc_alloc(main_m, s.types.ref_array, kShared, 0, &arr), UFFDGC_OK);
    Word(arr, kIdOffset) = kSharedId;
    MNode sn;
    sn.kind = kArr;
    sn.length = kShared;
    sn.slots.assign(kShared, 0);
    s.shared_model.nodes.emplace(kSharedId, std::move(sn));
    ASSERT_EQ(uffdgc_global_create(s.heap, arr, &s.shared_global), UFFDGC_OK);
  }

  // Round synchronisation: workers park and wait; the checker verifies; workers resume.
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t round = 0;
  bool stop = false;
  std::atomic<int> setup_done{0};
  // Helpers (collector and churn threads) run until every worker has reached the barrier,
  // then arrive themselves; the checker waits for everyone.
  std::atomic<int> workers_arrived{0};
  const int helpers_n = (cfg.collector_thread ? 1 : 0) + cfg.churn_threads;
  auto round_over = [&] { return workers_arrived.load() == workers_n || s.failed.load(); };
  // Arrive and wait for the next round; false when the run is over.
  auto helper_barrier = [&](uint64_t* my_round) {
    std::unique_lock<std::mutex> lock(mu);
    ++arrived;
    cv.notify_all();
    cv.wait(lock, [&] { return round > *my_round || stop; });
    *my_round = round;
    return !stop;
  };

  std::vector<std::thread> threads;
  for (int wi = 0; wi < workers_n; ++wi) {
    s.workers[wi] = std::make_unique<Worker>();
    Worker& w = *s.workers[wi];
    w.index = wi;
    w.rng.seed(s.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(wi) + 1);
    threads.emplace_back([&, wi] {
      Worker& me = *s.workers[wi];
      if (uffdgc_mutator_attach(s.heap, &me, &me.m) != UFFDGC_OK) {
        s.Fail("attach failed");
        setup_done.fetch_add(1);
        return;
      }
      uffdgc_handle_scope_open(me.m, &me.scope);
      for (int k = 0; k < kHandles; ++k) me.handles[k] = uffdgc_handle_new(me.m, 0);
      uffdgc_global_create(s.heap, 0, &me.global);
      for (int k = 0; k < kAnchors; ++k) {
        uffdgc_ref a = 0;
        if (uffdgc_alloc(me.m, s.types.ref_array, kAnchorLength, 0, &a) != UFFDGC_OK) {
          s.Fail("anchor allocation failed");
          break;
        }
        const uint64_t id = (static_cast<uint64_t>(wi + 1) << kIdShift) | me.next++;
        Word(a, kIdOffset) = id;
        MNode n;
        n.kind = kArr;
        n.length = kAnchorLength;
        n.slots.assign(kAnchorLength, 0);
        me.model.nodes.emplace(id, std::move(n));
        *me.handles[k] = a;
        me.root_ids[k] = id;
      }
      me.seen_cycles = s.cycles.load();
      Mutator mut(s, me);
      setup_done.fetch_add(1);
      uint64_t my_round = 0;
      for (;;) {
        for (int i = 0; i < ops_per_round && !s.failed.load(); ++i) mut.Step();
        // Arrive parked.
        uffdgc_mutator_park(me.m);
        {
          std::unique_lock<std::mutex> lock(mu);
          ++arrived;
          workers_arrived.fetch_add(1);
          cv.notify_all();
          cv.wait(lock, [&] { return round > my_round || stop; });
          my_round = round;
          if (stop) break;
        }
        uffdgc_mutator_unpark(me.m);
        me.seen_cycles = s.cycles.load();  // the checker verified everything
      }
      uffdgc_mutator_unpark(me.m);
      for (auto& [id, addr] : me.pins) uffdgc_unpin(me.m, addr);
      uffdgc_handle_scope_close(me.m, &me.scope);
      uffdgc_global_destroy(s.heap, me.global);
      uffdgc_mutator_detach(me.m);
    });
  }
  ASSERT_EQ(uffdgc_mutator_park(main_m), UFFDGC_OK);
  while (setup_done.load() < workers_n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (cfg.collector_thread) {
    threads.emplace_back([&] {
      uffdgc_mutator* m = nullptr;
      if (uffdgc_mutator_attach(s.heap, nullptr, &m) != UFFDGC_OK) {
        s.Fail("collector thread: attach failed");
        return;
      }
      uint64_t my_round = 0;
      for (;;) {
        while (!round_over()) {
          const bool young = cfg.generational && s.collector_cycles.load() % 3 != 0;
          const uffdgc_result r = young ? uffdgc_collect_young(m) : uffdgc_collect(m);
          if (r != UFFDGC_OK) s.Fail(std::string("collector thread: ") + uffdgc_result_name(r));
          s.collector_cycles.fetch_add(1);
          uffdgc_poll(m);
          // Stop-the-world cycles back to back would leave the workers no time at all.
          if (o.mode == UFFDGC_MODE_STW) {
            uffdgc_mutator_park(m);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            uffdgc_mutator_unpark(m);
          }
        }
        uffdgc_mutator_park(m);
        if (!helper_barrier(&my_round)) break;
        uffdgc_mutator_unpark(m);
      }
      uffdgc_mutator_detach(m);
    });
  }
  for (int ci = 0; ci < cfg.churn_threads; ++ci) {
    threads.emplace_back([&, ci] {
      ChurnThread churn{s, std::mt19937_64(s.seed * 0xD1B54A32D192ED03ull + ci + 1),
                        (static_cast<uint64_t>(ci) + 1) << 32};
      uint64_t my_round = 0;
      do {
        while (!round_over()) churn.Session(round_over);
      } while (helper_barrier(&my_round));
    });
  }

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  const auto hard_deadline =
      deadline + std::chrono::milliseconds(static_cast<int64_t>(seconds * 3000));
  uint64_t rounds = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(120),
                       [&] { return arrived == workers_n + helpers_n; })) {
        std::fprintf(stderr, "graph stress: workers did not reach the round barrier (deadlock?) "
                             "seed %" PRIu64 "\n", s.seed);
        std::_Exit(98);
      }
      arrived = 0;
    }
    ++rounds;
    EXPECT_EQ(uffdgc_mutator_unpark(main_m), UFFDGC_OK);
    // A full collection (generational heaps too): the verification below expects every
    // unreachable object gone, which a young cycle leaves in the old generation.
    EXPECT_EQ(uffdgc_collect(main_m), UFFDGC_OK);
    if (!s.failed.load()) VerifyAll(s, main_m);
    EXPECT_EQ(uffdgc_mutator_park(main_m), UFFDGC_OK);
    // The run lasts its time and then until it has exercised what the assertions below expect
    // (a slow build, e.g. under a sanitizer, gets few rounds in its time), up to four times its
    // time: a behaviour that never shows within that still fails the assertions.
    const auto now = std::chrono::steady_clock::now();
    bool done = s.failed.load() || (now >= deadline && Exercised(s, cfg, o.mode)) ||
                now >= hard_deadline;
    {
      std::lock_guard<std::mutex> lock(mu);
      workers_arrived.store(0);
      ++round;
      stop = done;
    }
    cv.notify_all();
    if (done) break;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(uffdgc_mutator_unpark(main_m), UFFDGC_OK);

  uffdgc_heap_stats st = Stats(s.heap);
  uint64_t ops = 0, allocs = 0, own = 0, wcl = 0, res = 0, live = 0, parked = 0;
  for (int wi = 0; wi < workers_n; ++wi) {
    parked += s.workers[wi]->parked_across;
    ops += s.workers[wi]->ops;
    allocs += s.workers[wi]->allocs;
    own += s.workers[wi]->own_checks;
    wcl += s.workers[wi]->weak_reads_cleared;
    res += s.workers[wi]->resurrections;
    live += s.workers[wi]->model.nodes.size();
  }
  std::printf("graph stress: %" PRIu64 " rounds, %" PRIu64 " ops, %" PRIu64
              " allocations, %" PRIu64 " collections, %" PRIu64 " own-subgraph checks, %" PRIu64
              " full verifications (%" PRIu64 " objects), %" PRIu64 " finalized, %" PRIu64
              " weak clears checked (+%" PRIu64 " seen by loads), %" PRIu64
              " resurrections, %" PRIu64 " objects live at the end\n",
              rounds, ops, allocs, st.collections, own, s.verifications, s.objects_verified,
              s.popped, s.weak_cleared_checked, wcl, res, live);
  if (helpers_n > 0 || cfg.park_across) {
    std::printf("graph stress: %" PRIu64 " back-to-back collections by the collector thread, "
                "%" PRIu64 " churn sessions (%" PRIu64 " attached and %" PRIu64
                " detached while marking, %" PRIu64 " parked across a cycle, %" PRIu64
                " chain checks), workers parked across a cycle %" PRIu64 " times\n",
                s.collector_cycles.load(), s.churn_sessions.load(),
                s.churn_attach_marking.load(), s.churn_detach_marking.load(),
                s.churn_parked_across.load(), s.churn_checks.load(), parked);
  }
  std::fflush(stdout);
  for (const std::string& f : s.failures) ADD_FAILURE() << f;
  if (!s.failures.empty()) ADD_FAILURE() << "replay with UFFDGC_TEST_SEED=" << s.seed;
  EXPECT_GT(st.collections, rounds) << "allocation should have triggered collections too";
  EXPECT_GT(s.popped, 0u);
  EXPECT_GT(s.weak_cleared_checked + wcl, 0u);
  if (cfg.collector_thread) {
    EXPECT_GT(s.collector_cycles.load(), 0u);
  }
  if (cfg.churn_threads > 0) {
    EXPECT_GT(s.churn_sessions.load(), 0u);
    EXPECT_GT(s.churn_parked_across.load(), 0u);
    if (o.mode == UFFDGC_MODE_MOVE || o.mode == UFFDGC_MODE_COPY) {
      EXPECT_GT(s.churn_attach_marking.load() + s.churn_detach_marking.load(), 0u)
          << "no churn thread attached or detached while a cycle was marking";
    }
  }
  if (cfg.park_across) {
    EXPECT_GT(parked, 0u);
  }
  if (cfg.generational) {
    std::printf("graph stress: generational: %" PRIu64 " young collections of %" PRIu64
                " (%" PRIu64 " promoted in place), %" PRIu64 " bytes promoted, %" PRIu64
                " remembered-log hand-overs\n",
                st.young_collections, st.collections, st.young_promoted_in_place,
                st.promoted_bytes, st.remembered_handovers);
    EXPECT_EQ(st.generational, 1u);
    EXPECT_GT(st.young_collections, 0u);
    EXPECT_GT(st.promoted_bytes, 0u);
  }

  EXPECT_EQ(uffdgc_global_destroy(s.heap, s.shared_global), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_detach(main_m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_heap_destroy(s.heap), UFFDGC_OK);
  g_stress = nullptr;
}

TEST(GraphStress, SingleThreadReplayable) {
  StressConfig c;
  c.workers = 1;
  c.seconds = SecondsFromEnv(12);
  c.ops_per_round = 2000;
  RunStress(c);
}

TEST(GraphStress, ThreeThreadsWithSharedStructure) {
  StressConfig c;
  c.workers = 3;
  c.seconds = SecondsFromEnv(25);
  c.ops_per_round = 600;
  RunStress(c);
}

// Every mode with 2, 4 and 8 workers, a back-to-back collector thread, two attach/detach churn
// threads and workers parking across cycles.
struct ModeThreads {
  uint32_t mode;
  int workers;
};

class GraphStressModes : public ::testing::TestWithParam<ModeThreads> {};

TEST_P(GraphStressModes, BackToBackCyclesWithChurn) {
  Watchdog dog("GraphStressModes", 500);
  StressConfig c;
  c.workers = GetParam().workers;
  c.mode = static_cast<int>(GetParam().mode);
  c.seconds = SecondsFromEnv(7);
  c.ops_per_round = c.workers > 4 ? 300 : 600;
  c.collector_thread = true;
  c.churn_threads = 2;
  c.park_across = true;
  RunStress(c);
}

// Generational (design: .cycle.young): young collections by allocation triggers, by workers
// and by the back-to-back collector thread (two of three; the checker's are full), with the
// old-to-young stores of every kind the workers make (slots, arrays, bulk copies, non-moving
// and large objects, weak containers, traced objects, globals, pins) and attach/detach churn.
// Every mode: move and copy run the young cycles concurrently (design: .cycle.young.concurrent).
class GraphStressGenerational : public ::testing::TestWithParam<ModeThreads> {};

TEST_P(GraphStressGenerational, YoungAndFullCycles) {
  Watchdog dog("GraphStressGenerational", 500);
  StressConfig c;
  c.workers = GetParam().workers;
  c.mode = static_cast<int>(GetParam().mode);
  c.seconds = SecondsFromEnv(7);
  c.ops_per_round = 600;
  c.collector_thread = true;
  c.churn_threads = 2;
  c.park_across = true;
  c.generational = true;
  RunStress(c);
}

TEST(GraphStress, GenerationalSingleThreadReplayable) {
  StressConfig c;
  c.workers = 1;
  c.mode = UFFDGC_MODE_STW;
  c.seconds = SecondsFromEnv(8);
  c.ops_per_round = 2000;
  c.generational = true;
  RunStress(c);
}

// The same without the heap verifier: its stop-the-world walk after every cycle serialises the
// cycles with the mutators; without it compaction overlaps the next cycle's allocation the way
// it does in production. The model still checks every object.
class GraphStressNoVerifier : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GraphStressNoVerifier, BackToBackCyclesWithChurn) {
  Watchdog dog("GraphStressNoVerifier", 500);
  StressConfig c;
  c.workers = 4;
  c.mode = static_cast<int>(GetParam());
  c.seconds = SecondsFromEnv(7);
  c.ops_per_round = 600;
  c.collector_thread = true;
  c.churn_threads = 2;
  c.park_across = true;
  c.heap_verifier = false;
  RunStress(c);
}

INSTANTIATE_TEST_SUITE_P(Modes, GraphStressNoVerifier,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY, UFFDGC_MODE_STW),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) {
                           const uint32_t m = param_info.param;
                           return std::string(m == UFFDGC_MODE_MOVE   ? "Move"
                                              : m == UFFDGC_MODE_COPY ? "Copy"
                                                                      : "Stw");
                         });

INSTANTIATE_TEST_SUITE_P(
    Modes, GraphStressModes,
    ::testing::Values(ModeThreads{UFFDGC_MODE_MOVE, 2}, ModeThreads{UFFDGC_MODE_MOVE, 4},
                      ModeThreads{UFFDGC_MODE_MOVE, 8}, ModeThreads{UFFDGC_MODE_COPY, 2},
                      ModeThreads{UFFDGC_MODE_COPY, 4}, ModeThreads{UFFDGC_MODE_COPY, 8},
                      ModeThreads{UFFDGC_MODE_STW, 2}, ModeThreads{UFFDGC_MODE_STW, 4},
                      ModeThreads{UFFDGC_MODE_STW, 8}),
    [](const ::testing::TestParamInfo<ModeThreads>& param_info) {
      const uint32_t m = param_info.param.mode;
      return std::string(m == UFFDGC_MODE_MOVE ? "Move" : m == UFFDGC_MODE_COPY ? "Copy" : "Stw") +
             "_" + std::to_string(param_info.param.workers) + "Threads";
    });

INSTANTIATE_TEST_SUITE_P(
    Modes, GraphStressGenerational,
    ::testing::Values(ModeThreads{UFFDGC_MODE_STW, 2}, ModeThreads{UFFDGC_MODE_STW, 4},
                      ModeThreads{UFFDGC_MODE_MOVE, 2}, ModeThreads{UFFDGC_MODE_MOVE, 4},
                      ModeThreads{UFFDGC_MODE_COPY, 2}, ModeThreads{UFFDGC_MODE_COPY, 4}),
    [](const ::testing::TestParamInfo<ModeThreads>& param_info) {
      const uint32_t m = param_info.param.mode;
      return std::string(m == UFFDGC_MODE_MOVE ? "Move" : m == UFFDGC_MODE_COPY ? "Copy" : "Stw") +
             "_" + std::to_string(param_info.param.workers) + "Threads";
    });

}  // namespace
}  // namespace heaptest
