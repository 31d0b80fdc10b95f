// Turns a hang into a test failure: if the scope does not end within `seconds`, the process
// exits with status 97 after naming the test. For tests of locking and handshakes, where a
// deadlock would otherwise only show as a ctest timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace uffdgc::test {

class Watchdog {
 public:
  explicit Watchdog(const char* what, int seconds = 60) : what_(what) {
    thread_ = std::thread([this, seconds] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
        std::fprintf(stderr, "WATCHDOG: '%s' did not finish within %d s (deadlock?)\n", what_,
                     seconds);
        std::fflush(stderr);
        std::_Exit(97);
      }
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  const char* what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace uffdgc::test
