// The heap's GC thread: runs the concurrent part of a cycle (marking, reclaim, planning, the
// flip's pauses and compaction; design: .cycle.phases) after the pause that started it. One job
// at a time; a new cycle, a fork or heap destruction first waits until the thread is idle.
// Built on pthreads rather than std::thread so that a forked child (which has no GC thread) can
// simply forget it.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <functional>
#include <mutex>

namespace uffdgc::gc {

class GcThread {
 public:
  GcThread() = default;
  GcThread(const GcThread&) = delete;
  GcThread& operator=(const GcThread&) = delete;
  ~GcThread();

  // Hands a job to the thread (starting it on first use); returns false if the thread cannot
  // be started, in which case the caller runs the job itself.
  bool submit(std::function<void()> job);
  // Blocks until no job is pending or running.
  void wait_idle();
  bool busy();
  // In a forked child: the thread does not exist there; forget it (locks are rebuilt).
  void forget_in_child();

 private:
  static void* main(void* self);
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool running_job_ = false;
  bool started_ = false;
  bool stopping_ = false;
  pthread_t thread_{};
};

}  // namespace uffdgc::gc
