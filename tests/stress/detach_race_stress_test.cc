// Threads that detach while parked (allowed: "running or parked") race with collections run by
// another thread (parked threads do not hold collections up). The detaching thread's TLAB tail
// and handles must not be touched while the collector retires TLABs and compacts. The main
// thread's data is checked after every collection; the heap verifier runs too.
#include <random>

#include "../heap/heap_test_support.h"

namespace heaptest {
namespace {

class DetachRace : public HeapFixture {};

TEST_F(DetachRace, ParkedThreadsDetachDuringCollections) {
  Watchdog dog("ParkedThreadsDetachDuringCollections", 120);
  constexpr int kLive = 3000;
  uffdgc_ref* keep = H(Alloc(types_.ref_array, kLive));
  for (int i = 0; i < kLive; ++i) {
    Garbage(200);
    uffdgc_store_ref(mut_, *keep, Elem(*keep, i), AllocId(types_.bytes, i, 40 + i % 200));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> detaches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      uint64_t n = 0;
      while (!stop.load()) {
        uffdgc_mutator* m = nullptr;
        if (uffdgc_mutator_attach(heap_, nullptr, &m) != UFFDGC_OK) {
          failures.fetch_add(1);
          return;
        }
        uffdgc_handle_scope s;
        uffdgc_handle_scope_open(m, &s);
        for (uint64_t k = 0; k < 1 + (n % 7); ++k) {  // leave a TLAB with a tail
          uffdgc_ref r = 0;
          if (uffdgc_alloc(m, types_.leaf, 0, 0, &r) != UFFDGC_OK) failures.fetch_add(1);
          if (r != 0) uffdgc_handle_new(m, r);
        }
        if (uffdgc_mutator_park(m) != UFFDGC_OK) failures.fetch_add(1);
        if (++n % 3 == static_cast<uint64_t>(t)) std::this_thread::yield();
        if (uffdgc_mutator_detach(m) != UFFDGC_OK) failures.fetch_add(1);  // detach parked
        detaches.fetch_add(1);
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  int collections = 0;
  while (std::chrono::steady_clock::now() < deadline && !HasFailure()) {
    Garbage(50000);
    Collect();
    ++collections;
    for (int i = 0; i < kLive; ++i) {
      uffdgc_ref r = *Elem(*keep, i);
      if (r == 0 || Id(r) != static_cast<uint64_t>(i) || TypeOf(r) != types_.bytes) {
        ADD_FAILURE() << "after collection " << collections << ": object " << i << " lost or "
                      << "corrupted (a detaching parked thread wrote into the heap?)";
        break;
      }
      ExpectIntact(r, i);
    }
  }
  stop.store(true);
  ASSERT_EQ(uffdgc_mutator_park(mut_), UFFDGC_OK);
  for (auto& t : threads) t.join();
  ASSERT_EQ(uffdgc_mutator_unpark(mut_), UFFDGC_OK);
  EXPECT_EQ(failures.load(), 0);
  std::printf("detach race: %d collections, %llu detaches of parked mutators\n", collections,
              static_cast<unsigned long long>(detaches.load()));
}

}  // namespace
}  // namespace heaptest
