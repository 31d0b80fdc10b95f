// uffdgc_heap's side of the collector's Mutators interface (gc/mutators.h; design:
// .heap.mutators): each operation applied to the attached threads (runtime/thread_registry.h).
#include <algorithm>

#include "gc/heap_geometry.h"
#include "gc/space/filler.h"
#include "runtime/heap.h"

uint64_t uffdgc_heap::stop_the_world(uffdgc_mutator* requester) {
  return threads.stop_the_world(requester);
}

void uffdgc_heap::resume_the_world() { threads.resume_the_world(); }
void uffdgc_heap::poll(uffdgc_mutator* m) {
  if (__atomic_load_n(&m->fast.poll_flag, __ATOMIC_ACQUIRE) != 0) threads.safepoint(m);
}
void uffdgc_heap::park(uffdgc_mutator* m) { threads.park(m); }
void uffdgc_heap::unpark(uffdgc_mutator* m) { threads.unpark(m); }

void uffdgc_heap::visit_thread_roots(uffdgc::gc::SlotVisitor visit) {
  threads.for_each_stopped([&](uffdgc_mutator* m) { m->handles.for_each(visit); });
}

void uffdgc_heap::visit_global_roots(uffdgc::gc::SlotVisitor visit) { globals.for_each(visit); }

uint64_t uffdgc_heap::cut_allocation() {
  threads.for_each_stopped([&](uffdgc_mutator* m) {
    if (m->fast.tlab_limit > m->fast.tlab_cursor) {
      pending_fillers.emplace_back(m->fast.tlab_cursor, m->fast.tlab_limit);
    }
    m->fast.tlab_cursor = 0;
    m->fast.tlab_limit = 0;
  });
  const uint64_t top = moving.top();
  const uint64_t cut = std::min(uffdgc::gc::align_up(top, uffdgc::gc::kPageSize), moving.limit());
  if (cut > top) pending_fillers.emplace_back(top, cut);
  moving.set_top(cut);
  return cut;
}

void uffdgc_heap::retire_tlabs() {
  threads.for_each_stopped([](uffdgc_mutator* m) {
    uffdgc::gc::write_filler(m->fast.tlab_cursor, m->fast.tlab_limit);
    m->fast.tlab_cursor = 0;
    m->fast.tlab_limit = 0;
  });
}

void uffdgc_heap::set_barrier_flags(uint32_t flag) {
  threads.for_each_stopped([flag](uffdgc_mutator* m) {
    __atomic_store_n(&m->fast.barrier_flag, flag, __ATOMIC_SEQ_CST);
    if ((flag & UFFDGC_BARRIER_CYCLE) == 0) {
      m->logs.satb.clear();
      m->logs.slots.clear();
    }
  });
}

void uffdgc_heap::take_satb_logs(std::vector<std::vector<uffdgc_ref>>& logs) {
  threads.for_each_stopped([&](uffdgc_mutator* m) {
    logs.push_back(m->logs.satb.take());
    m->logs.slots.clear();
  });
}

void uffdgc_heap::append_logged_slots(std::vector<uffdgc_ref*>& slots) {
  threads.for_each_stopped([&](uffdgc_mutator* m) {
    slots.insert(slots.end(), m->logs.slots.begin(), m->logs.slots.end());
  });
}

void uffdgc_heap::take_remembered_logs() {
  threads.for_each_stopped(
      [&](uffdgc_mutator* m) { uffdgc::gc::hand_over_remembered(*this, m->logs.remembered); });
}

void uffdgc_heap::set_young_range(uint64_t begin, uint64_t size) {
  threads.for_each_stopped([&](uffdgc_mutator* m) {
    m->fast.young_begin = begin;
    m->fast.young_size = size;
  });
}

void uffdgc_heap::hand_over_satb_logs() {
  threads.run_checkpoint(
      nullptr,
      [](uffdgc_mutator* m, void* heap) {
        uffdgc::gc::hand_over(*static_cast<uffdgc_heap*>(heap), m->logs.satb);
      },
      this);
}
