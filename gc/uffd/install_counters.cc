#include "gc/uffd/install_counters.h"

namespace uffdgc::uffd {

InstallCounterSnapshot snapshot(const InstallCounters& c) {
  auto l = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return InstallCounterSnapshot{
      l(c.pages_moved),   l(c.pages_copied),   l(c.pages_copied_on_ebusy), l(c.pages_zero_filled),
      l(c.pages_already_present), l(c.pages_moved_unreported), l(c.move_partial),
      l(c.eagain_retries), l(c.move_eexist),   l(c.move_ebusy),  l(c.move_enoent),
      l(c.range_gone),    l(c.fatal_errors),   l(c.move_ioctls), l(c.copy_ioctls),
      l(c.zeropage_ioctls), l(c.injected_faults), l(c.pages_copied_on_einval),
      l(c.enomem_retries), l(c.enomem_releases), l(c.foreign_fills),
      l(c.ebusy_copies_out_of_memory)};
}

}  // namespace uffdgc::uffd
