// uffdgc_prepare_kernel_access (uffdgc.h, "Kernel and device access"): the kernel reads and
// writes user memory without taking SIGBUS. A to-space page that is not installed yet answers
// its access with EFAULT (UFFD_FEATURE_SIGBUS), and an object that moves under a blocking
// read() or an O_DIRECT / io_uring transfer would lose the data. So the object is pinned
// (it stays where it is, its pages become an island of every later compaction) and each page
// of the range is touched once from user space, which produces it through the ordinary fault
// path if a compaction has not yet. uffdgc_unpin undoes it.
#include <cstdint>

#include "os/page.h"
#include "uffdgc/uffdgc.h"

extern "C" uffdgc_result uffdgc_prepare_kernel_access(uffdgc_mutator* m, uffdgc_ref ref,
                                                      size_t offset, size_t length) {
  const uffdgc_result pinned = uffdgc_pin(m, ref);
  if (pinned != UFFDGC_OK) return pinned;
  const size_t size = uffdgc_object_size(m, ref);
  if (offset > size || length > size - offset) {
    uffdgc_unpin(m, ref);
    return UFFDGC_EINVAL;
  }
  if (length == 0) return UFFDGC_OK;
  const uint64_t first = (ref + offset) & ~(uffdgc::os::kPageSize - 1);
  const uint64_t last = ref + offset + length - 1;
  for (uint64_t page = first; page <= last; page += uffdgc::os::kPageSize) {
    (void)*reinterpret_cast<const volatile uint8_t*>(page > ref + offset ? page : ref + offset);
  }
  return UFFDGC_OK;
}
