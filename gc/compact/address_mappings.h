// Which mappings (VMAs) a concurrent compaction's ranges consist of (design: .cycle.flip.order):
// a ranged MOVE or COPY may not cross a VMA boundary, so runs are cut at them. Private to
// gc/compact/. mappings_within reads /proc/self/maps (not async-signal-safe; the GC thread, once
// per cycle); mapping_holding is a binary search.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gc/compact/compaction_plan.h"
#include "os/process_maps.h"

namespace uffdgc::gc {

// The parts of `ranges` (shifted by delta) that are mappings of their own, shifted back;
// empty if the process's mappings cannot be read.
inline std::vector<AddressRange> mappings_within(const std::vector<AddressRange>& ranges,
                                                 int64_t delta) {
  std::vector<AddressRange> out;
  std::vector<os::Mapping> mappings;
  if (os::read_process_mappings(mappings) != 0) return out;
  const auto shift = [](uint64_t a, int64_t d) {
    return static_cast<uint64_t>(static_cast<int64_t>(a) + d);
  };
  for (const os::Mapping& m : mappings) {
    for (const AddressRange& r : ranges) {
      const uint64_t b = std::max<uint64_t>(m.begin, shift(r.begin, delta));
      const uint64_t e = std::min<uint64_t>(m.end, shift(r.end, delta));
      if (b < e) out.push_back({shift(b, -delta), shift(e, -delta)});
    }
  }
  return out;
}

// The mapping in `mappings` (sorted) that holds the page at `page`, or nullptr (unknown
// mappings: the callers then keep a run to that single page).
inline const AddressRange* mapping_holding(const std::vector<AddressRange>& mappings,
                                           uint64_t page) {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), page,
                             [](uint64_t a, const AddressRange& r) { return a < r.end; });
  return it != mappings.end() && it->begin <= page ? &*it : nullptr;
}

}  // namespace uffdgc::gc
