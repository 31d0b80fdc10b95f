// The graph stress test's global verification (graph_stress_test.cc), with every worker parked:
// the reachable graph, weak slots, the heap walk and the finalization queue against the models.
#pragma once

#include "tests/stress/graph_stress_model.h"

namespace heaptest::graph_stress {

// ---- the global verification (all workers parked) ----

inline void VerifyAll(Stress& s, uffdgc_mutator* m) {
  ++s.verifications;
  // 1. Heap walk: every object of our types.
  struct WalkState {
    Stress* s;
    std::unordered_map<uffdgc_ref, std::pair<uint32_t, size_t>> objects;
  } ws{&s, {}};
  uffdgc_result wr = uffdgc_heap_walk(
      m,
      [](uffdgc_ref ref, uint32_t type, size_t size, void* arg) {
        WalkState* st = static_cast<WalkState*>(arg);
        if (std::find(st->s->our_types.begin(), st->s->our_types.end(), type) !=
            st->s->our_types.end()) {
          st->objects[ref] = {type, size};
        }
        return 0;
      },
      &ws);
  if (wr != UFFDGC_OK) s.Fail(std::string("heap walk failed: ") + uffdgc_result_name(wr));

  // 2. Reachability, real and model side by side.
  std::unordered_map<uint64_t, uffdgc_ref> addr_of;
  std::unordered_map<uffdgc_ref, uint64_t> id_at;
  std::deque<uint64_t> queue;
  auto visit = [&](uffdgc_ref r, uint64_t id, const std::string& where) {
    if (r == 0 && id == 0) return;
    if (r == 0 || id == 0 || Id(r) != id) {
      s.Fail("verify: " + where + ": expected object " + Hex(id) + ", found " +
             (r ? "object " + Hex(Id(r)) + " at " + Hex(r) : "null"));
      return;
    }
    auto it = addr_of.find(id);
    if (it != addr_of.end()) {
      if (it->second != r) {
        s.Fail("verify: object " + Hex(id) + " at two addresses " + Hex(it->second) + " and " +
               Hex(r) + " (" + where + ")");
      }
      return;
    }
    auto jt = id_at.find(r);
    if (jt != id_at.end()) {
      s.Fail("verify: address " + Hex(r) + " holds two objects " + Hex(jt->second) + ", " +
             Hex(id));
      return;
    }
    MNode* n = s.Find(id);
    if (n == nullptr) {
      s.Fail("verify: reachable object " + Hex(id) + " unknown to the model (" + where + ")");
      return;
    }
    addr_of[id] = r;
    id_at[r] = id;
    queue.push_back(id);
  };
  visit(uffdgc_global_get(s.shared_global), kSharedId, "shared global");
  for (int wi = 0; wi < s.workers_n; ++wi) {
    Worker& w = *s.workers[wi];
    std::string who = "thread " + std::to_string(wi) + " ";
    for (int k = 0; k < kHandles; ++k) visit(*w.handles[k], w.root_ids[k], who + "handle");
    for (int k = 0; k < kVmRoots; ++k) {
      visit(s.vm_roots[wi][k], w.root_ids[kHandles + k], who + "scan_roots slot");
    }
    visit(uffdgc_global_get(w.global), w.root_ids[kRootGlobal], who + "global");
    visit(s.vm_weak[wi][0], w.root_ids[kRootRetained], who + "retained weak slot");
    for (auto& [id, addr] : w.pins) visit(addr, id, who + "pin");
  }
  while (!queue.empty() && !s.failed.load()) {
    uint64_t id = queue.front();
    queue.pop_front();
    uffdgc_ref r = addr_of[id];
    MNode* n = s.Find(id);
    ++s.objects_verified;
    if (!CheckObject(s, r, id, *n, "verify")) return;
    auto wit = ws.objects.find(r);
    if (wit == ws.objects.end()) {
      s.Fail("verify: reachable object " + Hex(id) + " at " + Hex(r) + " missing from heap walk");
    } else if (wit->second.second != ExpectedSize(*n)) {
      s.Fail("verify: heap walk size " + std::to_string(wit->second.second) + " for object " +
             Hex(id) + ", expected " + std::to_string(ExpectedSize(*n)));
    }
    if (n->kind == kWeakC) continue;
    for (size_t i = 0; i < n->slots.size(); ++i) {
      if (!SlotIsRef(*n, i)) continue;
      visit(*Slot(r, SlotOffset(*n, i)), n->slots[i], "slot " + std::to_string(i) + " of " + Hex(id));
    }
  }
  if (s.failed.load()) return;

  // 3. Weak slots: cleared iff the referent is unreachable, else pointing at its new address.
  auto check_weak = [&](uffdgc_ref actual, uint64_t& model_id, const std::string& where) {
    if (model_id == 0) {
      if (actual != 0) s.Fail("verify: " + where + " should be null, is " + Hex(actual));
      return;
    }
    auto it = addr_of.find(model_id);
    if (it == addr_of.end()) {
      if (actual != 0) {
        s.Fail("verify: " + where + " still refers to unreachable object " + Hex(model_id) +
               " at " + Hex(actual));
      }
      ++s.weak_cleared_checked;
      model_id = 0;
    } else if (actual != it->second) {
      s.Fail("verify: " + where + " is " + Hex(actual) + ", live referent " + Hex(model_id) +
             " is at " + Hex(it->second));
    }
  };
  for (auto& [id, r] : addr_of) {
    MNode* n = s.Find(id);
    if (n->kind != kWeakC) continue;
    for (size_t i = 0; i < 3; ++i) {
      check_weak(*Slot(r, kWeakRefs[i]), n->slots[i],
                 "weak slot " + std::to_string(i) + " of " + Hex(id));
    }
  }
  for (int wi = 0; wi < s.workers_n; ++wi) {
    for (int i = 1; i < kVmWeak; ++i) {
      check_weak(s.vm_weak[wi][i], s.workers[wi]->vm_weak_ids[i],
                 "embedder weak slot " + std::to_string(wi) + "/" + std::to_string(i));
    }
  }

  // 4. Heap walk: nothing but reachable objects and queued finalizable ones.
  std::unordered_set<uint64_t> expect_final;
  for (int wi = 0; wi < s.workers_n; ++wi) {
    for (auto& [id, n] : s.workers[wi]->model.nodes) {
      if (n.kind == kFinal && !addr_of.count(id)) expect_final.insert(id);
    }
  }
  size_t walked_final = 0;
  for (auto& [r, ts] : ws.objects) {
    if (id_at.count(r)) continue;
    uint64_t id = Id(r);
    if (expect_final.count(id) && ts.first == s.types.final_leaf) {
      ++walked_final;
      continue;
    }
    s.Fail("verify: heap walk reports object " + Hex(id) + " (type " + std::to_string(ts.first) +
           ") at " + Hex(r) + " that is neither reachable nor awaiting finalization");
    if (s.failed.load() && s.failures.size() >= 20) break;
  }

  // 5. Finalization queue: exactly the unreachable finalizable objects, once, intact.
  std::unordered_set<uint64_t> popped_now;
  uffdgc_ref f = 0;
  uffdgc_result pr;
  while ((pr = uffdgc_finalization_pop(m, &f)) == UFFDGC_OK) {
    uint64_t id = Id(f);
    ++s.popped;
    if (s.finalized.count(id)) {
      s.Fail("verify: object " + Hex(id) + " finalized twice");
      continue;
    }
    if (!expect_final.count(id)) {
      s.Fail("verify: finalization queue returned " + Hex(id) + (addr_of.count(id) ? " which is reachable" : " which is not an unreachable finalizable object"));
      continue;
    }
    MNode* n = s.Find(id);
    CheckObject(s, f, id, *n, "finalization_pop");
    popped_now.insert(id);
    s.finalized.insert(id);
  }
  if (pr != UFFDGC_EEMPTY) s.Fail(std::string("finalization_pop: ") + uffdgc_result_name(pr));
  for (uint64_t id : expect_final) {
    if (!popped_now.count(id)) {
      s.Fail("verify: unreachable finalizable object " + Hex(id) + " was not queued");
      break;
    }
  }
  if (walked_final != expect_final.size()) {
    s.Fail("verify: heap walk shows " + std::to_string(walked_final) + " queued finalizable objects, expected " + std::to_string(expect_final.size()));
  }

  // 6. Prune the model: unreachable objects are gone for good.
  for (int wi = 0; wi < s.workers_n; ++wi) {
    auto& nodes = s.workers[wi]->model.nodes;
    s.workers[wi]->live_estimate = 0;
    for (auto& [id, n] : nodes) s.workers[wi]->live_estimate += addr_of.count(id);
    if (std::getenv("UFFDGC_STRESS_DEBUG")) {
      int nonnull = 0;
      for (int k = 0; k < kRootCount; ++k) nonnull += s.workers[wi]->root_ids[k] != 0;
      std::printf("round %" PRIu64 " thread %d live %" PRIu64 " model %zu roots %d\n",
                  s.verifications, wi, s.workers[wi]->live_estimate, nodes.size(), nonnull);
    }
    for (auto it = nodes.begin(); it != nodes.end();) {
      it = addr_of.count(it->first) ? std::next(it) : nodes.erase(it);
    }
  }
}

}  // namespace heaptest::graph_stress
