// Keeps the reclaim statistics of the process's memory cgroup fresh while the cgroup is near
// its limit (design: .memory.reclaim-stats), on a thread of its own.
//
// Why: with the classic LRU (no MGLRU), reclaim moves anonymous pages from the active to the
// inactive list only when the cgroup's statistics say the inactive list is small (or that
// refaults were activated since its last pass), and it reads those statistics as last flushed
// from per-CPU counters: every 2 s by a kernel worker, or when someone reads memory.stat. In
// between they can be 2 s old. A page swapped back in soon after it was swapped out goes
// straight to the active list (refault activation); a collector cycle over a swapped-out heap,
// or a mutator whose working set is the whole heap, swaps in a lot within a second: if the last
// flush happened to see inactive >= active, the active list fills the cgroup, the inactive list
// runs dry, reclaim scans nothing (it never enters its loop with the inactive and file lists
// empty, so it never retries with forced deactivation) and the 16th charge in a row that
// reclaims nothing OOM-kills the process. Measured on 6.18 (cgroup v1, zram): the memcg OOM
// reports show inactive_anon 0 and active_anon at the limit, the killing charge a swap-in fault
// (mem_cgroup_swapin_charge_folio), in the collector's threads and in mutators alike; ftrace
// shows no mm_vmscan_lru_shrink_active in the cgroup from a periodic stats flush until the kill.
// A plain program that pages out 96 MiB and reads it back under a 64 MiB limit is killed the
// same way, and is not while memory.stat is read every 50 ms. The suite's pressure self-test
// (192 MiB live, 160 MiB limit, whole heap hot, uffdgc-move; `uffdgc-bench --selftest-pressure`
// 12-16 times in a row) was killed in 2 of 12 runs without this, in 1 of 16 with a read every
// 20 ms, and in 1 of 23 with one every 5 ms: fewer, not none. A day later on the same VM the
// same build was killed in 3 of 10 (the rate drifts with the machine); reads every 1 ms: 8 of
// 10 (not better); ftrace of a kill: the last 16 charges' reclaim passes scanned no LRU page at
// all (mm_vmscan_memcg_reclaim_begin/end with nothing between), the passes before scanned 2-11
// inactive pages each.
//
// So while any heap exists in a process in a memory cgroup with a limit, one thread per process
// looks at the cgroup's usage every kFarInterval (two preads) and, while it is within kMargin of
// the limit, reads memory.stat every kNearInterval (one pread, ~30 us: under 1 % of a core):
// reclaim decides from statistics at most that old. The far look has to be that frequent: a
// collection over a heap in swap fills a 64 MiB cgroup within tens of milliseconds
// (tests/gc/swap_collect_test.cc was killed with 200 ms). The thread looks the cgroup up again
// every kCgroupRefindInterval (the process may have been moved). Heap creation starts it, and so
// does a collection while none runs (a process moved into a cgroup later, a forked child), both
// looking for a limit at most once per kCgroupLookInterval. It never touches a heap and blocks
// every asynchronous signal.
//
// Tried and dropped (same self-test, 20 ms reads): also moving a 4 MiB window of the heap to
// the inactive list each time (MADV_COLD): 2 kills in 13 (MADV_COLD of every run the GC
// thread produces, near the limit: 9 in 10); paging such windows out
// (MADV_PAGEOUT) until there is room: 8 in 16 (every page paged out comes back as a refault,
// straight onto the active list). The kernel-side fix would be for reclaim to deactivate when
// it finds the inactive list empty whatever its statistics say.
#pragma once

#include <cstdint>

namespace uffdgc::runtime {

inline constexpr uint64_t kReclaimStatsNearInterval = 5'000'000;  // ns
inline constexpr uint64_t kReclaimStatsFarInterval = 10'000'000;  // ns
inline constexpr uint64_t kReclaimCgroupRefindInterval = 1'000'000'000;  // ns
inline constexpr uint64_t kReclaimCgroupLookInterval = 100'000'000;  // ns
inline constexpr uint64_t kReclaimStatsMargin = 32ull << 20;

// A heap holds the watcher from its creation to its destruction: a hold starts the thread as
// ensure_reclaim_stats_watcher() does, the last release stops it. False (nothing held) when the
// fork handlers could not be installed; a thread that cannot be created is not an error. Without it
// the heap works as before, only less safe near a cgroup limit.
bool hold_reclaim_stats_watcher();
void release_reclaim_stats_watcher();
// Starts the thread if a heap holds the watcher, none runs and the process is in a memory
// cgroup with a limit (looked at most once per kCgroupLookInterval). One relaxed load when it
// runs.
void ensure_reclaim_stats_watcher();
// Tests: the number of memory.stat reads so far.
uint64_t reclaim_stats_refreshes();

}  // namespace uffdgc::runtime
