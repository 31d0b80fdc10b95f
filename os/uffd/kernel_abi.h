// Kernel interface definitions for userfaultfd that Debian 12's linux-libc-dev (6.1) lacks.
//
// Every definition is guarded so that newer system headers win: we only fill gaps, we never
// redefine what the installed headers already describe (design: .os.uffd). Values are the
// kernel's uapi ABI (include/uapi/linux/userfaultfd.h, 6.8+), which is frozen.
#pragma once

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cstdint>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#ifndef USERFAULTFD_IOC
#define USERFAULTFD_IOC 0xAA
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

#ifndef UFFD_FEATURE_SIGBUS
#define UFFD_FEATURE_SIGBUS (1 << 7)
#endif

#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
#endif

#ifndef UFFDIO_MOVE_MODE_DONTWAKE
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
// The 6.1 headers have no struct uffdio_move either; both arrived together in 6.8.
struct uffdio_move {
  __u64 dst;
  __u64 src;
  __u64 len;
  __u64 mode;
  // Bytes moved, or -errno when nothing moved. Early validation failures leave it untouched,
  // so callers initialise it to 0 (research/kernel.md §1.4).
  __s64 move;
};
#endif

#ifndef UFFDIO_MOVE
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

namespace uffdgc::uffd {

// Layout checks against the kernel ABI, so a wrong local definition fails to compile.
static_assert(sizeof(uffdio_move) == 40, "struct uffdio_move is 5 x 64 bits");
static_assert(UFFDIO_MOVE == 0xc028aa05, "UFFDIO_MOVE ioctl number");
static_assert(UFFDIO_COPY == 0xc028aa03, "UFFDIO_COPY ioctl number");

}  // namespace uffdgc::uffd
