#include "runtime/reclaim_stats_watcher.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

#include "os/asynchronous_signals.h"
#include "os/memory_headroom.h"
#include "os/clock.h"

namespace uffdgc::runtime {

namespace {

struct Watcher {
  std::mutex mu;
  std::condition_variable cv;
  int holders = 0;
  uint64_t generation = 0;  // a thread runs while this is the value it was started with
  pthread_t thread{};
  // A thread was created in this process and not yet told to stop (written under mu; read
  // without it by ensure()'s fast check).
  std::atomic<bool> running{false};
  std::atomic<uint64_t> refreshes{0};
  uint64_t last_look = 0;  // monotonic ns of the last look for a cgroup limit (no thread yet)
};

// Never destroyed: a process may exit with heaps alive and the thread running.
Watcher& watcher() {
  static Watcher* w = new Watcher;
  return *w;
}

std::unique_ptr<os::MemoryHeadroom> find_cgroup() noexcept {
  try {
    return std::make_unique<os::MemoryHeadroom>();
  } catch (...) {  // no memory: looked for again next time
    return nullptr;
  }
}

void* watch(void* arg) {
  const auto mine = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arg));
  os::block_asynchronous_signals();
  Watcher& w = watcher();
  std::unique_lock<std::mutex> lock(w.mu);
  std::unique_ptr<os::MemoryHeadroom> headroom;
  uint64_t since_found = kReclaimCgroupRefindInterval;  // ns since the cgroup was looked up
  while (w.generation == mine) {
    lock.unlock();
    // The cgroup is looked up again now and then: the process may have been moved to another
    // one, or into one, since (a test's child, a job scheduler).
    if (since_found >= kReclaimCgroupRefindInterval) {
      headroom = find_cgroup();
      since_found = 0;
    }
    const uint64_t room = headroom != nullptr ? headroom->bytes() : os::MemoryHeadroom::kUnlimited;
    const bool near = room < kReclaimStatsMargin;
    if (near && headroom->refresh_stats()) w.refreshes.fetch_add(1, std::memory_order_relaxed);
    const uint64_t interval = near                                       ? kReclaimStatsNearInterval
                              : room != os::MemoryHeadroom::kUnlimited ? kReclaimStatsFarInterval
                                                                       : kReclaimCgroupRefindInterval;
    since_found += interval;
    lock.lock();
    w.cv.wait_for(lock, std::chrono::nanoseconds(interval), [&] { return w.generation != mine; });
  }
  return nullptr;
}

// w.mu held.
void start_locked(Watcher& w) {
  if (w.running.load(std::memory_order_relaxed)) return;
  ++w.generation;
  void* arg = reinterpret_cast<void*>(static_cast<uintptr_t>(w.generation));
  if (pthread_create(&w.thread, nullptr, &watch, arg) != 0) return;
  pthread_setname_np(w.thread, "uffdgc-reclaim");  // as top and perf show it
  w.running.store(true, std::memory_order_relaxed);
}

// Starts the thread only in a memory cgroup with a limit, looking at most once per
// kReclaimCgroupLookInterval: a thread nobody needs is not started (in the child of a
// multithreaded fork some tools refuse any, ThreadSanitizer among them). w.mu held.
void start_if_limited_locked(Watcher& w) {
  const uint64_t now = os::monotonic_ns();
  if (w.last_look != 0 && now - w.last_look < kReclaimCgroupLookInterval) return;
  w.last_look = now;
  const std::unique_ptr<os::MemoryHeadroom> headroom = find_cgroup();
  if (headroom != nullptr && headroom->bytes() != os::MemoryHeadroom::kUnlimited) start_locked(w);
}

void prepare_fork() { watcher().mu.lock(); }
void resume_parent() { watcher().mu.unlock(); }
void reset_child() {
  Watcher& w = watcher();
  new (&w.mu) std::mutex();
  new (&w.cv) std::condition_variable();
  w.running.store(false, std::memory_order_relaxed);
  w.last_look = 0;
}

}  // namespace

bool hold_reclaim_stats_watcher() {
  Watcher& w = watcher();
  static const bool fork_handled = pthread_atfork(&prepare_fork, &resume_parent, &reset_child) == 0;
  if (!fork_handled) return false;  // a child could deadlock on w.mu: no thread at all
  std::lock_guard<std::mutex> lock(w.mu);
  ++w.holders;
  start_if_limited_locked(w);
  return true;
}

void release_reclaim_stats_watcher() {
  Watcher& w = watcher();
  std::unique_lock<std::mutex> lock(w.mu);
  if (w.holders == 0 || --w.holders > 0 || !w.running.load(std::memory_order_relaxed)) return;
  ++w.generation;
  w.cv.notify_all();
  const pthread_t thread = w.thread;
  w.running.store(false, std::memory_order_relaxed);
  lock.unlock();
  pthread_join(thread, nullptr);
}

void ensure_reclaim_stats_watcher() {
  Watcher& w = watcher();
  if (w.running.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(w.mu);
  if (w.holders > 0) start_if_limited_locked(w);
}

uint64_t reclaim_stats_refreshes() { return watcher().refreshes.load(std::memory_order_relaxed); }

}  // namespace uffdgc::runtime
