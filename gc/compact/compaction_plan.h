// Sliding compaction of the moving space, one to-space page at a time (design: .cycle.compaction,
// research/art-cmc.md §2, §4).
//
// Pinned pages are islands that stay where they are; the space between islands forms
// segments, and each segment slides down onto its own start. After marking, the live bytes per
// 512-byte chunk become, per segment, the post-compaction address of the chunk's first live
// word, so an object's new address is
//   chunk_post[chunk] + 8 * (live words before it in its chunk)
// with no forwarding pointers. compact_page() produces one to-space page from the from-space
// copy and the side tables alone: it copies the live words that land on the page and rewrites
// the references inside the page (only inside it: an object that straddles the page edge is
// updated by the pages that hold its slots). It takes no lock, allocates nothing and touches
// nothing but the from-space, the side tables, the type registry and `out`:
// async-signal-safe, so the concurrent collector runs it in the SIGBUS handler unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include "gc/mark/marker.h"
#include "gc/type_registry.h"

namespace uffdgc::gc {

struct AddressRange {
  uint64_t begin, end;
};

struct Segment {
  uint64_t start;     // page-aligned: where its objects slide to
  uint64_t end;       // pre-compaction end: the next island's start, or the old top
  uint64_t live_end;  // start + the live bytes of the segment: end of the slid objects
  uint64_t tail_end;  // a filler covers [live_end, tail_end) so the space stays parsable
  uint64_t first_chunk, end_chunk;  // chunks of [start, end)
  uint64_t to_space_end() const { return align_up(live_end, kPageSize); }
};

// Objects allocated since a concurrent cycle's first pause (design: .cycle.mark-start): all live,
// never marked, lying above every marked object. They slide as one block by whole pages onto
// the end of the compacted segments, so their new addresses need no side table (pre - delta)
// and the flip pause needs to read none of them. Producing a block page needs the object that
// covers the start of its source page: a per-page table the GC thread fills by parsing the
// block, partly before the flip, the rest (what was allocated in between) just after it.
struct BlackBlock {
  uint64_t src_begin = 0, src_end = 0;  // page-aligned pre-compaction range
  uint64_t dst_begin = 0;               // page-aligned: where it slides to
  uint64_t delta() const { return src_begin - dst_begin; }
  uint64_t dst_end() const { return dst_begin + (src_end - src_begin); }
  bool contains_src(uint64_t a) const { return a >= src_begin && a < src_end; }
  bool contains_dst(uint64_t a) const { return a >= dst_begin && a < dst_end(); }
};

class CompactionPlan {
 public:
  // islands: sorted, disjoint, page-aligned ranges inside [begin, page_ceil(top)) that stay in
  // place. Turns tables.chunk_bytes into per-chunk post addresses. pad_last: the last segment's
  // tail reaches the next page boundary (concurrent modes resume allocation there).
  CompactionPlan(const TypeRegistry& types, MarkTables& tables, uint64_t begin, uint64_t top,
                 const std::vector<AddressRange>& islands, int64_t delta, bool pad_last);

  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<AddressRange>& islands() const { return islands_; }
  uint64_t live_bytes() const { return live_bytes_; }  // bytes that slide, all segments
  uint64_t pages() const { return pages_; }            // to-space pages, all segments
  // Where allocation resumes: the end of the last segment's objects (padded to a page when
  // pad_last), or the old top when the last page is an island.
  uint64_t new_top() const { return new_top_; }

  // Where a pre-compaction address ends up (identity in islands and outside the space).
  uint64_t forward(uint64_t ref) const;
  // For a ref inside the moving space: true if its object moves or may move (it lies in a
  // segment, or at or above the start of the black block, whose end is known at the flip).
  bool moves(uint64_t ref) const;
  // True if addr lies in a pinned island.
  bool in_island(uint64_t addr) const;

  // The black block (concurrent cycles). The table has one entry per source page; it must
  // stay valid while the plan is used. set_block is called once, in the flip pause.
  uint64_t block_src_begin() const { return top_; }
  uint64_t block_dst_begin() const;
  void set_block(uint64_t src_end, uint64_t* first_objects);
  const BlackBlock& block() const { return block_; }
  // Records the first objects of [from, to) (page-aligned, inside the block, parsed at
  // from + read_delta: 0 in place, the from-space delta after the flip), in address order,
  // advancing the index's watermark as it goes: every kIndexStep bytes it publishes it and,
  // when given, calls progress(arg) (the compaction wakes faults waiting for block pages).
  // GC thread.
  static constexpr uint64_t kIndexStep = 256ull << 10;
  void index_block(uint64_t from, uint64_t to, int64_t read_delta, uint64_t* first_objects,
                   void (*progress)(void*) = nullptr, void* arg = nullptr) const;
  void publish_block_index() { __atomic_store_n(&block_ready_, 1u, __ATOMIC_RELEASE); }
  bool block_ready() const { return __atomic_load_n(&block_ready_, __ATOMIC_ACQUIRE) != 0; }
  // Whether the block's destination page dst_page can be produced: the index has walked its
  // whole source page (its first object is recorded and every object starting in it parses;
  // before the flip, indexing stops where the heap was parsable). Async-signal-safe.
  bool block_page_indexed(uint64_t dst_page) const {
    return block_ready() || __atomic_load_n(&block_indexed_to_, __ATOMIC_ACQUIRE) >=
                                dst_page + block_.delta() + kPageSize;
  }
  // Fills `out` (4 KiB) with the to-space page at page_addr (inside some segment's to-space or
  // the block's destination; a block page only once block_page_indexed()).
  void compact_page(uint64_t page_addr, uint8_t* out) const;
  // The lowest pre-compaction address that to-space page `page_addr` reads.
  uint64_t source_begin(uint64_t page_addr) const;
  // The end of what the to-space pages below `page_addr` read: once every page at or above
  // page_addr is installed, the from-space from page_ceil(this) up is free. That is
  // source_begin(page_addr) for a segment page and the source page itself for a block page,
  // unless an object straddles page_addr: the pages below it read that object whole (its
  // header for its size, its reference slots, and a trace callback may read any byte of it).
  // For a page of neither (an island's, say: the GC thread passes them, and pages an assist
  // produced, without producing them) the end of the sources of everything below it.
  uint64_t sources_end_below(uint64_t page_addr) const;

 private:
  static constexpr uint64_t kIsland = UINT64_MAX;
  const Segment* segment_of_page(uint64_t page_addr) const;
  uint64_t post_address(uint64_t pre) const;
  uint64_t pre_address_of(const Segment& s, uint64_t post) const;
  void compact_block_page(uint64_t page_addr, uint8_t* out) const;
  const uint8_t* from(uint64_t pre) const {
    return reinterpret_cast<const uint8_t*>(static_cast<int64_t>(pre) + delta_);
  }

  const TypeRegistry& types_;
  const MarkTables& tables_;
  uint64_t begin_, top_;
  int64_t delta_;
  std::vector<AddressRange> islands_;
  std::vector<Segment> segments_;
  uint64_t live_bytes_ = 0, pages_ = 0, new_top_ = 0;
  BlackBlock block_;
  const uint64_t* block_first_ = nullptr;
  uint32_t block_ready_ = 0;
  mutable uint64_t block_indexed_to_ = 0;  // source address the index has walked up to
};

}  // namespace uffdgc::gc
