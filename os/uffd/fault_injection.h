// Deterministic fault injection for the page installer (design: .install.tested: every error
// path has a fault-injection switch as well as a real provocation).
//
// A rule fires on the N-th call (1-based, counted per operation across all threads) of one
// ioctl, or, as a storm, repeatedly: on every K-th call, with a seeded per-call probability,
// inside a window of calls and/or up to a number of times (see parse()). Injected outcomes are
// realistic: where the kernel would have done part of the work
// (partial move, a racing installer, the 6.18 unreported move) the injector does that work
// for real with the genuine ioctl before returning the error, so content checks still hold.
//
// intercept() is async-signal-safe: a fixed rule table and atomic counters, no locks or
// allocation. Rules are installed before the installer is used (not while it runs).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "os/uffd/uffd_ioctl.h"

namespace uffdgc::uffd {

enum class InjectedAction : uint8_t {
  kErrno,            // fail with `error`, nothing done (EBUSY, EAGAIN, EINVAL, ENOMEM, ...)
  kPartial,          // really install `pages` pages, then report EAGAIN with that progress
  kRacedInstall,     // another thread wins: really COPY the first page, then report EEXIST
  kUnreportedMove,   // really MOVE `pages` pages but report only `reported` of them (6.18 bug)
  // Somebody else fills the destination's first page behind the installer's back (a COPY of
  // a junk page, kForeignJunkByte), then the real ioctl runs and meets it: EEXIST with our
  // source still in place. For the collector that is a fatal error, not a racing installer.
  kForeignFill,
};

// What a foreign fill writes: every byte of the page.
inline constexpr uint8_t kForeignJunkByte = 0xA5;

struct InjectionRule {
  UffdOp op = UffdOp::kMove;
  // A rule on the flip's mremap(MREMAP_DONTUNMAP) calls instead of an ioctl (`op` unused;
  // kErrno only): intercept_mremap().
  bool mremap = false;
  uint64_t nth = 0;          // fires on this call number of `op`; 0 = a storm rule (below)
  // Storm rules (nth == 0): call c of `op` is a candidate when from <= c <= to and
  // (c - from + 1) is a multiple of `every`; a candidate fires with probability
  // threshold / 2^64 (a hash of seed and c; threshold UINT64_MAX = always), at most `count`
  // times (0 = unbounded).
  uint64_t from = 1;
  uint64_t to = UINT64_MAX;
  uint64_t every = 1;
  uint64_t count = 0;
  uint64_t threshold = UINT64_MAX;
  uint64_t seed = 0;
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

  // Parses "op:trigger:action[=arg]" rules separated by ',' (e.g. "move:3:errno=16",
  // "move:1:partial=2", "move:2:raced", "move:1:unreported=3/1", "copy:1:errno=12",
  // "move:4:foreign", "mremap:2:errno=12").
  // The trigger is a call number (one shot) or a storm: one or more of
  //   every=K    every K-th call (calls K, 2K, ... counted from `from`)
  //   p=F        each candidate call with probability F in (0, 1] (decimal), decided by a
  //              hash of the call number and the seed: the same calls fire on every run
  //   seed=S     seed for p (default 0)
  //   from=A     first call considered (default 1)
  //   to=B       last call considered (default: no end)
  //   count=N    fire at most N times
  // joined by ',' (e.g. "move:every=3:errno=16", "move:from=10,count=500:errno=11",
  // "move:p=0.2,seed=7:errno=16", "copy:every=2,count=100:partial=2"). Storm forms of the
  // outcomes: EBUSY/EAGAIN/any errno (nothing done), partial (real partial work, then EAGAIN),
  // raced (a real install by a "racer", then EEXIST), unreported (MOVE only), foreign (a
  // foreign fill of the first destination page, then the real ioctl). "mremap:" rules count
  // the flip's mremap calls and take errno= only.
  // Returns false and leaves the injector unchanged on a syntax error.
  bool parse(const char* spec);

  void clear();

  // Called by the installer before each ioctl. Returns true and fills *out when a rule fires
  // (having done any real work the rule simulates); false means issue the real ioctl.
  bool intercept(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len, uint64_t mode,
                 IoctlOutcome* out);

  // Called by the collector before each mremap of a flip. Returns true and sets *error when a
  // "mremap:" rule fires (the caller then fails that mremap with *error, moving nothing: a
  // failed mremap moves nothing, the kernel undoes a partial move).
  bool intercept_mremap(int* error);

  uint64_t calls(UffdOp op) const {
    return calls_[static_cast<int>(op)].load(std::memory_order_relaxed);
  }
  uint64_t mremap_calls() const { return mremap_calls_.load(std::memory_order_relaxed); }
  uint32_t fired() const { return fired_.load(std::memory_order_relaxed); }
  // How often rule i (in the order added) has fired.
  uint64_t fired_rule(int i) const {
    return i >= 0 && i < kMaxRules ? rule_fired_[i].load(std::memory_order_relaxed) : 0;
  }
  int rules() const { return nrules_; }

  // The storm's per-call decision for probability rules: splitmix64 of (seed, call).
  static uint64_t call_hash(uint64_t seed, uint64_t call);

 private:
  // Whether rule i fires on call number `call` (claims one of its `count` fires if so).
  bool fires(int i, uint64_t call);

  InjectionRule rules_[kMaxRules];
  int nrules_ = 0;
  std::atomic<uint64_t> calls_[kUffdOpCount] = {};
  std::atomic<uint64_t> mremap_calls_{0};
  std::atomic<uint32_t> fired_{0};
  std::atomic<uint64_t> rule_fired_[kMaxRules] = {};
};

}  // namespace uffdgc::uffd
