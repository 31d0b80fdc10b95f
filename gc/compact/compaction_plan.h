// Sliding compaction of the moving space, one to-space page at a time (DESIGN.md §4 step 5,
// research/art-cmc.md §2, §4). After marking, the live bytes per chunk become exclusive prefix
// sums, and an object's post-compaction address is
//   compact_begin + prefix[chunk] + 8 * (live words before it in its chunk).
// compact_page() produces one to-space page from the from-space copy and the side tables
// alone: it copies the live words that land on the page and rewrites the references inside
// the page (only inside it: an object that straddles the page edge is updated by the pages
// that hold its slots). It takes no lock, allocates nothing and touches nothing but the
// from-space, the side tables, the type registry and `out`: async-signal-safe, so the
// concurrent collector can run it in a SIGBUS handler unchanged.
#pragma once

#include <cstdint>

#include "gc/mark/marker.h"
#include "gc/type_registry.h"

namespace uffdgc::gc {

class CompactionPlan {
 public:
  // begin: moving-space start; compact_begin: page-aligned start of the sliding region (the
  // dense prefix below it stays in place); top: pre-compaction top; delta: from-space offset.
  CompactionPlan(const TypeRegistry& types, const MarkTables& tables, uint64_t begin,
                 uint64_t compact_begin, uint64_t top, int64_t delta);

  uint64_t compact_begin() const { return compact_begin_; }
  uint64_t live_bytes() const { return live_bytes_; }   // bytes that slide
  uint64_t compact_end() const { return compact_begin_ + live_bytes_; }
  uint64_t pages() const { return (live_bytes_ + 4095) / 4096; }

  // Where a pre-compaction address ends up (identity below compact_begin or outside the
  // moving space).
  uint64_t forward(uint64_t ref) const;
  // Fills `out` (4 KiB) with the to-space page at page_addr.
  void compact_page(uint64_t page_addr, uint8_t* out) const;
  // The lowest from-space address that to-space page `page_addr` reads from: once every page
  // at or above page_addr is installed, the from-space from page_ceil(this) up is free.
  uint64_t source_begin(uint64_t page_addr) const {
    return pre_address_of_offset(page_addr - compact_begin_);
  }

 private:
  uint64_t post_address(uint64_t pre) const;
  uint64_t pre_address_of_offset(uint64_t offset) const;
  const uint8_t* from(uint64_t pre) const {
    return reinterpret_cast<const uint8_t*>(static_cast<int64_t>(pre) + delta_);
  }

  const TypeRegistry& types_;
  const MarkTables& tables_;
  uint64_t begin_, compact_begin_, top_;
  int64_t delta_;
  uint64_t first_chunk_, end_chunk_;  // chunks of [compact_begin, top)
  uint64_t live_bytes_ = 0;
};

// Turns live bytes per chunk into exclusive prefix sums over [first_chunk, end_chunk] (the
// entry at end_chunk receives the total). Run once before building the plan.
void build_prefix_sums(uint64_t* chunk_bytes, uint64_t first_chunk, uint64_t end_chunk);

}  // namespace uffdgc::gc
