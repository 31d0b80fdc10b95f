// A worker thread of the graph stress test (graph_stress_test.cc): its mutations, each mirrored
// in its model, and the re-check of its own subgraph after every collection it observes.
#pragma once

#include "tests/stress/graph_stress_model.h"

namespace heaptest::graph_stress {

// ---- a mutator thread ----

class Mutator {
 public:
  Mutator(Stress& s, Worker& w) : s_(s), w_(w) {}

  uint64_t R(uint64_t n) { return n == 0 ? 0 : w_.rng() % n; }
  bool Own(uint64_t id) const { return (id >> kIdShift) == static_cast<uint64_t>(w_.index) + 1; }
  MNode* Node(uint64_t id) {
    auto it = w_.model.nodes.find(id);
    if (it == w_.model.nodes.end()) {
      s_.Fail("thread " + std::to_string(w_.index) + ": no model node for own id " + Hex(id));
      return nullptr;
    }
    return &it->second;
  }
  bool Match(uffdgc_ref r, uint64_t id, const char* what) {
    if (r == 0 && id == 0) return true;
    if (r == 0 || id == 0 || Id(r) != id) {
      s_.Fail("thread " + std::to_string(w_.index) + ": " + what + ": expected object " +
              Hex(id) + ", found " + (r ? "object " + Hex(Id(r)) + " at " + Hex(r) : "null"));
      return false;
    }
    return true;
  }

  // Roots.
  uffdgc_ref RootRef(int k) {
    if (k < kHandles) return *w_.handles[k];
    if (k < kHandles + kVmRoots) return s_.vm_roots[w_.index][k - kHandles];
    if (k == kRootGlobal) return uffdgc_global_get(w_.global);
    return uffdgc_load_weak(w_.m, 0, &s_.vm_weak[w_.index][0]);  // the runtime's weak slot
  }
  Ref ReadRoot(int k) {
    Ref r{RootRef(k), w_.root_ids[k]};
    if (!Match(r.ref, r.id, "root")) return Ref{};
    return r;
  }
  void WriteRoot(int k, Ref v) {
    if (k < kHandles) {
      *w_.handles[k] = v.ref;
    } else if (k < kHandles + kVmRoots) {
      s_.vm_roots[w_.index][k - kHandles] = v.ref;
    } else if (k == kRootGlobal) {
      uffdgc_global_set(w_.global, v.ref);
    } else {
      __atomic_store_n(&s_.vm_weak[w_.index][0], v.ref, __ATOMIC_RELEASE);
      w_.vm_weak_ids[0] = v.id;
    }
    w_.root_ids[k] = v.id;
  }
  // Finalizable? Read from the object's header: another thread's model must not be touched.
  bool Finalizable(uffdgc_ref r) { return r != 0 && TypeOf(r) == s_.types.final_leaf; }

  // A random own object reachable from this thread's roots (strong edges only, own objects
  // only), satisfying pred; checks every edge it follows against the model.
  template <typename Pred>
  Ref RandomOwn(Pred pred) {
    for (int attempt = 0; attempt < 12; ++attempt) {
      Ref cur;
      if (!w_.pins.empty() && R(6) == 0) {
        auto& p = w_.pins[R(w_.pins.size())];
        cur = Ref{p.second, p.first};
        if (!Match(cur.ref, cur.id, "pinned object")) return Ref{};
      } else {
        cur = ReadRoot(static_cast<int>(R(kRootCount)));
      }
      if (cur.ref == 0 || !Own(cur.id)) continue;
      Ref best;
      int seen = 0;
      int steps = static_cast<int>(R(10));
      for (int st = 0;; ++st) {
        MNode* n = Node(cur.id);
        if (n == nullptr) return Ref{};
        if (pred(*n)) {
          ++seen;
          if (R(seen) == 0) best = cur;
        }
        if (st >= steps || n->kind == kWeakC || n->slots.empty()) break;
        size_t i = 0;
        bool found = false;
        for (int tries = 0; tries < 4 && !found; ++tries) {
          i = R(n->slots.size());
          found = SlotIsRef(*n, i) && n->slots[i] != 0;
        }
        if (!found) break;
        uffdgc_ref t = *Slot(cur.ref, SlotOffset(*n, i));
        if (!Match(t, n->slots[i], "edge")) return Ref{};
        if (!Own(n->slots[i])) break;
        cur = Ref{t, n->slots[i]};
      }
      if (best.ref != 0) return best;
    }
    return Ref{};
  }
  Ref AnyOwn() {
    return RandomOwn([](const MNode&) { return true; });
  }
  Ref NonFinalOwn() {
    return RandomOwn([](const MNode& n) { return n.kind != kFinal; });
  }
  Ref Holder() {
    return RandomOwn([](const MNode& n) {
      return n.kind == kNode || n.kind == kNm || n.kind == kTraced || n.kind == kWeakC ||
             (n.kind == kArr && n.length > 0);
    });
  }
  size_t RandomRefSlot(const MNode& n) {
    for (;;) {
      size_t i = R(n.slots.size());
      if (SlotIsRef(n, i)) return i;
    }
  }
  // Keeps v reachable without dropping much: an empty root among the first `limit`, else an
  // (empty if possible) slot of a reachable own object, else any root.
  int AnyRoot(int limit) { return kAnchors + static_cast<int>(R(limit - kAnchors)); }
  void Keep(Ref v, int limit) {
    for (int tries = 0; tries < 6; ++tries) {
      int k = AnyRoot(limit);
      if (w_.root_ids[k] == 0) {
        WriteRoot(k, v);
        return;
      }
    }
    auto [h, slot] = GrowTarget();
    if (h.ref != 0 && StoreSlot(h, slot, v)) return;
    WriteRoot(AnyRoot(limit), v);
  }
  // A reachable holder with an empty reference slot, if a few tries find one (growth); else
  // any holder (the store then drops what the slot referred to).
  std::pair<Ref, size_t> GrowTarget() {
    Ref any;
    size_t any_slot = 0;
    for (int tries = 0; tries < 6; ++tries) {
      Ref h = Holder();
      if (h.ref == 0) continue;
      MNode* n = Node(h.id);
      size_t i = GrowSlot(*n);
      if (n->slots[i] == 0) return {h, i};
      any = h;
      any_slot = i;
    }
    return {any, any_slot};
  }
  // Prefers an empty slot (so the graph grows until the live-size throttle trims it).
  size_t GrowSlot(const MNode& n) {
    size_t i = RandomRefSlot(n);
    for (int tries = 0; tries < 3 && n.slots[i] != 0; ++tries) i = RandomRefSlot(n);
    return i;
  }
  // Stores v into slot i of holder h (model too). Weak containers never get finalizable
  // referents (their weak status would depend on finalization order, which is not specified).
  bool StoreSlot(Ref h, size_t i, Ref v) {
    MNode* n = Node(h.id);
    if (n == nullptr) return false;
    if (n->kind == kWeakC && Finalizable(v.ref)) return false;
    uffdgc_store_ref(w_.m, h.ref, Slot(h.ref, SlotOffset(*n, i)), v.ref);
    n->slots[i] = v.id;
    return true;
  }

  // ---- operations ----

  void AllocAndAttach() {
    Kind kind;
    uint32_t type;
    uint64_t len = 0;
    uint32_t alloc_kind = UFFDGC_ALLOC_DEFAULT;
    const Types& t = s_.types;
    uint64_t p = R(100);
    if (p < 26) { kind = kNode; type = t.node; }
    else if (p < 28) { kind = kNode; type = t.node; alloc_kind = UFFDGC_ALLOC_NONMOVING; }
    else if (p < 32) { kind = kNm; type = t.nm_node; }
    else if (p < 42) { kind = kTraced; type = t.traced; }
    else if (p < 56) { kind = kArr; type = t.ref_array; len = 1 + R(16); }
    else if (p < 57) { kind = kArr; type = t.ref_array; len = 2100 + R(500); }
    else if (p < 73) { kind = kBytes; type = t.bytes; len = R(300); }
    else if (p < 74) { kind = kBytes; type = t.bytes; len = 17000 + R(20000); }
    else if (p < 75) { kind = kBytes; type = t.bytes; len = R(100); alloc_kind = UFFDGC_ALLOC_LARGE; }
    else if (p < 83) { kind = kWeakC; type = t.weak; }
    else if (p < 89) { kind = kFinal; type = t.final_leaf; }
    else { kind = kLeaf; type = t.leaf; }
    uffdgc_ref r = 0;
    uffdgc_result res = uffdgc_alloc(w_.m, type, len, alloc_kind, &r);
    if (res != UFFDGC_OK || r == 0) {
      s_.Fail("thread " + std::to_string(w_.index) + ": alloc of " + KindName(kind) + " (" +
              std::to_string(len) + ") failed: " + uffdgc_result_name(res));
      return;
    }
    ++w_.allocs;
    const uint64_t id = (static_cast<uint64_t>(w_.index + 1) << kIdShift) | w_.next++;
    MNode n;
    n.kind = kind;
    n.length = len;
    n.header_high = static_cast<uint32_t>(w_.rng());
    Word(r, kIdOffset) = id;
    SetHeaderHigh(r, n.header_high);
    switch (kind) {
      case kNode:
      case kNm:
        Word(r, kNodeScalar) = ScalarFor(id);
        n.slots.assign(3, 0);
        break;
      case kTraced:
        n.mask = 1 + R(31);
        Word(r, kTracedMask) = n.mask;
        n.slots.assign(kTracedSlots, 0);
        for (size_t i = 0; i < kTracedSlots; ++i) {
          if (!SlotIsRef(n, i)) Word(r, kTracedSlot0 + 8 * i) = TracedScalar(id, i);
        }
        break;
      case kArr:
        n.slots.assign(len, 0);
        break;
      case kBytes:
        for (uint64_t i = 0; i < len; ++i) Bytes(r)[i] = PatternByte(id, i);
        break;
      case kWeakC:
        n.slots.assign(3, 0);
        break;
      case kFinal:
      case kLeaf:
        Word(r, 16) = ScalarFor(id);
        Word(r, 24) = ScalarFor(id + 1);
        break;
    }
    if (alloc_kind != UFFDGC_ALLOC_DEFAULT || kind == kNm || ExpectedSize(n) >= kLargeThreshold) {
      n.fixed_addr = r;
    }
    w_.model.nodes.emplace(id, std::move(n));
    Ref v{r, id};
    // Attach: to a root (preferably an empty one), or into a slot of a reachable own object.
    if (R(10) == 0) {
      Keep(v, kRootGlobal + 1);
      return;
    }
    auto [h, slot] = GrowTarget();
    if (h.ref == 0 || !StoreSlot(h, slot, v)) Keep(v, kRootGlobal + 1);
  }

  void Link() {
    auto [h, slot] = GrowTarget();
    if (h.ref == 0) return;
    if (R(3) == 0) slot = RandomRefSlot(*Node(h.id));
    Ref v = R(10) == 0 ? Ref{} : AnyOwn();
    StoreSlot(h, slot, v);
  }

  void Clear() {
    if (w_.live_estimate > 4000 && R(4) == 0) {  // trim: null a run of an anchor array
      int k = static_cast<int>(R(kAnchors));
      Ref a = ReadRoot(k);
      if (a.ref == 0) return;
      MNode* n = Node(a.id);
      uint64_t count = 1 + R(64);
      uint64_t at = R(n->length - count + 1);
      static const uffdgc_ref zeros[64] = {};
      uffdgc_store_refs(w_.m, a.ref, Elem(a.ref, at), zeros, count);
      std::fill_n(n->slots.begin() + at, count, 0);
      return;
    }
    if (R(20) == 0) {
      int k = AnyRoot(kRootCount);
      WriteRoot(k, Ref{});
      return;
    }
    Ref h = Holder();
    if (h.ref != 0) StoreSlot(h, RandomRefSlot(*Node(h.id)), Ref{});
  }

  void RootAssign() {
    int k = AnyRoot(kRootCount);
    if (w_.root_ids[k] != 0 && R(8) != 0) return;
    Ref v = k == kRootRetained ? NonFinalOwn() : AnyOwn();
    WriteRoot(k, v);
  }

  void ArrayCopy() {
    Ref a = RandomOwn([](const MNode& n) { return n.kind == kArr && n.length >= 2; });
    if (a.ref == 0) return;
    MNode* an = Node(a.id);
    const uint64_t len = an->length;
    uint64_t mode = R(3);
    std::vector<uint64_t> src_ids;
    std::vector<uffdgc_ref> buffer;
    const uffdgc_ref* src = nullptr;
    uint64_t count = 0, dst = 0;
    if (mode == 0) {  // within the array: overlapping ranges
      count = 1 + R(std::min<uint64_t>(len - 1, 12));
      uint64_t from = R(len - count + 1);
      dst = R(len - count + 1);
      src = Elem(a.ref, from);
      src_ids.assign(an->slots.begin() + from, an->slots.begin() + from + count);
    } else if (mode == 1) {  // from another own array
      Ref b = RandomOwn([](const MNode& n) { return n.kind == kArr && n.length >= 1; });
      if (b.ref == 0) return;
      MNode* bn = Node(b.id);
      count = 1 + R(std::min<uint64_t>(std::min(len, bn->length), 12));
      uint64_t from = R(bn->length - count + 1);
      dst = R(len - count + 1);
      src = Elem(b.ref, from);
      src_ids.assign(bn->slots.begin() + from, bn->slots.begin() + from + count);
      // Verify the source against the model before copying.
      for (uint64_t i = 0; i < count; ++i) {
        if (!Match(src[i], src_ids[i], "array copy source")) return;
      }
    } else {  // from a buffer outside the heap
      count = 1 + R(std::min<uint64_t>(len, 8));
      dst = R(len - count + 1);
      for (uint64_t i = 0; i < count; ++i) {
        Ref v = R(4) == 0 ? Ref{} : AnyOwn();
        buffer.push_back(v.ref);
        src_ids.push_back(v.id);
      }
      src = buffer.data();
    }
    uffdgc_store_refs(w_.m, a.ref, Elem(a.ref, dst), src, count);
    std::copy(src_ids.begin(), src_ids.end(), an->slots.begin() + dst);
    for (uint64_t i = 0; i < count; ++i) {
      if (!Match(*Elem(a.ref, dst + i), an->slots[dst + i], "after store_refs")) return;
    }
  }

  void WeakRead() {
    Ref h = RandomOwn([](const MNode& n) { return n.kind == kWeakC; });
    if (h.ref == 0) return;
    MNode* n = Node(h.id);
    size_t i = R(3);
    uffdgc_ref v = uffdgc_load_weak(w_.m, h.ref, Slot(h.ref, SlotOffset(*n, i)));
    if (v == 0) {
      if (n->slots[i] != 0) ++w_.weak_reads_cleared;
      n->slots[i] = 0;
      return;
    }
    if (!Match(v, n->slots[i], "load_weak")) return;
    if (R(3) == 0) {  // resurrect: make it strongly reachable
      Keep(Ref{v, n->slots[i]}, kHandles);
      ++w_.resurrections;
    }
  }

  void WeakStore() {
    Ref h = RandomOwn([](const MNode& n) { return n.kind == kWeakC; });
    if (h.ref == 0) return;
    Ref v = R(5) == 0 ? Ref{} : NonFinalOwn();
    StoreSlot(h, R(3), v);
  }

  void VmWeakStore() {
    int i = 1 + static_cast<int>(R(kVmWeak - 1));
    Ref v = R(5) == 0 ? Ref{} : NonFinalOwn();
    __atomic_store_n(&s_.vm_weak[w_.index][i], v.ref, __ATOMIC_RELEASE);
    w_.vm_weak_ids[i] = v.id;
  }

  void PinOrUnpin() {
    if (!w_.pins.empty() && (w_.pins.size() >= kMaxPins || R(2) == 0)) {
      size_t k = R(w_.pins.size());
      auto [id, addr] = w_.pins[k];
      if (!Match(addr, id, "pinned object")) return;
      uffdgc_result r = uffdgc_unpin(w_.m, addr);
      if (r != UFFDGC_OK) s_.Fail("unpin failed: " + std::string(uffdgc_result_name(r)));
      w_.pins.erase(w_.pins.begin() + static_cast<long>(k));
      return;
    }
    Ref v = RandomOwn([](const MNode& n) { return n.fixed_addr == 0 && n.kind != kFinal; });
    if (v.ref == 0) return;
    uffdgc_result r = uffdgc_pin(w_.m, v.ref);
    if (r != UFFDGC_OK) {
      s_.Fail("pin failed: " + std::string(uffdgc_result_name(r)));
      return;
    }
    w_.pins.emplace_back(v.id, v.ref);
  }

  void SharedOp() {
    // Block on the lock parked: a running thread that blocks would stall a collection.
    uffdgc_mutator_park(w_.m);
    std::lock_guard<std::mutex> lock(s_.shared_mu);
    uffdgc_mutator_unpark(w_.m);
    uffdgc_ref arr = uffdgc_global_get(s_.shared_global);
    MNode& sn = s_.shared_model.nodes.at(kSharedId);
    if (!Match(arr, kSharedId, "shared array")) return;
    size_t i = R(kShared);
    if (R(2) == 0) {  // publish one of ours
      Ref v = AnyOwn();
      uffdgc_store_ref(w_.m, arr, Elem(arr, i), v.ref);
      sn.slots[i] = v.id;
    } else {  // take whatever is there (often another thread's object)
      uffdgc_ref v = *Elem(arr, i);
      if (!Match(v, sn.slots[i], "shared slot")) return;
      Keep(Ref{v, sn.slots[i]}, kHandles);
    }
  }

  // Verifies this thread's whole own subgraph (after a collection it observed).
  void VerifyOwn() {
    ++w_.own_checks;
    std::unordered_map<uint64_t, uffdgc_ref> seen;
    std::deque<Ref> queue;
    auto visit = [&](uffdgc_ref r, uint64_t id, const char* what) {
      if (!Match(r, id, what) || id == 0 || !Own(id)) return;
      auto [it, inserted] = seen.emplace(id, r);
      if (!inserted) {
        if (it->second != r) {
          s_.Fail("thread " + std::to_string(w_.index) + ": object " + Hex(id) +
                  " found at two addresses " + Hex(it->second) + " and " + Hex(r));
        }
        return;
      }
      queue.push_back(Ref{r, id});
    };
    for (int k = 0; k < kRootCount; ++k) visit(RootRef(k), w_.root_ids[k], "root");
    for (auto& [id, addr] : w_.pins) visit(addr, id, "pin");
    for (int i = 1; i < kVmWeak; ++i) {
      uffdgc_ref r = uffdgc_load_weak(w_.m, 0, &s_.vm_weak[w_.index][i]);
      if (r == 0) {
        if (w_.vm_weak_ids[i] != 0) ++w_.weak_reads_cleared;
        w_.vm_weak_ids[i] = 0;
      } else if (!Match(r, w_.vm_weak_ids[i], "embedder weak slot")) {
        return;
      }
    }
    while (!queue.empty() && !s_.failed.load()) {
      Ref cur = queue.front();
      queue.pop_front();
      MNode* n = Node(cur.id);
      if (n == nullptr || !CheckObject(s_, cur.ref, cur.id, *n, "own check")) return;
      for (size_t i = 0; i < n->slots.size(); ++i) {
        if (!SlotIsRef(*n, i)) continue;
        // Weak slots are cleared by the GC thread while workers run (concurrent modes): read
        // through the library, which answers 0 for a referent found dead.
        uffdgc_ref* at = Slot(cur.ref, SlotOffset(*n, i));
        uffdgc_ref t = n->kind == kWeakC ? uffdgc_load_weak(w_.m, cur.ref, at)
                                         : __atomic_load_n(at, __ATOMIC_ACQUIRE);
        if (n->kind == kWeakC) {
          if (t == 0) {
            if (n->slots[i] != 0) ++w_.weak_reads_cleared;
            n->slots[i] = 0;
          } else {
            Match(t, n->slots[i], "weak slot");
          }
          continue;
        }
        visit(t, n->slots[i], "edge");
      }
    }
  }

  // Parks across (at least) one cycle, then re-checks everything this thread owns.
  void ParkAcrossACycle() {
    const uint64_t before = s_.cycle_ends.load();
    uffdgc_mutator_park(w_.m);
    AwaitCycleEnd(s_, before);
    uffdgc_mutator_unpark(w_.m);
    ++w_.parked_across;
    VerifyOwn();
  }

  void Step() {
    if (s_.park_across && R(500) == 0) ParkAcrossACycle();
    uint64_t p = R(100);
    const bool big = w_.live_estimate > 4000;
    if (p < 35) AllocAndAttach();
    else if (p < 55) Link();
    else if (p < 57) Clear();
    else if (p < 63) ArrayCopy();
    else if (p < 69) WeakRead();
    else if (p < 73) WeakStore();
    else if (p < 76) VmWeakStore();
    else if (p < 80) PinOrUnpin();
    else if (p < 84) SharedOp();
    else if (p < 87) RootAssign();
    else if (big) Clear();
    else AllocAndAttach();
    if (R(2000) == 0) {
      uffdgc_result r = s_.generational && R(2) == 0 ? uffdgc_collect_young(w_.m)
                                                     : uffdgc_collect(w_.m);
      if (r != UFFDGC_OK) s_.Fail("collect failed: " + std::string(uffdgc_result_name(r)));
    }
    // Keep the live graph bounded.
    if (w_.model.nodes.size() > 20000 && R(4) == 0) {
      WriteRoot(AnyRoot(kRootCount), Ref{});
    }
    ++w_.ops;
    uffdgc_poll(w_.m);
    uint64_t c = s_.cycles.load();
    if (c != w_.seen_cycles) {
      w_.seen_cycles = c;
      VerifyOwn();
    }
  }

 private:
  Stress& s_;
  Worker& w_;
};

}  // namespace heaptest::graph_stress
