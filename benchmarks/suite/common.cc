#include "common.h"

#include <sys/resource.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace suite {

namespace {

[[noreturn]] void usage(const char* argv0, const std::string& why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s --workload gcbench|binary-trees|churn|churn-mt [--live-mib N]\n"
               "  [--threads T] [--seconds S] [--depth D] [--replace-fraction F] [--seed X]\n"
               "  [--ops N] [--heap-mib H] [uffdgc: --mode move|copy|stw|auto --gc-threads N\n"
               "  --mutate-rate R --verify]   (benchmarks/suite/CONTRACT.md)\n",
               argv0, why.c_str(), argv0);
  std::exit(2);
}

}  // namespace

Options parse_options(int argc, char** argv, const std::vector<std::string>& extra_allowed) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    const size_t eq = a.find('=');
    bool has_inline = false;
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    if (a == "--verify") {
      o.verify = true;
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= argc) usage(argv[0], "missing value for " + a);
      v = argv[++i];
    }
    bool extra = false;
    for (const auto& e : extra_allowed) extra = extra || e == a;
    char* end = nullptr;
    auto num = [&]() {
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0') usage(argv[0], "bad number for " + a + ": " + v);
      return d;
    };
    if (a == "--workload") o.workload = v;
    else if (a == "--live-mib") o.live_mib = num();
    else if (a == "--threads") o.threads = static_cast<int>(num());
    else if (a == "--seconds") o.seconds = num();
    else if (a == "--depth") o.depth = static_cast<int>(num());
    else if (a == "--replace-fraction") o.replace_fraction = num();
    else if (a == "--seed") o.seed = static_cast<uint64_t>(num());
    else if (a == "--ops") o.ops = static_cast<uint64_t>(num());
    else if (a == "--heap-mib") o.heap_mib = num();
    else if (a == "--mode" && extra) o.mode = v;
    else if (a == "--gc-threads" && extra) o.gc_threads = static_cast<int>(num());
    else if (a == "--mutate-rate" && extra) o.mutate_rate = num();
    else if (a == "--generations" && extra) o.generations = num() != 0;
    else usage(argv[0], "unknown option " + a);
  }
  if (o.workload != "gcbench" && o.workload != "binary-trees" && o.workload != "churn" &&
      o.workload != "churn-mt") {
    usage(argv[0], "unknown or missing --workload '" + o.workload + "'");
  }
  if (o.threads < 1 || o.threads > 64) usage(argv[0], "--threads must be 1..64");
  if (o.workload == "churn-mt" && o.threads < 2) o.threads = 2;
  if (o.workload == "churn") o.threads = 1;
  if ((o.workload == "churn" || o.workload == "churn-mt") && o.ops == 0 && o.seconds <= 0) {
    o.seconds = 10;
  }
  if (o.replace_fraction <= 0 || o.replace_fraction > 1) usage(argv[0], "--replace-fraction in (0,1]");
  if (o.depth < 0) o.depth = o.workload == "gcbench" ? 16 : 18;
  if (o.depth < 4 || o.depth > 26) usage(argv[0], "--depth must be 4..26");
  if (o.heap_mib <= 0) {
    o.heap_mib = (o.workload == "churn" || o.workload == "churn-mt") ? 2 * o.live_mib + 64 : 256;
  }
  return o;
}

// ---- Hist ----
uint64_t Hist::quantile(double q) const {
  if (n_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n_) + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[static_cast<size_t>(i)];
    if (seen >= rank) return upper(i);
  }
  return upper(kBuckets - 1);
}

std::string Hist::json() const {
  std::string s = "[";
  bool first = true;
  char buf[64];
  for (int i = 0; i < kBuckets; ++i) {
    const uint64_t c = counts_[static_cast<size_t>(i)];
    if (c == 0) continue;
    std::snprintf(buf, sizeof buf, "%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", upper(i), c);
    s += buf;
    first = false;
  }
  return s + "]";
}

// ---- Probe ----
void Probe::start() {
  thread_ = std::thread([this] { run(); });
}

void Probe::stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void Probe::run() {
  if (hooks_.thread_start) hooks_.thread_start();
  while (!stop_.load(std::memory_order_acquire)) {
    if (hooks_.before_sleep) hooks_.before_sleep();
    const uint64_t intended = now_ns() + 1000000;
    timespec ts{static_cast<time_t>(intended / 1000000000ull),
                static_cast<long>(intended % 1000000000ull)};
    // Absolute: a signal (Boehm's stop-the-world) does not end the sleep early.
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    if (hooks_.after_sleep) hooks_.after_sleep();
    const uint64_t now = now_ns();
    if (measuring_.load(std::memory_order_acquire)) hist_.add(now > intended ? now - intended : 0);
  }
  if (hooks_.thread_end) hooks_.thread_end();
}

// ---- JSON ----
std::string json_escape(const std::string& s) {
  std::string o = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

void Json::key(const char* k) {
  if (!body_.empty()) body_ += ',';
  body_ += json_escape(k);
  body_ += ':';
}
Json& Json::field(const char* k, const std::string& v) {
  key(k);
  body_ += json_escape(v);
  return *this;
}
Json& Json::field(const char* k, double v) {
  key(k);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  body_ += buf;
  return *this;
}
Json& Json::field(const char* k, uint64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}
Json& Json::field(const char* k, int64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}
Json& Json::field_bool(const char* k, bool v) {
  key(k);
  body_ += v ? "true" : "false";
  return *this;
}
Json& Json::raw(const char* k, const std::string& json) {
  key(k);
  body_ += json;
  return *this;
}

std::string pauses_json(const std::vector<Pause>& pauses, uint64_t t0, uint64_t t1) {
  std::string s = "[";
  bool first = true;
  char buf[128];
  for (const Pause& p : pauses) {
    if (p.begin_ns < t0 || p.begin_ns > t1) continue;
    std::snprintf(buf, sizeof buf, "%s[%s,%.6f,%" PRIu64 "]", first ? "" : ",",
                  json_escape(p.kind != nullptr ? p.kind : "?").c_str(),
                  static_cast<double>(p.begin_ns - t0) * 1e-9, p.ns);
    s += buf;
    first = false;
  }
  return s + "]";
}

std::string proc_json() {
  uint64_t hwm = 0, rss = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      unsigned long long v;
      if (std::sscanf(line, "VmHWM: %llu", &v) == 1) hwm = v;
      if (std::sscanf(line, "VmRSS: %llu", &v) == 1) rss = v;
    }
    std::fclose(f);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  Json j;
  j.field("vm_hwm_kib", hwm).field("vm_rss_kib", rss)
      .field("majflt", static_cast<uint64_t>(u.ru_majflt))
      .field("minflt", static_cast<uint64_t>(u.ru_minflt))
      .field("cpu_s", static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                          static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6);
  return j.str();
}

uint64_t minor_faults_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_minflt);
}

Json result_json(const Options& o, const Result& r) {
  Json j;
  j.field("workload", o.workload)
      .field("collector", r.collector)
      .field("ops", r.ops)
      .field("wall_s", r.wall_s)
      .raw("op_latency_hist", r.op_latency.json())
      .raw("probe_late_hist", r.probe_late.json())
      .field("live_mib", r.live_mib)
      .field_bool("ok", r.ok && r.check_failures == 0)
      .field("check_failures", r.check_failures)
      .field("build_s", r.build_s)
      .field("minflt_measured", r.minflt_measured)
      .field("threads", o.threads)
      .field_bool("completed", r.completed)
      .field("heap_mib", o.heap_mib)
      .field("depth", o.depth)
      .field("replace_fraction", o.replace_fraction)
      .field("seed", o.seed);
  if (!r.error.empty()) j.field("error", r.error);
  else if (r.check_failures != 0) j.field("error", "the workload found corrupted data");
  j.raw("proc", proc_json());
  return j;
}

void emit(const Json& j) {
  std::fflush(stderr);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
}

}  // namespace suite
