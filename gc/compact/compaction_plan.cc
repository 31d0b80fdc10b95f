#include "gc/compact/compaction_plan.h"

#include <algorithm>
#include <cstring>

#include "gc/heap_geometry.h"
#include "gc/space/filler.h"

namespace uffdgc::gc {

CompactionPlan::CompactionPlan(const TypeRegistry& types, MarkTables& tables, uint64_t begin,
                               uint64_t top, const std::vector<AddressRange>& islands,
                               int64_t delta, bool pad_last)
    : types_(types), tables_(tables), begin_(begin), top_(top), delta_(delta), islands_(islands) {
  auto chunk_of = [&](uint64_t a) { return (a - begin) / kChunkSize; };
  uint64_t start = begin;
  for (size_t i = 0; i <= islands.size(); ++i) {
    const uint64_t end = i < islands.size() ? islands[i].begin : top;
    if (end > start) {
      Segment s{};
      s.start = start;
      s.end = end;
      s.first_chunk = chunk_of(start);
      s.end_chunk = align_up(end - begin, kChunkSize) / kChunkSize;
      uint64_t post = start;
      for (uint64_t c = s.first_chunk; c < s.end_chunk; ++c) {
        const uint64_t n = tables.chunk_bytes[c];
        tables.chunk_bytes[c] = post;
        post += n;
      }
      s.live_end = post;
      const bool last = i == islands.size();
      s.tail_end = last ? (pad_last ? align_up(post, kPageSize) : post) : end;
      live_bytes_ += post - start;
      pages_ += (s.to_space_end() - start) / kPageSize;
      segments_.push_back(s);
    }
    if (i < islands.size()) {
      for (uint64_t c = chunk_of(islands[i].begin); c < chunk_of(islands[i].end); ++c) {
        tables.chunk_bytes[c] = kIsland;
      }
      start = islands[i].end;
    }
  }
  if (!segments_.empty() && segments_.back().end == top) {
    new_top_ = segments_.back().tail_end;
  } else {
    new_top_ = top;  // the top of the space is pinned in place
  }
}

uint64_t CompactionPlan::post_address(uint64_t pre) const {
  const uint64_t word = (pre - begin_) / kWordSize;
  const uint64_t chunk = word / kWordsPerChunk;
  const uint64_t below = tables_.live.word(chunk) & ((uint64_t{1} << (word % kWordsPerChunk)) - 1);
  return tables_.chunk_bytes[chunk] + kWordSize * static_cast<uint64_t>(__builtin_popcountll(below));
}

uint64_t CompactionPlan::forward(uint64_t ref) const {
  if (block_.contains_src(ref)) return ref - block_.delta();
  if (ref < begin_ || ref >= top_) return ref;
  if (tables_.chunk_bytes[(ref - begin_) / kChunkSize] == kIsland) return ref;
  return post_address(ref);
}

bool CompactionPlan::moves(uint64_t ref) const {
  if (ref < begin_) return false;
  if (ref >= top_) return true;  // the black block
  return tables_.chunk_bytes[(ref - begin_) / kChunkSize] != kIsland;
}

bool CompactionPlan::in_island(uint64_t addr) const {
  for (const AddressRange& r : islands_) {
    if (addr >= r.begin && addr < r.end) return true;
  }
  return false;
}

uint64_t CompactionPlan::block_dst_begin() const {
  if (!segments_.empty() && segments_.back().end == top_) return segments_.back().to_space_end();
  return top_;  // the space below the block ends with an island (or is empty)
}

void CompactionPlan::set_block(uint64_t src_end, uint64_t* first_objects) {
  block_.src_begin = top_;
  block_.src_end = src_end;
  block_.dst_begin = block_dst_begin();
  block_first_ = first_objects;
}

void CompactionPlan::index_block(uint64_t from, uint64_t to, int64_t read_delta,
                                 uint64_t* first_objects, void (*progress)(void*),
                                 void* arg) const {
  uint64_t next_step = from + kIndexStep;
  uint64_t a = from;
  while (a < to) {
    const auto* copy = reinterpret_cast<const uint8_t*>(static_cast<int64_t>(a) + read_delta);
    const uint64_t size = types_.object_size(copy);
    for (uint64_t p = align_up(a, kPageSize); p < a + size; p += kPageSize) {
      first_objects[(p - top_) / kPageSize] = a;
    }
    a += size;
    if (a >= next_step) {
      __atomic_store_n(&block_indexed_to_, a, __ATOMIC_RELEASE);
      if (progress != nullptr) progress(arg);
      next_step = a + kIndexStep;
    }
  }
  __atomic_store_n(&block_indexed_to_, a, __ATOMIC_RELEASE);
  if (progress != nullptr) progress(arg);
}

const Segment* CompactionPlan::segment_of_page(uint64_t page_addr) const {
  for (const Segment& s : segments_) {
    if (page_addr >= s.start && page_addr < s.to_space_end()) return &s;
  }
  return nullptr;
}

// The pre-compaction address of the live word that lands at `post` (inside s): binary search
// for its chunk, then select the k-th live bit in it.
uint64_t CompactionPlan::pre_address_of(const Segment& s, uint64_t post) const {
  auto value = [&](uint64_t c) { return c == s.end_chunk ? s.live_end : tables_.chunk_bytes[c]; };
  uint64_t lo = s.first_chunk, hi = s.end_chunk;  // value(lo) <= post < value(hi)
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (value(mid) <= post) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  uint64_t bits = tables_.live.word(lo);
  for (uint64_t k = (post - value(lo)) / kWordSize; k > 0; --k) bits &= bits - 1;
  return begin_ + lo * kChunkSize + kWordSize * static_cast<uint64_t>(__builtin_ctzll(bits));
}

uint64_t CompactionPlan::source_begin(uint64_t page_addr) const {
  if (block_.contains_dst(page_addr)) {
    return block_first_[(page_addr + block_.delta() - block_.src_begin) / kPageSize];
  }
  const Segment* s = segment_of_page(page_addr);
  if (s == nullptr || page_addr >= s->live_end) return page_addr;
  return pre_address_of(*s, page_addr);
}

uint64_t CompactionPlan::sources_end_below(uint64_t page_addr) const {
  if (block_.contains_dst(page_addr)) {
    // The page below copies its source page whole (up to src) and parses every object that
    // overlaps it, the last of which is the one covering src - 1: block_first_ of this page
    // when that starts below src.
    const uint64_t src = page_addr + block_.delta();
    const uint64_t first = block_first_[(src - block_.src_begin) / kPageSize];
    if (first >= src) return src;
    const uint64_t end = first + types_.object_size(from(first));
    return end > src ? end : src;
  }
  const Segment* s = segment_of_page(page_addr);
  if (s == nullptr || page_addr >= s->live_end) {
    // Not a page of the slid objects nor of the block (an island's page, or an empty page
    // between the compacted data and the block): the pages below read at most up to the
    // pre-compaction end of every segment that starts below it, and the whole block's sources
    // when the block lies below it.
    uint64_t end = page_addr;
    for (const Segment& below : segments_) {
      if (below.start < page_addr) end = std::max(end, below.end);
    }
    if (block_.src_end > block_.src_begin && block_.dst_end() <= page_addr) {
      end = std::max(end, block_.src_end);
    }
    return end;
  }
  const uint64_t begin = source_begin(page_addr);
  // `begin` is a live word; the object holding it starts at or below it.
  const uint64_t obj = tables_.mark.prev_set(begin, s->start);
  if (obj == UINT64_MAX || obj == begin) return begin;
  const uint64_t end = obj + types_.object_size(from(obj));
  return end > begin ? end : begin;
}

// A black-block page: its source page copied whole, then the references of every object
// that overlaps it rewritten (objects parsed from the first one covering the page start).
void CompactionPlan::compact_block_page(uint64_t page_addr, uint8_t* out) const {
  const uint64_t src = page_addr + block_.delta();
  std::memcpy(out, from(src), kPageSize);
  for (uint64_t obj = block_first_[(src - block_.src_begin) / kPageSize];
       obj < src + kPageSize && obj < block_.src_end;) {
    const uint8_t* copy = from(obj);
    uint64_t header;
    std::memcpy(&header, copy, sizeof(header));
    const TypeDesc* t = types_.of_header(header);
    types_.for_each_ref_offset(copy, *t, [&](size_t off) {
      const uint64_t slot = obj + off;
      if (slot < src || slot >= src + kPageSize) return;
      uint8_t* p = out + (slot - src);
      uint64_t v;
      std::memcpy(&v, p, sizeof(v));
      v = forward(v);
      std::memcpy(p, &v, sizeof(v));
    });
    obj += types_.object_size(copy);
  }
}

void CompactionPlan::compact_page(uint64_t page_addr, uint8_t* out) const {
  if (block_.contains_dst(page_addr)) {
    compact_block_page(page_addr, out);
    return;
  }
  const uint64_t page_end = page_addr + kPageSize;
  const Segment* s = segment_of_page(page_addr);
  if (s == nullptr || page_addr >= s->live_end) {  // nothing slides here: an empty tail page
    std::memset(out, 0, kPageSize);
    return;
  }
  const uint64_t bytes = s->live_end - page_addr < kPageSize ? s->live_end - page_addr : kPageSize;
  const uint64_t first_pre = pre_address_of(*s, page_addr);

  // 1. Copy the live words, run by run.
  uint64_t chunk = (first_pre - begin_) / kChunkSize;
  unsigned bit = static_cast<unsigned>(((first_pre - begin_) / kWordSize) % kWordsPerChunk);
  uint64_t remaining = bytes / kWordSize;
  uint8_t* dst = out;
  while (remaining > 0) {
    const uint64_t w = bit < 64 ? tables_.live.word(chunk) & (~uint64_t{0} << bit) : 0;
    if (w == 0) {
      ++chunk;
      bit = 0;
      continue;
    }
    const unsigned start = static_cast<unsigned>(__builtin_ctzll(w));
    const uint64_t ones = ~(w >> start);
    const unsigned run = ones == 0 ? 64 - start : static_cast<unsigned>(__builtin_ctzll(ones));
    const uint64_t n = run < remaining ? run : remaining;
    std::memcpy(dst, from(begin_ + chunk * kChunkSize + start * kWordSize), n * kWordSize);
    dst += n * kWordSize;
    remaining -= n;
    bit = start + static_cast<unsigned>(n);
  }
  std::memset(dst, 0, static_cast<size_t>(out + kPageSize - dst));
  // The segment's slid objects end on this page: a filler covers the rest of it up to the
  // segment's tail (the part of the tail beyond this page gets its own filler at the flip).
  if (s->live_end < page_end && s->tail_end > s->live_end) {
    const uint64_t filler_end = s->tail_end < page_end ? s->tail_end : page_end;
    auto* f = reinterpret_cast<uint64_t*>(out + (s->live_end - page_addr));
    f[0] = filler_end - s->live_end == kWordSize ? kFillerWordType : kFillerType;
    if (filler_end - s->live_end > kWordSize) f[1] = filler_end - s->live_end - 2 * kWordSize;
  }

  // 2. Rewrite the references whose slots landed on this page. The first object is the one
  //    holding the first copied word; objects follow in address order via the mark bitmap.
  uint64_t obj = tables_.mark.prev_set(first_pre, s->start);
  while (obj != UINT64_MAX && obj < s->end) {
    const uint64_t post = post_address(obj);
    if (post >= page_end) break;
    const uint8_t* copy = from(obj);
    const uint64_t size = types_.object_size(copy);
    if (post + size > page_addr) {
      uint64_t header;
      std::memcpy(&header, copy, sizeof(header));
      const TypeDesc* t = types_.of_header(header);
      types_.for_each_ref_offset(copy, *t, [&](size_t off) {
        const uint64_t slot = post + off;
        if (slot < page_addr || slot >= page_end) return;
        uint8_t* p = out + (slot - page_addr);
        uint64_t v;
        std::memcpy(&v, p, sizeof(v));
        v = forward(v);
        std::memcpy(p, &v, sizeof(v));
      });
    }
    const uint64_t next = tables_.mark.next_set(obj + size, s->end);
    if (next >= s->end) break;
    obj = next;
  }
}

}  // namespace uffdgc::gc
