#include "gc/uffd/fault_injection.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gc/uffd/page.h"

namespace uffdgc::uffd {

bool FaultInjector::add(const InjectionRule& rule) {
  if (nrules_ >= kMaxRules || rule.nth == 0) return false;
  rules_[nrules_++] = rule;
  return true;
}

void FaultInjector::clear() {
  nrules_ = 0;
  for (auto& c : calls_) c.store(0, std::memory_order_relaxed);
  fired_.store(0, std::memory_order_relaxed);
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

bool parse_rule(const char*& p, InjectionRule* rule) {
  if (starts_with(p, "move:")) {
    rule->op = UffdOp::kMove;
  } else if (starts_with(p, "copy:")) {
    rule->op = UffdOp::kCopy;
  } else if (starts_with(p, "zeropage:")) {
    rule->op = UffdOp::kZeropage;
  } else {
    return false;
  }
  uint64_t v = 0;
  if (!parse_u64(p, &rule->nth) || rule->nth == 0 || *p++ != ':') return false;
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
  for (int i = 0; i < n; ++i) rules_[nrules_++] = parsed[i];
  return true;
}

bool FaultInjector::intercept(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len,
                              uint64_t mode, IoctlOutcome* out) {
  const uint64_t call = calls_[static_cast<int>(op)].fetch_add(1, std::memory_order_relaxed) + 1;
  const InjectionRule* rule = nullptr;
  for (int i = 0; i < nrules_; ++i) {
    if (rules_[i].op == op && rules_[i].nth == call) {
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
  }
  return false;
}

}  // namespace uffdgc::uffd
