#include "runtime/sigbus_handler.h"

#include <atomic>
#include <cerrno>
#include <mutex>

#include "os/asynchronous_signals.h"
#include "gc/compact/fault_router.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

namespace {

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
    os::fill_asynchronous_signals(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) {
      g_install_error = errno;
      return;
    }
    gc::set_fault_delivery_check(sigbus_handler_in_place);
  });
  return g_install_error;
}

bool sigbus_handler_in_place() {
  struct sigaction current {};
  if (sigaction(SIGBUS, nullptr, &current) != 0) return false;
  return (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_sigbus;
}

int handle_sigbus(int sig, siginfo_t* info, void*) {
  // Only a fault the kernel raised for a missing page (UFFD_FEATURE_SIGBUS: BUS_ADRERR) can be
  // ours. kill/tgkill/sigqueue (si_code <= 0) and hardware memory errors (BUS_MCEERR_*) belong
  // to whoever handled SIGBUS before us, or to the default action.
  if (sig != SIGBUS || info == nullptr || info->si_code != BUS_ADRERR) return 0;
  return gc::route_fault(reinterpret_cast<uint64_t>(info->si_addr));
}

}  // namespace uffdgc::runtime

extern "C" int uffdgc_handle_sigbus(int sig, void* siginfo, void* ucontext) {
  const int saved_errno = errno;
  const int handled =
      uffdgc::runtime::handle_sigbus(sig, static_cast<siginfo_t*>(siginfo), ucontext);
  errno = saved_errno;
  return handled;
}
