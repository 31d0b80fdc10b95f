#include "runtime/sigbus_handler.h"

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "gc/compact/concurrent_compaction.h"
#include "gc/uffd/page_installer.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

namespace {

constexpr int kSlots = 32;

struct HeapRange {
  std::atomic<uint64_t> begin{0}, end{0};
};

std::atomic<gc::ConcurrentCompaction*> g_active[kSlots];
HeapRange g_ranges[kSlots];
std::atomic<int> g_in_flight{0};
struct sigaction g_previous {};
std::once_flag g_install_once;
int g_install_error = 0;

// Hands a fault that is not ours to whoever handled SIGBUS before us.
void chain(int sig, siginfo_t* info, void* ucontext) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, ucontext);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: reinstate it; returning re-executes the access, which faults again and
  // now terminates the process with the usual core dump.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
}

void on_sigbus(int sig, siginfo_t* info, void* ucontext) {
  const int saved_errno = errno;
  if (handle_sigbus(sig, info, ucontext) == 0) chain(sig, info, ucontext);
  errno = saved_errno;
}

}  // namespace

int install_sigbus_handler() {
  std::call_once(g_install_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) g_install_error = errno;
  });
  return g_install_error;
}

bool add_heap_range(uint64_t begin, uint64_t end) {
  for (HeapRange& r : g_ranges) {
    uint64_t expected = 0;
    if (r.begin.compare_exchange_strong(expected, begin)) {
      r.end.store(end, std::memory_order_release);
      return true;
    }
  }
  return false;
}

void remove_heap_range(uint64_t begin) {
  for (HeapRange& r : g_ranges) {
    if (r.begin.load(std::memory_order_acquire) == begin) {
      r.end.store(0, std::memory_order_release);
      r.begin.store(0, std::memory_order_release);
      return;
    }
  }
}

bool publish_compaction(gc::ConcurrentCompaction* compaction) {
  for (auto& slot : g_active) {
    gc::ConcurrentCompaction* expected = nullptr;
    if (slot.compare_exchange_strong(expected, compaction)) return true;
  }
  return false;
}

void withdraw_compaction(gc::ConcurrentCompaction* compaction) {
  for (auto& slot : g_active) {
    gc::ConcurrentCompaction* expected = compaction;
    slot.compare_exchange_strong(expected, nullptr);
  }
  // A handler that loaded the pointer before we cleared it is counted in g_in_flight.
  while (g_in_flight.load(std::memory_order_seq_cst) != 0) sched_yield();
}

void forget_handlers_in_child() {
  // Threads of the parent that were inside the handler when it forked do not exist here; their
  // count would make the child's first withdraw_compaction() wait forever.
  g_in_flight.store(0, std::memory_order_seq_cst);
}

int handle_sigbus(int sig, siginfo_t* info, void*) {
  if (sig != SIGBUS || info == nullptr) return 0;
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  const auto addr = reinterpret_cast<uint64_t>(info->si_addr);
  int handled = 0;
  for (auto& slot : g_active) {
    gc::ConcurrentCompaction* c = slot.load(std::memory_order_seq_cst);
    if (c == nullptr || !c->covers(addr)) continue;
    uffd::InstallResult failure;
    if (!c->handle_fault(addr, &failure)) {
      g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
      uffd::abort_on_install_failure(failure);
    }
    handled = 1;
    break;
  }
  if (handled == 0) {
    // Inside a heap but no compaction covers it: the phase ended while this fault was on its
    // way, and the page is installed now. Retrying the access is all it takes.
    for (const HeapRange& r : g_ranges) {
      const uint64_t b = r.begin.load(std::memory_order_acquire);
      if (b != 0 && addr >= b && addr < r.end.load(std::memory_order_acquire)) {
        handled = 1;
        break;
      }
    }
  }
  g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  return handled;
}

}  // namespace uffdgc::runtime

extern "C" int uffdgc_handle_sigbus(int sig, void* siginfo, void* ucontext) {
  return uffdgc::runtime::handle_sigbus(sig, static_cast<siginfo_t*>(siginfo), ucontext);
}
