// Granules, chunks and pages of the moving space (design: .heap.side-tables).
#pragma once

#include <cstddef>
#include <cstdint>

#include "os/page.h"

namespace uffdgc::gc {

using os::align_down;
using os::align_up;
using os::kPageSize;

inline constexpr size_t kWordSize = 8;           // object alignment and bitmap granule
inline constexpr size_t kChunkSize = 512;        // live bytes are summed per chunk
inline constexpr size_t kWordsPerChunk = kChunkSize / kWordSize;  // = 64 = one bitmap word
inline constexpr size_t kWordsPerPage = kPageSize / kWordSize;


// Filler objects keep the moving space parsable (heap walk, dense prefix): type 0 is one
// header word, type 1 carries its payload length at offset 8.
inline constexpr uint32_t kFillerWordType = 0;
inline constexpr uint32_t kFillerType = 1;
inline constexpr uint32_t kFirstUserType = 2;

}  // namespace uffdgc::gc
