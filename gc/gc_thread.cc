#include "gc/gc_thread.h"

#include <new>
#include <utility>

#include "os/asynchronous_signals.h"

namespace uffdgc::gc {

GcThread::~GcThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  pthread_join(thread_, nullptr);
}

void* GcThread::main(void* arg) {
  // The thread inherits the mask of whichever thread started it.
  os::block_asynchronous_signals();
  auto* self = static_cast<GcThread*>(arg);
  std::unique_lock<std::mutex> lock(self->mu_);
  for (;;) {
    self->cv_.wait(lock, [&] { return self->stopping_ || self->job_ != nullptr; });
    if (self->job_ == nullptr) return nullptr;  // stopping with nothing to do
    std::function<void()> job = std::move(self->job_);
    self->job_ = nullptr;
    self->running_job_ = true;
    lock.unlock();
    job();
    lock.lock();
    self->running_job_ = false;
    self->cv_.notify_all();
  }
}

bool GcThread::submit(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return job_ == nullptr && !running_job_; });
  if (!started_) {
    if (pthread_create(&thread_, nullptr, &GcThread::main, this) != 0) return false;
    started_ = true;
  }
  job_ = std::move(job);
  cv_.notify_all();
  return true;
}

void GcThread::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return job_ == nullptr && !running_job_; });
}

bool GcThread::busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return job_ != nullptr || running_job_;
}

void GcThread::forget_in_child() {
  new (&mu_) std::mutex();
  new (&cv_) std::condition_variable();
  job_ = nullptr;
  running_job_ = false;
  started_ = false;
  stopping_ = false;
}

}  // namespace uffdgc::gc
