// The graph stress test's shadow model (graph_stress_test.cc): object kinds and their layout,
// the per-thread models, the state the workers and the checker share, the embedder callbacks
// and the check of one object against its model.
#pragma once

#include <algorithm>
#include <cinttypes>
#include <deque>
#include <memory>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tests/support/require.h"
#include "../heap/heap_test_support.h"

namespace heaptest::graph_stress {

inline constexpr int kMaxWorkers = 8;
inline constexpr int kHandles = 8;
inline constexpr int kVmRoots = 4;
inline constexpr int kVmWeak = 4;  // slot 0 always retained (strong), 1.. truly weak
inline constexpr int kRootCount = kHandles + kVmRoots + 2;  // + global + retained weak slot
inline constexpr int kRootGlobal = kHandles + kVmRoots;
inline constexpr int kRootRetained = kHandles + kVmRoots + 1;
inline constexpr int kAnchors = 3;  // handles 0..2 hold anchor arrays that are never replaced
inline constexpr uint64_t kAnchorLength = 1500;
inline constexpr int kShared = 16;
inline constexpr int kMaxPins = 4;
inline constexpr uint64_t kSharedId = 1;
inline constexpr size_t kLargeThreshold = 16 << 10;
inline constexpr int kIdShift = 40;

enum Kind : uint8_t { kNode, kNm, kTraced, kArr, kBytes, kWeakC, kFinal, kLeaf };
inline const char* KindName(Kind k) {
  static const char* names[] = {"node", "nm", "traced", "arr", "bytes", "weak", "final", "leaf"};
  return names[k];
}

struct MNode {
  Kind kind;
  uint32_t header_high = 0;
  uint64_t length = 0;  // arr / bytes
  uint64_t mask = 0;    // traced
  uffdgc_ref fixed_addr = 0;
  std::vector<uint64_t> slots;  // node/nm 3, traced 5, arr length, weak 3
};

inline size_t SlotOffset(const MNode& n, size_t i) {
  switch (n.kind) {
    case kNode:
    case kNm:
      return kNodeRefs[i];
    case kTraced:
      return kTracedSlot0 + 8 * i;
    case kArr:
      return kArrayBase + 8 * i;
    case kWeakC:
      return kWeakRefs[i];
    default:
      return 0;
  }
}
inline bool SlotIsRef(const MNode& n, size_t i) { return n.kind != kTraced || ((n.mask >> i) & 1); }
inline size_t ExpectedSize(const MNode& n) {
  switch (n.kind) {
    case kNode:
    case kNm:
      return kNodeSize;
    case kTraced:
      return kTracedSize;
    case kArr:
      return kArrayBase + 8 * n.length;
    case kBytes:
      return (kArrayBase + n.length + 7) / 8 * 8;
    case kWeakC:
      return kWeakSize;
    case kFinal:
    case kLeaf:
      return kLeafSize;
  }
  return 0;
}
inline uint64_t TracedScalar(uint64_t id, size_t i) { return ScalarFor(id ^ (0x51u + i)); }

struct Model {
  std::unordered_map<uint64_t, MNode> nodes;
};

struct Stress;
Stress* g_stress = nullptr;  // for the embedder callbacks

struct Worker {
  int index = 0;
  uint64_t next = 1;
  std::mt19937_64 rng;
  uffdgc_mutator* m = nullptr;
  uffdgc_handle_scope scope{};
  uffdgc_ref* handles[kHandles] = {};
  uint64_t root_ids[kRootCount] = {};
  uffdgc_global* global = nullptr;
  uint64_t vm_weak_ids[kVmWeak] = {};
  std::vector<std::pair<uint64_t, uffdgc_ref>> pins;  // (id, address)
  Model model;
  uint64_t seen_cycles = 0;
  uint64_t live_estimate = 0;  // own objects reachable at the last full verification
  // counters
  uint64_t ops = 0, allocs = 0, own_checks = 0, weak_reads_cleared = 0, resurrections = 0,
           parked_across = 0;
};

struct Stress {
  uffdgc_heap* heap = nullptr;
  bool generational = false;  // UFFDGC_HEAP_GENERATIONAL: explicit collections are young or full
  Types types;
  std::vector<uint32_t> our_types;
  int workers_n = 0;
  std::unique_ptr<Worker> workers[kMaxWorkers];
  // Embedder state (scan_roots / process_weak / update_weak).
  uffdgc_ref vm_roots[kMaxWorkers][kVmRoots] = {};
  uffdgc_ref vm_weak[kMaxWorkers][kVmWeak] = {};
  bool vm_dead[kMaxWorkers][kVmWeak] = {};
  std::atomic<uint64_t> cycles{0};      // PAUSE_END events
  std::atomic<uint64_t> cycle_ends{0};  // CYCLE_END events
  std::atomic<bool> marking{false};     // between the "mark-start" phase and CYCLE_END
  bool park_across = false;             // workers park across a cycle now and then
  uint32_t churn_type = 0;              // churn threads' private nodes (not in our_types)
  std::atomic<uint64_t> churn_sessions{0}, churn_attach_marking{0}, churn_detach_marking{0},
      churn_parked_across{0}, churn_checks{0}, collector_cycles{0};
  // Shared array.
  uffdgc_global* shared_global = nullptr;
  Model shared_model;  // holds only the shared array node (id 1)
  std::mutex shared_mu;
  // Finalization bookkeeping.
  std::unordered_set<uint64_t> finalized;
  // Failures.
  std::mutex fail_mu;
  std::atomic<bool> failed{false};
  std::vector<std::string> failures;
  uint64_t seed = 0;
  uint64_t verifications = 0, objects_verified = 0, popped = 0, weak_cleared_checked = 0;

  void Fail(const std::string& msg) {
    std::lock_guard<std::mutex> lock(fail_mu);
    if (failures.size() < 20) failures.push_back(msg);
    failed.store(true);
  }
  Model* ModelOf(uint64_t id) {
    if (id < (uint64_t{1} << kIdShift)) return &shared_model;
    uint64_t w = (id >> kIdShift) - 1;
    if (w >= static_cast<uint64_t>(workers_n)) return nullptr;
    return &workers[w]->model;
  }
  MNode* Find(uint64_t id) {
    Model* m = ModelOf(id);
    if (m == nullptr) return nullptr;
    auto it = m->nodes.find(id);
    return it == m->nodes.end() ? nullptr : &it->second;
  }
};

inline std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

inline void ScanRoots(uffdgc_root_visitor* visitor, void* vm) {
  Stress* s = static_cast<Stress*>(vm);
  for (int w = 0; w < s->workers_n; ++w) {
    for (uffdgc_ref& slot : s->vm_roots[w]) uffdgc_root_visit(visitor, &slot);
  }
}
inline int ProcessWeak(uffdgc_weak_ctx* ctx, void* vm) {
  Stress* s = static_cast<Stress*>(vm);
  int again = 0;
  for (int w = 0; w < s->workers_n; ++w) {
    for (int i = 0; i < kVmWeak; ++i) {
      s->vm_dead[w][i] = false;
      // Concurrent modes call this on the GC thread while workers store: atomic access.
      uffdgc_ref r = __atomic_load_n(&s->vm_weak[w][i], __ATOMIC_ACQUIRE);
      if (r == 0 || uffdgc_weak_is_live(ctx, r)) continue;
      if (i == 0) {
        uffdgc_weak_retain(ctx, r);
        again = 1;
      } else {
        s->vm_dead[w][i] = true;
      }
    }
  }
  return again;
}
inline void UpdateWeak(uffdgc_weak_ctx* ctx, void* vm) {
  Stress* s = static_cast<Stress*>(vm);
  for (int w = 0; w < s->workers_n; ++w) {
    for (int i = 0; i < kVmWeak; ++i) {
      // Decided on the current value: a worker may have stored since ProcessWeak ran.
      uffdgc_ref& r = s->vm_weak[w][i];
      if (r != 0) r = uffdgc_weak_is_live(ctx, r) ? uffdgc_weak_forward(ctx, r) : 0;
    }
  }
}
inline void CountCycles(const uffdgc_event* e, void* arg) {
  Stress* s = static_cast<Stress*>(arg);
  if (e->kind == UFFDGC_EVENT_PAUSE_END) s->cycles.fetch_add(1);
  if (e->kind == UFFDGC_EVENT_PHASE && e->phase != nullptr &&
      std::strcmp(e->phase, "mark-start") == 0) {
    s->marking.store(true);
  }
  if (e->kind == UFFDGC_EVENT_CYCLE_END) {
    s->marking.store(false);
    s->cycle_ends.fetch_add(1);
  }
}

// Waits (bounded) until at least one more cycle has ended.
inline void AwaitCycleEnd(Stress& s, uint64_t before, int max_ms = 250) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (s.cycle_ends.load() == before && !s.failed.load() &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
}

struct Ref {
  uffdgc_ref ref = 0;
  uint64_t id = 0;
};

// ---- object checks shared by the per-thread and the global verification ----

// Checks everything about one object except its reference slots.
inline bool CheckObject(Stress& s, uffdgc_ref r, uint64_t id, const MNode& n, const char* where) {
  auto fail = [&](const std::string& what) {
    s.Fail(std::string(where) + ": object " + Hex(id) + " (" + KindName(n.kind) + ") at " +
           Hex(r) + ": " + what);
    return false;
  };
  if (Id(r) != id) return fail("id is " + Hex(Id(r)));
  const Types& t = s.types;
  uint32_t want_type = 0;
  switch (n.kind) {
    case kNode: want_type = t.node; break;
    case kNm: want_type = t.nm_node; break;
    case kTraced: want_type = t.traced; break;
    case kArr: want_type = t.ref_array; break;
    case kBytes: want_type = t.bytes; break;
    case kWeakC: want_type = t.weak; break;
    case kFinal: want_type = t.final_leaf; break;
    case kLeaf: want_type = t.leaf; break;
  }
  if (TypeOf(r) != want_type) return fail("type index " + std::to_string(TypeOf(r)));
  if (HeaderHigh(r) != n.header_high) return fail("embedder header bits changed");
  if (n.fixed_addr != 0 && n.fixed_addr != r) {
    return fail("non-moving object moved from " + Hex(n.fixed_addr));
  }
  switch (n.kind) {
    case kNode:
    case kNm:
      if (Word(r, kNodeScalar) != ScalarFor(id)) return fail("scalar corrupted");
      break;
    case kTraced:
      if (Word(r, kTracedMask) != n.mask) return fail("mask corrupted");
      for (size_t i = 0; i < kTracedSlots; ++i) {
        if (!SlotIsRef(n, i) && Word(r, kTracedSlot0 + 8 * i) != TracedScalar(id, i)) {
          return fail("non-reference slot " + std::to_string(i) + " changed");
        }
      }
      break;
    case kArr:
    case kBytes:
      if (Length(r) != n.length) return fail("length " + std::to_string(Length(r)));
      if (n.kind == kBytes) {
        for (uint64_t i = 0; i < n.length; ++i) {
          if (Bytes(r)[i] != PatternByte(id, i)) return fail("byte " + std::to_string(i));
        }
      }
      break;
    case kFinal:
    case kLeaf:
      if (Word(r, 16) != ScalarFor(id) || Word(r, 24) != ScalarFor(id + 1)) {
        return fail("payload corrupted");
      }
      break;
    case kWeakC:
      break;
  }
  return true;
}

}  // namespace heaptest::graph_stress
