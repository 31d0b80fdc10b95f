// The three page-installing ioctls behind one signature, so the installer's error policy
// is written once for MOVE, COPY and ZEROPAGE (design: .install.ops). Async-signal-safe.
#pragma once

#include <cstdint>

namespace uffdgc::uffd {

enum class UffdOp : uint8_t { kMove = 0, kCopy = 1, kZeropage = 2 };
inline constexpr int kUffdOpCount = 3;

// What an ioctl returned: ret 0 or -1, errno, and the progress field the kernel wrote
// (`move`, `copy` or `zeropage`): bytes done (> 0) or -errno. The field is initialised to 0
// because early validation failures leave it untouched (research/kernel.md §1.4).
struct IoctlOutcome {
  int ret = 0;
  int error = 0;
  int64_t progress = 0;
};

// mode: the op's own mode bits (UFFDIO_MOVE_MODE_*, UFFDIO_COPY_MODE_*, ...). src is ignored
// for kZeropage.
IoctlOutcome issue_uffd_ioctl(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len,
                              uint64_t mode);

}  // namespace uffdgc::uffd
