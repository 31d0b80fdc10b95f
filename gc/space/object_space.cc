#include "gc/space/object_space.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

#include "gc/heap_geometry.h"

namespace uffdgc::gc {

ObjectSpace::~ObjectSpace() {
  for (auto& [ref, p] : objects_) free_object(ref, p);
}

uint64_t ObjectSpace::allocate(uint64_t size, ObjectKind kind) {
  if (size > limit_ || nonmoving_bytes_ + large_bytes_ > limit_ - size) return 0;
  const uint64_t total = size + sizeof(ObjectPrefix);
  void* mem;
  if (kind == ObjectKind::kLarge) {
    mem = mmap(nullptr, align_up(total, kPageSize), PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 0;
  } else {
    mem = calloc(1, total);
    if (mem == nullptr) return 0;
  }
  auto* p = static_cast<ObjectPrefix*>(mem);
  p->size = size;
  p->mark = 0;
  p->kind = kind;
  const uint64_t ref = reinterpret_cast<uint64_t>(p + 1);
  try {
    std::lock_guard<std::mutex> lock(registry_lock_);
    objects_.emplace(ref, p);
  } catch (const std::bad_alloc&) {  // no room in the registry: as if memory were exhausted
    free_object(ref, p);
    return 0;
  }
  (kind == ObjectKind::kLarge ? large_bytes_ : nonmoving_bytes_) += size;
  return ref;
}

void ObjectSpace::free_object(uint64_t, ObjectPrefix* p) {
  if (p->kind == ObjectKind::kLarge) {
    munmap(p, align_up(p->size + sizeof(ObjectPrefix), kPageSize));
  } else {
    free(p);
  }
}

uint64_t ObjectSpace::sweep(uint32_t epoch) {
  uint64_t freed = 0;
  std::vector<uint64_t> dead;
  for (auto& [ref, p] : objects_) {
    if (!is_marked(ref, epoch)) dead.push_back(ref);
  }
  sweeps_.fetch_add(1, std::memory_order_relaxed);
  for (uint64_t ref : dead) {
    ObjectPrefix* p = objects_[ref];
    (p->kind == ObjectKind::kLarge ? large_bytes_ : nonmoving_bytes_) -= p->size;
    freed += p->size;
    {
      std::lock_guard<std::mutex> lock(registry_lock_);
      objects_.erase(ref);
    }
    free_object(ref, p);
  }
  return freed;
}

std::vector<uint64_t> ObjectSpace::list() const {
  std::vector<uint64_t> refs;
  refs.reserve(objects_.size());
  for (const auto& [ref, p] : objects_) refs.push_back(ref);
  return refs;
}

}  // namespace uffdgc::gc
