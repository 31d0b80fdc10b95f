#include "os/uffd/install_counters.h"

namespace uffdgc::uffd {

InstallCounterValues read_counters(const InstallCounters& c) {
  auto l = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return InstallCounterValues{
      l(c.pages_moved),   l(c.pages_copied),   l(c.pages_copied_on_ebusy), l(c.pages_zero_filled),
      l(c.pages_already_present), l(c.pages_moved_unreported), l(c.move_partial),
      l(c.eagain_retries), l(c.move_eexist),   l(c.move_ebusy),  l(c.move_enoent),
      l(c.range_gone),    l(c.fatal_errors),   l(c.move_ioctls), l(c.copy_ioctls),
      l(c.zeropage_ioctls), l(c.injected_faults), l(c.pages_copied_on_einval),
      l(c.enomem_retries), l(c.enomem_releases), l(c.foreign_fills),
      l(c.ebusy_copies_out_of_memory), l(c.folio_frames_moved_whole),
      l(c.folio_frames_moved_partly)};
}

void count_moved_frames(InstallCounters& c, uint64_t dst, uint64_t src, uint64_t bytes) {
  if (bytes == 0) return;
  const uint64_t first = dst / kFolioFrameBytes;
  const uint64_t last = (dst + bytes - 1) / kFolioFrameBytes;
  const uint64_t touched = last - first + 1;
  uint64_t whole = 0;
  if ((src - dst) % kFolioFrameBytes == 0) {
    const uint64_t begin = (dst + kFolioFrameBytes - 1) / kFolioFrameBytes;  // first whole
    const uint64_t end = (dst + bytes) / kFolioFrameBytes;                   // past the last
    whole = end > begin ? end - begin : 0;
  }
  if (whole != 0) c.add(c.folio_frames_moved_whole, whole);
  if (touched > whole) c.add(c.folio_frames_moved_partly, touched - whole);
}

}  // namespace uffdgc::uffd
