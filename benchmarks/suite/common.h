// Shared code of the suite's C/C++ workload programs (benchmarks/suite/CONTRACT.md): options,
// the random generator, the log-linear histogram, the latency probe thread, the churn unit's
// shape, and the JSON line. Written once; each collector's program (suite_uffdgc.cc,
// suite_boehm.cc, suite_malloc.cc) writes the workloads against its own API.
#ifndef UFFDGC_BENCH_SUITE_COMMON_H
#define UFFDGC_BENCH_SUITE_COMMON_H

#include <time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace suite {

inline uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- options (CONTRACT.md section 1) ----
struct Options {
  std::string workload;
  double live_mib = 64;
  int threads = 1;
  double seconds = 0;
  int depth = -1;  // -1: the workload's default
  double replace_fraction = 0.25;
  uint64_t seed = 42;
  uint64_t ops = 0;
  double heap_mib = 0;  // 0: the program's default (2 x live + 64 for churn, 256 for trees)
  // uffdgc only
  std::string mode = "auto";
  int gc_threads = 1;
  double mutate_rate = 0;  // <0: as fast as possible; 0 off
  bool generations = false;  // UFFDGC_HEAP_GENERATIONAL (--generations 1)
  bool verify = false;
};

// Parses argv; prints usage and exits 2 on an unknown option. `collector_options` names the
// collector-specific options the program accepts (e.g. {"--mode", "--gc-threads"}).
Options parse_options(int argc, char** argv, const std::vector<std::string>& extra_allowed);

// ---- splitmix64 (CONTRACT.md section 3) ----
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t operator()() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};
inline uint64_t thread_seed(uint64_t seed, int t) {
  return seed + 1000003ull * static_cast<uint64_t>(t + 1);
}

// ---- log-linear histogram: 8 sub-buckets per power of two of ns ----
class Hist {
 public:
  static constexpr int kBuckets = 8 + 61 * 8;
  static int index(uint64_t v) {
    if (v < 8) return static_cast<int>(v);
    const int e = 63 - __builtin_clzll(v);
    const int sub = static_cast<int>((v >> (e - 3)) & 7);
    return 8 + (e - 3) * 8 + sub;
  }
  static uint64_t upper(int idx) {
    if (idx < 8) return static_cast<uint64_t>(idx) + 1;
    const int e = (idx - 8) / 8 + 3;
    const uint64_t sub = static_cast<uint64_t>((idx - 8) % 8);
    const uint64_t w = uint64_t{1} << (e - 3);
    return (8 + sub) * w + w;
  }
  void add(uint64_t v) {
    ++counts_[static_cast<size_t>(index(v))];
    ++n_;
  }
  void merge(const Hist& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
  }
  uint64_t count() const { return n_; }
  // Upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
  uint64_t quantile(double q) const;
  std::string json() const;  // [[upper_ns,count],...]

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0;
};

// ---- the latency probe (CONTRACT.md section 2) ----
// One thread: sleep 1 ms, record max(0, now - intended) while `measuring` is set. The hooks let
// a collector attach/register the thread and park it around the sleep.
struct ProbeHooks {
  std::function<void()> thread_start, thread_end, before_sleep, after_sleep;
};
class Probe {
 public:
  explicit Probe(ProbeHooks hooks) : hooks_(std::move(hooks)) {}
  void start();
  void stop();
  void set_measuring(bool on) { measuring_.store(on, std::memory_order_release); }
  const Hist& hist() const { return hist_; }  // after stop()

 private:
  void run();
  ProbeHooks hooks_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, measuring_{false};
  Hist hist_;
};

// ---- churn units (CONTRACT.md section 4.3) ----
constexpr uint64_t kNominalUnitBytes = 2312;
constexpr int kChains = 8;
constexpr int kMaxChain = 8;
struct UnitShape {
  uint32_t blob_len;
  int chain_len[kChains];
  int64_t values[kChains * kMaxChain];  // in chain order, chain c's node k at offset(c)+k
  int nodes;
  int64_t sum;
};
inline void draw_unit(Rng& r, UnitShape* u) {
  u->blob_len = static_cast<uint32_t>(64 + 64 * (r() % 32));
  u->nodes = 0;
  for (int c = 0; c < kChains; ++c) {
    u->chain_len[c] = 1 + static_cast<int>(r() % kMaxChain);
    u->nodes += u->chain_len[c];
  }
  u->sum = 0;
  for (int i = 0; i < u->nodes; ++i) {
    u->values[i] = static_cast<int64_t>(r() % 1000000);
    u->sum += u->values[i];
  }
}
inline uint64_t churn_units(double live_mib) {
  const double bytes = live_mib * 1048576.0;
  return static_cast<uint64_t>((bytes + kNominalUnitBytes - 1) / kNominalUnitBytes);
}
inline uint64_t churn_hot(uint64_t units, double fraction, int threads) {
  uint64_t h = static_cast<uint64_t>(static_cast<double>(units) * fraction);
  if (h < static_cast<uint64_t>(threads)) h = static_cast<uint64_t>(threads);
  if (h > units) h = units;
  return h;
}
// A uniformly random index i < hot with i % threads == t.
inline uint64_t churn_pick(Rng& r, uint64_t hot, int threads, int t) {
  const uint64_t per = (hot - static_cast<uint64_t>(t) + threads - 1) / static_cast<uint64_t>(threads);
  return static_cast<uint64_t>(t) + static_cast<uint64_t>(threads) * (r() % per);
}

// Tree sizes (CONTRACT.md 4.1, 4.2)
inline uint64_t tree_size(int d) { return (uint64_t{2} << d) - 1; }

// ---- the measured phase of a multi-threaded workload ----
// Stops when the threads together reached opts.ops or opts.seconds elapsed.
class Budget {
 public:
  Budget(uint64_t ops, double seconds, uint64_t start_ns)
      : ops_(ops), deadline_(seconds > 0 ? start_ns + static_cast<uint64_t>(seconds * 1e9) : 0) {}
  // Claims one op; false when the phase is over.
  bool claim() {
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (ops_ != 0 && claimed_.fetch_add(1, std::memory_order_relaxed) >= ops_) {
      stop_.store(true, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  // Checked every few ops by each thread.
  void check_time(uint64_t now) {
    if (deadline_ != 0 && now >= deadline_) stop_.store(true, std::memory_order_relaxed);
  }
  bool over() const { return stop_.load(std::memory_order_relaxed); }

 private:
  uint64_t ops_, deadline_;
  std::atomic<uint64_t> claimed_{0};
  std::atomic<bool> stop_{false};
};

// ---- the JSON line ----
class Json {
 public:
  Json& field(const char* k, const std::string& v);  // string (escaped)
  Json& field(const char* k, const char* v) { return field(k, std::string(v)); }
  Json& field(const char* k, double v);
  Json& field(const char* k, uint64_t v);
  Json& field(const char* k, int64_t v);
  Json& field(const char* k, int v) { return field(k, static_cast<int64_t>(v)); }
  Json& field_bool(const char* k, bool v);
  Json& raw(const char* k, const std::string& json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const char* k);
  std::string body_;
};
std::string json_escape(const std::string& s);

// A pause as the programs report it: [kind, t_s relative to the measured phase, ns].
struct Pause {
  const char* kind;
  uint64_t begin_ns;  // CLOCK_MONOTONIC
  uint64_t ns;
};
std::string pauses_json(const std::vector<Pause>& pauses, uint64_t t0, uint64_t t1);

// Process statistics read at the end: VmHWM, VmRSS (KiB) and majflt / minflt.
std::string proc_json();
// The process's minor page faults so far (getrusage RUSAGE_SELF, every thread).
uint64_t minor_faults_now();

// The contract's required fields plus the common optional ones (CONTRACT.md section 2).
struct Result {
  std::string collector;
  uint64_t ops = 0;
  double wall_s = 0, build_s = 0, live_mib = 0;
  Hist op_latency, probe_late;
  uint64_t check_failures = 0;
  // Minor faults of the process at the start of the measured phase (after churn's build) and
  // during it; the workload sets the first, the program the second.
  uint64_t minflt_at_measured_start = 0, minflt_measured = 0;
  bool completed = true;
  bool ok = true;
  std::string error;
};
Json result_json(const Options& o, const Result& r);

// Prints the final JSON line (and flushes).
void emit(const Json& j);

}  // namespace suite

#endif  // UFFDGC_BENCH_SUITE_COMMON_H
