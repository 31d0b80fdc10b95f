// Holds a concurrent cycle's marking up from inside a type's trace callback, so a test can act
// (allocate, pin, store) while marking is certainly running: register a type whose `trace` is
// TraceGate::callback, arm(), allocate and root one object of it before the cycle, wait for
// entered, act, then release. Fires once per arm(). TraceGate::holder_callback does the same
// and then visits the object's one reference slot (at offset 8): what only that slot reaches
// is still unmarked while the gate holds.
#pragma once

#include <time.h>

#include <atomic>

#include "uffdgc/uffdgc.h"

namespace uffdgc::test {

struct TraceGate {
  static inline std::atomic<bool> armed{false}, entered{false}, released{false};

  static void arm() {
    entered.store(false);
    released.store(false);
    armed.store(true);
  }
  static void callback(uffdgc_ref, uffdgc_slot_visitor, void*) {
    if (!armed.exchange(false)) return;
    entered.store(true);
    while (!released.load()) {
      timespec ts{0, 100000};
      nanosleep(&ts, nullptr);
    }
  }
  static void holder_callback(uffdgc_ref object, uffdgc_slot_visitor visit, void* ctx) {
    callback(object, visit, ctx);
    visit(reinterpret_cast<uffdgc_ref*>(object + 8), ctx);
  }
};

// The types such tests use: the gate (16 bytes, traced by TraceGate::callback), the holder
// (16 bytes, one slot at 8, traced by TraceGate::holder_callback), a reference array (length at
// 16, elements from 24) and a leaf of small_size bytes.
struct GateTypes {
  uint32_t gate = 0, holder = 0, array = 0, small = 0;
};
inline uffdgc_ref* array_element(uffdgc_ref array, size_t i) {
  return reinterpret_cast<uffdgc_ref*>(array + 24 + 8 * i);
}
inline uffdgc_result register_gate_types(uffdgc_heap* heap, size_t small_size, GateTypes* out) {
  uffdgc_type_info gate{};
  gate.struct_size = sizeof gate;
  gate.base_size = 16;
  gate.trace = &TraceGate::callback;
  gate.name = "gate";
  uffdgc_type_info array{};
  array.struct_size = sizeof array;
  array.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_ELEMENTS_ARE_REFS;
  array.base_size = 24;
  array.elem_size = 8;
  array.length_offset = 16;
  array.name = "ref-array";
  uffdgc_type_info small{};
  small.struct_size = sizeof small;
  small.flags = UFFDGC_TYPE_LEAF;
  small.base_size = small_size;
  small.name = "small";
  uffdgc_type_info holder = gate;
  holder.trace = &TraceGate::holder_callback;
  holder.name = "holder";
  uffdgc_result r = uffdgc_type_register(heap, &gate, &out->gate);
  if (r == UFFDGC_OK) r = uffdgc_type_register(heap, &holder, &out->holder);
  if (r == UFFDGC_OK) r = uffdgc_type_register(heap, &array, &out->array);
  if (r == UFFDGC_OK) r = uffdgc_type_register(heap, &small, &out->small);
  return r;
}

}  // namespace uffdgc::test
