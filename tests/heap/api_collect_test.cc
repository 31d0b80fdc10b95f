// Heap API unit tests: embedder callbacks (scan_roots, process_weak/update_weak,
// out_of_memory), heap walk, statistics, events, triggering.
#include <map>
#include <set>
#include <string>

#include "heap_test_support.h"

namespace heaptest {
namespace {

// ---- embedder callbacks ----

constexpr int kVmSlots = 16;
constexpr int kVmWeak = 6;

struct Vm {
  uffdgc_ref roots[kVmSlots] = {};
  uffdgc_ref weak[kVmWeak] = {};
  bool retain[kVmWeak] = {};
  bool dead[kVmWeak] = {};
  int scan_calls = 0;
  int process_calls = 0;
  int update_calls = 0;
  int oom_calls = 0;
  uffdgc_mutator* oom_mutator = nullptr;
  size_t oom_bytes = 0;
};

void ScanRoots(uffdgc_root_visitor* visitor, void* vm) {
  Vm* v = static_cast<Vm*>(vm);
  ++v->scan_calls;
  for (uffdgc_ref& slot : v->roots) uffdgc_root_visit(visitor, &slot);
}

int ProcessWeak(uffdgc_weak_ctx* ctx, void* vm) {
  Vm* v = static_cast<Vm*>(vm);
  ++v->process_calls;
  int again = 0;
  for (int i = 0; i < kVmWeak; ++i) {
    v->dead[i] = false;
    if (v->weak[i] == 0 || uffdgc_weak_is_live(ctx, v->weak[i])) continue;
    if (v->retain[i]) {
      uffdgc_weak_retain(ctx, v->weak[i]);
      again = 1;
    } else {
      v->dead[i] = true;
    }
  }
  return again;
}

void UpdateWeak(uffdgc_weak_ctx* ctx, void* vm) {
  Vm* v = static_cast<Vm*>(vm);
  ++v->update_calls;
  for (int i = 0; i < kVmWeak; ++i) {
    if (v->weak[i] == 0) continue;
    v->weak[i] = v->dead[i] ? 0 : uffdgc_weak_forward(ctx, v->weak[i]);
  }
}

void OutOfMemory(uffdgc_mutator* mutator, size_t bytes, void* vm) {
  Vm* v = static_cast<Vm*>(vm);
  ++v->oom_calls;
  v->oom_mutator = mutator;
  v->oom_bytes = bytes;
}

class EmbedderTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    embedder_.struct_size = sizeof embedder_;
    embedder_.vm = &vm_;
    embedder_.scan_roots = &ScanRoots;
    embedder_.process_weak = &ProcessWeak;
    embedder_.update_weak = &UpdateWeak;
    embedder_.out_of_memory = &OutOfMemory;
    o.embedder = &embedder_;
    return o;
  }
  Vm vm_;
  uffdgc_embedder embedder_{};
};

TEST_F(EmbedderTest, ScanRootsSlotsAreMarkedAndUpdated) {
  for (int i = 0; i < kVmSlots; ++i) {
    Garbage(8000);
    // Only the VM's own slots hold these objects (no handles): allocations may collect, and
    // scan_roots must keep them alive and rewrite the slots.
    if (i % 4 == 3) continue;  // some null slots
    uffdgc_ref r = AllocId(i % 2 ? types_.node : types_.bytes, i, i % 2 ? 0 : 100);
    if (i % 2) Store(r, kNodeRefs[0], vm_.roots[i - 1]);  // roots[i - 1] is a Bytes object
    vm_.roots[i] = r;
  }
  uffdgc_ref* w = Watch(&vm_.roots[2]);  // roots[2] is referenced by no node (roots[3] is null)
  uffdgc_ref before[kVmSlots];
  std::memcpy(before, vm_.roots, sizeof before);
  int calls_before = vm_.scan_calls;
  Collect();
  EXPECT_GE(vm_.scan_calls, calls_before + 1);
  int moved = 0;
  for (int i = 0; i < kVmSlots; ++i) {
    if (i % 4 == 3) {
      EXPECT_EQ(vm_.roots[i], 0u);
      continue;
    }
    ExpectIntact(vm_.roots[i], i);
    if (vm_.roots[i] != before[i]) ++moved;
    if (i % 2) {
      EXPECT_EQ(*Slot(vm_.roots[i], kNodeRefs[0]), vm_.roots[i - 1]);
    }
  }
  EXPECT_GE(moved, kVmSlots / 2) << "objects behind garbage did not move";
  EXPECT_EQ(Watched(w), vm_.roots[2]) << "a scan_roots object was found dead";
  // Dropping a VM root lets the object die.
  vm_.roots[2] = 0;
  Collect();
  EXPECT_EQ(Watched(w), 0u);
}

TEST_F(EmbedderTest, ProcessWeakIsLiveRetainForward) {
  Garbage(20000);
  uffdgc_ref* a = H(AllocId(types_.leaf, 1));  // live through a handle
  Garbage(20000);
  vm_.weak[0] = *a;
  vm_.weak[1] = AllocId(types_.leaf, 2);  // dead
  uffdgc_ref c = AllocId(types_.node, 3);  // dead but retained, with a child only it reaches
  vm_.weak[2] = c;
  vm_.retain[2] = true;
  Garbage(20000);
  uffdgc_ref d = AllocId(types_.bytes, 4, 300);
  Store(vm_.weak[2], kNodeRefs[0], d);
  vm_.weak[3] = AllocId(types_.nm_node, 5);  // non-moving, dead
  uffdgc_ref* nm = H(AllocId(types_.nm_node, 6));  // non-moving, live
  vm_.weak[4] = *nm;
  vm_.roots[0] = AllocId(types_.leaf, 7);  // live through scan_roots only
  vm_.weak[5] = vm_.roots[0];
  const uffdgc_ref a_before = *a;

  vm_.process_calls = vm_.update_calls = 0;
  Collect();
  EXPECT_GE(vm_.process_calls, 2) << "process_weak returned 1 but was not called again";
  EXPECT_GE(vm_.update_calls, 1);
  EXPECT_EQ(vm_.weak[0], *a) << "live weak slot not forwarded";
  EXPECT_NE(*a, a_before);
  EXPECT_EQ(vm_.weak[1], 0u);
  ASSERT_NE(vm_.weak[2], 0u) << "retained object was reported dead";
  ExpectIntact(vm_.weak[2], 3);
  ExpectIntact(*Slot(vm_.weak[2], kNodeRefs[0]), 4);
  EXPECT_EQ(vm_.weak[3], 0u);
  EXPECT_EQ(vm_.weak[4], *nm);
  EXPECT_EQ(vm_.weak[5], vm_.roots[0]);
  ExpectIntact(vm_.roots[0], 7);

  // Stop retaining: the object dies at the next cycle.
  vm_.retain[2] = false;
  vm_.process_calls = 0;
  Collect();
  EXPECT_GE(vm_.process_calls, 1);
  EXPECT_EQ(vm_.weak[2], 0u);
  EXPECT_EQ(vm_.weak[0], *a);
}

TEST_F(EmbedderTest, CallbacksAreNotCalledForOtherHeaps) {
  // A heap without an embedder collects without touching this VM.
  uffdgc_heap_options o = Options(8u << 20);
  uffdgc_heap* h = nullptr;
  ASSERT_EQ(uffdgc_heap_create(&o, &h), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(h, nullptr, &m), UFFDGC_OK);
  int scans = vm_.scan_calls;
  ASSERT_EQ(uffdgc_collect(m), UFFDGC_OK);
  EXPECT_EQ(vm_.scan_calls, scans);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(h), UFFDGC_OK);
}

class OomTest : public EmbedderTest {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = EmbedderTest::MakeOptions();
    o.heap_limit = 8u << 20;
    o.nonmoving_limit = 4u << 20;
    return o;
  }
};

TEST_F(OomTest, MovingSpaceFullOfLiveDataReportsOutOfMemory) {
  Watchdog dog("MovingSpaceFullOfLiveDataReportsOutOfMemory", 120);
  constexpr uint64_t kLen = 1000;  // ~8 KiB per array, below the large threshold
  uffdgc_ref* list = H(0);
  uffdgc_result res = UFFDGC_OK;
  uint64_t n = 0;
  for (; n < 4096; ++n) {  // 32 MiB at most: four times the limit
    uffdgc_ref r = 0;
    res = uffdgc_alloc(mut_, types_.ref_array, kLen, UFFDGC_ALLOC_DEFAULT, &r);
    if (res != UFFDGC_OK) break;
    Word(r, kIdOffset) = n;
    uffdgc_store_ref(mut_, r, Elem(r, 0), *list);
    *list = r;
  }
  ASSERT_EQ(res, UFFDGC_ENOMEM) << "allocated " << n << " x 8 KiB of live data in an 8 MiB heap";
  EXPECT_GE(vm_.oom_calls, 1);
  EXPECT_EQ(vm_.oom_mutator, mut_);
  EXPECT_GE(vm_.oom_bytes, kArrayBase + 8 * kLen);
  EXPECT_GT(n, 100u) << "gave up long before the heap was full";
  // The live data is intact.
  uint64_t count = 0;
  for (uffdgc_ref r = *list; r != 0; r = *Elem(r, 0)) {
    ASSERT_EQ(Id(r), n - 1 - count);
    ++count;
  }
  EXPECT_EQ(count, n);
  // Drop it: allocation works again.
  *list = 0;
  Collect();
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_alloc(mut_, types_.ref_array, kLen, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
}

TEST_F(OomTest, LargeSpaceFullReportsOutOfMemory) {
  Watchdog dog("LargeSpaceFullReportsOutOfMemory", 120);
  uffdgc_ref* keep = H(Alloc(types_.ref_array, 200));
  uffdgc_result res = UFFDGC_OK;
  int n = 0;
  for (; n < 200; ++n) {  // 20 MiB of 100 KiB objects into a 4 MiB non-moving limit
    uffdgc_ref r = 0;
    res = uffdgc_alloc(mut_, types_.bytes, 100000, UFFDGC_ALLOC_DEFAULT, &r);
    if (res != UFFDGC_OK) break;
    uffdgc_store_ref(mut_, *keep, Elem(*keep, n), r);
  }
  ASSERT_EQ(res, UFFDGC_ENOMEM) << n << " large objects fitted in a 4 MiB limit";
  EXPECT_GE(vm_.oom_calls, 1);
  EXPECT_GE(vm_.oom_bytes, 100000u);
  *keep = 0;
  Collect();
  uffdgc_ref r = 0;
  EXPECT_EQ(uffdgc_alloc(mut_, types_.bytes, 100000, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
}

TEST_F(OomTest, GarbageNeverCausesOutOfMemory) {
  // 64 MiB of garbage through an 8 MiB heap.
  for (int i = 0; i < 8000; ++i) {
    uffdgc_ref r = 0;
    ASSERT_EQ(uffdgc_alloc(mut_, types_.ref_array, 1000, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK)
        << i;
  }
  EXPECT_EQ(vm_.oom_calls, 0);
  EXPECT_GE(HeapStats().collections, 4u);
}

// ---- heap walk ----

class WalkTest : public HeapFixture {
 protected:
  struct Seen {
    uint32_t type;
    std::map<uffdgc_ref, size_t> objects;
    size_t calls = 0;
  };
  static int Collect_(uffdgc_ref ref, uint32_t type_index, size_t size, void* arg) {
    Seen* s = static_cast<Seen*>(arg);
    ++s->calls;
    if (type_index == s->type) s->objects[ref] = size;
    return 0;
  }
  Seen Walk(uint32_t type) {
    Seen s{type, {}, 0};
    EXPECT_EQ(uffdgc_heap_walk(mut_, &Collect_, &s), UFFDGC_OK);
    return s;
  }
};

TEST_F(WalkTest, ReportsEveryObjectOfEverySpace) {
  uffdgc_type_info t = TypeInfo(UFFDGC_TYPE_LEAF, 24, nullptr, 0, "walked");
  uint32_t walked = 0;
  ASSERT_EQ(uffdgc_type_register(heap_, &t, &walked), UFFDGC_OK);
  uffdgc_ref* keep = H(Alloc(types_.ref_array, 60));
  std::set<uffdgc_ref> all;
  for (int i = 0; i < 60; ++i) {
    uint32_t kind = i < 40 ? UFFDGC_ALLOC_DEFAULT : i < 50 ? UFFDGC_ALLOC_NONMOVING
                                                           : UFFDGC_ALLOC_LARGE;
    Garbage(500);
    uffdgc_ref r = Alloc(walked, 0, kind);
    Word(r, 8) = i;
    all.insert(r);
    if (i % 2 == 0) uffdgc_store_ref(mut_, *keep, Elem(*keep, i), r);
  }
  Seen s = Walk(walked);
  EXPECT_EQ(s.objects.size(), 60u);
  for (auto& [ref, size] : s.objects) {
    EXPECT_TRUE(all.count(ref)) << "walk reported an address that was never allocated";
    EXPECT_EQ(size, 24u);
  }
  Collect();
  s = Walk(walked);
  EXPECT_EQ(s.objects.size(), 30u) << "after a full collection only live objects remain";
  std::set<uffdgc_ref> live;
  for (int i = 0; i < 60; i += 2) live.insert(*Elem(*keep, i));
  for (auto& [ref, size] : s.objects) {
    EXPECT_TRUE(live.count(ref)) << "walk reported a dead object " << ref;
    EXPECT_EQ(Word(ref, 8) % 2, 0u);
  }
}

TEST_F(WalkTest, SizesMatchObjectSizeAndWalkStopsEarly) {
  uffdgc_ref* keep = H(Alloc(types_.ref_array, 10));
  for (int i = 0; i < 10; ++i) {
    uffdgc_ref r = Alloc(types_.bytes, 13 * i);
    uffdgc_store_ref(mut_, *keep, Elem(*keep, i), r);
  }
  Seen s = Walk(types_.bytes);
  for (int i = 0; i < 10; ++i) {
    uffdgc_ref r = *Elem(*keep, i);
    ASSERT_TRUE(s.objects.count(r)) << i;
    EXPECT_EQ(s.objects[r], uffdgc_object_size(mut_, r));
  }
  size_t calls = 0;
  auto stop = [](uffdgc_ref, uint32_t, size_t, void* arg) -> int {
    ++*static_cast<size_t*>(arg);
    return 1;
  };
  EXPECT_EQ(uffdgc_heap_walk(mut_, stop, &calls), UFFDGC_OK);
  EXPECT_EQ(calls, 1u);
}

// ---- statistics ----

class StatsTest : public HeapFixture {};

TEST_F(StatsTest, CountsCollectionsPausesAndBytes) {
  uffdgc_heap_stats s0 = HeapStats();
  if (TestMode() != UFFDGC_MODE_AUTO) {
    EXPECT_EQ(s0.mode, TestMode());
  }
  EXPECT_EQ(s0.collections, 0u);
  uffdgc_ref* keep = H(Alloc(types_.ref_array, 100));
  for (int i = 0; i < 100; ++i) {
    Garbage(5000);
    uffdgc_ref r = AllocId(types_.bytes, i, 1000);
    uffdgc_store_ref(mut_, *keep, Elem(*keep, i), r);
  }
  uffdgc_heap_stats s1 = HeapStats();
  const uint64_t live_min = 100 * (kArrayBase + 1000) + kArrayBase + 800;
  EXPECT_GE(s1.bytes_allocated - s0.bytes_allocated, live_min + 100 * 4000);
  EXPECT_GE(s1.moving_bytes_used, live_min + 100 * 4000);
  Collect();
  uffdgc_heap_stats s2 = HeapStats();
  EXPECT_EQ(s2.collections, 1u);
  EXPECT_GT(s2.pause_ns_last, 0u);
  EXPECT_GE(s2.pause_ns_max, s2.pause_ns_last);
  EXPECT_GE(s2.pause_ns_total, s2.pause_ns_max);
  EXPECT_LE(s2.time_to_safepoint_ns_max, s2.pause_ns_max);
  EXPECT_GE(s2.live_bytes_last, live_min);
  EXPECT_LT(s2.live_bytes_last, live_min + 100 * 4000) << "garbage counted as live";
  EXPECT_LT(s2.moving_bytes_used, s1.moving_bytes_used);
  EXPECT_GE(s2.moving_bytes_used, live_min);
  EXPECT_GT(s2.pages_compacted_last, 0u);
  EXPECT_GE(s2.bytes_allocated, s1.bytes_allocated);
  Collect();
  Collect();
  uffdgc_heap_stats s3 = HeapStats();
  EXPECT_EQ(s3.collections, 3u);
  EXPECT_GE(s3.pause_ns_total, s2.pause_ns_total + s3.pause_ns_last);
  EXPECT_GE(s3.pause_ns_max, s2.pause_ns_max);
}

TEST_F(StatsTest, NonmovingAndLargeBytes) {
  uffdgc_heap_stats s0 = HeapStats();
  uffdgc_ref* a = H(Alloc(types_.node, 0, UFFDGC_ALLOC_NONMOVING));
  uffdgc_ref* b = H(Alloc(types_.bytes, 300000));
  uffdgc_heap_stats s1 = HeapStats();
  EXPECT_GE(s1.nonmoving_bytes, s0.nonmoving_bytes + kNodeSize);
  EXPECT_GE(s1.large_bytes, s0.large_bytes + 300000);
  Collect();
  uffdgc_heap_stats s2 = HeapStats();
  EXPECT_GE(s2.live_bytes_last, 300000u + kNodeSize) << "live_bytes_last covers all spaces";
  (void)a;
  (void)b;
}

// ---- events ----

struct EventLog {
  std::mutex mu;
  std::vector<uffdgc_event> events;
  std::vector<std::string> phases;  // copied: the string may not outlive the call
};

void OnEvent(const uffdgc_event* e, void* arg) {
  EventLog* log = static_cast<EventLog*>(arg);
  std::lock_guard<std::mutex> lock(log->mu);
  log->events.push_back(*e);
  log->phases.push_back(e->kind == UFFDGC_EVENT_PHASE && e->phase ? e->phase : "");
}

class EventTest : public HeapFixture {};

TEST_F(EventTest, PausesPairUpAndPhasesAreNamed) {
  EventLog log;
  ASSERT_EQ(uffdgc_set_event_listener(heap_, &OnEvent, &log), UFFDGC_OK);
  uffdgc_ref* keep = H(Alloc(types_.ref_array, 50));
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (int i = 0; i < 50; ++i) {
      Garbage(3000);
      uffdgc_store_ref(mut_, *keep, Elem(*keep, i), AllocId(types_.leaf, i));
    }
    Collect();
  }
  // Stop-the-world: one pause per cycle and every phase inside it. Concurrent modes: pause 1
  // (mark-start), one or more mark-end pauses and the flip (or flip-stw when the flip pause
  // finishes the cycle), with weak processing and planning between the pauses.
  const bool concurrent = ConcurrentTestMode();
  const std::set<std::string> known =
      concurrent ? std::set<std::string>{"mark-start", "mark-end", "weak", "plan", "flip",
                                         "flip-stw", "compact", "update", "verify"}
                 : std::set<std::string>{"mark", "weak", "plan", "compact", "update", "verify"};
  std::lock_guard<std::mutex> lock(log.mu);
  ASSERT_FALSE(log.events.empty());
  bool in_pause = false;
  uint64_t begins = 0, ends = 0, cycle_ends = 0;
  uint64_t last_time = 0, cycle = 0, last_pause_ns = 0;
  bool first = true;
  std::map<uint64_t, std::set<std::string>> phases_by_cycle;
  std::map<uint64_t, uint64_t> pauses_by_cycle;
  for (size_t i = 0; i < log.events.size(); ++i) {
    const uffdgc_event& e = log.events[i];
    EXPECT_GE(e.struct_size, offsetof(uffdgc_event, pause_ns) + sizeof(uint64_t));
    EXPECT_GE(e.time_ns, last_time) << "event times go backwards at " << i;
    last_time = e.time_ns;
    switch (e.kind) {
      case UFFDGC_EVENT_PAUSE_BEGIN:
        EXPECT_FALSE(in_pause) << "nested PAUSE_BEGIN at " << i;
        in_pause = true;
        ++begins;
        if (!first && !(concurrent && e.cycle == cycle)) {
          EXPECT_EQ(e.cycle, cycle + 1) << "cycle numbers must count up";
        }
        first = false;
        cycle = e.cycle;
        ++pauses_by_cycle[e.cycle];
        break;
      case UFFDGC_EVENT_PAUSE_END:
        EXPECT_TRUE(in_pause) << "PAUSE_END without PAUSE_BEGIN at " << i;
        in_pause = false;
        ++ends;
        EXPECT_EQ(e.cycle, cycle);
        EXPECT_GT(e.pause_ns, 0u);
        last_pause_ns = e.pause_ns;
        break;
      case UFFDGC_EVENT_PHASE:
        if (!concurrent) {
          EXPECT_TRUE(in_pause) << "stop-the-world phase outside the pause: " << log.phases[i];
        }
        EXPECT_TRUE(known.count(log.phases[i])) << "unknown phase '" << log.phases[i] << "'";
        EXPECT_EQ(e.cycle, cycle);
        phases_by_cycle[e.cycle].insert(log.phases[i]);
        break;
      case UFFDGC_EVENT_CYCLE_END:
        ++cycle_ends;
        EXPECT_EQ(e.cycle, cycle);
        EXPECT_GT(e.bytes_before, e.bytes_after) << "garbage was collected in every cycle";
        break;
      default:
        ADD_FAILURE() << "unknown event kind " << e.kind;
    }
  }
  EXPECT_FALSE(in_pause);
  EXPECT_EQ(begins, ends);
  EXPECT_EQ(begins, HeapStats().pauses);
  EXPECT_EQ(cycle_ends, 3u);
  EXPECT_EQ(phases_by_cycle.size(), 3u);
  EXPECT_EQ(pauses_by_cycle.size(), 3u);
  for (auto& [c, n] : pauses_by_cycle) {
    if (concurrent) {
      EXPECT_GE(n, 3u) << "cycle " << c << ": mark start, mark end and flip";
    } else {
      EXPECT_EQ(n, 1u) << "cycle " << c;
    }
  }
  for (auto& [c, phases] : phases_by_cycle) {
    if (concurrent) {
      EXPECT_TRUE(phases.count("mark-start")) << "cycle " << c;
      EXPECT_TRUE(phases.count("mark-end")) << "cycle " << c;
      EXPECT_TRUE(phases.count("flip") || phases.count("flip-stw")) << "cycle " << c;
    } else {
      EXPECT_TRUE(phases.count("mark")) << "cycle " << c;
      EXPECT_TRUE(phases.count("compact")) << "cycle " << c;
    }
    // Concurrent modes verify at the end of compaction, after uffdgc_collect has returned.
    if (!concurrent && (Options().flags & UFFDGC_HEAP_VERIFY)) {
      EXPECT_TRUE(phases.count("verify")) << "cycle " << c << ": UFFDGC_HEAP_VERIFY is set";
    }
  }
  EXPECT_EQ(HeapStats().pause_ns_last, last_pause_ns);
}

TEST_F(EventTest, ClearingTheListenerStopsEvents) {
  EventLog log;
  ASSERT_EQ(uffdgc_set_event_listener(heap_, &OnEvent, &log), UFFDGC_OK);
  Collect();
  size_t n = log.events.size();
  EXPECT_GT(n, 0u);
  OnOtherThread([&] { EXPECT_EQ(uffdgc_set_event_listener(heap_, nullptr, nullptr), UFFDGC_OK); });
  Collect();
  EXPECT_EQ(log.events.size(), n);
}

// ---- triggering ----

// Concurrent modes: a trigger starts a cycle on the GC thread and returns. Parks m (so the
// pauses need not wait for it) until `n` cycles have completed or 20 s have passed.
uint64_t WaitForCollections(uffdgc_heap* heap, uffdgc_mutator* m, uint64_t n) {
  EXPECT_EQ(uffdgc_mutator_park(m), UFFDGC_OK);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Stats(heap).collections < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(uffdgc_mutator_unpark(m), UFFDGC_OK);
  return Stats(heap).collections;
}

TEST(Trigger, AllocationVolumeTriggersCollections) {
  uffdgc_heap_options o = Options(64u << 20);
  o.trigger_allocated = 1u << 20;
  uffdgc_heap* heap = nullptr;
  CREATE_HEAP_OR_SKIP(o, &heap);
  Types t;
  ASSERT_EQ(RegisterStandardTypes(heap, &t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_handle_scope s;
  ASSERT_EQ(uffdgc_handle_scope_open(m, &s), UFFDGC_OK);
  uffdgc_ref r = 0;
  ASSERT_EQ(uffdgc_alloc(m, t.leaf, 0, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
  Word(r, 8) = 4242;
  uffdgc_ref* h = uffdgc_handle_new(m, r);
  for (int i = 0; i < 10 * 1024; ++i) {  // 10 MiB
    ASSERT_EQ(uffdgc_alloc(m, t.bytes, 1000, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
  }
  if (ConcurrentTestMode()) {
    // A trigger passed while a cycle runs starts none, so fewer cycles than 10 MiB / 1 MiB.
    EXPECT_GE(WaitForCollections(heap, m, 1), 1u) << "1 MiB trigger, 10 MiB allocated";
  } else {
    EXPECT_GE(Stats(heap).collections, 5u) << "1 MiB trigger, 10 MiB allocated";
  }
  EXPECT_LE(Stats(heap).collections, 20u);
  EXPECT_EQ(Word(*h, 8), 4242u);
  ASSERT_EQ(uffdgc_handle_scope_close(m, &s), UFFDGC_OK);
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

TEST(Trigger, OccupancyTriggersCollections) {
  uffdgc_heap_options o = Options(16u << 20);
  o.trigger_allocated = 15u << 20;  // not by volume within this test
  o.trigger_occupancy_pct = 50;
  uffdgc_heap* heap = nullptr;
  CREATE_HEAP_OR_SKIP(o, &heap);
  Types t;
  ASSERT_EQ(RegisterStandardTypes(heap, &t), UFFDGC_OK);
  uffdgc_mutator* m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(heap, nullptr, &m), UFFDGC_OK);
  uffdgc_ref r = 0;
  for (int i = 0; i < 12 * 1024; ++i) {  // 12 MiB of garbage: 75 % of the heap, never full
    ASSERT_EQ(uffdgc_alloc(m, t.bytes, 1000, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
  }
  const uint64_t collections =
      ConcurrentTestMode() ? WaitForCollections(heap, m, 1) : Stats(heap).collections;
  EXPECT_GE(collections, 1u) << "occupancy 50 % was passed without a collection";
  ASSERT_EQ(uffdgc_mutator_detach(m), UFFDGC_OK);
  ASSERT_EQ(uffdgc_heap_destroy(heap), UFFDGC_OK);
}

// Parallel compaction threads give the same result.
class GcThreadsTest : public HeapFixture {
 protected:
  uffdgc_heap_options MakeOptions() override {
    uffdgc_heap_options o = Options();
    o.gc_threads = 2;
    o.tlab_size = 8192;
    return o;
  }
};

TEST_F(GcThreadsTest, TwoCompactionThreads) {
  constexpr int kN = 12000;  // ~3 MiB live: hundreds of to-space pages, enough to split
  uffdgc_ref* keep = H(Alloc(types_.ref_array, kN));
  for (int i = 0; i < kN; ++i) {
    Garbage(300);
    uffdgc_ref r = i % 2 ? AllocId(types_.node, i) : AllocId(types_.bytes, i, 100 + i % 400);
    uffdgc_store_ref(mut_, *keep, Elem(*keep, i), r);
    if (i % 2) Store(r, kNodeRefs[0], *Elem(*keep, i - 1));
  }
  for (int c = 0; c < 3; ++c) {
    Collect();
    if (c == 0) {
      EXPECT_GE(HeapStats().pages_compacted_last, 256u);
    }
    for (int i = 0; i < kN; ++i) {
      uffdgc_ref r = *Elem(*keep, i);
      ExpectIntact(r, i);
      if (i % 2) {
        ASSERT_EQ(*Slot(r, kNodeRefs[0]), *Elem(*keep, i - 1));
      }
    }
  }
}

}  // namespace
}  // namespace heaptest
