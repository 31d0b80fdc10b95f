// TypeRegistry (gc/type_registry.h): the filler types the constructor registers, indices of
// added types, the layout rules add() enforces (uffdgc.h, above uffdgc_type_info), object sizes
// read from an object's header and length field, the size limit for allocation, and the
// reference slots for_each_ref_offset reports for fixed, variable and traced objects.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gc/heap_geometry.h"
#include "gc/space/filler.h"
#include "gc/type_registry.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::gc {
namespace {

constexpr uint64_t kEmbedderBits = uint64_t{0xC0FFEE} << 32;  // a header's high half

uffdgc_type_info type_info(uint32_t flags, uint32_t base_size) {
  uffdgc_type_info info{};
  info.struct_size = sizeof info;
  info.flags = flags;
  info.base_size = base_size;
  return info;
}

// Variable types: the element count at offset 8, elements from base_size on.
uffdgc_type_info variable_info(uint32_t flags, uint32_t base_size, uint32_t elem_size) {
  uffdgc_type_info info = type_info(UFFDGC_TYPE_VARIABLE | flags, base_size);
  info.elem_size = elem_size;
  info.length_offset = 8;
  return info;
}

// The offsets for_each_ref_offset reports for the object at obj, sorted (a slot reported
// twice shows twice).
std::vector<size_t> ref_offsets(const TypeRegistry& types, const uint64_t* obj) {
  std::vector<size_t> offsets;
  const TypeDesc* t = types.of_header(obj[0]);
  if (t == nullptr) {
    ADD_FAILURE() << "no type for header " << obj[0];
    return offsets;
  }
  types.for_each_ref_offset(obj, *t, [&](size_t off) { offsets.push_back(off); });
  std::sort(offsets.begin(), offsets.end());
  return offsets;
}

class TypeRegistryTest : public ::testing::Test {
 protected:
  // 65536 descriptor slots: half a megabyte, not for the stack.
  std::unique_ptr<TypeRegistry> owned = std::make_unique<TypeRegistry>();
  TypeRegistry& types = *owned;

  uint32_t add_ok(const uffdgc_type_info& info) {
    uint32_t index = UINT32_MAX;
    EXPECT_EQ(types.add(info, &index), UFFDGC_OK);
    return index;
  }
};

TEST_F(TypeRegistryTest, ConstructorRegistersTheFillers) {
  EXPECT_EQ(types.count(), kFirstUserType);
  const TypeDesc* word = types.get(kFillerWordType);
  ASSERT_NE(word, nullptr);
  EXPECT_FALSE(word->has_refs());
  EXPECT_FALSE(word->variable());
  const TypeDesc* filler = types.get(kFillerType);
  ASSERT_NE(filler, nullptr);
  EXPECT_FALSE(filler->has_refs());
  EXPECT_TRUE(filler->variable());
  EXPECT_EQ(types.get(kFirstUserType), nullptr);
  EXPECT_EQ(types.get(TypeRegistry::kMaxTypes), nullptr);
}

TEST_F(TypeRegistryTest, FillersParseToTheEndTheyWereWrittenFor) {
  alignas(8) uint64_t space[16] = {};
  const uint64_t start = reinterpret_cast<uint64_t>(space);
  write_filler(start, start + 8);
  EXPECT_EQ(types.object_size(space), 8u);
  for (const uint64_t bytes : {16, 24, 128}) {
    write_filler(start, start + bytes);
    EXPECT_EQ(types.object_size(space), bytes);
  }
}

TEST_F(TypeRegistryTest, AddedTypesAreNumberedFromTheFirstUserType) {
  uffdgc_type_info leaf = type_info(UFFDGC_TYPE_LEAF, 16);
  leaf.name = "leaf";
  const uint32_t first = add_ok(leaf);
  const uint32_t second = add_ok(type_info(UFFDGC_TYPE_LEAF, 24));
  EXPECT_EQ(first, kFirstUserType);
  EXPECT_EQ(second, kFirstUserType + 1);
  EXPECT_EQ(types.count(), kFirstUserType + 2);
  ASSERT_NE(types.get(first), nullptr);
  EXPECT_EQ(types.get(first)->base_size, 16u);
  EXPECT_STREQ(types.get(first)->name, "leaf");
  EXPECT_EQ(types.get(second)->base_size, 24u);
  EXPECT_STREQ(types.get(second)->name, "");  // no name given
  EXPECT_EQ(types.get(second + 1), nullptr);
}

TEST_F(TypeRegistryTest, LongNamesAreCutToFitTheDescriptor) {
  const std::string name(100, 'n');
  uffdgc_type_info info = type_info(UFFDGC_TYPE_LEAF, 8);
  info.name = name.c_str();
  const TypeDesc* t = types.get(add_ok(info));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::string(t->name), std::string(sizeof(t->name) - 1, 'n'));
}

TEST_F(TypeRegistryTest, OfHeaderReadsTheTypeFromTheLowHalf) {
  const uint32_t index = add_ok(type_info(UFFDGC_TYPE_LEAF, 16));
  EXPECT_EQ(types.of_header(index | kEmbedderBits), types.get(index));
  EXPECT_EQ(types.of_header(kFillerType | (uint64_t{index} << 32)), types.get(kFillerType));
  EXPECT_EQ(types.of_header(uint64_t{index + 1} | kEmbedderBits), nullptr);
}

TEST_F(TypeRegistryTest, FixedTypeSizeAndRefOffsets) {
  uint32_t offsets[] = {24, 8};
  uffdgc_type_info info = type_info(0, 36);  // rounds to 40
  info.num_ref_offsets = 2;
  info.ref_offsets = offsets;
  const uint32_t index = add_ok(info);
  offsets[0] = 16;  // the registry kept its own copy
  alignas(8) uint64_t obj[5] = {index | kEmbedderBits, 0, 0, 0, 0};
  EXPECT_EQ(types.object_size(obj), 40u);
  EXPECT_EQ(TypeRegistry::size_for(*types.get(index), 1000), 40u);  // fixed: no elements
  EXPECT_EQ(ref_offsets(types, obj), (std::vector<size_t>{8, 24}));
}

TEST_F(TypeRegistryTest, VariableTypeWhoseElementsAreRefs) {
  // header, length, one fixed slot at 16; elements from 24
  const uint32_t fixed_slot[] = {16};
  uffdgc_type_info info = variable_info(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 24, 8);
  info.num_ref_offsets = 1;
  info.ref_offsets = fixed_slot;
  const uint32_t index = add_ok(info);
  alignas(8) uint64_t obj[6] = {index | kEmbedderBits, 3, 0, 0, 0, 0};
  EXPECT_EQ(types.object_size(obj), 48u);
  EXPECT_EQ(ref_offsets(types, obj), (std::vector<size_t>{16, 24, 32, 40}));
  obj[1] = 0;  // no elements
  EXPECT_EQ(types.object_size(obj), 24u);
  EXPECT_EQ(ref_offsets(types, obj), (std::vector<size_t>{16}));
}

TEST_F(TypeRegistryTest, VariableLeafSizeIsRoundedAndHasNoRefs) {
  const uint32_t index = add_ok(variable_info(UFFDGC_TYPE_LEAF, 16, 1));
  alignas(8) uint64_t obj[4] = {index | kEmbedderBits, 5, 0, 0};
  EXPECT_FALSE(types.get(index)->has_refs());
  EXPECT_EQ(types.object_size(obj), 24u);  // 16 + 5 rounded
  obj[1] = 16;
  EXPECT_EQ(types.object_size(obj), 32u);
  EXPECT_TRUE(ref_offsets(types, obj).empty());
}

TEST_F(TypeRegistryTest, VariableSizeWithWideElements) {
  const uint32_t index = add_ok(variable_info(UFFDGC_TYPE_LEAF, 16, 12));
  alignas(8) uint64_t obj[2] = {index, 3};
  EXPECT_EQ(types.object_size(obj), 56u);  // 16 + 36 = 52, rounded
}

TEST_F(TypeRegistryTest, ObjectOfAnUnregisteredTypeHasNoSize) {
  alignas(8) uint64_t obj[2] = {kFirstUserType + 5, 0};
  EXPECT_EQ(types.object_size(obj), 0u);
}

TEST_F(TypeRegistryTest, SizeForRefusesLengthsThatOverflowOrExceedTwoToThe47) {
  const TypeDesc& bytes = *types.get(add_ok(variable_info(UFFDGC_TYPE_LEAF, 16, 1)));
  const uint32_t words_index = add_ok(variable_info(UFFDGC_TYPE_LEAF, 16, 8));
  const TypeDesc& words = *types.get(words_index);
  constexpr uint64_t kMax = uint64_t{1} << 47;
  EXPECT_EQ(TypeRegistry::size_for(bytes, kMax - 16), kMax);
  EXPECT_EQ(TypeRegistry::size_for(bytes, kMax - 17), kMax);  // rounded up to the limit
  EXPECT_EQ(TypeRegistry::size_for(bytes, kMax - 15), 0u);
  EXPECT_EQ(TypeRegistry::size_for(bytes, UINT64_MAX), 0u);
  // 16 + 8 * length wraps around 2^64 to 8: refused, not taken for a small object
  EXPECT_EQ(TypeRegistry::size_for(words, (uint64_t{1} << 61) - 1), 0u);
  EXPECT_EQ(TypeRegistry::size_for(words, 4), 48u);
  // object_size reads the length field and refuses the same way
  alignas(8) uint64_t obj[2] = {words_index, (uint64_t{1} << 61) - 1};
  EXPECT_EQ(types.object_size(obj), 0u);
}

// Visits slot 16 always and slot 32 when the word at 24 is not 0 (an irregular object).
void trace_tagged(uffdgc_ref object, uffdgc_slot_visitor visit, void* ctx) {
  auto* words = reinterpret_cast<uffdgc_ref*>(object);
  visit(&words[2], ctx);
  if (words[3] != 0) visit(&words[4], ctx);
}

TEST_F(TypeRegistryTest, TraceCallbackSlotsAreReportedWithTheDeclaredOnes) {
  const uint32_t declared[] = {8};
  uffdgc_type_info info = type_info(0, 40);
  info.num_ref_offsets = 1;
  info.ref_offsets = declared;
  info.trace = trace_tagged;
  const uint32_t index = add_ok(info);
  alignas(8) uint64_t obj[5] = {index, 0, 0, 0, 0};
  EXPECT_EQ(ref_offsets(types, obj), (std::vector<size_t>{8, 16}));
  obj[3] = 1;
  EXPECT_EQ(ref_offsets(types, obj), (std::vector<size_t>{8, 16, 32}));
}

// The largest layouts the rules allow: the rejections below are about the one thing each
// changes.
TEST_F(TypeRegistryTest, AcceptsLayoutsAtTheLimits) {
  const uint32_t all_words[] = {8, 16, 24};  // UFFDGC_TYPE_MAX_REF_OFFSETS(32) slots
  uffdgc_type_info full = type_info(0, 32);
  full.num_ref_offsets = 3;
  full.ref_offsets = all_words;
  add_ok(full);
  const uint32_t last_fixed_word[] = {16};  // length at 8, last fixed slot at base_size - 8
  uffdgc_type_info variable = variable_info(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 24, 8);
  variable.num_ref_offsets = 1;
  variable.ref_offsets = last_fixed_word;
  add_ok(variable);
  uffdgc_type_info length_last = variable_info(UFFDGC_TYPE_LEAF, 24, 1);
  length_last.length_offset = 16;  // length_offset + 8 == base_size
  add_ok(length_last);
  add_ok(type_info(UFFDGC_TYPE_LEAF | UFFDGC_TYPE_HAS_FINALIZER | UFFDGC_TYPE_NONMOVING, 8));
  EXPECT_EQ(types.count(), kFirstUserType + 4);
}

struct Rejected {
  const char* why;
  uffdgc_type_info info;
};

std::vector<Rejected> rejected_layouts() {
  static const uint32_t header[] = {0};
  static const uint32_t misaligned[] = {12};
  static const uint32_t past_end[] = {24};  // base_size 24: the slot would end at 32
  static const uint32_t wraps_in_32_bits[] = {0xFFFFFFF8u};
  static const uint32_t twice[] = {8, 16, 8};
  static const uint32_t three[] = {8, 16, 24};
  static const uint32_t length_slot[] = {8};
  static const uint32_t one[] = {8};
  std::vector<Rejected> cases;
  auto with_offsets = [](uffdgc_type_info info, const uint32_t* offsets, uint32_t n) {
    info.ref_offsets = offsets;
    info.num_ref_offsets = n;
    return info;
  };
  cases.push_back({"unknown flag", type_info(1u << 6, 16)});
  cases.push_back({"base_size below one word", type_info(UFFDGC_TYPE_LEAF, 4)});
  cases.push_back({"slot on the header", with_offsets(type_info(0, 24), header, 1)});
  cases.push_back({"misaligned slot", with_offsets(type_info(0, 24), misaligned, 1)});
  cases.push_back({"slot past the object", with_offsets(type_info(0, 24), past_end, 1)});
  cases.push_back(
      {"slot whose end wraps in 32 bits", with_offsets(type_info(0, 32), wraps_in_32_bits, 1)});
  cases.push_back({"slot named twice", with_offsets(type_info(0, 32), twice, 3)});
  cases.push_back({"more slots than words", with_offsets(type_info(0, 24), three, 3)});
  cases.push_back({"slots without an array", with_offsets(type_info(0, 24), nullptr, 1)});
  cases.push_back({"variable, elem_size 0", variable_info(UFFDGC_TYPE_LEAF, 16, 0)});
  uffdgc_type_info length_on_header = variable_info(UFFDGC_TYPE_LEAF, 16, 1);
  length_on_header.length_offset = 0;
  cases.push_back({"variable, length on the header", length_on_header});
  uffdgc_type_info length_misaligned = variable_info(UFFDGC_TYPE_LEAF, 24, 1);
  length_misaligned.length_offset = 12;
  cases.push_back({"variable, misaligned length", length_misaligned});
  uffdgc_type_info length_past_end = variable_info(UFFDGC_TYPE_LEAF, 16, 1);
  length_past_end.length_offset = 16;
  cases.push_back({"variable, length past the fixed part", length_past_end});
  cases.push_back({"variable, slot on the length",
                   with_offsets(variable_info(0, 24, 1), length_slot, 1)});
  cases.push_back(
      {"elements are refs, not variable", type_info(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 16)});
  cases.push_back({"elements are refs, elem_size 4",
                   variable_info(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 16, 4)});
  cases.push_back({"elements are refs, base_size 20",
                   variable_info(UFFDGC_TYPE_ELEMENTS_ARE_REFS, 20, 8)});
  cases.push_back({"leaf with slots", with_offsets(type_info(UFFDGC_TYPE_LEAF, 16), one, 1)});
  cases.push_back({"leaf with ref elements",
                   variable_info(UFFDGC_TYPE_LEAF | UFFDGC_TYPE_ELEMENTS_ARE_REFS, 16, 8)});
  uffdgc_type_info leaf_traced = type_info(UFFDGC_TYPE_LEAF, 16);
  leaf_traced.trace = trace_tagged;
  cases.push_back({"leaf with a trace callback", leaf_traced});
  return cases;
}

TEST_F(TypeRegistryTest, RejectsInvalidLayoutsAndLeavesTheIndexAlone) {
  for (const Rejected& c : rejected_layouts()) {
    uint32_t index = 12345;
    EXPECT_EQ(types.add(c.info, &index), UFFDGC_EINVAL) << c.why;
    EXPECT_EQ(index, 12345u) << c.why;
  }
  EXPECT_EQ(types.count(), kFirstUserType);
}

TEST_F(TypeRegistryTest, RejectsAStructSizeSmallerThanTheFirstRelease) {
  uffdgc_type_info info = type_info(UFFDGC_TYPE_LEAF, 16);
  uint32_t index = 12345;
  info.struct_size = sizeof info - 8;
  EXPECT_EQ(types.add(info, &index), UFFDGC_ESTRUCTSIZE);
  info.struct_size = 0;
  EXPECT_EQ(types.add(info, &index), UFFDGC_ESTRUCTSIZE);
  EXPECT_EQ(index, 12345u);
  EXPECT_EQ(types.count(), kFirstUserType);
}

TEST_F(TypeRegistryTest, FullTableRefusesMoreTypes) {
  const uffdgc_type_info info = type_info(UFFDGC_TYPE_LEAF, 8);
  uint32_t index = 0;
  for (uint32_t i = kFirstUserType; i < TypeRegistry::kMaxTypes; ++i) {
    ASSERT_EQ(types.add(info, &index), UFFDGC_OK);
    ASSERT_EQ(index, i);
  }
  EXPECT_EQ(types.count(), TypeRegistry::kMaxTypes);
  uint32_t refused = 12345;
  EXPECT_EQ(types.add(info, &refused), UFFDGC_ELIMIT);
  EXPECT_EQ(refused, 12345u);
  EXPECT_EQ(types.count(), TypeRegistry::kMaxTypes);
  EXPECT_NE(types.get(TypeRegistry::kMaxTypes - 1), nullptr);
}

}  // namespace
}  // namespace uffdgc::gc
