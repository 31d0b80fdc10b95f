#include "gc/mark/marker.h"

#include <sys/mman.h>

#include "gc/heap_geometry.h"
#include "runtime/heap.h"

namespace uffdgc::gc {

bool MarkTables::allocate(uint64_t begin, uint64_t bytes) {
  if (!mark.allocate(begin, bytes) || !live.allocate(begin, bytes)) return false;
  chunks = align_up(bytes, kChunkSize) / kChunkSize + 1;
  chunk_map_bytes = align_up(chunks * sizeof(uint64_t), kPage);
  void* p = mmap(nullptr, chunk_map_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    chunk_map_bytes = 0;
    return false;
  }
  chunk_bytes = static_cast<uint64_t*>(p);
  return true;
}

MarkTables::~MarkTables() {
  if (chunk_bytes != nullptr) munmap(chunk_bytes, chunk_map_bytes);
}

Marker::Marker(uffdgc_heap& heap, MarkTables& tables) : heap_(heap), tables_(tables) {
  stack_.reserve(4096);
}

bool Marker::is_marked(uffdgc_ref ref) const {
  if (heap_.moving.contains(ref)) return tables_.mark.test(ref);
  return ObjectSpace::is_marked(ref);
}

void Marker::mark(uffdgc_ref ref) {
  if (ref == 0) return;
  const bool newly = heap_.moving.contains(ref) ? tables_.mark.set(ref) : ObjectSpace::mark(ref);
  if (newly) stack_.push_back(ref);
}

void Marker::drain() {
  while (!stack_.empty()) {
    const uffdgc_ref obj = stack_.back();
    stack_.pop_back();
    scan(obj);
  }
}

void Marker::scan(uffdgc_ref obj) {
  const auto* p = reinterpret_cast<const uint8_t*>(obj);
  uint64_t header;
  __builtin_memcpy(&header, p, sizeof(header));
  const TypeDesc* t = heap_.types.of_header(header);
  const uint64_t size = heap_.types.object_size(p);
  ++marked_objects_;
  marked_bytes_ += size;
  if (heap_.moving.contains(obj)) {
    marked_moving_bytes_ += size;
    tables_.live.set_range(obj, size);
    const uint64_t begin = heap_.moving.begin();
    for (uint64_t a = obj, end = obj + size; a < end;) {
      const uint64_t chunk = (a - begin) / kChunkSize;
      const uint64_t chunk_end = begin + (chunk + 1) * kChunkSize;
      const uint64_t n = (end < chunk_end ? end : chunk_end) - a;
      tables_.chunk_bytes[chunk] += n;
      a += n;
    }
  }
  if (t->weak()) {
    weak_holders_.push_back(obj);  // its slots are cleared or kept after marking, not traced
    return;
  }
  heap_.types.for_each_ref_offset(p, *t, [&](size_t off) {
    uffdgc_ref v;
    __builtin_memcpy(&v, p + off, sizeof(v));
    mark(v);
  });
}

}  // namespace uffdgc::gc
