// The non-moving and large-object spaces (design: .heap.object-spaces): objects that never move.
// Small non-moving objects come from calloc, large ones are direct mappings (released to the kernel
// the moment they die). Each object is preceded by a 16-byte side header holding its size and mark,
// so marking never needs a lookup. The registry (address -> header) serves sweeping, heap walks,
// validation and the verifier. Guarded by the heap lock, except mark/is_marked and contains(): the
// registry has a lock of its own (innermost: nothing is taken inside it), so that the marker can
// tell an object-space reference from a foreign address without the heap lock while mutators
// allocate.
//
// A mark is the number of the cycle that found the object live (an epoch), not a bit: the
// sweep never has to clear marks, and objects allocated between a concurrent cycle's sweep and
// its flip carry the cycle's epoch (live for weak loads) yet count as unmarked next cycle.
// One writer (the marking thread, or an allocator holding the heap lock while the marker
// runs elsewhere); readers may be mutators, so every access is a relaxed atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace uffdgc::gc {

enum class ObjectKind : uint32_t { kNonMoving = 1, kLarge = 2 };

struct alignas(16) ObjectPrefix {
  uint64_t size;
  uint32_t mark;
  ObjectKind kind;
};
static_assert(sizeof(ObjectPrefix) == 16);

class ObjectSpace {
 public:
  ObjectSpace() = default;
  ObjectSpace(const ObjectSpace&) = delete;
  ObjectSpace& operator=(const ObjectSpace&) = delete;
  ~ObjectSpace();

  void set_limit(uint64_t bytes) { limit_ = bytes; }
  // Zeroed memory for an object of `size` bytes; 0 when the limit is reached or memory is
  // exhausted (the registry's too).
  uint64_t allocate(uint64_t size, ObjectKind kind);
  // True if an object of these spaces starts at ref. Any thread.
  bool contains(uint64_t ref) const {
    std::lock_guard<std::mutex> lock(registry_lock_);
    return objects_.count(ref) != 0;
  }
  // Sweeps so far: objects leave the registry only in a sweep. The sweeping thread, or one that
  // is ordered with it.
  uint64_t sweeps() const { return sweeps_.load(std::memory_order_relaxed); }
  static ObjectPrefix* prefix(uint64_t ref) { return reinterpret_cast<ObjectPrefix*>(ref) - 1; }
  // Marks ref live in cycle `epoch`; true if it was not yet.
  static bool mark(uint64_t ref, uint32_t epoch) {
    ObjectPrefix* p = prefix(ref);
    if (__atomic_load_n(&p->mark, __ATOMIC_RELAXED) == epoch) return false;
    __atomic_store_n(&p->mark, epoch, __ATOMIC_RELAXED);
    return true;
  }
  static bool is_marked(uint64_t ref, uint32_t epoch) {
    return __atomic_load_n(&prefix(ref)->mark, __ATOMIC_RELAXED) == epoch;
  }

  // Frees the objects not marked in cycle `epoch`. Returns bytes freed.
  uint64_t sweep(uint32_t epoch);
  // Every object, for a scan without the lock (objects die only in sweep, on the GC thread).
  std::vector<uint64_t> list() const;
  uint64_t bytes(ObjectKind kind) const {
    return kind == ObjectKind::kLarge ? large_bytes_ : nonmoving_bytes_;
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {  // fn(ref, const ObjectPrefix&)
    for (const auto& [ref, p] : objects_) fn(ref, *p);
  }

 private:
  void free_object(uint64_t ref, ObjectPrefix* p);
  mutable std::mutex registry_lock_;  // objects_ against contains() (any thread)
  std::unordered_map<uint64_t, ObjectPrefix*> objects_;
  std::atomic<uint64_t> sweeps_{0};
  uint64_t limit_ = 0, nonmoving_bytes_ = 0, large_bytes_ = 0;
};

}  // namespace uffdgc::gc
