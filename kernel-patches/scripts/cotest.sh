#!/bin/bash
# cotest.sh - build stock, patched and patched-with-debug-checks 6.12 guest
# kernels, run the same tests in qemu on each, and print a comparison table
#
# Usage: kernel-patches/scripts/cotest.sh
# Env:
#   KBUILD              scratch folder (default /work/kbuild)
#   COTEST_OUT          results folder (default $KBUILD/cotest): results.txt,
#                       results.json, guest-{stock,patched}.log
#   UFFDGC_GUEST_TESTS  "path1 path2=FILTER ..." extra static binaries (e.g. the
#                       runtime's gtest binaries) to run in the guest too, with
#                       --gtest_filter=FILTER where one is given
#   UFFDGC_GUEST_SUITE  the static uffdgc-suite-uffdgc (guest preset): the guest
#                       runs a churn of the collector with it (COLLECTOR line)
#   COTEST_FULL=1       run the whole uffd-unit-tests suite (~6 min per kernel
#                       under TCG) instead of its move cases
#   COTEST_STRESS=N     seconds of the MADV_PAGEOUT stress per kernel (default 10)
#   COTEST_RACE=N       seconds of the probe's anon_vma retry race per kernel
#                       (default 20; v1 of the series hung within 82-733 moves)
#   VM_TIMEOUT          seconds per guest run (default 600, 1200 with COTEST_FULL:
#                       the extra binaries of scripts/kernel-cotest took 260 s on
#                       stock under TCG on a loaded 2-core machine)
#   VM_ACCEL            tcg (default) or kvm
#
# Steps: fetch-src.sh (apt + unpack, once), build.sh stock, debug and patched
# (cached by version+config+series hash), uapi headers + the kernel's
# uffd-unit-tests from the patched tree (static), tests/uffd_mthp_probe.c
# (static), one initramfs, one guest run per kernel, then cotest_report.py.
#
# Verdict (cotest_report.py): exit status 0 only if, on the patched kernel and
# on the debug one (the same series with lockdep, KASAN and atomic-sleep checks):
# the guest finished with rc=0 and printed no BUG/WARNING/Oops or debug report;
# every probe case is OK (no FAIL, LIVELOCK or HANG), whole aligned mTHPs moved
# without a split, no EBUSY on swapcache mTHPs, the anon_vma retry race ran;
# every uffd-unit-test passed (skips allowed, but move-mthp-swapcache must pass
# on the loop swap device); the extra binaries passed; and the collector's churn
# (UFFDGC_GUEST_SUITE) ran, its heap got 64K folios and its compactions split
# at most 1 % of them.  And the stock guest finished without a BUG/WARNING and
# without a probe FAIL, LIVELOCK or HANG.  Stock (the Debian version in
# kernel-patches/source-version) is expected to split the mTHPs (the collector's
# too), to return EBUSY for large swapcache folios and to fail the new selftests
# move-mthp, move-mthp-extra-ref and move-mthp-swapcache (loop swap): that is
# what the series changes, and the table shows it.  It must not hang: since
# 6.12.118 upstream's "userfaultfd: fix UFFDIO_MOVE livelock on large folio with
# extra references" makes the failed split of a pinned or extra-referenced
# folio return EBUSY (6.12.117 looped until SIGKILL: LIVELOCK in the table).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
export KBUILD=${KBUILD:-/work/kbuild}
OUT=${COTEST_OUT:-$KBUILD/cotest}
STRESS=${COTEST_STRESS:-10}
RACE=${COTEST_RACE:-20}
FULL=${COTEST_FULL:-0}
TMO=${VM_TIMEOUT:-$([ "$FULL" = 1 ] && echo 1200 || echo 600)}
mkdir -p "$OUT" "$KBUILD/bin"
t0=$(date +%s)
step() { echo "cotest: [$(( $(date +%s) - t0 ))s] $*" >&2; }

step "fetch-src"
"$HERE/scripts/fetch-src.sh" >&2
step "build stock kernel"
stock_img=$("$HERE/scripts/build.sh" stock | tail -1)
step "build debug kernel (patched + lockdep/KASAN)"
debug_img=$("$HERE/scripts/build.sh" debug | tail -1)
step "build patched kernel"
patched_img=$("$HERE/scripts/build.sh" patched | tail -1)

step "uapi headers + static uffd-unit-tests (patched tree)"
ptree=$KBUILD/src-build
key=$(cat "$ptree/.uffdgc-series")
if [ "$(cat "$KBUILD/hdr/.key" 2>/dev/null)" != "$key" ]; then
	nice -n 19 make -s -C "$ptree" O="$KBUILD/hdr-build" headers_install \
		INSTALL_HDR_PATH="$KBUILD/hdr" >&2
	echo "$key" >"$KBUILD/hdr/.key"
fi
mkdir -p "$KBUILD/selftests"
nice -n 19 make -s -C "$ptree/tools/testing/selftests/mm" \
	KHDR_INCLUDES="-isystem $KBUILD/hdr/include" OUTPUT="$KBUILD/selftests" \
	LDFLAGS=-static "$KBUILD/selftests/uffd-unit-tests" >"$OUT/selftests-build.log" 2>&1 ||
	{ tail -20 "$OUT/selftests-build.log" >&2; exit 1; }
cp "$KBUILD/selftests/uffd-unit-tests" "$KBUILD/bin/"

step "static probe"
gcc -O2 -Wall -static -pthread -o "$KBUILD/bin/uffd_mthp_probe" \
	"$HERE/tests/uffd_mthp_probe.c"

step "initramfs"
# shellcheck disable=SC2086
"$HERE/scripts/mkinitramfs.sh" "$OUT/initramfs.cpio.gz" ${UFFDGC_GUEST_TESTS:-} >&2

cmdline="stress=$STRESS race=$RACE"
[ "$FULL" = 1 ] && cmdline="$cmdline uffd_full"
for k in stock patched debug; do
	img=$stock_img
	[ $k = patched ] && img=$patched_img
	[ $k = debug ] && img=$debug_img
	step "boot $k kernel ($(basename "$img")), timeout ${TMO}s"
	s=$(date +%s)
	# shellcheck disable=SC2086 # $cmdline: one word per kernel parameter
	VM_LOG=$OUT/guest-$k.log "$HERE/scripts/runvm.sh" "$img" \
		"$OUT/initramfs.cpio.gz" "$TMO" $cmdline >/dev/null 2>&1 || true
	echo $(( $(date +%s) - s )) >"$OUT/guest-$k.secs"
done

step "compare"
rc=0
python3 "$HERE/scripts/cotest_report.py" parse "$OUT" \
	"$(cat "$KBUILD/linux-source-6.12.version")" "${UFFDGC_GUEST_SUITE:-}" || rc=$?
step "done (results in $OUT/results.txt, $OUT/results.json)"
exit $rc
