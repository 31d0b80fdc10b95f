#include "runtime/sigbus_handler.h"

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "gc/asynchronous_signals.h"
#include "gc/compact/concurrent_compaction.h"
#include "gc/uffd/page_installer.h"
#include "gc/uffd/signal_safe_format.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

namespace {

constexpr int kSlots = 32;

struct HeapRange {
  std::atomic<uint64_t> begin{0}, end{0};
};

std::atomic<gc::ConcurrentCompaction*> g_active[kSlots];
// Every publish gets a new generation (kept beside its slot), so a fault can tell one
// compaction from the next even when the next one lives at the same address.
std::atomic<uint64_t> g_generation[kSlots];
std::atomic<uint64_t> g_publishes{0};
HeapRange g_ranges[kSlots];
std::atomic<int> g_in_flight{0};
struct sigaction g_previous {};
std::once_flag g_install_once;
int g_install_error = 0;

// A page that faults again and again under the same compaction was not made present by the
// handler: after this many consecutive faults of one thread on it, the process aborts naming
// the page instead of retrying forever. (A page faults once per compaction at most when all is
// well; the slack covers the race with a phase that ends while the fault is on its way.)
constexpr unsigned kMaxRepeatedFaults = 64;
struct LastFault {
  uint64_t page;
  uint64_t generation;  // of the compaction that covered it, or of the last publish
  unsigned repeats;
};
// Initial-exec TLS: reading it in a signal handler never allocates.
__attribute__((tls_model("initial-exec"))) thread_local LastFault t_last_fault{};
__attribute__((tls_model("initial-exec"))) thread_local bool t_in_event_listener = false;

void abort_fault_in_event_listener(uint64_t addr) {
  SignalSafeMessage()
      .text("uffdgc: the event listener touched the heap page at ")
      .hex(addr & ~uint64_t{4095})
      .text(" while a compaction was producing it; a listener must not read or write heap "
            "objects (uffdgc.h, uffdgc_set_event_listener)")
      .write_to(2);
  abort();
}

void count_repeated_fault(uint64_t addr, uint64_t generation) {
  const uint64_t page = addr & ~uint64_t{4095};
  LastFault& last = t_last_fault;
  if (last.page != page || last.generation != generation) {
    last = {page, generation, 0};
    return;
  }
  if (++last.repeats < kMaxRepeatedFaults) return;
  SignalSafeMessage()
      .text("uffdgc: the heap page at ")
      .hex(page)
      .text(" faulted ")
      .dec(last.repeats)
      .text(" times in a row although the SIGBUS handler made it present")
      .write_to(2);
  abort();
}

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
  if (g_previous.sa_handler == SIG_IGN) return;
  // Default action: reinstate it. A fault re-executes the access on return, which faults again
  // and now terminates the process with the usual core dump; a signal that was sent (kill,
  // tgkill, sigqueue: si_code <= 0) or an asynchronous memory error report is raised again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0 || info->si_code == BUS_MCEERR_AO) raise(SIGBUS);
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
    // Installed with every asynchronous signal blocked while it runs (it may wait for a page
    // another thread produces; another handler interrupting it and touching the page it holds
    // would wait for itself) and with SA_NODEFER, so that a previous handler it chains to may
    // itself touch the heap and be served. Synchronous signals stay deliverable.
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
    gc::fill_asynchronous_signals(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) g_install_error = errno;
  });
  return g_install_error;
}

void enter_event_listener() { t_in_event_listener = true; }
void leave_event_listener() { t_in_event_listener = false; }

bool sigbus_handler_in_place() {
  struct sigaction current {};
  if (sigaction(SIGBUS, nullptr, &current) != 0) return false;
  return (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_sigbus;
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
  const uint64_t generation = g_publishes.fetch_add(1, std::memory_order_seq_cst) + 1;
  for (int i = 0; i < kSlots; ++i) {
    gc::ConcurrentCompaction* expected = nullptr;
    if (!g_active[i].compare_exchange_strong(expected, compaction)) continue;
    // A fault that reads the slot's previous generation in between only restarts its count.
    g_generation[i].store(generation, std::memory_order_seq_cst);
    return true;
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

bool assist_compaction(uint64_t lo, uint64_t hi, uint8_t* buffer) {
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  bool more = false;
  for (auto& slot : g_active) {
    gc::ConcurrentCompaction* c = slot.load(std::memory_order_seq_cst);
    if (c == nullptr || !c->within(lo, hi)) continue;
    bool ok = true;
    uffd::InstallResult failure;
    more = c->assist(buffer, &ok, &failure);
    if (!ok) {
      g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
      uffd::abort_on_install_failure(failure);
    }
    break;
  }
  g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  return more;
}

void forget_handlers_in_child() {
  // Threads of the parent that were inside the handler when it forked do not exist here; their
  // count would make the child's first withdraw_compaction() wait forever.
  g_in_flight.store(0, std::memory_order_seq_cst);
}

int handle_sigbus(int sig, siginfo_t* info, void*) {
  // Only a fault the kernel raised for a missing page (UFFD_FEATURE_SIGBUS: BUS_ADRERR) can be
  // ours. kill/tgkill/sigqueue (si_code <= 0) and hardware memory errors (BUS_MCEERR_*) belong
  // to whoever handled SIGBUS before us, or to the default action.
  if (sig != SIGBUS || info == nullptr || info->si_code != BUS_ADRERR) return 0;
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  const auto addr = reinterpret_cast<uint64_t>(info->si_addr);
  int handled = 0;
  for (int i = 0; i < kSlots; ++i) {
    gc::ConcurrentCompaction* c = g_active[i].load(std::memory_order_seq_cst);
    if (c == nullptr || !c->covers(addr)) continue;
    if (t_in_event_listener) abort_fault_in_event_listener(addr);
    count_repeated_fault(addr, g_generation[i].load(std::memory_order_seq_cst));
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
        count_repeated_fault(addr, g_publishes.load(std::memory_order_seq_cst));
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
  const int saved_errno = errno;
  const int handled =
      uffdgc::runtime::handle_sigbus(sig, static_cast<siginfo_t*>(siginfo), ucontext);
  errno = saved_errno;
  return handled;
}
