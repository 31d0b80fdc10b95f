// The per-thread mutator state (design: .embedder.threads). Its first member is the ABI prefix
// read by the inline fast paths (include/uffdgc/inline.h).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "runtime/handles.h"
#include "gc/barrier/barrier.h"
#include "uffdgc/inline.h"

struct uffdgc_heap;

namespace uffdgc::runtime {

enum class MutatorState : uint8_t {
  kRunning,        // may touch the heap; must poll
  kSuspended,      // stopped at a safepoint (or waiting inside the library)
  kParked,         // promised not to touch the heap; the collector acts on its behalf
  kCheckpointing,  // parked, and another thread is running a checkpoint on its behalf
};

struct Checkpoint {
  void (*fn)(uffdgc_mutator*, void*) = nullptr;
  void* arg = nullptr;
  uint64_t generation = 0;
};

}  // namespace uffdgc::runtime

struct uffdgc_mutator {
  uffdgc_mutator_fast fast{};  // must stay first: the inline.h ABI
  uffdgc_heap* heap = nullptr;
  pthread_t owner{};
  void* vm_thread = nullptr;
  // Changed by the owner (park/unpark without the registry lock, the rest under it) and by a
  // checkpoint requester (kParked <-> kCheckpointing, by CAS under the lock).
  std::atomic<uffdgc::runtime::MutatorState> state{uffdgc::runtime::MutatorState::kRunning};
  uffdgc::runtime::Checkpoint pending;  // guarded by the registry lock: run at the next poll
  uint64_t running_checkpoint = 0;      // generation being run for this thread (registry lock)
  // Owner thread only (or the collector while the owner is stopped).
  uffdgc::runtime::HandleStack handles{fast};
  uffdgc::gc::ThreadLogs logs{fast};  // the barrier's logs (gc/barrier/barrier.h)
};

static_assert(offsetof(uffdgc_mutator, fast) == 0, "inline.h reads the mutator's first bytes");
static_assert(offsetof(uffdgc_mutator_fast, tlab_cursor) == UFFDGC_MUTATOR_TLAB_CURSOR_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, tlab_limit) == UFFDGC_MUTATOR_TLAB_LIMIT_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, poll_flag) == UFFDGC_MUTATOR_POLL_FLAG_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, barrier_flag) == UFFDGC_MUTATOR_BARRIER_FLAG_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, satb_cursor) == UFFDGC_MUTATOR_SATB_CURSOR_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, satb_limit) == UFFDGC_MUTATOR_SATB_LIMIT_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, moving_begin) == UFFDGC_MUTATOR_MOVING_BEGIN_OFFSET);
static_assert(offsetof(uffdgc_mutator_fast, moving_size) == UFFDGC_MUTATOR_MOVING_SIZE_OFFSET);
