#!/bin/sh
# /tests/run.sh in the co-test guest: runs every test binary that the initramfs
# carries and prints "GUEST: test <name> rc=<rc> secs=<s>" for each.
#   1. uffd_mthp_probe on zram swap (present-folio cases + swap-mthp-zram0), then
#      its anon_vma retry race (seconds: "race=N" on the cmdline, default 20)
#   2. the kernel's uffd-unit-tests: "-f move" (the move cases, incl. the new
#      move-mthp-*); the whole suite with "uffd_full" on the kernel cmdline
#   3. extra static binaries in /tests/extra/ (UFFDGC_GUEST_TESTS; NAME.gtest_filter
#      beside one holds its --gtest_filter)
#   3b. the collector: uffdgc-suite-uffdgc churn in move mode with 64K mTHP "always";
#      prints "COLLECTOR churn-move mthp_alloc=.. mthp_split=.. pages_moved=.." (the
#      mTHP counters' deltas over the run and the heap's own counts)
#   4. a 256M loop device on a tmpfs file as swap (asynchronous: large folios
#      stay in the swap cache after MADV_PAGEOUT), probe --swap-only, the
#      selftest move-mthp-swapcache (it skips on zram: not in the swap cache),
#      and the probe's stress run (stress seconds: "stress=N" on the cmdline,
#      default 10)
# Returns non-zero if any test did.
cd /tests || exit 1
rc=0
stress=10
race=20
for a in $(cat /proc/cmdline); do
	case "$a" in
	stress=*) stress=${a#stress=} ;;
	race=*) race=${a#race=} ;;
	esac
done

t() {
	name=$1; shift
	s=$(cut -d' ' -f1 /proc/uptime)
	"$@"
	r=$?
	e=$(cut -d' ' -f1 /proc/uptime)
	echo "GUEST: test $name rc=$r secs=$(echo "$s $e" | awk '{printf "%.1f", $2-$1}')"
	[ $r -eq 0 ] || rc=1
}

t probe-zram ./uffd_mthp_probe
# the v1 whole-folio move self-deadlocked here (README "v2"): HANG fails it
t probe-anon-vma-race ./uffd_mthp_probe --anon-vma-race "$race"
if [ -x ./uffd-unit-tests ]; then
	if grep -qw uffd_full /proc/cmdline; then
		t uffd-unit-tests ./uffd-unit-tests
	else
		t uffd-unit-tests-move ./uffd-unit-tests -f move
	fi
fi
for x in extra/*; do
	[ -x "$x" ] || continue
	if [ -f "$x.gtest_filter" ]; then
		GTEST_COLOR=no t "extra-$(basename "$x")" "$x" --gtest_filter="$(cat "$x.gtest_filter")"
	else
		GTEST_COLOR=no t "extra-$(basename "$x")" "$x"
	fi
done

# the collector itself on this kernel: a small churn in move mode with 64K mTHP
# "always", so the heap gets large folios and its compactions move them
if [ -x ./uffdgc-suite-uffdgc ]; then
	k=/sys/kernel/mm/transparent_hugepage/hugepages-64kB
	saved=$(sed 's/.*\[\(.*\)\].*/\1/' $k/enabled)
	echo always >$k/enabled
	s0=$(cat $k/stats/split)
	a0=$(cat $k/stats/anon_fault_alloc)
	t collector-churn sh -c "./uffdgc-suite-uffdgc --mode move --workload churn \
		--live-mib 32 --heap-mib 96 --ops 200000 >/tmp/churn.json"
	s1=$(cat $k/stats/split)
	a1=$(cat $k/stats/anon_fault_alloc)
	echo "$saved" >$k/enabled
	gc=$(tail -1 /tmp/churn.json | sed 's/.*"gc":{//')
	f() { echo "$gc" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
	echo "COLLECTOR churn-move mthp_alloc=$((a1 - a0)) mthp_split=$((s1 - s0))" \
		"collections=$(f collections) pages_moved=$(f pages_moved)" \
		"pages_copied=$(f pages_copied) copied_on_ebusy=$(f pages_copied_on_ebusy)" \
		"frames_whole=$(f folio_frames_moved_whole)" \
		"frames_partly=$(f folio_frames_moved_partly)"
fi

# asynchronous swap: loop device backed by a tmpfs file
swapoff -a 2>/dev/null
dd if=/dev/zero of=/tmp/swapfile bs=1M count=256 2>/dev/null
if losetup /dev/loop0 /tmp/swapfile 2>/dev/null && mkswap /dev/loop0 >/dev/null &&
	swapon /dev/loop0; then
	echo "GUEST: swap on loop0 (tmpfs file)"
	t probe-loop ./uffd_mthp_probe --swap-only
	if [ -x ./uffd-unit-tests ]; then
		t uffd-unit-tests-move-mthp-swapcache ./uffd-unit-tests -f move-mthp-swapcache
	fi
	[ "$stress" -gt 0 ] && t stress-loop ./uffd_mthp_probe --stress "$stress"
	swapoff /dev/loop0
else
	echo "GUEST: no loop device"
	rc=1
fi
grep -E "thp_split_page |thp_split_page_failed|thp_swpout |pswpout" /proc/vmstat | sed 's/^/GUEST: vmstat /'
exit $rc
