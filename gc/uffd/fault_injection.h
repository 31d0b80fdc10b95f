// Deterministic fault injection for the page installer (DESIGN.md §5: every error path has a
// fault-injection switch as well as a real provocation).
//
// A rule fires on the N-th call (1-based, counted per operation across all threads) of one
// ioctl. Injected outcomes are realistic: where the kernel would have done part of the work
// (partial move, a racing installer, the 6.18 unreported move) the injector does that work
// for real with the genuine ioctl before returning the error, so content checks still hold.
//
// intercept() is async-signal-safe: a fixed rule table and atomic counters, no locks or
// allocation. Rules are installed before the installer is used (not while it runs).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gc/uffd/uffd_ioctl.h"

namespace uffdgc::uffd {

enum class InjectedAction : uint8_t {
  kErrno,            // fail with `error`, nothing done (EBUSY, EAGAIN, EINVAL, ENOMEM, ...)
  kPartial,          // really install `pages` pages, then report EAGAIN with that progress
  kRacedInstall,     // another thread wins: really COPY the first page, then report EEXIST
  kUnreportedMove,   // really MOVE `pages` pages but report only `reported` of them (6.18 bug)
};

struct InjectionRule {
  UffdOp op = UffdOp::kMove;
  uint64_t nth = 0;          // fires on this call number of `op`
  InjectedAction action = InjectedAction::kErrno;
  int error = 0;             // kErrno
  uint32_t pages = 1;        // kPartial, kUnreportedMove
  uint32_t reported = 0;     // kUnreportedMove
};

class FaultInjector {
 public:
  static constexpr int kMaxRules = 8;

  // Adds a rule; returns false when the table is full. Not thread-safe against intercept().
  bool add(const InjectionRule& rule);

  // Parses "op:nth:action[=arg]" rules separated by ',' (e.g. "move:3:errno=16",
  // "move:1:partial=2", "move:2:raced", "move:1:unreported=3/1", "copy:1:errno=12").
  // Returns false and leaves the injector unchanged on a syntax error.
  bool parse(const char* spec);

  void clear();

  // Called by the installer before each ioctl. Returns true and fills *out when a rule fires
  // (having done any real work the rule simulates); false means issue the real ioctl.
  bool intercept(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len, uint64_t mode,
                 IoctlOutcome* out);

  uint64_t calls(UffdOp op) const {
    return calls_[static_cast<int>(op)].load(std::memory_order_relaxed);
  }
  uint32_t fired() const { return fired_.load(std::memory_order_relaxed); }

 private:
  InjectionRule rules_[kMaxRules];
  int nrules_ = 0;
  std::atomic<uint64_t> calls_[kUffdOpCount] = {};
  std::atomic<uint32_t> fired_{0};
};

}  // namespace uffdgc::uffd
