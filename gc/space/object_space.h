// The non-moving and large-object spaces (DESIGN.md §3): objects that never move. Small
// non-moving objects come from calloc, large ones are direct mappings (released to the kernel
// the moment they die). Each object is preceded by a 16-byte side header holding its size and
// mark, so marking never needs a lookup. The registry (address -> header) serves sweeping,
// heap walks, validation and the verifier. Guarded by the heap lock, except mark/is_marked
// which run with the world stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

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
  // exhausted.
  uint64_t allocate(uint64_t size, ObjectKind kind);
  bool contains(uint64_t ref) const { return objects_.count(ref) != 0; }
  static ObjectPrefix* prefix(uint64_t ref) { return reinterpret_cast<ObjectPrefix*>(ref) - 1; }
  // Sets the mark; true if it was clear. World stopped.
  static bool mark(uint64_t ref) {
    ObjectPrefix* p = prefix(ref);
    if (p->mark != 0) return false;
    p->mark = 1;
    return true;
  }
  static bool is_marked(uint64_t ref) { return prefix(ref)->mark != 0; }

  // Frees unmarked objects, clears the marks of the rest. Returns bytes freed.
  uint64_t sweep();
  uint64_t bytes(ObjectKind kind) const {
    return kind == ObjectKind::kLarge ? large_bytes_ : nonmoving_bytes_;
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {  // fn(ref, const ObjectPrefix&)
    for (const auto& [ref, p] : objects_) fn(ref, *p);
  }

 private:
  void free_object(uint64_t ref, ObjectPrefix* p);
  std::unordered_map<uint64_t, ObjectPrefix*> objects_;
  uint64_t limit_ = 0, nonmoving_bytes_ = 0, large_bytes_ = 0;
};

}  // namespace uffdgc::gc
