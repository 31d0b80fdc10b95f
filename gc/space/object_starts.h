// Known parse points of the moving space: the addresses the bump pointer handed out (each TLAB,
// and each object that got the pointer to itself, starts with an object or a filler) and,
// after a compaction, where the first survivor at or above each of them went. The space parses
// forward from any of them, so telling whether an object starts at an address (uffdgc_pin)
// parses one TLAB, or the survivors of one, instead of the whole space. A parse that starts at
// the TLAB of the address reads only objects its owner allocated before the one asked about.
//
// Ascending: bump results grow between cycles, and a compaction keeps the order of what it
// moves (segments slide down within their bounds, islands stay, the black block lands above
// both). A deque, so that recording a start never copies the others under the heap lock.
// One start per TLAB: capacity / tlab_size entries at most (8 bytes per 32 KiB by default).
// Heap lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <new>
#include <vector>

namespace uffdgc::gc {

class ObjectStarts {
 public:
  // Records a bump result (at or above every recorded start). False, and nothing recorded,
  // when there is no memory for it.
  bool add(uint64_t start) noexcept {
    try {
      starts_.push_back(start);
      return true;
    } catch (const std::bad_alloc&) {
      return false;
    }
  }
  void remove_last() { starts_.pop_back(); }

  // The highest start at or below addr, or `floor` when there is none.
  uint64_t at_or_below(uint64_t addr, uint64_t floor) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), addr);
    return it == starts_.begin() ? floor : std::max(*(it - 1), floor);
  }
  // The starts in [begin, end), in order (a copy the GC thread forwards without the lock; a
  // young cycle's begins at the old generation's end and copies none of its starts).
  std::vector<uint64_t> between(uint64_t begin, uint64_t end) const {
    return {std::lower_bound(starts_.begin(), starts_.end(), begin),
            std::lower_bound(starts_.begin(), starts_.end(), end)};
  }
  // The starts at or above `begin`, in order: what a stop-the-world compaction of the region
  // from `begin` up forwards (a young cycle's: the old generation's starts are not copied).
  std::vector<uint64_t> from(uint64_t begin) const {
    return {std::lower_bound(starts_.begin(), starts_.end(), begin), starts_.end()};
  }
  // After that compaction: the starts at or above `begin` become `forwarded` (ascending, none
  // below begin); those below stay.
  void replace_from(uint64_t begin, const std::deque<uint64_t>& forwarded) {
    starts_.erase(std::lower_bound(starts_.begin(), starts_.end(), begin), starts_.end());
    starts_.insert(starts_.end(), forwarded.begin(), forwarded.end());
  }
  // After a compaction of the region from `begin` up: its starts become `forwarded` (where
  // the survivors below the black block went, ascending, none below begin) followed by the
  // starts at or above block_begin, moved down by block_delta with the block; those below
  // begin stay. Returns what it no longer needs, for the caller to free outside a pause (the
  // old starts when begin is the space's: then it swaps rather than copies).
  std::deque<uint64_t> replace(uint64_t begin, std::deque<uint64_t> forwarded,
                               uint64_t block_begin, uint64_t block_delta) {
    for (auto it = std::lower_bound(starts_.begin(), starts_.end(), block_begin);
         it != starts_.end(); ++it) {
      if (forwarded.empty() || forwarded.back() < *it - block_delta) {
        forwarded.push_back(*it - block_delta);
      }
    }
    const auto first = std::lower_bound(starts_.begin(), starts_.end(), begin);
    if (first == starts_.begin()) {
      starts_.swap(forwarded);
      return forwarded;
    }
    starts_.erase(first, starts_.end());
    starts_.insert(starts_.end(), forwarded.begin(), forwarded.end());
    return forwarded;
  }
  size_t size() const { return starts_.size(); }

 private:
  std::deque<uint64_t> starts_;
};

}  // namespace uffdgc::gc
