#include "gc/compact/fault_router.h"

#include <sched.h>

#include <atomic>
#include <cstdlib>

#include "gc/compact/concurrent_compaction.h"
#include "os/page.h"
#include "os/uffd/page_installer.h"
#include "os/uffd/signal_safe_format.h"

namespace uffdgc::gc {

namespace {

constexpr int kSlots = 32;

struct HeapRange {
  std::atomic<uint64_t> begin{0}, end{0};
};

std::atomic<ConcurrentCompaction*> g_active[kSlots];
// Every publish gets a new generation (kept beside its slot), so a fault can tell one
// compaction from the next even when the next one lives at the same address.
std::atomic<uint64_t> g_generation[kSlots];
std::atomic<uint64_t> g_publishes{0};
HeapRange g_ranges[kSlots];
std::atomic<int> g_in_flight{0};
std::atomic<bool (*)()> g_delivery_check{nullptr};

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
      .hex(addr & ~(os::kPageSize - 1))
      .text(" while a compaction was producing it; a listener must not read or write heap "
            "objects (uffdgc.h, uffdgc_set_event_listener)")
      .write_to(2);
  abort();
}

void count_repeated_fault(uint64_t addr, uint64_t generation) {
  const uint64_t page = addr & ~(os::kPageSize - 1);
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

}  // namespace

void enter_event_listener() { t_in_event_listener = true; }
void leave_event_listener() { t_in_event_listener = false; }

void set_fault_delivery_check(bool (*delivered)()) {
  g_delivery_check.store(delivered, std::memory_order_release);
}

bool faults_delivered() {
  bool (*delivered)() = g_delivery_check.load(std::memory_order_acquire);
  return delivered != nullptr && delivered();
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

bool publish_compaction(ConcurrentCompaction* compaction) {
  const uint64_t generation = g_publishes.fetch_add(1, std::memory_order_seq_cst) + 1;
  for (int i = 0; i < kSlots; ++i) {
    ConcurrentCompaction* expected = nullptr;
    if (!g_active[i].compare_exchange_strong(expected, compaction)) continue;
    // A fault that reads the slot's previous generation in between only restarts its count.
    g_generation[i].store(generation, std::memory_order_seq_cst);
    return true;
  }
  return false;
}

void withdraw_compaction(ConcurrentCompaction* compaction) {
  for (auto& slot : g_active) {
    ConcurrentCompaction* expected = compaction;
    slot.compare_exchange_strong(expected, nullptr);
  }
  // A handler that loaded the pointer before we cleared it is counted in g_in_flight.
  while (g_in_flight.load(std::memory_order_seq_cst) != 0) sched_yield();
}

bool assist_compaction(uint64_t lo, uint64_t hi, uint8_t* buffer) {
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  bool more = false;
  for (auto& slot : g_active) {
    ConcurrentCompaction* c = slot.load(std::memory_order_seq_cst);
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

void forget_faults_in_child() {
  // Threads of the parent that were inside the handler when it forked do not exist here; their
  // count would make the child's first withdraw_compaction() wait forever.
  g_in_flight.store(0, std::memory_order_seq_cst);
}

int route_fault(uint64_t addr) {
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  int handled = 0;
  for (int i = 0; i < kSlots; ++i) {
    ConcurrentCompaction* c = g_active[i].load(std::memory_order_seq_cst);
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

}  // namespace uffdgc::gc
