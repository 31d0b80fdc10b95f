// Filler objects (heap_geometry.h): cover a dead or unused range of the moving space so the
// space parses object by object. Writes at most two words.
#pragma once

#include <cstdint>
#include <cstring>

#include "gc/heap_geometry.h"

namespace uffdgc::gc {

inline void write_filler(uint64_t start, uint64_t end) {
  if (end <= start) return;
  auto* p = reinterpret_cast<uint64_t*>(start);
  if (end - start == kWordSize) {
    p[0] = kFillerWordType;
    return;
  }
  p[0] = kFillerType;
  p[1] = end - start - 2 * kWordSize;  // payload bytes: the filler's length field
}

}  // namespace uffdgc::gc
