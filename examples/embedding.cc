// The embedding of embedding.c through the C++ layer (uffdgc/uffdgc.hpp): the same object
// model and workload in fewer lines, with RAII for threads, handle scopes, globals and parking.
//
// usage: uffdgc-embedding-cxx [--mode=auto|stw|move|copy] [--iterations=N]
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>
#include <uffdgc/uffdgc.hpp>

namespace {

struct Node {
  uffdgc::ObjectHeader header;
  uffdgc::Ref<Node> next;
  uffdgc::Ref<Node> jump;  // a back edge into the same list; the tail's closes a cycle
  int64_t payload;
};

struct RefArray {
  uffdgc::ObjectHeader header;
  uint64_t length;
  uffdgc_ref* elements() { return reinterpret_cast<uffdgc_ref*>(this + 1); }
};

constexpr int kSlots = 64;
constexpr int kMaxList = 24;

uint64_t next_random(uint64_t& s) {
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 2685821657736338717ull;
}

int64_t list_sum(uffdgc::Ref<Node> head) {
  int64_t sum = 0;
  for (int i = 0; head && i <= kMaxList; ++i, head = uffdgc::load_ref(head->next))
    sum += head->payload;
  return sum;
}

struct Worker {
  uffdgc::Heap* heap;
  uffdgc::Type<Node> node;
  uffdgc::Type<RefArray> array;
  long iterations;
  uint64_t seed;
  std::array<int64_t, kSlots> expected{};
  long checked = 0, mismatches = 0;

  void run() {
    uffdgc::MutatorScope thread(*heap, this);  // attach for the scope
    thread.status().check("attach");
    uffdgc::Mutator m = thread.mutator();
    auto table = uffdgc::Global<RefArray>::create(*heap, m.alloc(array, kSlots).value()).value();

    for (long it = 0; it < iterations; ++it) {
      {
        uffdgc::HandleScope scope(m);
        uffdgc::Handle<Node> head = scope.handle(uffdgc::Ref<Node>());
        uffdgc::Handle<Node> tail = scope.handle(uffdgc::Ref<Node>());
        int64_t sum = 0;
        int len = 1 + static_cast<int>(next_random(seed) % kMaxList);
        for (int i = 0; i < len; ++i) {
          uffdgc::Ref<Node> n = m.alloc(node).value();  // inline fast path; may collect
          n->payload = static_cast<int64_t>(next_random(seed) % 1000);
          sum += n->payload;
          m.store(n, &Node::next, head);  // head: the current address, after the alloc
          if (!head.is_null() && (next_random(seed) & 1)) {
            uffdgc::Ref<Node> deeper = uffdgc::load_ref(head->next);
            m.store(n, &Node::jump, deeper ? deeper : head.get());
          }
          head.set(n);
          if (tail.is_null()) tail.set(n);
        }
        m.store(tail, &Node::jump, head);  // the cycle
        int slot = static_cast<int>(next_random(seed) % kSlots);
        m.store(table.get(), &table->elements()[slot], head);
        expected[slot] = sum;
      }
      if (it % 2048 == 1) {
        uffdgc::ParkedScope parked(m);  // blocking: collections need not wait for us
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (it % 256 == 0) verify(static_cast<int>(next_random(seed) % kSlots), table);
      m.poll();
    }
    m.collect().check("collect");
    for (int s = 0; s < kSlots; ++s) verify(s, table);
  }  // table destroyed, then the thread detached

  void verify(int slot, const uffdgc::Global<RefArray>& table) {
    ++checked;
    uffdgc::Ref<Node> head(uffdgc_load_ref(&table->elements()[slot]));
    if (list_sum(head) != expected[slot]) ++mismatches;
  }
};

}  // namespace

int main(int argc, char** argv) {
  uffdgc::HeapOptions options;
  options.heap_limit(64u << 20);
  long iterations = 100000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--mode=auto")
      options.mode(UFFDGC_MODE_AUTO);
    else if (a == "--mode=stw")
      options.mode(UFFDGC_MODE_STW);
    else if (a == "--mode=move")
      options.mode(UFFDGC_MODE_MOVE);
    else if (a == "--mode=copy")
      options.mode(UFFDGC_MODE_COPY);
    else if (a.starts_with("--iterations="))
      iterations = std::atol(argv[i] + 13);
    else {
      std::fprintf(stderr, "usage: %s [--mode=auto|stw|move|copy] [--iterations=N]\n", argv[0]);
      return 2;
    }
  }

  uffdgc::Result<uffdgc::Heap> heap = uffdgc::Heap::create(options);
  if (!heap) {
    std::fprintf(stderr, "heap_create: %s\n", heap.name());
    return 1;
  }
  uffdgc::PauseRecorder pauses;
  heap->set_event_listener(pauses).check("set_event_listener");
  auto node =
      heap->register_type(uffdgc::TypeBuilder<Node>("node").ref(&Node::next).ref(&Node::jump))
          .value();
  auto array =
      heap->register_type(
              uffdgc::TypeBuilder<RefArray>("ref-array").elements_are_refs(&RefArray::length))
          .value();

  std::array<Worker, 2> workers{Worker{&*heap, node, array, iterations, 0x9e3779b97f4a7c15ull},
                                Worker{&*heap, node, array, iterations, 0x3c6ef372fe94f82aull}};
  {
    std::thread t0([&] { workers[0].run(); });
    std::thread t1([&] { workers[1].run(); });
    t0.join();
    t1.join();
  }

  uffdgc::Stats st = heap->stats().value();
  long bad = workers[0].mismatches + workers[1].mismatches;
  std::printf("uffdgc %s, %s mode (C++ layer), 2 threads x %ld iterations\n", uffdgc_version(),
              uffdgc_mode_name(st.mode), iterations);
  std::printf("collections %llu; pauses p50 %.3f ms, max %.3f ms; allocated %.1f MiB\n",
              static_cast<unsigned long long>(st.collections), pauses.percentile_ns(50) / 1e6,
              st.pause_ns_max / 1e6, st.bytes_allocated / 1048576.0);
  std::printf("lists checked %ld, mismatches %ld\n", workers[0].checked + workers[1].checked, bad);
  heap->clear_event_listener().check("clear_event_listener");
  return bad == 0 && st.collections > 0 ? 0 : 1;
}
