#include "gc/compact/compaction_plan.h"

#include <cstring>

#include "gc/heap_geometry.h"

namespace uffdgc::gc {

void build_prefix_sums(uint64_t* chunk_bytes, uint64_t first_chunk, uint64_t end_chunk) {
  uint64_t sum = 0;
  for (uint64_t c = first_chunk; c < end_chunk; ++c) {
    const uint64_t n = chunk_bytes[c];
    chunk_bytes[c] = sum;
    sum += n;
  }
  chunk_bytes[end_chunk] = sum;
}

CompactionPlan::CompactionPlan(const TypeRegistry& types, const MarkTables& tables,
                               uint64_t begin, uint64_t compact_begin, uint64_t top,
                               int64_t delta)
    : types_(types),
      tables_(tables),
      begin_(begin),
      compact_begin_(compact_begin),
      top_(top),
      delta_(delta),
      first_chunk_((compact_begin - begin) / kChunkSize),
      end_chunk_(align_up(top - begin, kChunkSize) / kChunkSize) {
  live_bytes_ = end_chunk_ > first_chunk_ ? tables_.chunk_bytes[end_chunk_] : 0;
}

uint64_t CompactionPlan::post_address(uint64_t pre) const {
  const uint64_t word = (pre - begin_) / kWordSize;
  const uint64_t chunk = word / kWordsPerChunk;
  const uint64_t below = tables_.live.word(chunk) & ((uint64_t{1} << (word % kWordsPerChunk)) - 1);
  return compact_begin_ + tables_.chunk_bytes[chunk] +
         kWordSize * static_cast<uint64_t>(__builtin_popcountll(below));
}

uint64_t CompactionPlan::forward(uint64_t ref) const {
  if (ref < compact_begin_ || ref >= top_) return ref;
  return post_address(ref);
}

// The pre-compaction address of the live word that lands at `offset` bytes past
// compact_begin: binary search for its chunk, then select the k-th live bit in it.
uint64_t CompactionPlan::pre_address_of_offset(uint64_t offset) const {
  uint64_t lo = first_chunk_, hi = end_chunk_;  // prefix[lo] <= offset < prefix[hi]
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (tables_.chunk_bytes[mid] <= offset) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  uint64_t bits = tables_.live.word(lo);
  for (uint64_t k = (offset - tables_.chunk_bytes[lo]) / kWordSize; k > 0; --k) bits &= bits - 1;
  return begin_ + lo * kChunkSize + kWordSize * static_cast<uint64_t>(__builtin_ctzll(bits));
}

void CompactionPlan::compact_page(uint64_t page_addr, uint8_t* out) const {
  const uint64_t offset = page_addr - compact_begin_;
  const uint64_t page_end = page_addr + kPage;
  const uint64_t bytes = live_bytes_ - offset < kPage ? live_bytes_ - offset : kPage;
  const uint64_t first_pre = pre_address_of_offset(offset);

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
  std::memset(dst, 0, static_cast<size_t>(out + kPage - dst));

  // 2. Rewrite the references whose slots landed on this page. The first object is the one
  //    holding the first copied word; objects follow in address order via the mark bitmap.
  uint64_t obj = tables_.mark.prev_set(first_pre, compact_begin_);
  while (obj != UINT64_MAX && obj < top_) {
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
    const uint64_t next = tables_.mark.next_set(obj + size, top_);
    if (next >= top_) break;
    obj = next;
  }
}

}  // namespace uffdgc::gc
