#!/bin/bash
# check-series.sh - patch checks for kernel-patches/: the series applies to the
# Debian source version pinned in kernel-patches/source-version (which the cover
# letter and README.md name too), every patch is clean under checkpatch --strict,
# and (with --build-each) the kernel builds after every single patch
#
# Usage: kernel-patches/scripts/check-series.sh [--build-each]
# Env:   KBUILD (default /work/kbuild)
# Writes $KBUILD/check-series.log; exit status non-zero on any failure.
# The upstream/ patches are checkpatch'ed too (their Fixes: SHA is not in the
# 6.12 tree, so checkpatch runs with --no-tree and that one warning is ignored).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
export KBUILD=${KBUILD:-/work/kbuild}
SRC=$KBUILD/linux-source-6.12
log=$KBUILD/check-series.log
build_each=0
[ "${1:-}" = --build-each ] && build_each=1

"$HERE/scripts/fetch-src.sh" >&2
# The Debian version is named in source-version only; fetch-src.sh installed and
# unpacked exactly that one.  The cover letter and README.md must name it too.
pin=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/source-version" | grep -m1 .)
have=$(cat "$KBUILD/linux-source-6.12.version")
if [ "$pin" != "$have" ]; then
	echo "check-series: source-version says $pin, the tree in $KBUILD is $have" >&2
	exit 1
fi
echo "base: Debian linux-source-6.12 $have ($HERE/source-version)"
fail=0
base=$(grep -m1 "^# Base:" "$HERE/series" || true)
if echo "$base" | grep -q "[0-9]\.[0-9]*\.[0-9]" && ! echo "$base" | grep -qF "$pin"; then
	echo "STALE: series names another base than $pin: $base"
	fail=1
fi
for f in 0000-cover-letter.patch README.md; do
	grep -qF "$pin" "$HERE/$f" || { echo "STALE: $f does not name the base $pin"; fail=1; }
done

: >"$log"
# 1. applies cleanly (git am onto the pristine baseline, in a worktree of its own that
#    is kept between runs and reset to the baseline: a fresh checkout costs ~25 s)
tmp=$KBUILD/check-series-tree
if git -C "$tmp" rev-parse --verify -q debian-base >/dev/null 2>&1; then
	git -C "$tmp" am --abort >/dev/null 2>&1 || true
	git -C "$tmp" reset -q --hard debian-base
	git -C "$tmp" clean -q -f -d -x
else
	rm -rf "$tmp"
	git -C "$SRC" worktree prune
	git -C "$SRC" worktree add -q --detach "$tmp" debian-base
fi
n=0
while read -r p; do
	case "$p" in ''|\#*) continue ;; esac
	n=$((n + 1))
	if git -C "$tmp" -c user.name=kbuild -c user.email=kbuild@localhost \
		am -q "$HERE/$p" >>"$log" 2>&1; then
		echo "applies: $p" | tee -a "$log"
	else
		echo "DOES NOT APPLY: $p" | tee -a "$log"
		fail=1
		break
	fi
done <"$HERE/series"

# 2. checkpatch --strict, every patch of the series and of upstream/
for p in "$HERE"/0*.patch "$HERE"/upstream/0*.patch; do
	opts=(--strict)
	case "$p" in */upstream/*) opts+=(--no-tree --ignore UNKNOWN_COMMIT_ID) ;; esac
	out=$("$tmp/scripts/checkpatch.pl" "${opts[@]}" "$p" 2>&1 || true)
	echo "$out" >>"$log"
	total=$(echo "$out" | grep -E "^total:" || echo "total: ?")
	echo "checkpatch: $(basename "$p"): $total"
	echo "$total" | grep -q "^total: 0 errors, 0 warnings, 0 checks" || fail=1
done

# 3. optionally: the kernel builds after each patch (incremental, ~10 s each
#    once the first build is done)
if [ $build_each = 1 ]; then
	for i in $(seq 1 "$n"); do
		if "$HERE/scripts/build.sh" patched "$i" >>"$log" 2>&1; then
			echo "builds: first $i patch(es)"
		else
			echo "BUILD FAILED: first $i patch(es)"
			fail=1
		fi
	done
fi
exit $fail
