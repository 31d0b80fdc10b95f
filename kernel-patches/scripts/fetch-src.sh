#!/bin/bash
# fetch-src.sh - install the build/boot tools and the pinned Debian linux-source-6.12,
# and unpack it
#
# Usage: kernel-patches/scripts/fetch-src.sh
#   KBUILD   scratch folder (default /work/kbuild); the tree goes to $KBUILD/linux-source-6.12
#
# The Debian package version is pinned in kernel-patches/source-version (one line, the
# only place that names it).  This script installs exactly that version of
# linux-source-6.12 (upgrading or downgrading an installed one), plus everything
# build.sh, mkinitramfs.sh, runvm.sh, cotest.sh and check-series.sh need, unpacks
# /usr/src/linux-source-6.12.tar.xz, makes a git baseline commit (Debian's .gitignore
# says "/*", hence "git add -f") tagged "debian-base", and records the version of the
# unpacked tree in $KBUILD/linux-source-6.12.version.  A tree unpacked from another
# version is thrown away together with everything derived from it (worktrees, build
# trees, headers); the bzImage cache is keyed on the version by build.sh and stays.
# Idempotent: a second run only checks that everything is there.
# Fails with the list of available versions if the pinned one has left the archive.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
KBUILD=${KBUILD:-/work/kbuild}
SRC=$KBUILD/linux-source-6.12
PIN_FILE=$HERE/source-version
pin=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$PIN_FILE" | grep -m1 . || true)
[ -n "$pin" ] || { echo "fetch-src: no version in $PIN_FILE" >&2; exit 1; }
# Programs the scripts call, by package: the kernel build (make, gcc, flex, bison, bc, perl,
# libelf/libssl headers, cpio, xz, zstd, kmod, rsync, dwarves), ccache, git, python3 (cotest
# table, checkpatch's helpers), file + busybox-static + cpio + gzip (mkinitramfs), qemu
# and coreutils' timeout (runvm), static libc (build-essential's libc6-dev).
TOOLS="qemu-system-x86 build-essential bc flex bison libelf-dev libssl-dev ccache cpio
      xz-utils gzip kmod busybox-static rsync dwarves zstd git file python3 perl coreutils"

installed_version() {
	dpkg-query -W -f='${Status} ${Version}' linux-source-6.12 2>/dev/null |
		sed -n 's/^install ok installed //p'
}

pin_gone() {
	local have
	have=$(apt-cache madison linux-source-6.12 | awk -F'|' '{gsub(/ /, "", $2); print "  " $2}')
	cat >&2 <<MSG
fetch-src: the pinned linux-source-6.12 $pin ($PIN_FILE)
fetch-src: is not in the apt archive any more.  apt has:
${have:-  (none: check /etc/apt/sources.list has bookworm-security)}
To move the pin (kernel-patches/README.md, "Moving the pin"):
  1. echo NEW-VERSION >kernel-patches/source-version       (the only place it is named)
  2. KBUILD=$KBUILD kernel-patches/scripts/rebase-series.sh
       installs and unpacks NEW-VERSION and applies the series (git am); fix what does
       not apply as it says, or "git am --skip" a patch the new base already has; then
     KBUILD=$KBUILD kernel-patches/scripts/rebase-series.sh --export
       regenerates the patch files and series (git format-patch --cover-letter)
  3. update the base version and the changes in 0000-cover-letter.patch and README.md
  4. KBUILD=$KBUILD kernel-patches/scripts/check-series.sh --build-each
  5. KBUILD=$KBUILD scripts/kernel-cotest; save its results in kernel-patches/results/
MSG
	exit 1
}

missing=
for p in $TOOLS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
export DEBIAN_FRONTEND=noninteractive
inst=$(installed_version || true)
if [ "$inst" != "$pin" ] || [ -n "$missing" ]; then
	apt-get update -qq
	if [ "$inst" != "$pin" ]; then
		apt-cache madison linux-source-6.12 | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
			grep -qxF "$pin" || pin_gone
		echo "fetch-src: linux-source-6.12 $pin is pinned, installed: ${inst:-none}"
		missing="$missing linux-source-6.12=$pin"
	fi
	echo "fetch-src: installing:$missing"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends --allow-downgrades $missing
fi
ver=$(installed_version)
[ "$ver" = "$pin" ] || { echo "fetch-src: apt installed $ver, not $pin" >&2; exit 1; }

mkdir -p "$KBUILD"
tree_ver=$(cat "$SRC/.git/uffdgc-version" 2>/dev/null || true)
if [ ! -f "$SRC/.git/uffdgc-baseline" ] || [ "$tree_ver" != "$ver" ]; then
	if [ -e "$SRC" ]; then
		echo "fetch-src: $SRC is ${tree_ver:-incomplete}, not $ver: removing it" \
			"and the trees derived from it"
	fi
	# worktrees and out-of-tree builds of the old tree: a tar-unpacked tree keeps
	# the archive's mtimes, so make would not notice what changed
	rm -rf "$SRC" "$KBUILD"/src-* "$KBUILD"/check-series-tree "$KBUILD"/rebase-tree \
		"$KBUILD"/out-* "$KBUILD"/hdr "$KBUILD"/hdr-build "$KBUILD"/selftests \
		"$KBUILD/linux-source-6.12.version"
	echo "fetch-src: unpacking linux-source-6.12 $ver"
	tar -C "$KBUILD" -xf /usr/src/linux-source-6.12.tar.xz
	cd "$SRC"
	git init -q
	# no "git gc --auto" repacking the whole kernel in the background after the commit
	git config gc.auto 0
	git config user.name "uffdgc kbuild"
	git config user.email "uffdgc@localhost"
	git add -f -A .
	git commit -q -m "Debian linux-source-6.12 $ver (pristine)"
	git tag -f debian-base >/dev/null
	echo "$ver" >.git/uffdgc-version
	git rev-parse HEAD >.git/uffdgc-baseline
fi
echo "$ver" >"$KBUILD/linux-source-6.12.version"
echo "fetch-src: $SRC = Debian linux-source-6.12 $ver ($(make -s -C "$SRC" kernelversion))"
