// The workloads (CONTRACT.md section 4) for collectors that hand out plain C pointers: Boehm GC
// (GC_MALLOC, nothing freed) and jemalloc (malloc, everything freed by hand). The policy type
// supplies the allocation calls and the thread hooks:
//
//   struct Policy {
//     static constexpr bool kFrees;             // true: the workload frees what it drops
//     static void* alloc(size_t);               // may hold pointers
//     static void* alloc_atomic(size_t);        // holds no pointers
//     static void* alloc_table(size_t);         // a big array of pointers
//     static void release(void*);               // kFrees only
//     static void thread_start(); static void thread_end();  // workers and the probe
//   };
//
// uffdgc's version of the same workloads is suite_uffdgc.cc (its objects move, so it keeps
// its references in a shadow stack the collector scans).
#ifndef UFFDGC_BENCH_SUITE_NATIVE_H
#define UFFDGC_BENCH_SUITE_NATIVE_H

#include <cstring>
#include <thread>
#include <vector>

#include "common.h"

namespace suite::native {

// ---- 4.1 GCBench ----
struct GNode {
  GNode* left;
  GNode* right;
  int32_t i, j;
};

template <class P>
GNode* new_gnode(GNode* l, GNode* r) {
  auto* n = static_cast<GNode*>(P::alloc(sizeof(GNode)));
  n->left = l;
  n->right = r;
  n->i = 0;
  n->j = 0;
  return n;
}

template <class P>
void populate(int depth, GNode* node) {
  if (depth <= 0) return;
  --depth;
  node->left = new_gnode<P>(nullptr, nullptr);
  node->right = new_gnode<P>(nullptr, nullptr);
  populate<P>(depth, node->left);
  populate<P>(depth, node->right);
}

template <class P>
GNode* make_tree(int depth) {
  if (depth <= 0) return new_gnode<P>(nullptr, nullptr);
  GNode* l = make_tree<P>(depth - 1);
  GNode* r = make_tree<P>(depth - 1);
  return new_gnode<P>(l, r);
}

template <class P>
void free_gtree(GNode* n) {
  if (n == nullptr) return;
  free_gtree<P>(n->left);
  free_gtree<P>(n->right);
  P::release(n);
}

inline uint64_t count_gtree(const GNode* n) {
  return n == nullptr ? 0 : 1 + count_gtree(n->left) + count_gtree(n->right);
}

template <class P>
void gcbench(const Options& o, Result& r) {
  const int max_d = o.depth, stretch_d = o.depth + 2, long_d = o.depth;
  constexpr int kArraySize = 500000;
  auto timed = [&](auto&& build) {
    const uint64_t t = now_ns();
    auto* tree = build();
    r.op_latency.add(now_ns() - t);
    ++r.ops;
    return tree;
  };
  const uint64_t t0 = now_ns();
  GNode* stretch = timed([&] { return make_tree<P>(stretch_d); });
  if (count_gtree(stretch) != tree_size(stretch_d)) ++r.check_failures;
  if constexpr (P::kFrees) free_gtree<P>(stretch);
  stretch = nullptr;
  GNode* volatile long_lived = timed([&] {
    GNode* n = new_gnode<P>(nullptr, nullptr);
    populate<P>(long_d, n);
    return n;
  });
  auto* array = static_cast<double*>(P::alloc_atomic(sizeof(double) * kArraySize));
  for (int i = 0; i < kArraySize / 2; ++i) array[i] = 1.0 / i;
  for (int i = kArraySize / 2; i < kArraySize; ++i) array[i] = 1.0 / i;
  for (int d = 4; d <= max_d; d += 2) {
    const uint64_t iters = 2 * tree_size(stretch_d) / tree_size(d);
    for (uint64_t i = 0; i < iters; ++i) {
      GNode* t = timed([&] {
        GNode* n = new_gnode<P>(nullptr, nullptr);
        populate<P>(d, n);
        return n;
      });
      if constexpr (P::kFrees) free_gtree<P>(t);
    }
    for (uint64_t i = 0; i < iters; ++i) {
      GNode* t = timed([&] { return make_tree<P>(d); });
      if constexpr (P::kFrees) free_gtree<P>(t);
    }
  }
  if (count_gtree(long_lived) != tree_size(long_d) || array[1000] != 1.0 / 1000) ++r.check_failures;
  r.wall_s = static_cast<double>(now_ns() - t0) * 1e-9;
  r.live_mib = static_cast<double>(tree_size(long_d) * 32 + kArraySize * 8) / 1048576.0;
  if constexpr (P::kFrees) {
    free_gtree<P>(long_lived);
    P::release(array);
  }
}

// ---- 4.2 binary-trees ----
struct TNode {
  TNode* left;
  TNode* right;
};

template <class P>
TNode* bottom_up(int depth) {
  auto* n = static_cast<TNode*>(P::alloc(sizeof(TNode)));
  if (depth > 0) {
    n->left = bottom_up<P>(depth - 1);
    n->right = bottom_up<P>(depth - 1);
  } else {
    n->left = n->right = nullptr;
  }
  return n;
}

inline uint64_t item_check(const TNode* n) {
  return n->left == nullptr ? 1 : 1 + item_check(n->left) + item_check(n->right);
}

template <class P>
void free_ttree(TNode* n) {
  if (n->left != nullptr) {
    free_ttree<P>(n->left);
    free_ttree<P>(n->right);
  }
  P::release(n);
}

template <class P>
void binary_trees(const Options& o, Result& r) {
  const int n = o.depth;
  const uint64_t t0 = now_ns();
  auto one = [&](int d) {
    const uint64_t t = now_ns();
    TNode* tree = bottom_up<P>(d);
    const uint64_t c = item_check(tree);
    r.op_latency.add(now_ns() - t);
    ++r.ops;
    if (c != tree_size(d)) ++r.check_failures;
    return tree;
  };
  TNode* stretch = one(n + 1);
  if constexpr (P::kFrees) free_ttree<P>(stretch);
  TNode* volatile long_lived = one(n);
  for (int d = 4; d <= n; d += 2) {
    const uint64_t iters = uint64_t{1} << (n - d + 4);
    for (uint64_t i = 0; i < iters; ++i) {
      TNode* t = one(d);
      if constexpr (P::kFrees) free_ttree<P>(t);
    }
  }
  if (item_check(long_lived) != tree_size(n)) ++r.check_failures;
  r.wall_s = static_cast<double>(now_ns() - t0) * 1e-9;
  r.live_mib = static_cast<double>(tree_size(n) * 24) / 1048576.0;
  if constexpr (P::kFrees) free_ttree<P>(long_lived);
}

// ---- 4.3 churn ----
struct CNode {
  CNode* next;
  void* other;  // the unit (k even) or its blob (k odd)
  int64_t value;
};
struct CBlob {
  uint64_t length;
  int64_t sum;  // the first 8 bytes of the data: the unit's checksum
  // length - 8 more bytes
};
struct CUnit {
  uint64_t length;  // 9, as the C model's RefArray(9)
  CNode* chains[kChains];
  CBlob* blob;
};

template <class P>
CUnit* build_unit(Rng& rng) {
  UnitShape s;
  draw_unit(rng, &s);
  auto* u = static_cast<CUnit*>(P::alloc(sizeof(CUnit)));
  std::memset(static_cast<void*>(u), 0, sizeof(CUnit));
  u->length = kChains + 1;
  auto* b = static_cast<CBlob*>(P::alloc_atomic(sizeof(uint64_t) + s.blob_len));
  std::memset(static_cast<void*>(b), 0, sizeof(uint64_t) + s.blob_len);
  b->length = s.blob_len;
  b->sum = s.sum;
  u->blob = b;
  int v = 0;
  for (int c = 0; c < kChains; ++c) {
    const int first = v;
    v += s.chain_len[c];
    CNode* head = nullptr;
    for (int k = s.chain_len[c] - 1; k >= 0; --k) {  // build from the tail
      auto* n = static_cast<CNode*>(P::alloc(sizeof(CNode)));
      n->next = head;
      n->other = (k & 1) == 0 ? static_cast<void*>(u) : static_cast<void*>(b);
      n->value = s.values[first + k];
      head = n;
    }
    u->chains[c] = head;
  }
  return u;
}

inline bool check_unit(const CUnit* u) {
  int64_t sum = 0;
  for (int c = 0; c < kChains; ++c) {
    for (const CNode* n = u->chains[c]; n != nullptr; n = n->next) sum += n->value;
  }
  return u->blob != nullptr && sum == u->blob->sum;
}

template <class P>
void free_unit(CUnit* u) {
  for (int c = 0; c < kChains; ++c) {
    CNode* n = u->chains[c];
    while (n != nullptr) {
      CNode* next = n->next;
      P::release(n);
      n = next;
    }
  }
  P::release(u->blob);
  P::release(u);
}

template <class P>
void churn(const Options& o, Result& r, Probe& probe) {
  const uint64_t units = churn_units(o.live_mib);
  const uint64_t hot = churn_hot(units, o.replace_fraction, o.threads);
  const uint64_t b0 = now_ns();
  auto** table = static_cast<CUnit**>(P::alloc_table(units * sizeof(CUnit*)));
  std::memset(static_cast<void*>(table), 0, units * sizeof(CUnit*));
  {
    Rng rng(o.seed);
    for (uint64_t i = 0; i < units; ++i) table[i] = build_unit<P>(rng);
  }
  r.build_s = static_cast<double>(now_ns() - b0) * 1e-9;
  r.live_mib = o.live_mib;
  r.minflt_at_measured_start = minor_faults_now();

  struct Worker {
    Hist hist;
    uint64_t ops = 0, bad = 0;
  };
  std::vector<Worker> workers(static_cast<size_t>(o.threads));
  const uint64_t t0 = now_ns();
  Budget budget(o.ops, o.seconds, t0);
  probe.set_measuring(true);
  auto work = [&](int t) {
    P::thread_start();
    Worker& w = workers[static_cast<size_t>(t)];
    Rng rng(thread_seed(o.seed, t));
    while (budget.claim()) {
      const uint64_t s = now_ns();
      const uint64_t i = churn_pick(rng, hot, o.threads, t);
      CUnit* old = table[i];
      if (!check_unit(old)) ++w.bad;
      table[i] = build_unit<P>(rng);
      if constexpr (P::kFrees) free_unit<P>(old);
      const uint64_t e = now_ns();
      w.hist.add(e - s);
      ++w.ops;
      if ((w.ops & 63) == 0) budget.check_time(e);
    }
    P::thread_end();
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < o.threads; ++t) threads.emplace_back(work, t);
  work(0);
  for (auto& th : threads) th.join();
  r.wall_s = static_cast<double>(now_ns() - t0) * 1e-9;
  probe.set_measuring(false);
  for (const Worker& w : workers) {
    r.op_latency.merge(w.hist);
    r.ops += w.ops;
    r.check_failures += w.bad;
  }
  r.completed = o.ops == 0 || r.ops >= o.ops;
  if constexpr (P::kFrees) {
    for (uint64_t i = 0; i < units; ++i) free_unit<P>(table[i]);
    P::release(table);
  }
}

}  // namespace suite::native

#endif  // UFFDGC_BENCH_SUITE_NATIVE_H
