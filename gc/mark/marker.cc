#include "gc/mark/marker.h"

#include <algorithm>

#include "gc/heap_geometry.h"
#include "gc/verify.h"
#include "gc/heap.h"
#include "os/anonymous_memory.h"

namespace uffdgc::gc {

namespace {

// Why a value is not a reference (the checked marker's reports).
constexpr const char* kNotAllocated =
    "a moving-space address that is not allocated or not 8-byte aligned";
constexpr const char* kNoObjectStart = "a moving-space address where no object starts";
constexpr const char* kOutside = "an address outside every space of the heap";

}  // namespace

bool MarkTables::allocate(uint64_t space_begin, uint64_t bytes) {
  if (!mark.allocate(space_begin, bytes) || !live.allocate(space_begin, bytes)) return false;
  os::unmap(chunk_map, chunk_map_bytes);  // a second allocate
  begin = space_begin;
  chunks = align_up(bytes, kChunkSize) / kChunkSize + 1;
  chunk_map_bytes = align_up(chunks * sizeof(uint64_t), kPageSize);
  chunk_bytes = chunk_map = static_cast<uint64_t*>(os::map_zeroed(chunk_map_bytes));
  if (chunk_bytes == nullptr) chunk_map_bytes = 0;
  return chunk_bytes != nullptr;
}

void MarkTables::rebase(uint64_t new_begin) {
  mark.rebase(new_begin);
  live.rebase(new_begin);
  const uint64_t skipped = (new_begin - begin) / kChunkSize;
  chunk_bytes += skipped;
  chunks -= skipped;
  begin = new_begin;
}

MarkTables::~MarkTables() { os::unmap(chunk_map, chunk_map_bytes); }

Marker::Marker(Heap& heap, MarkTables& tables, bool young)
    : heap_(heap),
      tables_(tables),
      objects_(heap.objects),
      young_(young),
      floor_(young ? heap.old_end.load(std::memory_order_relaxed) : heap.moving.begin()),
      moving_begin_(floor_),
      moving_bytes_(heap.moving.limit() - floor_),
      limit_(heap.moving.top()),
      checked_(kCheckedBuild || heap.verify()),
      known_sweeps_(heap.objects.sweeps()),
      epoch_(heap.mark_epoch) {
  stack_.reserve(4096);
}

// A parse of [begin, limit_): every user object's start (fillers are not references).
void Marker::learn_object_starts() {
  if (!checked_) return;
  const uint64_t begin = floor_;
  if (!starts_.allocate(begin, std::max<uint64_t>(limit_ - begin, kPageSize))) {
    report_verification_failure("no memory for the checked marker's object starts", 0, 0);
  }
  for (uint64_t a = begin; a < limit_;) {
    const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(a), __ATOMIC_RELAXED);
    const uint64_t size = heap_.types.object_size(reinterpret_cast<const void*>(a));
    if (size == 0 || size > limit_ - a) {
      report_verification_failure("the moving space does not parse when marking starts", a,
                                  header);
    }
    if ((header & UFFDGC_HEADER_TYPE_MASK) >= kFirstUserType) starts_.set(a);
    a += size;
  }
}

bool Marker::is_marked(uffdgc_ref ref) const {
  if (heap_.moving.in_reservation(ref)) {
    return ref < floor_ || ref >= black_begin_ || (ref < limit_ && tables_.mark.test(ref));
  }
  return young_ || ObjectSpace::is_marked(ref, epoch_);
}

bool Marker::is_live_reference(uffdgc_ref ref) {
  if (ref == 0) return false;
  if (heap_.moving.in_reservation(ref)) return (ref & 7) == 0 && is_marked(ref);
  return in_object_space(ref) && is_marked(ref);
}

void Marker::check_reference(uffdgc_ref ref, const void* slot) {
  if (!checked_ || ref == 0) return;
  if (heap_.moving.in_reservation(ref)) {
    if ((ref & 7) != 0 || ref >= heap_.moving.top()) {
      reject(ref, slot, kNotAllocated);
    } else if (ref >= floor_ && ref < limit_ && !starts_.test(ref)) {
      reject(ref, slot, kNoObjectStart);
    }
  } else if (!in_object_space(ref)) {
    reject(ref, slot, kOutside);
  }
}

void Marker::reject(uffdgc_ref ref, const void* slot, const char* why) const {
  if (checked_) report_bad_reference(slot, ref, why);
}

// Objects leave the registry only in a sweep, so a ref found there stays valid until the next
// one; the cache forgets everything when a sweep happened since.
bool Marker::in_object_space(uffdgc_ref ref) {
  if (const uint64_t sweeps = heap_.objects.sweeps(); sweeps != known_sweeps_) {
    known_.fill(0);
    known_sweeps_ = sweeps;
  }
  if (known(ref)) return true;
  if (!heap_.objects.contains(ref)) return false;
  const size_t set = known_set(ref);
  known_[set + 1] = known_[set];  // the older one goes
  known_[set] = ref;
  return true;
}

// Everything mark() does not do inline: the black block, values that are no reference,
// checked marking, object-space refs the cache does not know yet.
void Marker::mark_slow(uffdgc_ref ref, const void* slot) {
  if (ref == 0) return;
  bool newly;
  if (young_) {
    // Old objects are live and not traced; a young marker checks only that the value lies in
    // some space (the verifier checks old objects after the cycle).
    if (heap_.moving.in_reservation(ref) ? ref < floor_ : in_object_space(ref)) return;
  }
  if (heap_.moving.in_reservation(ref)) {
    if (ref >= black_begin_) {  // allocated during marking: live, never traced
      if (checked_ && ((ref & 7) != 0 || ref >= heap_.moving.top())) {
        reject(ref, slot, kNotAllocated);
      }
      return;
    }
    if ((ref & 7) != 0 || ref >= limit_) return reject(ref, slot, kNotAllocated);
    if (checked_ && !starts_.test(ref)) return reject(ref, slot, kNoObjectStart);
    newly = tables_.mark.set(ref);  // scan() takes it back if no object starts there
  } else {
    if (!in_object_space(ref)) return reject(ref, slot, kOutside);
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
  const uint64_t begin = floor_;
  for (uint64_t a = obj, end = obj + size; a < end;) {
    const uint64_t chunk = (a - begin) / kChunkSize;
    const uint64_t chunk_end = begin + (chunk + 1) * kChunkSize;
    const uint64_t n = (end < chunk_end ? end : chunk_end) - a;
    tables_.chunk_bytes[chunk] += n;
    a += n;
  }
}

// Objects popped from the stack wait in a small ring, their first line prefetched, before
// they are scanned: the header and slots of the next few objects load while this one is
// scanned (marking is mostly cache misses: one per object, ~48 ns each on churn 1 GiB).
void Marker::drain() {
  constexpr size_t kAhead = 8;
  uffdgc_ref ring[kAhead];
  size_t head = 0, queued = 0;
  for (;;) {
    while (queued < kAhead && !stack_.empty()) {
      const uffdgc_ref obj = stack_.back();
      stack_.pop_back();
      __builtin_prefetch(reinterpret_cast<const void*>(obj));
      ring[(head + queued) % kAhead] = obj;
      ++queued;
    }
    if (queued == 0) return;
    const uffdgc_ref obj = ring[head];
    head = (head + 1) % kAhead;
    --queued;
    scan(obj);
    if (marked_bytes_ - published_bytes_ >= AllocationPacer::kPublishBytes) {
      published_bytes_ = marked_bytes_;
      heap_.pacer.progress(marked_bytes_);
    }
  }
}

void Marker::scan(uffdgc_ref obj) {
  const auto* p = reinterpret_cast<const uint8_t*>(obj);
  // Mutators may write this object while a concurrent cycle traces it: every word is read
  // with an atomic load (the embedder owns the header's high bits; slots change under the
  // snapshot barrier, which logs what they held).
  const uint64_t header = __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
  const TypeDesc* t = heap_.types.of_header(header);
  const uint64_t size = t != nullptr ? TypeRegistry::object_size(p, *t) : 0;
  const bool moving = heap_.moving.in_reservation(obj);
  // mark() checked where obj lies, not what is there: an unchecked moving-space value may be
  // an interior address, and the embedder may have overwritten a header's type bits.
  if (t == nullptr || (header & UFFDGC_HEADER_TYPE_MASK) < kFirstUserType || size == 0 ||
      (moving && size > limit_ - obj)) {
    if (moving) tables_.mark.clear(obj);  // not an object: nothing may take it for one
    return reject(obj, nullptr, "no object of a registered type fits there");
  }
  ++marked_objects_;
  marked_bytes_ += size;
  if (moving) record_live(obj, size);
  if (t->weak()) {
    weak_holders_.push_back(obj);  // its slots are cleared or kept after marking, not traced
    return;
  }
  heap_.types.for_each_ref_offset(p, *t, [&](size_t off) {
    // Acquire: pairs with the mutator's releasing store, so a new object's header and
    // object-space prefix are visible before the marker reads them.
    mark(__atomic_load_n(reinterpret_cast<const uffdgc_ref*>(p + off), __ATOMIC_ACQUIRE), p + off);
  });
}

}  // namespace uffdgc::gc
