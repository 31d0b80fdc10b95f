// Fault-injection storms during concurrent compaction (design: .install.ops): the page installer
// that the GC thread and the mutators' SIGBUS handlers share (runtime/test_access.h
// set_fault_injector) is hit by rules that fire again and again (os/uffd/fault_injection.h:
// every=K, p=F, from/count windows): EBUSY (COPY fallback), EAGAIN with nothing done (retry),
// partial MOVEs (a real partial move, then EAGAIN), the 6.18 unreported moves, ENOMEM (a memory
// cgroup at its limit: backoff, the GC thread gives back its recycling window first) and EINVAL
// with the range still registered (MOVE refusing the mappings: the rest of the run is copied), in
// MOVE mode, and EAGAIN/partial/ENOMEM storms in COPY mode. Raced installs (EEXIST after a "racer"
// filled the page) are not among them: the collector's page states admit one installer per page, so
// for it that is a foreign fill and fatal (tests/gc/install_errors_test.cc).
//
// Meanwhile 3 mutator threads build and mutate a graph (chains of nodes with byte payloads
// and leaves, hanging off a table per thread; pins; parking across cycles) and compare it with
// a shadow model after every cycle they observe, while a collector thread runs cycles back to
// back. The heap verifier (UFFDGC_HEAP_VERIFY) runs after every cycle and aborts on a bad
// reference. At the end the installer counters (heap->install_counters, and what
// uffdgc_heap_get_stats reports of them) must show that the storm really hit, mutators must
// have produced pages themselves (their SIGBUS path goes through the same installer), and the
// graph must be intact.
//
// Seed: printed; UFFDGC_TEST_SEED=<n> replays the mutators' choices (thread interleaving and
// hence which ioctl a storm hits still vary). UFFDGC_STORM_CYCLES=<n> runs more cycles.
#include <cinttypes>
#include <memory>
#include <random>
#include <sstream>

#include "runtime/test_access.h"
#include "tests/support/require.h"
#include "../heap/heap_test_support.h"
#include "os/uffd/fault_injection.h"
#include "os/uffd/install_counters.h"
#include "runtime/heap.h"

namespace heaptest {
namespace {

constexpr int kWorkers = 3;
constexpr uint64_t kTableSlots = 384;
constexpr int kIdShift = 40;
constexpr uint64_t kPayloadBit = 1ull << 39;
constexpr uint64_t kLeafBit = 1ull << 38;
constexpr size_t kMaxPins = 2;

enum Expect : uint32_t {
  kEbusyCopies = 1u << 0,     // MOVE said EBUSY, the page was copied
  kAllEbusy = 1u << 1,        // every MOVE said EBUSY: nothing was moved at all
  kEagain = 1u << 2,          // EAGAIN without progress, retried
  kPartial = 1u << 3,         // partial progress, resumed
  // (1u << 4: EEXIST after a racer's install, no longer a storm: a foreign fill for the
  // collector)
  kUnreported = 1u << 5,      // EEXIST with our source gone (6.18 under-count)
  kEnomem = 1u << 6,          // ENOMEM retried after a backoff (GC thread: after a release)
  kEinvalCopies = 1u << 7,    // EINVAL with the range registered: copied instead
};

struct StormCase {
  const char* name;
  uint32_t mode;
  const char* spec;
  uint32_t expect;
};

std::ostream& operator<<(std::ostream& os, const StormCase& c) {
  return os << c.name << " (" << uffdgc_mode_name(c.mode) << ", \"" << c.spec << "\")";
}

uint64_t SeedFromEnv() {
  if (const char* e = std::getenv("UFFDGC_TEST_SEED")) return std::strtoull(e, nullptr, 0);
  return std::random_device{}() * 0x100000001ull ^
         static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

uint64_t CyclesFromEnv(uint64_t def) {
  if (const char* e = std::getenv("UFFDGC_STORM_CYCLES")) return std::strtoull(e, nullptr, 0);
  return def;
}

struct ChainNode {
  uint64_t id;
  uint64_t scalar;
  uint32_t payload_len;
  bool leaf;
};

struct Shared {
  uffdgc_heap* heap = nullptr;
  Types types;
  std::atomic<uint64_t> cycles{0};  // CYCLE_END events
  std::atomic<bool> stop{false};
  std::mutex fail_mu;
  std::vector<std::string> failures;
  std::atomic<bool> failed{false};
  void Fail(const std::string& m) {
    std::lock_guard<std::mutex> lock(fail_mu);
    if (failures.size() < 20) failures.push_back(m);
    failed.store(true);
  }
};

void OnEvent(const uffdgc_event* e, void* arg) {
  if (e->kind == UFFDGC_EVENT_CYCLE_END) static_cast<Shared*>(arg)->cycles.fetch_add(1);
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// One mutator thread's graph: table[i] -> node -> node -> ... (next @16), each node with a
// Bytes payload (@24) and maybe a Leaf (@32); the model lists the chain of each slot.
class Worker {
 public:
  Worker(Shared& s, int index, uint64_t seed) : s_(s), index_(index), rng_(seed) {}

  void Run() {
    if (uffdgc_mutator_attach(s_.heap, this, &m_) != UFFDGC_OK) {
      s_.Fail("attach failed");
      return;
    }
    uffdgc_handle_scope scope;
    uffdgc_handle_scope_open(m_, &scope);
    table_ = uffdgc_handle_new(m_, 0);
    head_ = uffdgc_handle_new(m_, 0);
    tmp_ = uffdgc_handle_new(m_, 0);
    tmp2_ = uffdgc_handle_new(m_, 0);
    uffdgc_ref t = 0;
    if (uffdgc_alloc(m_, s_.types.ref_array, kTableSlots, 0, &t) != UFFDGC_OK) {
      s_.Fail("table allocation failed");
    } else {
      Word(t, kIdOffset) = Base() | 0;
      *table_ = t;
      model_.resize(kTableSlots);
      for (uint64_t i = 0; i < kTableSlots && !s_.failed.load(); ++i) Replace(i);
      seen_ = s_.cycles.load();
      while (!s_.stop.load() && !s_.failed.load()) Step();
      VerifyAll("final");
    }
    for (auto& [id, addr] : pins_) uffdgc_unpin(m_, addr);
    uffdgc_handle_scope_close(m_, &scope);
    if (uffdgc_mutator_detach(m_) != UFFDGC_OK) s_.Fail("detach failed");
  }

  uint64_t ops() const { return ops_; }
  uint64_t verifications() const { return verifications_; }

 private:
  uint64_t R(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  uint64_t Base() const { return static_cast<uint64_t>(index_ + 1) << kIdShift; }
  std::string Who() const { return "thread " + std::to_string(index_) + ": "; }

  uffdgc_ref Alloc(uint32_t type, uint64_t length = 0) {
    uffdgc_ref r = 0;
    const uffdgc_result res = uffdgc_alloc(m_, type, length, UFFDGC_ALLOC_DEFAULT, &r);
    if (res != UFFDGC_OK || r == 0) {
      s_.Fail(Who() + "allocation failed: " + uffdgc_result_name(res));
      return 0;
    }
    return r;
  }

  // A new chain node (and its payload and leaf) whose next is *head_; the result in *head_.
  // Only handles hold references across allocations: any allocation may run a cycle.
  bool PushNode(ChainNode* out) {
    const uint64_t id = Base() | next_++;
    ChainNode n{id, ScalarFor(id), static_cast<uint32_t>(16 + R(400)), R(3) == 0};
    uffdgc_ref p = Alloc(s_.types.bytes, n.payload_len);
    if (p == 0) return false;
    Word(p, kIdOffset) = id | kPayloadBit;
    for (uint32_t i = 0; i < n.payload_len; ++i) Bytes(p)[i] = PatternByte(id, i);
    *tmp_ = p;
    *tmp2_ = 0;
    if (n.leaf) {
      uffdgc_ref l = Alloc(s_.types.leaf);
      if (l == 0) return false;
      Word(l, kIdOffset) = id | kLeafBit;
      Word(l, 16) = ScalarFor(id);
      Word(l, 24) = ScalarFor(id + 1);
      *tmp2_ = l;
    }
    uffdgc_ref node = Alloc(s_.types.node);
    if (node == 0) return false;
    Word(node, kIdOffset) = id;
    Word(node, kNodeScalar) = n.scalar;
    uffdgc_store_ref(m_, node, Slot(node, kNodeRefs[0]), *head_);
    uffdgc_store_ref(m_, node, Slot(node, kNodeRefs[1]), *tmp_);
    uffdgc_store_ref(m_, node, Slot(node, kNodeRefs[2]), *tmp2_);
    *head_ = node;
    *tmp_ = *tmp2_ = 0;
    *out = n;
    return true;
  }

  // Replaces slot i with a fresh chain (the old one becomes garbage unless pinned).
  void Replace(uint64_t i) {
    const uint64_t len = 1 + R(5);
    std::vector<ChainNode> chain(len);
    *head_ = 0;
    for (uint64_t k = len; k-- > 0;) {
      if (!PushNode(&chain[k])) return;
    }
    uffdgc_ref t = *table_;
    uffdgc_store_ref(m_, t, Elem(t, i), *head_);
    *head_ = 0;
    model_[i] = std::move(chain);
  }

  void Prepend(uint64_t i) {
    if (model_[i].size() >= 12) return;
    *head_ = *Elem(*table_, i);
    ChainNode n;
    if (!PushNode(&n)) return;
    uffdgc_ref t = *table_;
    uffdgc_store_ref(m_, t, Elem(t, i), *head_);
    *head_ = 0;
    model_[i].insert(model_[i].begin(), n);
  }

  uffdgc_ref NodeAt(uint64_t i, size_t k) {
    uffdgc_ref r = *Elem(*table_, i);
    for (size_t j = 0; j < k && r != 0; ++j) r = *Slot(r, kNodeRefs[0]);
    return r;
  }

  void Truncate(uint64_t i) {
    auto& chain = model_[i];
    if (chain.size() < 2) return;
    const size_t keep = 1 + R(chain.size() - 1);
    uffdgc_ref last = NodeAt(i, keep - 1);
    if (last == 0 || Id(last) != chain[keep - 1].id) {
      s_.Fail(Who() + "truncate: slot " + std::to_string(i) + " node " + std::to_string(keep - 1) +
              " is not " + Hex(chain[keep - 1].id));
      return;
    }
    uffdgc_store_ref(m_, last, Slot(last, kNodeRefs[0]), 0);
    chain.resize(keep);
  }

  void Swap(uint64_t i, uint64_t j) {
    uffdgc_ref t = *table_;
    const uffdgc_ref a = *Elem(t, i), b = *Elem(t, j);
    if (R(2) == 0) {
      uffdgc_store_ref(m_, t, Elem(t, i), b);
      uffdgc_store_ref(m_, t, Elem(t, j), a);
    } else {  // the bulk barrier
      const uffdgc_ref ba[1] = {b}, aa[1] = {a};
      uffdgc_store_refs(m_, t, Elem(t, i), ba, 1);
      uffdgc_store_refs(m_, t, Elem(t, j), aa, 1);
    }
    std::swap(model_[i], model_[j]);
  }

  void Mutate(uint64_t i) {
    auto& chain = model_[i];
    if (chain.empty()) return;
    const size_t k = R(chain.size());
    uffdgc_ref r = NodeAt(i, k);
    if (r == 0 || Id(r) != chain[k].id) {
      s_.Fail(Who() + "mutate: slot " + std::to_string(i) + " node " + std::to_string(k) +
              " is not " + Hex(chain[k].id));
      return;
    }
    chain[k].scalar = rng_();
    Word(r, kNodeScalar) = chain[k].scalar;
  }

  void PinOrUnpin() {
    if (!pins_.empty() && (pins_.size() >= kMaxPins || R(2) == 0)) {
      auto [id, addr] = pins_.back();
      pins_.pop_back();
      if (Id(addr) != id) s_.Fail(Who() + "pinned object " + Hex(id) + " changed at " + Hex(addr));
      if (uffdgc_unpin(m_, addr) != UFFDGC_OK) s_.Fail(Who() + "unpin failed");
      return;
    }
    const uint64_t i = R(kTableSlots);
    if (model_[i].empty()) return;
    uffdgc_ref r = *Elem(*table_, i);
    if (uffdgc_pin(m_, r) != UFFDGC_OK) {
      s_.Fail(Who() + "pin failed");
      return;
    }
    pins_.emplace_back(model_[i][0].id, r);
  }

  void Garbage() {
    for (int k = 0; k < 20; ++k) {
      uffdgc_ref g = Alloc(s_.types.bytes, 100 + R(300));
      if (g == 0) return;
      Word(g, kIdOffset) = 0xdead;
    }
  }

  // Parks until at least one more cycle has ended (bounded), then checks everything.
  void ParkAcrossACycle() {
    const uint64_t before = s_.cycles.load();
    uffdgc_mutator_park(m_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (s_.cycles.load() == before && std::chrono::steady_clock::now() < until &&
           !s_.stop.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    uffdgc_mutator_unpark(m_);
    VerifyAll("after parking");
  }

  bool VerifySlot(uint64_t i, const char* when) {
    uffdgc_ref r = *Elem(*table_, i);
    const auto& chain = model_[i];
    auto fail = [&](size_t k, const std::string& what) {
      s_.Fail(Who() + when + ": slot " + std::to_string(i) + " node " + std::to_string(k) +
              " (" + Hex(k < chain.size() ? chain[k].id : 0) + ") at " + Hex(r) + ": " + what);
      return false;
    };
    for (size_t k = 0; k < chain.size(); ++k) {
      const ChainNode& n = chain[k];
      if (r == 0) return fail(k, "missing (null)");
      if (Id(r) != n.id) return fail(k, "id is " + Hex(Id(r)));
      if (TypeOf(r) != s_.types.node) return fail(k, "type " + std::to_string(TypeOf(r)));
      if (Word(r, kNodeScalar) != n.scalar) return fail(k, "scalar corrupted");
      const uffdgc_ref p = *Slot(r, kNodeRefs[1]);
      if (p == 0 || Id(p) != (n.id | kPayloadBit) || TypeOf(p) != s_.types.bytes) {
        return fail(k, "payload reference wrong: " + Hex(p));
      }
      if (Length(p) != n.payload_len) return fail(k, "payload length " + std::to_string(Length(p)));
      for (uint32_t b = 0; b < n.payload_len; ++b) {
        if (Bytes(p)[b] != PatternByte(n.id, b)) return fail(k, "payload byte " + std::to_string(b));
      }
      const uffdgc_ref l = *Slot(r, kNodeRefs[2]);
      if (n.leaf) {
        if (l == 0 || Id(l) != (n.id | kLeafBit) || Word(l, 16) != ScalarFor(n.id) ||
            Word(l, 24) != ScalarFor(n.id + 1)) {
          return fail(k, "leaf wrong at " + Hex(l));
        }
      } else if (l != 0) {
        return fail(k, "unexpected leaf " + Hex(l));
      }
      r = *Slot(r, kNodeRefs[0]);
    }
    if (r != 0) return fail(chain.size(), "chain continues past its end");
    return true;
  }

  void VerifyAll(const char* when) {
    ++verifications_;
    if (Id(*table_) != Base()) s_.Fail(Who() + when + ": table id is " + Hex(Id(*table_)));
    for (uint64_t i = 0; i < kTableSlots; ++i) {
      if (!VerifySlot(i, when)) return;
    }
    for (auto& [id, addr] : pins_) {
      if (Id(addr) != id || TypeOf(addr) != s_.types.node) {
        s_.Fail(Who() + when + ": pinned object " + Hex(id) + " at " + Hex(addr) + " changed");
      }
    }
  }

  void Step() {
    const uint64_t i = R(kTableSlots);
    const uint64_t p = R(100);
    if (p < 30) Replace(i);
    else if (p < 45) Prepend(i);
    else if (p < 55) Truncate(i);
    else if (p < 65) Swap(i, R(kTableSlots));
    else if (p < 75) Mutate(i);
    else if (p < 92) VerifySlot(i, "spot check");
    else if (p < 97) Garbage();
    else if (p < 99) PinOrUnpin();
    else if (R(4) == 0) ParkAcrossACycle();
    ++ops_;
    uffdgc_poll(m_);
    const uint64_t c = s_.cycles.load();
    if (c != seen_) {
      seen_ = c;
      VerifyAll("after a cycle");
    }
  }

  Shared& s_;
  int index_;
  std::mt19937_64 rng_;
  uffdgc_mutator* m_ = nullptr;
  uffdgc_ref* table_ = nullptr;
  uffdgc_ref* head_ = nullptr;
  uffdgc_ref* tmp_ = nullptr;
  uffdgc_ref* tmp2_ = nullptr;
  std::vector<std::vector<ChainNode>> model_;
  std::vector<std::pair<uint64_t, uffdgc_ref>> pins_;
  uint64_t next_ = 1;
  uint64_t seen_ = 0;
  uint64_t ops_ = 0, verifications_ = 0;
};

class FaultStorm : public ::testing::TestWithParam<StormCase> {};

TEST_P(FaultStorm, GraphSurvivesBackToBackCycles) {
  const StormCase& sc = GetParam();
  Watchdog dog(sc.name, 280);
  const uint64_t seed = SeedFromEnv();
  const uint64_t target_cycles = CyclesFromEnv(14);
  std::printf("fault storm %s: mode %s, spec \"%s\", UFFDGC_TEST_SEED=%" PRIu64 "\n", sc.name,
              uffdgc_mode_name(sc.mode), sc.spec, seed);
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));

  Shared s;
  uffdgc_heap_options o{};
  o.struct_size = sizeof o;
  o.mode = sc.mode;
  o.flags = UFFDGC_HEAP_VERIFY;
  o.heap_limit = 64u << 20;
  o.trigger_allocated = 4u << 20;
  o.tlab_size = 16 << 10;
  const uffdgc_result rc = uffdgc_heap_create(&o, &s.heap);
  if (rc == UFFDGC_EUNSUPPORTED) {
    UFFDGC_TEST_UNAVAILABLE(uffdgc::test::mode_capability(sc.mode),
                            std::string(uffdgc_mode_name(sc.mode)) + " mode is not supported here (uffdgc-probe)");
  }
  ASSERT_EQ(rc, UFFDGC_OK);
  ASSERT_EQ(Stats(s.heap).mode, sc.mode);
  uffdgc::uffd::FaultInjector injector;
  ASSERT_TRUE(injector.parse(sc.spec)) << sc.spec;
  uffdgc::test_access::set_fault_injector(s.heap, &injector);  // before any cycle
  ASSERT_EQ(RegisterStandardTypes(s.heap, &s.types), UFFDGC_OK);
  ASSERT_EQ(uffdgc_set_event_listener(s.heap, &OnEvent, &s), UFFDGC_OK);

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(std::make_unique<Worker>(s, w, seed * 0x9E3779B97F4A7C15ull + w + 1));
  }
  for (int w = 0; w < kWorkers; ++w) threads.emplace_back([&, w] { workers[w]->Run(); });
  // The collector: cycles back to back.
  const auto start = std::chrono::steady_clock::now();
  uint64_t explicit_cycles = 0;
  std::thread collector([&] {
    uffdgc_mutator* m = nullptr;
    if (uffdgc_mutator_attach(s.heap, nullptr, &m) != UFFDGC_OK) {
      s.Fail("collector attach failed");
      s.stop.store(true);
      return;
    }
    while (!s.failed.load()) {
      const uffdgc_result r = uffdgc_collect(m);
      if (r != UFFDGC_OK) s.Fail(std::string("uffdgc_collect: ") + uffdgc_result_name(r));
      ++explicit_cycles;
      uffdgc_poll(m);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // Until every rule has fired, too (for up to a minute): the rules on MOVE meet only the
      // GC thread's long runs, and a sanitizer build makes few of those in 1.5 s. Likewise an
      // ENOMEM storm until one ENOMEM met the GC thread (most COPY calls are the mutators'
      // single pages: under TSan 17 ENOMEMs all met mutators once).
      bool everything_shown = true;
      for (int i = 0; i < injector.rules(); ++i) everything_shown &= injector.fired_rule(i) > 0;
      if ((sc.expect & kEnomem) != 0 &&
          s.heap->install_counters.enomem_releases.load(std::memory_order_relaxed) == 0) {
        everything_shown = false;
      }
      if ((s.cycles.load() >= target_cycles && secs >= 1.5 && (everything_shown || secs > 60)) ||
          secs > 200) {
        break;
      }
    }
    s.stop.store(true);
    uffdgc_mutator_detach(m);
  });
  collector.join();
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // One more cycle without the storm's mutators, then the numbers.
  uffdgc_mutator* main_m = nullptr;
  ASSERT_EQ(uffdgc_mutator_attach(s.heap, nullptr, &main_m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_collect(main_m), UFFDGC_OK);
  EXPECT_EQ(uffdgc_mutator_detach(main_m), UFFDGC_OK);
  // uffdgc_collect returns after the flip: the compaction (and its installs) runs on.
  s.heap->gc_thread.wait_idle();
  const uffdgc_heap_stats st = Stats(s.heap);
  const auto c = uffdgc::uffd::read_counters(s.heap->install_counters);

  uint64_t ops = 0, verifications = 0;
  for (auto& w : workers) {
    ops += w->ops();
    verifications += w->verifications();
  }
  std::printf(
      "fault storm %s: %.1f s, %" PRIu64 " cycles (%" PRIu64 " explicit), %" PRIu64
      " ops, %" PRIu64 " full graph checks; injector: %u fired of %" PRIu64 " MOVE + %" PRIu64
      " COPY calls; installer: moved %" PRIu64 " (+%" PRIu64 " unreported), copied %" PRIu64
      ", copied on EBUSY %" PRIu64 ", EBUSY %" PRIu64 ", EAGAIN retries %" PRIu64
      ", partial %" PRIu64 ", already present %" PRIu64 ", ENOMEM retries %" PRIu64
      " (GC thread releases %" PRIu64 "), EBUSY copies out of memory %" PRIu64
      ", copied on EINVAL %" PRIu64 ", fatal %" PRIu64 "; pages by mutators %" PRIu64
      " (+%" PRIu64 " by assists)\n",
      sc.name, secs, st.collections, explicit_cycles, ops, verifications, injector.fired(),
      injector.calls(uffdgc::uffd::UffdOp::kMove), injector.calls(uffdgc::uffd::UffdOp::kCopy),
      c.pages_moved, c.pages_moved_unreported, c.pages_copied, c.pages_copied_on_ebusy,
      c.move_ebusy, c.eagain_retries, c.move_partial, c.pages_already_present, c.enomem_retries,
      c.enomem_releases, c.ebusy_copies_out_of_memory, c.pages_copied_on_einval, c.fatal_errors,
      st.pages_by_mutators, st.pages_by_assists);

  for (const std::string& f : s.failures) ADD_FAILURE() << f;
  if (!s.failures.empty()) ADD_FAILURE() << "replay with UFFDGC_TEST_SEED=" << seed;
  EXPECT_GE(st.collections, target_cycles);
  EXPECT_GT(injector.fired(), 0u) << "the storm never fired";
  for (int i = 0; i < injector.rules(); ++i) {
    EXPECT_GT(injector.fired_rule(i), 0u) << "rule " << i << " of \"" << sc.spec << "\" never fired";
  }
  EXPECT_EQ(c.injected_faults, injector.fired());
  EXPECT_EQ(c.fatal_errors, 0u);
  EXPECT_GT(st.pages_by_mutators, 0u) << "no mutator produced a page in its SIGBUS handler";
  if (sc.expect & kEbusyCopies) {
    EXPECT_GT(c.move_ebusy, 0u);
    EXPECT_GT(c.pages_copied_on_ebusy, 0u);
    // Each EBUSY page is copied, or found moved already by an unreported MOVE (its source is
    // gone), or (a free page above the compacted end a mutator was filling) found
    // unregistered because the phase ended meanwhile, or its COPY ran out of memory (the GC
    // thread then releases from-space and retries the run: that page's MOVE counts again).
    EXPECT_GE(c.pages_copied_on_ebusy + c.pages_moved_unreported + c.range_gone +
                  c.ebusy_copies_out_of_memory,
              c.move_ebusy);
  }
  if (sc.expect & kAllEbusy) {
    EXPECT_EQ(c.pages_moved + c.pages_moved_unreported, 0u) << "a MOVE got through the storm";
    // Mutators copy from their scratch page (no MOVE to refuse); the GC thread's moves of
    // recycled from-space all took the fallback.
    EXPECT_GE(c.pages_copied, st.pages_by_mutators) << "the mutators' installs are copies";
  }
  if (sc.expect & kEagain) {
    EXPECT_GT(c.eagain_retries, 0u);
  }
  if (sc.expect & kPartial) {
    EXPECT_GT(c.move_partial, 0u);
  }
  if (sc.expect & kUnreported) {
    EXPECT_GT(c.pages_moved_unreported, 0u);
  }
  if (sc.expect & kEnomem) {
    EXPECT_GT(c.enomem_retries, 0u);
    EXPECT_GT(c.enomem_releases, 0u) << "the GC thread never gave its from-space back on ENOMEM";
  }
  if (sc.expect & kEinvalCopies) {
    EXPECT_GT(c.pages_copied_on_einval, 0u);
  }
  EXPECT_EQ(c.foreign_fills, 0u);
  if (sc.mode == UFFDGC_MODE_COPY) {
    EXPECT_EQ(c.move_ioctls, 0u) << "COPY mode issued a MOVE";
    EXPECT_GT(c.pages_copied, 0u);
  }
  // What the C API reports of the installer's outcomes.
  EXPECT_EQ(st.pages_copied_on_ebusy, c.pages_copied_on_ebusy);
  EXPECT_EQ(st.pages_copied, c.pages_copied);
  if (c.eagain_retries > 0) {
    EXPECT_GT(st.install_eagain_retries, 0u) << "uffdgc_heap_stats.install_eagain_retries";
  }
  if (c.move_partial > 0) {
    EXPECT_GT(st.install_partial, 0u) << "uffdgc_heap_stats.install_partial";
  }
  if (c.pages_already_present > 0) {
    EXPECT_GT(st.pages_eexist, 0u) << "uffdgc_heap_stats.pages_eexist";
  }

  uffdgc::test_access::set_fault_injector(s.heap, nullptr);
  EXPECT_EQ(uffdgc_heap_destroy(s.heap), UFFDGC_OK);
}

// Move mode moves only the GC thread's runs of 32 pages or more (ConcurrentCompaction::
// kMinMoveRun): a few hundred MOVE calls in these 1.5 s runs, against tens of thousands of
// COPY calls, so the rules on MOVE fire often.
const StormCase kCases[] = {
    {"EbusyEveryThirdMove", UFFDGC_MODE_MOVE, "move:every=3:errno=16", kEbusyCopies},
    {"EbusyOnEveryMove", UFFDGC_MODE_MOVE, "move:every=1:errno=16", kEbusyCopies | kAllEbusy},
    {"EagainSeededStorm", UFFDGC_MODE_MOVE, "move:p=0.3,seed=5:errno=11", kEagain},
    {"EagainWindow", UFFDGC_MODE_MOVE, "move:from=20,count=3000:errno=11", kEagain},
    {"PartialMoves", UFFDGC_MODE_MOVE, "move:every=2:partial=3", kPartial},
    {"UnreportedMoves", UFFDGC_MODE_MOVE, "move:every=5:unreported=4/1", kUnreported},
    {"EnomemMoves", UFFDGC_MODE_MOVE, "move:every=4:errno=12", kEnomem},
    {"EinvalMoves", UFFDGC_MODE_MOVE, "move:every=4:errno=22", kEinvalCopies},
    {"MixedMoveStorm", UFFDGC_MODE_MOVE,
     "move:every=5:errno=16,move:p=0.2,seed=3:errno=11,move:every=7:partial=2,"
     "move:every=11:unreported=3/1,move:every=13:errno=12,copy:every=3:errno=11,"
     "copy:every=4:errno=12",
     kEbusyCopies | kEagain | kPartial | kUnreported | kEnomem},
    {"CopyEagain", UFFDGC_MODE_COPY, "copy:every=2:errno=11", kEagain},
    {"CopyPartial", UFFDGC_MODE_COPY, "copy:every=3:partial=2", kPartial},
    {"EnomemCopies", UFFDGC_MODE_COPY, "copy:every=40:errno=12", kEnomem},
    {"MixedCopyStorm", UFFDGC_MODE_COPY,
     "copy:p=0.25,seed=9:errno=11,copy:every=3:partial=2,copy:every=7:errno=12",
     kEagain | kPartial | kEnomem},
};

INSTANTIATE_TEST_SUITE_P(Storms, FaultStorm, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<StormCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace heaptest
