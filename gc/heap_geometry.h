// Granules, chunks and pages of the moving space (DESIGN.md §3 "Side tables").
#pragma once

#include <cstddef>
#include <cstdint>

namespace uffdgc::gc {

inline constexpr size_t kWordSize = 8;           // object alignment and bitmap granule
inline constexpr size_t kChunkSize = 512;        // live bytes are summed per chunk
inline constexpr size_t kWordsPerChunk = kChunkSize / kWordSize;  // = 64 = one bitmap word
inline constexpr size_t kPage = 4096;
inline constexpr size_t kWordsPerPage = kPage / kWordSize;

inline constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
inline constexpr uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

// Filler objects keep the moving space parsable (heap walk, dense prefix): type 0 is one
// header word, type 1 carries its payload length at offset 8.
inline constexpr uint32_t kFillerWordType = 0;
inline constexpr uint32_t kFillerType = 1;
inline constexpr uint32_t kFirstUserType = 2;

}  // namespace uffdgc::gc
