// Attached threads, safepoints, stop-the-world and checkpoints (design: .embedder.threads,
// .measure.pause). A stop request raises every thread's poll flag and waits until each one
// is suspended or parked; parked threads are never waited for. Time-to-safepoint is measured and
// belongs to the pause.
//
// Parking and unparking are lock-free when nothing is going on (one atomic store or CAS on the
// thread's state): a thread that parks and unparks in a hot loop must not starve a collector or
// a checkpoint requester of the registry lock. The lock guards the thread list, pending
// checkpoints and the stop; the handshake between a lock-free state change and a stop uses
// sequentially consistent accesses on both sides (state, then world_stopped_, and vice versa).
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "runtime/mutator.h"

namespace uffdgc::runtime {

class ThreadRegistry {
 public:
  // Adds a running mutator for the calling thread; false if it already has one.
  bool attach(uffdgc_mutator* m);
  // Removes it (runs a pending checkpoint first). Waits while the world is stopped.
  void detach(uffdgc_mutator* m);
  size_t count();
  // The mutator of `thread`, or nullptr.
  uffdgc_mutator* find(pthread_t thread);

  void park(uffdgc_mutator* m);
  void unpark(uffdgc_mutator* m);
  // Poll slow path: runs a pending checkpoint, stops while the world is stopped.
  void safepoint(uffdgc_mutator* m);

  // Stops every other attached thread. If another thread is stopping the world, first waits
  // at a safepoint for it. requester may be nullptr (the GC thread, not a mutator). Returns
  // the time-to-safepoint in ns.
  uint64_t stop_the_world(uffdgc_mutator* requester);
  void resume_the_world();
  // Visits every attached mutator; only with the world stopped by the caller.
  template <typename Fn>
  void for_each_stopped(Fn&& fn) {
    for (uffdgc_mutator* m : mutators_) fn(m);
  }

  // Visits every attached mutator under the registry lock, whatever its state: fn must only
  // touch what other threads may change while it runs (its atomic flags).
  template <typename Fn>
  void for_each_attached(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    for (uffdgc_mutator* m : mutators_) fn(m);
  }

  // Runs fn for every attached thread: on its own thread at its next safepoint, or on the
  // requester's for parked ones; returns when all have run it. requester may be nullptr (the
  // GC thread): then fn runs for mutators only.
  void run_checkpoint(uffdgc_mutator* requester, void (*fn)(uffdgc_mutator*, void*), void* arg);

  // fork: prepare locks the registry so no stop or checkpoint is half done; the child keeps
  // only the forking thread's mutator and returns the others for the heap to free.
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork_parent() { mu_.unlock(); }
  std::vector<uffdgc_mutator*> reset_in_child(pthread_t survivor);

 private:
  void run_own_checkpoint(uffdgc_mutator* m, std::unique_lock<std::mutex>& lock);
  void wait_until_world_resumes(uffdgc_mutator* m, std::unique_lock<std::mutex>& lock);
  // run_checkpoint's steps.
  void wait_for_checkpoint_turn(uffdgc_mutator* requester, std::unique_lock<std::mutex>& lock);
  void await_checkpoint_targets(uffdgc_mutator* requester, uint64_t generation,
                                std::unique_lock<std::mutex>& lock);
  void run_for_parked_target(uffdgc_mutator* requester, uffdgc_mutator* target,
                             std::unique_lock<std::mutex>& lock);
  // Claims a parked thread (kParked -> kCheckpointing) so its owner cannot unpark meanwhile.
  static bool claim_parked(uffdgc_mutator* m);
  // Wakes threads waiting for state changes, if there are any (lock-free paths).
  void notify_waiters();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uffdgc_mutator*> mutators_;
  std::atomic<bool> world_stopped_{false};
  uffdgc_mutator* stopper_ = nullptr;
  std::atomic<int> waiters_{0};  // stoppers and checkpoint requesters waiting on cv_
  uint64_t checkpoint_generation_ = 0;
  bool checkpoint_active_ = false;  // a run_checkpoint is posting or waiting
};

}  // namespace uffdgc::runtime
