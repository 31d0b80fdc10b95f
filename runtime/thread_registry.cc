#include "runtime/thread_registry.h"

#include "runtime/monotonic_clock.h"

#include <algorithm>
#include <new>

namespace uffdgc::runtime {

namespace {

void set_poll(uffdgc_mutator* m, uint32_t v) {
  __atomic_store_n(&m->fast.poll_flag, v, __ATOMIC_RELEASE);
}

}  // namespace

bool ThreadRegistry::attach(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  for (uffdgc_mutator* other : mutators_) {
    if (pthread_equal(other->owner, m->owner)) return false;
  }
  // A thread that attaches while the world is stopped starts suspended.
  m->state = MutatorState::kSuspended;
  mutators_.push_back(m);
  wait_until_world_resumes(m, lock);
  return true;
}

void ThreadRegistry::detach(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  run_own_checkpoint(m, lock);
  m->state = MutatorState::kSuspended;
  cv_.notify_all();
  while (world_stopped_ && stopper_ != m) cv_.wait(lock);
  mutators_.erase(std::remove(mutators_.begin(), mutators_.end(), m), mutators_.end());
  cv_.notify_all();
}

bool ThreadRegistry::is_attached(const uffdgc_mutator* m) {
  std::lock_guard<std::mutex> lock(mu_);
  return std::find(mutators_.begin(), mutators_.end(), m) != mutators_.end();
}

size_t ThreadRegistry::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return mutators_.size();
}

void ThreadRegistry::run_own_checkpoint(uffdgc_mutator* m, std::unique_lock<std::mutex>& lock) {
  if (m->pending.fn == nullptr) return;
  const Checkpoint cp = m->pending;
  m->pending = {};
  lock.unlock();
  cp.fn(m, cp.arg);
  lock.lock();
  if (!world_stopped_) set_poll(m, 0);
  cv_.notify_all();
}

void ThreadRegistry::wait_until_world_resumes(uffdgc_mutator* m,
                                              std::unique_lock<std::mutex>& lock) {
  for (;;) {
    // A checkpoint posted while we wait is ours to run, or its requester waits forever; but
    // never while another thread has the world stopped.
    if (!world_stopped_ || stopper_ == m) run_own_checkpoint(m, lock);
    if (!(world_stopped_ && stopper_ != m) && !m->checkpoint_on_behalf) break;
    m->state = MutatorState::kSuspended;
    cv_.notify_all();
    cv_.wait(lock);
  }
  m->state = MutatorState::kRunning;
  if (m->pending.fn == nullptr) set_poll(m, 0);
}

void ThreadRegistry::park(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
  run_own_checkpoint(m, lock);
  m->state = MutatorState::kParked;
  cv_.notify_all();
}

void ThreadRegistry::unpark(uffdgc_mutator* m) {
  std::unique_lock<std::mutex> lock(mu_);
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
    cv_.wait(lock, [&] { return !world_stopped_; });
  }
  const uint64_t start = monotonic_ns();
  world_stopped_ = true;
  stopper_ = requester;
  for (uffdgc_mutator* m : mutators_) {
    if (m != requester) set_poll(m, 1);
  }
  cv_.wait(lock, [&] {
    return std::all_of(mutators_.begin(), mutators_.end(), [&](uffdgc_mutator* m) {
      return m == requester || m->state != MutatorState::kRunning;
    });
  });
  return monotonic_ns() - start;
}

void ThreadRegistry::resume_the_world() {
  std::lock_guard<std::mutex> lock(mu_);
  world_stopped_ = false;
  stopper_ = nullptr;
  for (uffdgc_mutator* m : mutators_) {
    if (m->pending.fn == nullptr) set_poll(m, 0);
  }
  cv_.notify_all();
}

void ThreadRegistry::run_checkpoint(uffdgc_mutator* requester,
                                    void (*fn)(uffdgc_mutator*, void*), void* arg) {
  std::unique_lock<std::mutex> lock(mu_);
  wait_until_world_resumes(requester, lock);
  const uint64_t generation = ++checkpoint_generation_;
  std::vector<uffdgc_mutator*> on_behalf;
  for (uffdgc_mutator* m : mutators_) {
    if (m == requester) continue;
    if (m->state == MutatorState::kParked) {
      m->checkpoint_on_behalf = true;  // unpark waits until we are done
      on_behalf.push_back(m);
    } else {
      m->pending = {fn, arg, generation};
      set_poll(m, 1);
    }
  }
  lock.unlock();
  fn(requester, arg);
  for (uffdgc_mutator* m : on_behalf) fn(m, arg);
  lock.lock();
  for (uffdgc_mutator* m : on_behalf) m->checkpoint_on_behalf = false;
  cv_.notify_all();
  // While waiting the requester is inside the library and touches no heap: count it as
  // suspended so a target that decides to collect does not wait for us forever.
  requester->state = MutatorState::kSuspended;
  cv_.notify_all();
  for (;;) {
    if (!world_stopped_) run_own_checkpoint(requester, lock);
    const bool done = std::none_of(mutators_.begin(), mutators_.end(), [&](uffdgc_mutator* m) {
      return m->pending.fn != nullptr && m->pending.generation == generation;
    });
    if (done) break;
    cv_.wait(lock);
  }
  wait_until_world_resumes(requester, lock);
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
  world_stopped_ = false;
  stopper_ = nullptr;
  for (uffdgc_mutator* m : mutators_) {
    m->pending = {};
    m->checkpoint_on_behalf = false;
    set_poll(m, 0);
  }
  return gone;
}

}  // namespace uffdgc::runtime
