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

Marker::Marker(uffdgc_heap& heap, MarkTables& tables)
    : heap_(heap), tables_(tables), epoch_(heap.mark_epoch) {
  stack_.reserve(4096);
}

bool Marker::is_marked(uffdgc_ref ref) const {
  if (heap_.moving.in_reservation(ref)) return ref >= black_begin_ || tables_.mark.test(ref);
  return ObjectSpace::is_marked(ref, epoch_);
}

bool Marker::in_moving_space(uffdgc_ref ref) const { return heap_.moving.in_reservation(ref); }

bool Marker::object_space_contains(uffdgc_ref ref) const { return heap_.objects.contains(ref); }

void Marker::mark(uffdgc_ref ref) {
  if (ref == 0) return;
  bool newly;
  if (heap_.moving.in_reservation(ref)) {
    if (ref >= black_begin_) return;  // allocated during marking: live, never traced
    newly = tables_.mark.set(ref);
  } else {
    newly = ObjectSpace::mark(ref, epoch_);
  }
  if (newly) stack_.push_back(ref);
}

void Marker::blacken(uint64_t from, uint64_t to) {
  for (uint64_t a = from; a < to;) {
    uint64_t header;
    __builtin_memcpy(&header, reinterpret_cast<const void*>(a), sizeof(header));
    const uint64_t size = heap_.types.object_size(reinterpret_cast<const void*>(a));
    if ((header & UFFDGC_HEADER_TYPE_MASK) >= kFirstUserType && tables_.mark.set(a)) {
      ++marked_objects_;
      marked_bytes_ += size;
      record_live(a, size);
    }
    a += size;
  }
}

void Marker::recount_chunks() {
  for (uint64_t c = 0; c + 1 < tables_.chunks; ++c) {
    tables_.chunk_bytes[c] = kWordSize * static_cast<uint64_t>(__builtin_popcountll(tables_.live.word(c)));
  }
}

void Marker::record_live(uffdgc_ref obj, uint64_t size) {
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

void Marker::drain() {
  while (!stack_.empty()) {
    const uffdgc_ref obj = stack_.back();
    stack_.pop_back();
    scan(obj);
    reclaim_stats_.tick();
  }
}

void Marker::scan(uffdgc_ref obj) {
  const auto* p = reinterpret_cast<const uint8_t*>(obj);
  // Mutators may write this object while a concurrent cycle traces it: every word is read
  // with an atomic load (the embedder owns the header's high bits; slots change under the
  // snapshot barrier, which logs what they held).
  const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
  const TypeDesc* t = heap_.types.of_header(header);
  const uint64_t size = heap_.types.object_size(p);
  ++marked_objects_;
  marked_bytes_ += size;
  if (heap_.moving.in_reservation(obj)) record_live(obj, size);
  if (t->weak()) {
    weak_holders_.push_back(obj);  // its slots are cleared or kept after marking, not traced
    return;
  }
  heap_.types.for_each_ref_offset(p, *t, [&](size_t off) {
    // Acquire: pairs with the mutator's releasing store, so a new object's header and
    // object-space prefix are visible before the marker reads them.
    mark(__atomic_load_n(reinterpret_cast<const uffdgc_ref*>(p + off), __ATOMIC_ACQUIRE));
  });
}

}  // namespace uffdgc::gc
