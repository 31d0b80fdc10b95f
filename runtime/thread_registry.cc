#include "runtime/thread_registry.h"

#include <algorithm>
#include <new>

#include "os/clock.h"

namespace uffdgc::runtime {

namespace {

constexpr auto kSeqCst = std::memory_order_seq_cst;

void set_poll(uffdgc_mutator* m, uint32_t v) {
  __atomic_store_n(&m->fast.poll_flag, v, __ATOMIC_SEQ_CST);
}

uint32_t poll(const uffdgc_mutator* m) {
  return __atomic_load_n(&m->fast.poll_flag, __ATOMIC_SEQ_CST);
}

}  // namespace

bool ThreadRegistry::claim_parked(uffdgc_mutator* m) {
  MutatorState expected = MutatorState::kParked;
  return m->state.compare_exchange_strong(expected, MutatorState::kCheckpointing, kSeqCst);
}

void ThreadRegistry::notify_waiters() {
  if (waiters_.load(kSeqCst) == 0 && !world_stopped_.load(kSeqCst)) return;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

bool ThreadRegistry::attach(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  for (uffdgc_mutator* other : mutators_) {
    if (pthread_equal(other->owner, m->owner)) return false;
  }
  // The stopper walks the thread list without the lock while the world is stopped: join only
  // when it runs again.
  cv_.wait(lock, [&] { return !world_stopped_.load(kSeqCst); });
  m->state.store(MutatorState::kRunning, kSeqCst);
  mutators_.push_back(m);
  return true;
}

void ThreadRegistry::detach(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A requester may be running a checkpoint on our behalf: wait for it to hand us back.
    if (m->state.load(kSeqCst) == MutatorState::kCheckpointing) {
      cv_.wait(lock);
      continue;
    }
    const bool stopped_by_other = world_stopped_.load(kSeqCst) && stopper_ != m;
    if (!stopped_by_other) run_own_checkpoint(m, lock);
    m->state.store(MutatorState::kSuspended, kSeqCst);
    cv_.notify_all();
    if (!(world_stopped_.load(kSeqCst) && stopper_ != m) && m->pending.fn == nullptr) break;
    if (world_stopped_.load(kSeqCst) && stopper_ != m) cv_.wait(lock);
  }
  mutators_.erase(std::remove(mutators_.begin(), mutators_.end(), m), mutators_.end());
  cv_.notify_all();
}

uffdgc_mutator* ThreadRegistry::find(pthread_t thread) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uffdgc_mutator* m : mutators_) {
    if (pthread_equal(m->owner, thread)) return m;
  }
  return nullptr;
}

size_t ThreadRegistry::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return mutators_.size();
}

// Runs m's pending checkpoint on m's own thread. While it runs, m counts as running (the
// function may touch the heap), so a stop request waits for it.
void ThreadRegistry::run_own_checkpoint(uffdgc_mutator* m, std::unique_lock<std::mutex>& lock) {
  if (m->pending.fn == nullptr) return;
  const Checkpoint cp = m->pending;
  m->pending = {};
  m->running_checkpoint = cp.generation;
  const MutatorState previous = m->state.exchange(MutatorState::kRunning, kSeqCst);
  lock.unlock();
  cp.fn(m, cp.arg);
  lock.lock();
  m->running_checkpoint = 0;
  m->state.store(previous, kSeqCst);
  if (!world_stopped_.load(kSeqCst)) set_poll(m, 0);
  cv_.notify_all();
}

void ThreadRegistry::wait_until_world_resumes(uffdgc_mutator* m,
                                              std::unique_lock<std::mutex>& lock) {
  for (;;) {
    // A checkpoint posted while we wait is ours to run, or its requester waits forever; but
    // never while another thread has the world stopped.
    const bool stopped_by_other = world_stopped_.load(kSeqCst) && stopper_ != m;
    if (!stopped_by_other) run_own_checkpoint(m, lock);
    if (!(world_stopped_.load(kSeqCst) && stopper_ != m)) break;
    m->state.store(MutatorState::kSuspended, kSeqCst);
    cv_.notify_all();
    cv_.wait(lock);
  }
  m->state.store(MutatorState::kRunning, kSeqCst);
  if (m->pending.fn == nullptr) set_poll(m, 0);
}

void ThreadRegistry::park(uffdgc_mutator* m) {
  if (poll(m) == 0) {
    // Fast path. A checkpoint posted right now is picked up by its requester, which runs it
    // for parked threads; a stopper that read our old state is woken below.
    m->state.store(MutatorState::kParked, kSeqCst);
    notify_waiters();
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (!(world_stopped_.load(kSeqCst) && stopper_ != m)) run_own_checkpoint(m, lock);
  m->state.store(MutatorState::kParked, kSeqCst);
  cv_.notify_all();
}

void ThreadRegistry::unpark(uffdgc_mutator* m) {
  MutatorState expected = MutatorState::kParked;
  if (m->state.compare_exchange_strong(expected, MutatorState::kRunning, kSeqCst)) {
    // Fast path, unless a stop or a checkpoint came in: then behave as at a safepoint.
    if (!world_stopped_.load(kSeqCst) && poll(m) == 0) return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  while (m->state.load(kSeqCst) == MutatorState::kCheckpointing) cv_.wait(lock);
  wait_until_world_resumes(m, lock);
}

void ThreadRegistry::safepoint(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  wait_until_world_resumes(m, lock);
}

uint64_t ThreadRegistry::stop_the_world(uffdgc_mutator* requester) {
  std::unique_lock<std::mutex> lock(mu_);
  // Someone else is collecting, or we owe a checkpoint: be a good citizen first. Without a
  // requester (the GC thread) there is nothing to suspend, only a stopper to wait for.
  if (requester != nullptr) {
    wait_until_world_resumes(requester, lock);
  } else {
    cv_.wait(lock, [&] { return !world_stopped_.load(kSeqCst); });
  }
  const uint64_t start = os::monotonic_ns();
  world_stopped_.store(true, kSeqCst);
  stopper_ = requester;
  for (uffdgc_mutator* m : mutators_) {
    if (m != requester) set_poll(m, 1);
  }
  waiters_.fetch_add(1, kSeqCst);
  cv_.wait(lock, [&] {
    return std::all_of(mutators_.begin(), mutators_.end(), [&](uffdgc_mutator* m) {
      return m == requester || m->state.load(kSeqCst) != MutatorState::kRunning;
    });
  });
  waiters_.fetch_sub(1, kSeqCst);
  return os::monotonic_ns() - start;
}

void ThreadRegistry::resume_the_world() {
  std::lock_guard<std::mutex> lock(mu_);
  world_stopped_.store(false, kSeqCst);
  stopper_ = nullptr;
  for (uffdgc_mutator* m : mutators_) {
    if (m->pending.fn == nullptr) set_poll(m, 0);
  }
  cv_.notify_all();
}

void ThreadRegistry::run_checkpoint(uffdgc_mutator* requester,
                                    void (*fn)(uffdgc_mutator*, void*), void* arg) {
  std::unique_lock<std::mutex> lock(mu_);
  wait_for_checkpoint_turn(requester, lock);
  // Room first: once the checkpoint is active nothing may fail (std::bad_alloc here changes
  // nothing).
  std::vector<uffdgc_mutator*> on_behalf;
  on_behalf.reserve(mutators_.size());
  checkpoint_active_ = true;
  const uint64_t generation = ++checkpoint_generation_;
  for (uffdgc_mutator* m : mutators_) {
    if (m == requester) continue;
    if (claim_parked(m)) {
      on_behalf.push_back(m);  // parked: we run it for them; their unpark waits
    } else {
      m->pending = {fn, arg, generation};
      set_poll(m, 1);
    }
  }
  lock.unlock();
  if (requester != nullptr) fn(requester, arg);
  for (uffdgc_mutator* m : on_behalf) fn(m, arg);
  lock.lock();
  for (uffdgc_mutator* m : on_behalf) m->state.store(MutatorState::kParked, kSeqCst);
  cv_.notify_all();
  await_checkpoint_targets(requester, generation, lock);
  checkpoint_active_ = false;
  cv_.notify_all();
  if (requester != nullptr) wait_until_world_resumes(requester, lock);
}

// One checkpoint at a time: each thread has a single pending slot. A second requester waits
// as if suspended, running what the first one posts to it. Without a requester (the GC
// thread) there is nothing to suspend: it only waits for the stop or checkpoint in progress.
void ThreadRegistry::wait_for_checkpoint_turn(uffdgc_mutator* requester,
                                              std::unique_lock<std::mutex>& lock) {
  if (requester == nullptr) {
    cv_.wait(lock, [&] { return !checkpoint_active_ && !world_stopped_.load(kSeqCst); });
    return;
  }
  wait_until_world_resumes(requester, lock);
  if (!checkpoint_active_) return;
  requester->state.store(MutatorState::kSuspended, kSeqCst);
  waiters_.fetch_add(1, kSeqCst);
  cv_.notify_all();
  while (checkpoint_active_ || (world_stopped_.load(kSeqCst) && stopper_ != requester)) {
    if (!world_stopped_.load(kSeqCst)) run_own_checkpoint(requester, lock);
    if (!checkpoint_active_ && !world_stopped_.load(kSeqCst)) break;
    cv_.wait(lock);
  }
  waiters_.fetch_sub(1, kSeqCst);
  wait_until_world_resumes(requester, lock);
}

// Waits for the others. Meanwhile the requester touches no heap, so it counts as suspended: a
// target that decides to collect must not wait for it. A target that parked (lock-free) with
// this checkpoint still pending gets it run here, on its behalf.
void ThreadRegistry::await_checkpoint_targets(uffdgc_mutator* requester, uint64_t generation,
                                              std::unique_lock<std::mutex>& lock) {
  if (requester != nullptr) requester->state.store(MutatorState::kSuspended, kSeqCst);
  waiters_.fetch_add(1, kSeqCst);
  cv_.notify_all();
  for (;;) {
    bool pending = false;
    uffdgc_mutator* parked_target = nullptr;
    for (uffdgc_mutator* m : mutators_) {
      if (m->running_checkpoint == generation) pending = true;  // running it right now
      if (m->pending.fn == nullptr || m->pending.generation != generation) continue;
      pending = true;
      if (!world_stopped_.load(kSeqCst) && claim_parked(m)) {
        parked_target = m;
        break;
      }
    }
    if (!pending) break;
    if (parked_target != nullptr) {
      run_for_parked_target(requester, parked_target, lock);
      continue;
    }
    cv_.wait(lock);
  }
  waiters_.fetch_sub(1, kSeqCst);
}

// Runs the checkpoint pending for a target the caller claimed while parked.
void ThreadRegistry::run_for_parked_target(uffdgc_mutator* requester, uffdgc_mutator* target,
                                           std::unique_lock<std::mutex>& lock) {
  const Checkpoint cp = target->pending;
  target->pending = {};
  target->running_checkpoint = cp.generation;
  // The function may touch the heap: a stop must wait for it.
  if (requester != nullptr) requester->state.store(MutatorState::kRunning, kSeqCst);
  lock.unlock();
  cp.fn(target, cp.arg);
  lock.lock();
  target->running_checkpoint = 0;
  if (requester != nullptr) requester->state.store(MutatorState::kSuspended, kSeqCst);
  target->state.store(MutatorState::kParked, kSeqCst);
  if (!world_stopped_.load(kSeqCst)) set_poll(target, 0);
  cv_.notify_all();
}

std::vector<uffdgc_mutator*> ThreadRegistry::reset_in_child(pthread_t survivor) {
  // The mutex and condition variable may have been held by threads that do not exist in the
  // child: rebuild them before anything else.
  new (&mu_) std::mutex();
  new (&cv_) std::condition_variable();
  std::vector<uffdgc_mutator*> gone;
  std::vector<uffdgc_mutator*> kept;
  for (uffdgc_mutator* m : mutators_) {
    (pthread_equal(m->owner, survivor) ? kept : gone).push_back(m);
  }
  mutators_ = kept;
  world_stopped_.store(false, kSeqCst);
  stopper_ = nullptr;
  waiters_.store(0, kSeqCst);
  checkpoint_active_ = false;
  for (uffdgc_mutator* m : mutators_) {
    m->pending = {};
    if (m->state.load(kSeqCst) == MutatorState::kCheckpointing) {
      m->state.store(MutatorState::kParked, kSeqCst);
    }
    set_poll(m, 0);
  }
  return gone;
}

}  // namespace uffdgc::runtime
