#!/bin/sh
# /tests/run.sh in the co-test guest: runs every test binary that the initramfs
# carries and prints "GUEST: test <name> rc=<rc> secs=<s>" for each.
#   1. uffd_mthp_probe on zram swap (present-folio cases + swap-mthp-zram0)
#   2. the kernel's uffd-unit-tests: "-f move" (the move cases, incl. the new
#      move-mthp-* and move-pageout-stress); the whole suite with "uffd_full"
#      on the kernel cmdline
#   3. extra static binaries in /tests/extra/ (UFFDGC_GUEST_TESTS)
#   4. a 256M loop device on a tmpfs file as swap (asynchronous: large folios
#      stay in the swap cache after MADV_PAGEOUT), probe --swap-only, the
#      selftests move-mthp-swapcache and move-pageout-stress, and the probe's
#      stress run (stress seconds: "stress=N" on the cmdline, default 10)
# Returns non-zero if any test did.
cd /tests || exit 1
rc=0
stress=10
for a in $(cat /proc/cmdline); do
	case "$a" in stress=*) stress=${a#stress=} ;; esac
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
if [ -x ./uffd-unit-tests ]; then
	if grep -qw uffd_full /proc/cmdline; then
		t uffd-unit-tests ./uffd-unit-tests
	else
		t uffd-unit-tests-move ./uffd-unit-tests -f move
	fi
fi
for x in extra/*; do
	[ -x "$x" ] || continue
	GTEST_COLOR=no t "extra-$(basename "$x")" "$x"
done

# asynchronous swap: loop device backed by a tmpfs file
swapoff -a 2>/dev/null
dd if=/dev/zero of=/tmp/swapfile bs=1M count=256 2>/dev/null
if losetup /dev/loop0 /tmp/swapfile 2>/dev/null && mkswap /dev/loop0 >/dev/null &&
	swapon /dev/loop0; then
	echo "GUEST: swap on loop0 (tmpfs file)"
	t probe-loop ./uffd_mthp_probe --swap-only
	if [ -x ./uffd-unit-tests ]; then
		t uffd-unit-tests-move-mthp-swapcache ./uffd-unit-tests -f move-mthp-swapcache
		t uffd-unit-tests-move-pageout-stress ./uffd-unit-tests -f move-pageout-stress
	fi
	[ "$stress" -gt 0 ] && t stress-loop ./uffd_mthp_probe --stress "$stress"
	swapoff /dev/loop0
else
	echo "GUEST: no loop device"
	rc=1
fi
grep -E "thp_split_page |thp_split_page_failed|thp_swpout |pswpout" /proc/vmstat | sed 's/^/GUEST: vmstat /'
exit $rc
