// CompactionPlan (gc/compact/compaction_plan.h) over a moving space of four pages laid out by
// hand, with the side tables filled as the marker leaves them (a mark bit per live object
// start, a live bit per word of each live object, live bytes per 512-byte chunk): where live
// objects slide (forward, new_top, live_bytes, the segments), and what compact_page produces
// for each to-space page: the live words in address order, every reference slot on the page
// rewritten to the new address of its object (on the same page or another, in an object that
// straddles the page edge too), zeros past the slid objects or a filler up to the segment's
// tail, pinned islands that stay in place, and the black block of concurrent cycles
// (set_block, index_block, its pages' references forwarded).
//
// The plan's addresses are those of a "to-space" mapping filled with 0xAB bytes; the objects
// are written into a separate "from-space" mapping at the same offsets, and the plan is given
// the distance between the two (delta): it reads every object at addr + delta.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gc/compact/compaction_plan.h"
#include "gc/heap_geometry.h"
#include "gc/mark/marker.h"
#include "gc/type_registry.h"
#include "tests/support/test_pages.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {
namespace {

using test::Region;

constexpr size_t kSpacePages = 4;
constexpr uint8_t kUnwritten = 0xCD;  // compact_page's output buffer before the call

// An object written into the from-space.
struct Placed {
  uint64_t addr = 0;                // pre-compaction address
  uint64_t size = 0;
  std::vector<uint64_t> slots;      // offsets of its reference slots
};

uint64_t word_at(const std::vector<uint8_t>& bytes, uint64_t offset) {
  uint64_t w;
  std::memcpy(&w, bytes.data() + offset, sizeof w);
  return w;
}

// Offset of the first word where a and b differ, or -1.
long first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  for (size_t off = 0; off < a.size() && off < b.size(); off += 8) {
    if (word_at(a, off) != word_at(b, off)) return static_cast<long>(off);
  }
  return a.size() == b.size() ? -1 : static_cast<long>(std::min(a.size(), b.size()));
}

class CompactionPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const uint32_t node_slots[] = {8, 16};
    uffdgc_type_info node_info{};
    node_info.struct_size = sizeof node_info;
    node_info.base_size = 32;  // header, two references, a payload word
    node_info.num_ref_offsets = 2;
    node_info.ref_offsets = node_slots;
    ASSERT_EQ(types->add(node_info, &node_type), UFFDGC_OK);
    uffdgc_type_info bytes_info{};
    bytes_info.struct_size = sizeof bytes_info;
    bytes_info.flags = UFFDGC_TYPE_LEAF | UFFDGC_TYPE_VARIABLE;
    bytes_info.base_size = 16;  // header, length; then `length` bytes
    bytes_info.elem_size = 1;
    bytes_info.length_offset = 8;
    ASSERT_EQ(types->add(bytes_info, &bytes_type), UFFDGC_OK);
    uffdgc_type_info array_info = bytes_info;
    array_info.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    array_info.elem_size = 8;  // header, length; then `length` references
    ASSERT_EQ(types->add(array_info, &array_type), UFFDGC_OK);

    // The plan must never read the to-space: what it would find there is not an object.
    std::memset(to_space.data(), 0xAB, to_space.bytes());
    ASSERT_TRUE(tables.allocate(begin(), to_space.bytes()));
  }

  uint64_t begin() const { return to_space.addr(); }
  uint64_t at(uint64_t offset) const { return begin() + offset; }
  int64_t delta() const { return static_cast<int64_t>(from_space.addr() - to_space.addr()); }
  uint8_t* copy_of(uint64_t addr) { return from_space.data() + (addr - begin()); }

  void write_word(uint64_t addr, uint64_t value) {
    std::memcpy(copy_of(addr), &value, sizeof value);
  }
  // A header with the type in the low half and embedder bits, different for every object, in
  // the high half (the collector preserves them).
  uint64_t header(uint32_t type, uint64_t offset) const {
    return type | (uint64_t{0xE0000000u | static_cast<uint32_t>(offset)} << 32);
  }
  void check_size(const Placed& obj) {
    EXPECT_EQ(types->object_size(copy_of(obj.addr)), obj.size) << "layout at " << obj.addr;
  }

  Placed node(uint64_t offset, uint64_t first, uint64_t second) {
    const Placed obj{at(offset), 32, {8, 16}};
    write_word(obj.addr, header(node_type, offset));
    write_word(obj.addr + 8, first);
    write_word(obj.addr + 16, second);
    write_word(obj.addr + 24, 0x5A5A0000 + offset);  // payload
    check_size(obj);
    return obj;
  }
  // size: a multiple of 8, at least 16.
  Placed bytes(uint64_t offset, uint64_t size) {
    const Placed obj{at(offset), size, {}};
    write_word(obj.addr, header(bytes_type, offset));
    write_word(obj.addr + 8, size - 16);
    for (uint64_t i = 16; i < size; ++i) {
      copy_of(obj.addr)[i] = static_cast<uint8_t>(offset / 8 + i * 13);
    }
    check_size(obj);
    return obj;
  }
  Placed ref_array(uint64_t offset, const std::vector<uint64_t>& elements) {
    Placed obj{at(offset), 16 + 8 * elements.size(), {}};
    write_word(obj.addr, header(array_type, offset));
    write_word(obj.addr + 8, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
      obj.slots.push_back(16 + 8 * i);
      write_word(obj.addr + 16 + 8 * i, elements[i]);
    }
    check_size(obj);
    return obj;
  }

  // As the marker records a live object: its mark bit, a live bit per word, its bytes counted
  // in each chunk it overlaps.
  void mark_live(const Placed& obj) {
    ASSERT_TRUE(tables.mark.set(obj.addr));
    tables.live.set_range(obj.addr, obj.size);
    for (uint64_t a = obj.addr, end = obj.addr + obj.size; a < end;) {
      const uint64_t chunk = (a - begin()) / kChunkSize;
      const uint64_t chunk_end = begin() + (chunk + 1) * kChunkSize;
      const uint64_t n = std::min(end, chunk_end) - a;
      tables.chunk_bytes[chunk] += n;
      a += n;
    }
  }

  CompactionPlan make_plan(uint64_t top_offset, const std::vector<AddressRange>& islands,
                           bool pad_last) {
    return CompactionPlan(*types, tables, begin(), at(top_offset), islands, delta(), pad_last);
  }

  // The to-space page at page_addr as compact_page writes it.
  std::vector<uint8_t> produce(const CompactionPlan& plan, uint64_t page_addr) {
    std::vector<uint8_t> out(kPageSize, kUnwritten);
    plan.compact_page(page_addr, out.data());
    return out;
  }

  std::unique_ptr<TypeRegistry> types = std::make_unique<TypeRegistry>();
  uint32_t node_type = 0, bytes_type = 0, array_type = 0;
  Region to_space{kSpacePages};
  Region from_space{kSpacePages};
  MarkTables tables;
};

// Offsets from begin; live objects are capitals, dead ones D*.
//
//   pre-compaction                          new offset
//   A     node    [0, 32)          live     0
//   D1    bytes   [32, 1032)
//   B     node    [1032, 1064)     live     32
//   D2    bytes   [1064, 2048)
//   L     bytes   [2048, 6016)     live     64     crosses the from-space page edge at 4096
//   D3    node    [6016, 6048)                     refers to live objects; not copied
//   D3b   bytes   [6048, 6400)
//   R     array   [6400, 6544)     live     4032   16 elements, 6 before the to-space page
//                                                  edge at 4096 and 10 after it
//   D4    bytes   [6544, 9000)
//   E     node    [9000, 9032)     live     4176
//   D5    bytes   [9032, 12288)
//   F     node    [12288, 12320)   live     4208   refers to itself
//   D6    bytes   [12320, 13288)
//   top   13288                             4240 live bytes: two to-space pages
class SlidingSpace : public CompactionPlanTest {
 protected:
  static constexpr uint64_t kTop = 13288;
  static constexpr uint64_t kLiveBytes = 4240;

  void SetUp() override {
    CompactionPlanTest::SetUp();
    const uint64_t A = at(0), B = at(1032), L = at(2048), R = at(6400), E = at(9000),
                   F = at(12288);
    a = node(0, R, 0);
    bytes(32, 1000);
    b = node(1032, A, E);
    bytes(1064, 984);
    l = bytes(2048, 3968);
    node(6016, A, L);
    bytes(6048, 352);
    r = ref_array(6400, {A, B, L, R, E, F, 0, E, B, A, L, F, R, 0, E, A});
    bytes(6544, 2456);
    e = node(9000, R, B);
    bytes(9032, 3256);
    f = node(12288, F, 0);
    bytes(12320, 968);
    for (const Placed* obj : {&a, &b, &l, &r, &e, &f}) mark_live(*obj);
  }

  struct Move {
    const Placed* obj;
    uint64_t new_offset;
  };
  std::vector<Move> moves() const {
    return {{&a, 0}, {&b, 32}, {&l, 64}, {&r, 4032}, {&e, 4176}, {&f, 4208}};
  }

  // The compacted objects as this test expects them, from new offset 0: each live object's
  // from-space bytes at its new offset, every non-null reference slot holding the new address
  // of the object it names; zeros after them.
  std::vector<uint8_t> expected_to_space() {
    std::vector<uint8_t> image(2 * kPageSize, 0);
    const std::vector<Move> live = moves();
    for (const Move& m : live) {
      std::memcpy(image.data() + m.new_offset, copy_of(m.obj->addr), m.obj->size);
      for (const uint64_t slot : m.obj->slots) {
        uint64_t ref = word_at(image, m.new_offset + slot);
        if (ref == 0) continue;
        const auto target = std::find_if(live.begin(), live.end(),
                                         [&](const Move& t) { return t.obj->addr == ref; });
        EXPECT_NE(target, live.end()) << "slot refers to no live object: " << ref;
        if (target != live.end()) ref = at(target->new_offset);
        std::memcpy(image.data() + m.new_offset + slot, &ref, sizeof ref);
      }
    }
    return image;
  }
  std::vector<uint8_t> expected_page(uint64_t index) {
    const std::vector<uint8_t> image = expected_to_space();
    return std::vector<uint8_t>(image.begin() + static_cast<long>(index * kPageSize),
                                image.begin() + static_cast<long>((index + 1) * kPageSize));
  }

  Placed a, b, l, r, e, f;
};

TEST_F(SlidingSpace, PlanCoversOneSegmentOfTheLiveBytes) {
  const CompactionPlan plan = make_plan(kTop, {}, /*pad_last=*/false);
  EXPECT_EQ(plan.live_bytes(), kLiveBytes);
  EXPECT_EQ(plan.pages(), 2u);
  EXPECT_EQ(plan.new_top(), at(kLiveBytes));
  ASSERT_EQ(plan.segments().size(), 1u);
  const Segment& s = plan.segments()[0];
  EXPECT_EQ(s.start, at(0));
  EXPECT_EQ(s.end, at(kTop));
  EXPECT_EQ(s.live_end, at(kLiveBytes));
  EXPECT_EQ(s.tail_end, at(kLiveBytes));
  EXPECT_EQ(s.first_chunk, 0u);
  EXPECT_EQ(s.end_chunk, (kTop + kChunkSize - 1) / kChunkSize);
  EXPECT_EQ(s.to_space_end(), at(2 * kPageSize));
}

TEST_F(SlidingSpace, LiveObjectsSlideDownInAddressOrder) {
  const CompactionPlan plan = make_plan(kTop, {}, /*pad_last=*/false);
  for (const Move& m : moves()) {
    EXPECT_EQ(plan.forward(m.obj->addr), at(m.new_offset)) << "object at " << m.obj->addr;
    EXPECT_TRUE(plan.moves(m.obj->addr));
    EXPECT_FALSE(plan.in_island(m.obj->addr));
  }
  // a live word inside an object: R's 7th element, the first word of the second page
  EXPECT_EQ(plan.forward(r.addr + 16 + 6 * 8), at(kPageSize));
  // null and addresses outside [begin, top) stay
  EXPECT_EQ(plan.forward(0), 0u);
  EXPECT_EQ(plan.forward(begin() - 8), begin() - 8);
  EXPECT_EQ(plan.forward(at(kTop)), at(kTop));
  EXPECT_FALSE(plan.moves(begin() - 8));
}

TEST_F(SlidingSpace, EachPageHoldsItsLiveWordsWithReferencesForwarded) {
  const CompactionPlan plan = make_plan(kTop, {}, /*pad_last=*/false);
  const std::vector<uint8_t> page0 = produce(plan, at(0));
  const std::vector<uint8_t> page1 = produce(plan, at(kPageSize));
  EXPECT_EQ(first_difference(page0, expected_page(0)), -1);
  EXPECT_EQ(first_difference(page1, expected_page(1)), -1);

  // The same, word by word where it matters:
  EXPECT_EQ(word_at(page0, 0), header(node_type, 0));  // A's header, embedder bits kept
  EXPECT_EQ(word_at(page0, 8), at(4032));               // A -> R, the object across the edge
  EXPECT_EQ(word_at(page0, 32 + 16), at(4176));         // B -> E, on the next page
  EXPECT_EQ(word_at(page1, 4176 - kPageSize + 16), at(32));  // E -> B, on the previous page
  EXPECT_EQ(word_at(page1, 4208 - kPageSize + 8), at(4208));  // F -> F
  // R: header and length on page 0, elements 0-5 on page 0 and 6-15 on page 1
  EXPECT_EQ(word_at(page0, 4032), header(array_type, 6400));
  EXPECT_EQ(word_at(page0, 4040), 16u);
  EXPECT_EQ(word_at(page0, 4048 + 2 * 8), at(64));     // element 2: L
  EXPECT_EQ(word_at(page0, 4048 + 5 * 8), at(4208));   // element 5: F
  EXPECT_EQ(word_at(page1, 0), 0u);                    // element 6: null
  EXPECT_EQ(word_at(page1, 8), at(4176));              // element 7: E
  EXPECT_EQ(word_at(page1, 6 * 8), at(4032));          // element 12: R itself
  EXPECT_EQ(word_at(page1, 9 * 8), at(0));             // element 15: A
  // past the last object: zeros (no filler: the tail ends where the objects do)
  for (uint64_t off = kLiveBytes - kPageSize; off < kPageSize; off += 8) {
    ASSERT_EQ(word_at(page1, off), 0u) << "offset " << off;
  }
}

TEST_F(SlidingSpace, PagesAboveTheSlidObjectsAreZero) {
  const CompactionPlan plan = make_plan(kTop, {}, /*pad_last=*/false);
  for (const uint64_t page : {at(2 * kPageSize), at(3 * kPageSize)}) {
    const std::vector<uint8_t> out = produce(plan, page);
    EXPECT_EQ(first_difference(out, std::vector<uint8_t>(kPageSize, 0)), -1) << "page " << page;
  }
}

TEST_F(SlidingSpace, PaddedLastSegmentEndsWithAFillerToThePageEdge) {
  const CompactionPlan plan = make_plan(kTop, {}, /*pad_last=*/true);
  EXPECT_EQ(plan.live_bytes(), kLiveBytes);
  EXPECT_EQ(plan.new_top(), at(2 * kPageSize));
  ASSERT_EQ(plan.segments().size(), 1u);
  EXPECT_EQ(plan.segments()[0].tail_end, at(2 * kPageSize));
  EXPECT_EQ(first_difference(produce(plan, at(0)), expected_page(0)), -1);

  std::vector<uint8_t> page1 = produce(plan, at(kPageSize));
  constexpr uint64_t kFillerAt = kLiveBytes - kPageSize;
  EXPECT_EQ(word_at(page1, kFillerAt), kFillerType);
  EXPECT_EQ(word_at(page1, kFillerAt + 8), kPageSize - kFillerAt - 16);  // its length field
  EXPECT_EQ(types->object_size(page1.data() + kFillerAt), kPageSize - kFillerAt);
  // apart from the filler's two words, the page is what the unpadded plan writes
  std::vector<uint8_t> expected = expected_page(1);
  std::memcpy(expected.data() + kFillerAt, page1.data() + kFillerAt, 16);
  EXPECT_EQ(first_difference(page1, expected), -1);
}

// One live object of 4088 bytes: padded to the page, the gap is one word, covered by the
// one-word filler (type 0) and nothing written past the page.
TEST_F(CompactionPlanTest, OneWordGapGetsTheOneWordFiller) {
  bytes(0, 16);
  const Placed big = bytes(16, 4088);
  bytes(4104, 96);
  mark_live(big);
  const CompactionPlan plan = make_plan(4200, {}, /*pad_last=*/true);
  EXPECT_EQ(plan.live_bytes(), 4088u);
  EXPECT_EQ(plan.new_top(), at(kPageSize));
  EXPECT_EQ(plan.forward(big.addr), at(0));

  std::vector<uint8_t> out(2 * kPageSize, kUnwritten);
  plan.compact_page(at(0), out.data());
  EXPECT_EQ(std::memcmp(out.data(), copy_of(big.addr), big.size), 0);
  EXPECT_EQ(word_at(out, 4088), uint64_t{kFillerWordType});
  EXPECT_EQ(types->object_size(out.data() + 4088), 8u);
  for (uint64_t off = kPageSize; off < 2 * kPageSize; ++off) {
    ASSERT_EQ(out[off], kUnwritten) << "written past the page at " << off;
  }
}

// A pinned island, the second page, splits the space into two segments, each sliding onto its
// own start. The island's objects keep their addresses; references to them stay as they are.
//
//   segment 0   D [0, 64), N0 node [64, 96) live, D [96, 4096)
//   island      D [4096, 4224), I node [4224, 4256) live, D [4256, 8192)
//   segment 1   D [8192, 8448), N2 node [8448, 8480) live, D [8480, 9216); top 9216
TEST_F(CompactionPlanTest, IslandStaysAndSplitsTheSpaceIntoSegments) {
  constexpr uint64_t kTop = 9216;
  const uint64_t N0 = at(64), I = at(4224), N2 = at(8448);
  bytes(0, 64);
  const Placed n0 = node(64, I, N2);
  bytes(96, 4000);
  bytes(4096, 128);
  const Placed island_node = node(4224, N0, N2);
  bytes(4256, 3936);
  bytes(8192, 256);
  const Placed n2 = node(8448, I, N0);
  bytes(8480, 736);
  for (const Placed* obj : {&n0, &island_node, &n2}) mark_live(*obj);

  const CompactionPlan plan = make_plan(kTop, {{at(kPageSize), at(2 * kPageSize)}}, false);
  ASSERT_EQ(plan.segments().size(), 2u);
  const Segment& s0 = plan.segments()[0];
  EXPECT_EQ(s0.start, at(0));
  EXPECT_EQ(s0.end, at(kPageSize));
  EXPECT_EQ(s0.live_end, at(32));
  EXPECT_EQ(s0.tail_end, at(kPageSize));  // a filler covers the rest, up to the island
  const Segment& s1 = plan.segments()[1];
  EXPECT_EQ(s1.start, at(2 * kPageSize));
  EXPECT_EQ(s1.end, at(kTop));
  EXPECT_EQ(s1.live_end, at(2 * kPageSize + 32));
  EXPECT_EQ(s1.tail_end, at(2 * kPageSize + 32));
  EXPECT_EQ(plan.live_bytes(), 64u);
  EXPECT_EQ(plan.pages(), 2u);
  EXPECT_EQ(plan.new_top(), at(2 * kPageSize + 32));

  EXPECT_EQ(plan.forward(N0), at(0));
  EXPECT_EQ(plan.forward(I), I);
  EXPECT_EQ(plan.forward(N2), at(2 * kPageSize));
  EXPECT_FALSE(plan.moves(I));
  EXPECT_TRUE(plan.in_island(I));
  EXPECT_FALSE(plan.in_island(N0));

  const std::vector<uint8_t> page0 = produce(plan, at(0));
  EXPECT_EQ(word_at(page0, 0), header(node_type, 64));
  EXPECT_EQ(word_at(page0, 8), I);
  EXPECT_EQ(word_at(page0, 16), at(2 * kPageSize));
  EXPECT_EQ(word_at(page0, 24), 0x5A5A0000u + 64);
  EXPECT_EQ(word_at(page0, 32), kFillerType);
  EXPECT_EQ(word_at(page0, 40), kPageSize - 32 - 16);
  for (uint64_t off = 48; off < kPageSize; off += 8) {
    ASSERT_EQ(word_at(page0, off), 0u) << "offset " << off;
  }

  const std::vector<uint8_t> page2 = produce(plan, at(2 * kPageSize));
  EXPECT_EQ(word_at(page2, 0), header(node_type, 8448));
  EXPECT_EQ(word_at(page2, 8), I);
  EXPECT_EQ(word_at(page2, 16), at(0));
  EXPECT_EQ(word_at(page2, 24), 0x5A5A0000u + 8448);
  for (uint64_t off = 32; off < kPageSize; off += 8) {
    ASSERT_EQ(word_at(page2, off), 0u) << "offset " << off;
  }
}

// The black block (concurrent cycles): objects allocated since pause 1, above the marking
// limit, slide as one block by whole pages onto the end of the compacted segment. Indexing
// records each source page's first object; a block page is produced by copying its source page
// and forwarding the reference slots on it (into the segment, or into the block itself).
//
//   pre-compaction                          after
//   D0    bytes   [0, 4992)
//   A     node    [4992, 5024)     live     0
//   D1    bytes   [5024, 8192)
//   --- the block (top 8192), delta 4096: everything moves down one page ---
//   B1    node    [8192, 8224)              4096      refers to A and B3
//   L     bytes   [8224, 12488)             4128      crosses the source page edge at 12288
//   B3    node    [12488, 12520)            8392      refers to B1 and itself
//   T     bytes   [12520, 16384)            8424
TEST_F(CompactionPlanTest, BlackBlockSlidesByWholePagesWithItsReferencesForwarded) {
  constexpr uint64_t kBlock = 2 * kPageSize, kBlockEnd = 4 * kPageSize;
  const uint64_t A = at(4992), B1 = at(8192), B3 = at(12488);
  bytes(0, 4992);
  mark_live(node(4992, 0, 0));
  bytes(5024, kBlock - 5024);
  node(8192, A, B3);
  bytes(8224, 12488 - 8224);
  node(12488, B1, B3);
  bytes(12520, kBlockEnd - 12520);

  CompactionPlan plan = make_plan(kBlock, {}, /*pad_last=*/true);
  EXPECT_EQ(plan.block_src_begin(), at(kBlock));
  EXPECT_EQ(plan.block_dst_begin(), at(kPageSize));  // after the segment's one page
  std::vector<uint64_t> first_objects(2, 0);
  plan.set_block(at(kBlockEnd), first_objects.data());
  EXPECT_EQ(plan.block().delta(), kPageSize);
  EXPECT_EQ(plan.forward(A), at(0));
  EXPECT_EQ(plan.forward(B3), at(12488 - kPageSize));
  EXPECT_TRUE(plan.moves(B1));

  // Indexed up to where the heap parses (here: up to B3, as before a flip): the first page can
  // be produced, the second not yet.
  plan.index_block(at(kBlock), at(3 * kPageSize), delta(), first_objects.data());
  EXPECT_EQ(first_objects[0], B1);
  EXPECT_EQ(first_objects[1], at(8224));  // L covers the start of the second source page
  EXPECT_TRUE(plan.block_page_indexed(at(kPageSize)));
  EXPECT_FALSE(plan.block_page_indexed(at(2 * kPageSize)));
  plan.index_block(at(12488), at(kBlockEnd), delta(), first_objects.data());
  EXPECT_TRUE(plan.block_page_indexed(at(2 * kPageSize)));
  EXPECT_EQ(first_objects[1], at(8224));

  for (uint64_t page = 0; page < 2; ++page) {
    const uint64_t dst = at(kPageSize * (1 + page));
    const std::vector<uint8_t> out = produce(plan, dst);
    std::vector<uint8_t> expected(copy_of(dst + kPageSize), copy_of(dst + kPageSize) + kPageSize);
    auto set = [&](uint64_t offset, uint64_t v) { std::memcpy(expected.data() + offset, &v, 8); };
    if (page == 0) {
      set(8, at(0));                      // B1 -> A
      set(16, at(12488 - kPageSize));     // B1 -> B3
    } else {
      set(12488 + 8 - 3 * kPageSize, at(8192 - kPageSize));   // B3 -> B1
      set(12488 + 16 - 3 * kPageSize, at(12488 - kPageSize));  // B3 -> B3
    }
    EXPECT_EQ(first_difference(out, expected), -1) << "block page " << page;
  }
}

}  // namespace
}  // namespace uffdgc::gc
