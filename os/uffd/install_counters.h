// Counters of the page installer (design: .install.tested; .measure.stall). Shared by every
// thread that installs pages, including SIGBUS handlers, so they are lock-free atomics updated
// with relaxed order: they are statistics, never used for synchronisation.
#pragma once

#include <atomic>
#include <cstdint>

namespace uffdgc::uffd {

struct InstallCounters {
  // Outcomes, in pages.
  std::atomic<uint64_t> pages_moved{0};            // installed by UFFDIO_MOVE (zero copy)
  std::atomic<uint64_t> pages_copied{0};           // installed by UFFDIO_COPY (copy-only mode)
  std::atomic<uint64_t> pages_copied_on_ebusy{0};  // COPY fallback after MOVE said EBUSY
  std::atomic<uint64_t> pages_zero_filled{0};      // source hole, UFFDIO_ZEROPAGE installed
  std::atomic<uint64_t> pages_already_present{0};  // EEXIST: another thread installed the page
  // EEXIST although our own source page is gone: the kernel moved it and did not count it
  // (6.18 batching bug, research/kernel.md §1.6). Content is at dst; nothing was copied twice.
  std::atomic<uint64_t> pages_moved_unreported{0};

  // Kernel answers, per ioctl that returned an error.
  std::atomic<uint64_t> move_partial{0};         // EAGAIN with move > 0
  std::atomic<uint64_t> eagain_retries{0};       // EAGAIN with nothing done (any ioctl)
  std::atomic<uint64_t> move_eexist{0};
  std::atomic<uint64_t> move_ebusy{0};
  std::atomic<uint64_t> move_enoent{0};
  std::atomic<uint64_t> range_gone{0};           // EINVAL/ENOENT: destination unregistered
  std::atomic<uint64_t> fatal_errors{0};

  // Work issued.
  std::atomic<uint64_t> move_ioctls{0};
  std::atomic<uint64_t> copy_ioctls{0};
  std::atomic<uint64_t> zeropage_ioctls{0};
  std::atomic<uint64_t> injected_faults{0};

  // Added with issue #11 §4 (kept at the end: snapshots are built in declaration order).
  // MOVE said EINVAL although the destination is still registered (a COPY of the page worked):
  // the two mappings differ in something MOVE compares, e.g. VM_LOCKED after mlockall().
  std::atomic<uint64_t> pages_copied_on_einval{0};
  std::atomic<uint64_t> enomem_retries{0};   // ENOMEM (memory cgroup): backed off, retried
  std::atomic<uint64_t> enomem_releases{0};  // ENOMEM on the GC thread: from-space released first
  // EEXIST with our source page still in place at a destination only we install (the
  // collector's page states): a foreign fill, fatal (kForeignFill).
  std::atomic<uint64_t> foreign_fills{0};
  // The COPY after a MOVE's EBUSY ran out of memory (ENOMEM past the caller's retry limit):
  // the page is still missing and the caller retries the rest, whose MOVE may say EBUSY again.
  std::atomic<uint64_t> ebusy_copies_out_of_memory{0};
  // The shape of what MOVE moved, in 64 KiB frames of the destination (kFolioFrameBytes): a
  // frame covered whole by one call whose source is aligned alike can hold a 64K folio the
  // kernel moves without splitting it (kernel-patches/ does; stock kernels split it); a frame
  // covered in part, or from a source at another offset, splits any large folio in it. They
  // count request shapes, not folios: a frame of small pages is counted all the same.
  std::atomic<uint64_t> folio_frames_moved_whole{0};
  std::atomic<uint64_t> folio_frames_moved_partly{0};

  void add(std::atomic<uint64_t>& counter, uint64_t n) const {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};

// A plain copy for printing and comparing.
struct InstallCounterValues {
  uint64_t pages_moved, pages_copied, pages_copied_on_ebusy, pages_zero_filled,
      pages_already_present, pages_moved_unreported, move_partial, eagain_retries, move_eexist,
      move_ebusy, move_enoent, range_gone, fatal_errors, move_ioctls, copy_ioctls,
      zeropage_ioctls, injected_faults, pages_copied_on_einval, enomem_retries, enomem_releases,
      foreign_fills, ebusy_copies_out_of_memory, folio_frames_moved_whole,
      folio_frames_moved_partly;
};

InstallCounterValues read_counters(const InstallCounters& c);

inline constexpr uint64_t kFolioFrameBytes = 64ull << 10;

// Counts the frames [dst, dst + bytes) touches (see folio_frames_moved_whole), moved from src.
// Async-signal-safe (arithmetic and relaxed atomics).
void count_moved_frames(InstallCounters& c, uint64_t dst, uint64_t src, uint64_t bytes);

}  // namespace uffdgc::uffd
