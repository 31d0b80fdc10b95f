#include "os/uffd/fault_injection.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "os/page.h"

namespace uffdgc::uffd {

namespace {

// One-shot rules name a call; storm rules need a non-empty window, a period and a chance.
bool valid(const InjectionRule& r) {
  if (r.action == InjectedAction::kErrno && r.error == 0) return false;
  if (r.mremap && r.action != InjectedAction::kErrno) return false;
  if (r.nth != 0) return true;
  return r.every != 0 && r.from != 0 && r.from <= r.to && r.threshold != 0;
}

}  // namespace

bool FaultInjector::add(const InjectionRule& rule) {
  if (nrules_ >= kMaxRules || !valid(rule)) return false;
  rule_fired_[nrules_].store(0, std::memory_order_relaxed);
  rules_[nrules_++] = rule;
  return true;
}

void FaultInjector::clear() {
  nrules_ = 0;
  for (auto& c : calls_) c.store(0, std::memory_order_relaxed);
  mremap_calls_.store(0, std::memory_order_relaxed);
  for (auto& f : rule_fired_) f.store(0, std::memory_order_relaxed);
  fired_.store(0, std::memory_order_relaxed);
}

uint64_t FaultInjector::call_hash(uint64_t seed, uint64_t call) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + call + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

bool parse_u64(const char*& p, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(p, &end, 10);
  if (end == p || errno != 0) return false;
  *out = v;
  p = end;
  return true;
}

bool starts_with(const char*& p, const char* word) {
  const size_t n = strlen(word);
  if (strncmp(p, word, n) != 0) return false;
  p += n;
  return true;
}

// p=F: a decimal probability in (0, 1], as a threshold on a 64-bit hash.
bool parse_probability(const char*& p, uint64_t* threshold) {
  if ((*p < '0' || *p > '9') && *p != '.') return false;  // no sign, "inf", "nan", hex
  char* end = nullptr;
  errno = 0;
  const double v = strtod(p, &end);
  if (end == p || errno != 0 || !(v > 0.0) || v > 1.0) return false;
  for (const char* q = p; q < end; ++q) {
    if ((*q < '0' || *q > '9') && *q != '.') return false;
  }
  p = end;
  constexpr double kTwo64 = 18446744073709551616.0;
  *threshold = v * kTwo64 >= kTwo64 ? UINT64_MAX : static_cast<uint64_t>(v * kTwo64);
  if (*threshold == 0) *threshold = 1;
  return true;
}

// The storm trigger: key=value pairs joined by ',' up to the ':' before the action.
bool parse_storm(const char*& p, InjectionRule* rule) {
  rule->nth = 0;
  for (;;) {
    uint64_t v = 0;
    if (starts_with(p, "every=")) {
      if (!parse_u64(p, &v) || v == 0) return false;
      rule->every = v;
    } else if (starts_with(p, "p=")) {
      if (!parse_probability(p, &rule->threshold)) return false;
    } else if (starts_with(p, "seed=")) {
      if (!parse_u64(p, &rule->seed)) return false;
    } else if (starts_with(p, "from=")) {
      if (!parse_u64(p, &v) || v == 0) return false;
      rule->from = v;
    } else if (starts_with(p, "to=")) {
      if (!parse_u64(p, &v) || v == 0) return false;
      rule->to = v;
    } else if (starts_with(p, "count=")) {
      if (!parse_u64(p, &v) || v == 0) return false;
      rule->count = v;
    } else {
      return false;
    }
    if (*p == ':') return rule->from <= rule->to;
    if (*p++ != ',') return false;
  }
}

bool parse_rule(const char*& p, InjectionRule* rule) {
  if (starts_with(p, "move:")) {
    rule->op = UffdOp::kMove;
  } else if (starts_with(p, "copy:")) {
    rule->op = UffdOp::kCopy;
  } else if (starts_with(p, "zeropage:")) {
    rule->op = UffdOp::kZeropage;
  } else if (starts_with(p, "mremap:")) {
    rule->mremap = true;
  } else {
    return false;
  }
  uint64_t v = 0;
  if (*p >= '0' && *p <= '9') {
    if (!parse_u64(p, &rule->nth) || rule->nth == 0) return false;
  } else if (!parse_storm(p, rule)) {
    return false;
  }
  if (*p++ != ':') return false;
  if (rule->mremap && strncmp(p, "errno=", 6) != 0) return false;  // mremap fails, nothing else
  if (starts_with(p, "errno=")) {
    if (!parse_u64(p, &v) || v == 0 || v > 4095) return false;
    rule->action = InjectedAction::kErrno;
    rule->error = static_cast<int>(v);
  } else if (starts_with(p, "partial=")) {
    if (!parse_u64(p, &v) || v == 0 || v > UINT32_MAX) return false;
    rule->action = InjectedAction::kPartial;
    rule->pages = static_cast<uint32_t>(v);
  } else if (starts_with(p, "raced")) {
    rule->action = InjectedAction::kRacedInstall;
  } else if (starts_with(p, "foreign")) {
    rule->action = InjectedAction::kForeignFill;
  } else if (starts_with(p, "unreported=")) {
    uint64_t reported = 0;
    if (rule->op != UffdOp::kMove) return false;
    if (!parse_u64(p, &v) || v == 0 || v > UINT32_MAX || *p++ != '/') return false;
    if (!parse_u64(p, &reported) || reported >= v) return false;
    rule->action = InjectedAction::kUnreportedMove;
    rule->pages = static_cast<uint32_t>(v);
    rule->reported = static_cast<uint32_t>(reported);
  } else {
    return false;
  }
  return true;
}

// The page a foreign fill copies in (UFFDIO_COPY wants a page-aligned source).
struct alignas(kPageSize) JunkPage {
  uint8_t bytes[kPageSize];
};
constexpr JunkPage make_junk_page() {
  JunkPage p{};
  for (uint8_t& b : p.bytes) b = kForeignJunkByte;
  return p;
}
constexpr JunkPage kJunkPage = make_junk_page();

IoctlOutcome failure(int error, int64_t progress) {
  IoctlOutcome out;
  out.ret = -1;
  out.error = error;
  out.progress = progress;
  return out;
}

}  // namespace

bool FaultInjector::parse(const char* spec) {
  InjectionRule parsed[kMaxRules];
  int n = 0;
  const char* p = spec;
  while (*p != '\0') {
    if (n == kMaxRules || !parse_rule(p, &parsed[n])) return false;
    ++n;
    if (*p == ',') {
      if (*++p == '\0') return false;  // a trailing comma announces a rule that is missing
    } else if (*p != '\0') {
      return false;
    }
  }
  if (nrules_ + n > kMaxRules) return false;
  for (int i = 0; i < n; ++i) {
    rule_fired_[nrules_].store(0, std::memory_order_relaxed);
    rules_[nrules_++] = parsed[i];
  }
  return true;
}

bool FaultInjector::fires(int i, uint64_t call) {
  const InjectionRule& r = rules_[i];
  if (r.nth != 0) {
    if (r.nth != call) return false;
  } else {
    if (call < r.from || call > r.to || (call - r.from + 1) % r.every != 0) return false;
    if (r.threshold != UINT64_MAX && call_hash(r.seed, call) >= r.threshold) return false;
  }
  const uint64_t before = rule_fired_[i].fetch_add(1, std::memory_order_relaxed);
  if (r.count != 0 && before >= r.count) {
    rule_fired_[i].fetch_sub(1, std::memory_order_relaxed);  // exhausted: not a fire
    return false;
  }
  return true;
}

bool FaultInjector::intercept(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len,
                              uint64_t mode, IoctlOutcome* out) {
  const uint64_t call = calls_[static_cast<int>(op)].fetch_add(1, std::memory_order_relaxed) + 1;
  const InjectionRule* rule = nullptr;
  for (int i = 0; i < nrules_; ++i) {
    if (!rules_[i].mremap && rules_[i].op == op && fires(i, call)) {
      rule = &rules_[i];
      break;
    }
  }
  if (rule == nullptr) return false;
  fired_.fetch_add(1, std::memory_order_relaxed);

  const uint64_t pages_in_call = len / kPageSize;
  switch (rule->action) {
    case InjectedAction::kErrno:
      *out = failure(rule->error, -rule->error);
      return true;
    case InjectedAction::kPartial: {
      // A partial result needs at least one page left over; otherwise it is plain EAGAIN.
      const uint64_t pages = rule->pages < pages_in_call ? rule->pages : pages_in_call - 1;
      if (pages == 0) {
        *out = failure(EAGAIN, -EAGAIN);
        return true;
      }
      const IoctlOutcome real = issue_uffd_ioctl(op, uffd, dst, src, pages * kPageSize, mode);
      *out = real.ret == 0 ? failure(EAGAIN, static_cast<int64_t>(pages * kPageSize)) : real;
      return true;
    }
    case InjectedAction::kRacedInstall: {
      // The racing thread produced identical content from its own buffer; model it with a
      // COPY (or zero page) that leaves our source in place, as a real racer would.
      const UffdOp racer = op == UffdOp::kZeropage ? UffdOp::kZeropage : UffdOp::kCopy;
      const IoctlOutcome real = issue_uffd_ioctl(racer, uffd, dst, src, kPageSize, 0);
      *out = real.ret == 0 ? failure(EEXIST, -EEXIST) : real;
      return true;
    }
    case InjectedAction::kUnreportedMove: {
      const uint64_t pages = rule->pages < pages_in_call ? rule->pages : pages_in_call;
      const IoctlOutcome real = issue_uffd_ioctl(op, uffd, dst, src, pages * kPageSize, mode);
      if (real.ret != 0) {
        *out = real;
      } else if (rule->reported > 0 && rule->reported < pages) {
        *out = failure(EAGAIN, static_cast<int64_t>(rule->reported) * kPageSize);
      } else {
        // Nothing reported: the kernel's retry hit the page it had just moved.
        *out = failure(EEXIST, -EEXIST);
      }
      return true;
    }
    case InjectedAction::kForeignFill: {
      // Not an installer of ours: it fills the page from its own memory, and our ioctl (the
      // real one, on the whole range) then finds the page taken.
      const IoctlOutcome fill = issue_uffd_ioctl(UffdOp::kCopy, uffd, dst,
                                                 reinterpret_cast<uint64_t>(kJunkPage.bytes),
                                                 kPageSize, 0);
      *out = fill.ret == 0 ? issue_uffd_ioctl(op, uffd, dst, src, len, mode) : fill;
      return true;
    }
  }
  return false;
}

bool FaultInjector::intercept_mremap(int* error) {
  const uint64_t call = mremap_calls_.fetch_add(1, std::memory_order_relaxed) + 1;
  for (int i = 0; i < nrules_; ++i) {
    if (rules_[i].mremap && fires(i, call)) {
      fired_.fetch_add(1, std::memory_order_relaxed);
      *error = rules_[i].error;
      return true;
    }
  }
  return false;
}

}  // namespace uffdgc::uffd
