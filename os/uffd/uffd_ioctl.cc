#include "os/uffd/uffd_ioctl.h"

#include <cerrno>

#include "os/uffd/kernel_abi.h"

namespace uffdgc::uffd {

IoctlOutcome issue_uffd_ioctl(UffdOp op, int uffd, uint64_t dst, uint64_t src, uint64_t len,
                              uint64_t mode) {
  IoctlOutcome out;
  switch (op) {
    case UffdOp::kMove: {
      uffdio_move arg{};
      arg.dst = dst;
      arg.src = src;
      arg.len = len;
      arg.mode = mode;
      arg.move = 0;
      out.ret = ioctl(uffd, UFFDIO_MOVE, &arg);
      out.error = out.ret == 0 ? 0 : errno;
      out.progress = arg.move;
      break;
    }
    case UffdOp::kCopy: {
      uffdio_copy arg{};
      arg.dst = dst;
      arg.src = src;
      arg.len = len;
      arg.mode = mode;
      arg.copy = 0;
      out.ret = ioctl(uffd, UFFDIO_COPY, &arg);
      out.error = out.ret == 0 ? 0 : errno;
      out.progress = arg.copy;
      break;
    }
    case UffdOp::kZeropage: {
      uffdio_zeropage arg{};
      arg.range.start = dst;
      arg.range.len = len;
      arg.mode = mode;
      arg.zeropage = 0;
      out.ret = ioctl(uffd, UFFDIO_ZEROPAGE, &arg);
      out.error = out.ret == 0 ? 0 : errno;
      out.progress = arg.zeropage;
      break;
    }
  }
  return out;
}

}  // namespace uffdgc::uffd
