#!/bin/bash
# build.sh - build the co-test guest kernel (bzImage), stock or with the series applied
#
# Usage: kernel-patches/scripts/build.sh stock|patched|debug [N]
#   stock     Debian linux-source-6.12 as unpacked by fetch-src.sh
#   patched   the same plus the patches listed in kernel-patches/series
#             (the first N only, if N is given: used to build-test every patch on its own)
#   debug     patched, with config/uffd-debug.config on top (lockdep, KASAN, DEBUG_VM),
#             built in a tree of its own ($KBUILD/out-debug)
# Env:
#   KBUILD    scratch folder (default /work/kbuild)
#   JOBS      make -j (default 2); the build always runs under "nice -n 19"
#
# Config: tinyconfig + kernel-patches/config/uffd-guest.config (+ uffd-debug.config for
# "debug") + olddefconfig.
# Both variants are built from one git worktree of the baseline ($KBUILD/src-build) into
# one build tree ($KBUILD/out-kernel): the worktree is reset to the baseline and, for
# "patched", gets the series with "git am".  Only the files the series touches change
# between the variants (git rewrites just those, with a new mtime), so after a cold stock
# build the patched one only recompiles them and relinks (and the other way round).
# Compiler wrapped in ccache ($KBUILD/ccache), LOCALVERSION= (no "+" suffix).
# Result: $KBUILD/cache/bzImage-<variant>-<key>, key = sha256 of the Debian version of the
# unpacked tree (kernel-patches/source-version, via fetch-src.sh), the config fragment and the
# applied patches; an existing result is reused without building, so a version change
# rebuilds both kernels.
# Prints the path of the bzImage on the last line of stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
KBUILD=${KBUILD:-/work/kbuild}
JOBS=${JOBS:-2}
SRC=$KBUILD/linux-source-6.12
variant=${1:-}
upto=${2:-}

case "$variant" in
stock|patched|debug) ;;
*) echo "usage: $0 stock|patched|debug [N]" >&2; exit 2 ;;
esac
fragments=("$HERE/config/uffd-guest.config")
[ "$variant" = debug ] && fragments+=("$HERE/config/uffd-debug.config")
[ -f "$SRC/.git/uffdgc-baseline" ] || { echo "build: run fetch-src.sh first" >&2; exit 1; }

patches=()
if [ "$variant" != stock ]; then
	while read -r p; do
		case "$p" in ''|\#*) continue ;; esac
		patches+=("$HERE/$p")
	done <"$HERE/series"
	if [ -n "$upto" ] && [ "$upto" -lt ${#patches[@]} ]; then
		patches=("${patches[@]:0:$upto}")
		variant=patched$upto
	fi
fi

key=$( { cat "$KBUILD/linux-source-6.12.version" "${fragments[@]}";
	 for p in "${patches[@]}"; do cat "$p"; done; } | sha256sum | cut -c1-16)
# the worktree's state depends on the patches only: patched and debug share it
tree_key=$( { cat "$KBUILD/linux-source-6.12.version";
	 for p in "${patches[@]}"; do cat "$p"; done; } | sha256sum | cut -c1-16)
mkdir -p "$KBUILD/cache"
img=$KBUILD/cache/bzImage-$variant-$key

# trees of the layout before 2026-12 (one worktree and build tree per variant)
if [ -e "$KBUILD/src-patched" ] || [ -e "$KBUILD/out-stock" ] || [ -e "$KBUILD/out-patched" ]; then
	rm -rf "$KBUILD/src-patched" "$KBUILD/out-stock" "$KBUILD/out-patched"
	git -C "$SRC" worktree prune
fi

if [ "$variant" = stock ] && [ -f "$img" ]; then
	echo "build: cached $img" >&2
	echo "$img"
	exit 0
fi
# The worktree is brought to the requested state; for "patched" even when the image is
# cached: cotest.sh builds the selftests from it.  Only files that differ are
# rewritten, so this keeps incremental rebuilds incremental.
tree=$KBUILD/src-build
if [ ! -e "$tree/.git" ]; then
	git -C "$SRC" worktree prune
	git -C "$SRC" worktree add -q --detach "$tree" debian-base
fi
if [ "$(cat "$tree/.uffdgc-series" 2>/dev/null)" != "$tree_key" ]; then
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	git -C "$tree" reset -q --hard debian-base
	if [ ${#patches[@]} -gt 0 ]; then
		git -C "$tree" -c user.name=kbuild \
			-c user.email=kbuild@localhost \
			am -q --keep-cr "${patches[@]}"
	fi
	echo "$tree_key" >"$tree/.uffdgc-series"
fi
if [ -f "$img" ]; then
	echo "build: cached $img" >&2
	echo "$img"
	exit 0
fi
out=$KBUILD/out-kernel
[ "$variant" = debug ] && out=$KBUILD/out-debug
# A build tree of another source version is thrown away (fetch-src.sh does too when it
# unpacks a new version: the tar-unpacked tree keeps the archive's mtimes, so make
# would not rebuild what changed).
srcver=$(cat "$KBUILD/linux-source-6.12.version")
if [ -d "$out" ] && [ "$(cat "$out/.srcversion" 2>/dev/null)" != "$srcver" ]; then
	rm -rf "$out"
fi
mkdir -p "$out"
echo "$srcver" >"$out/.srcversion"
export CCACHE_DIR=$KBUILD/ccache CCACHE_BASEDIR=$KBUILD CCACHE_NOHASHDIR=1
mk=(nice -n 19 make -C "$tree" O="$out" CC="ccache gcc" LOCALVERSION= -j"$JOBS")

# Regenerate the config only when the fragment changed (keeps rebuilds incremental).
fragsum=$(cat "${fragments[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.fragsum" 2>/dev/null)" != "$fragsum" ]; then
	"${mk[@]}" -s tinyconfig
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"${fragments[@]}" >/dev/null
	"${mk[@]}" -s olddefconfig
	# every line of the fragments must have survived olddefconfig
	cat "${fragments[@]}" | while read -r line; do
		case "$line" in CONFIG_*) grep -qx "$line" "$out/.config" ||
			{ echo "build: config lost: $line" >&2; exit 1; } ;; esac
	done
	echo "$fragsum" >"$out/.fragsum"
fi

start=$(date +%s)
"${mk[@]}" bzImage >"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; exit 1; }
if grep -E "warning:|error:" "$out/build.log" >&2; then
	echo "build: compiler warnings (see above)" >&2
fi
cp "$out/arch/x86/boot/bzImage" "$img"
cp "$out/.config" "$img.config"
echo "build: $variant ($((${#patches[@]})) patches) built in $(( $(date +%s) - start )) s -> $img" >&2
echo "$img"
