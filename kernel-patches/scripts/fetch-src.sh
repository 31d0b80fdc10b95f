#!/bin/bash
# fetch-src.sh - install the build/boot tools and unpack Debian's linux-source-6.12
#
# Usage: kernel-patches/scripts/fetch-src.sh
#   KBUILD   scratch folder (default /work/kbuild); the tree goes to $KBUILD/linux-source-6.12
#
# Installs (apt) the kernel source package plus everything build.sh, mkinitramfs.sh and
# runvm.sh need, unpacks /usr/src/linux-source-6.12.tar.xz, makes a git baseline commit
# (Debian's .gitignore says "/*", hence "git add -f") and records the exact Debian
# package version in $KBUILD/linux-source-6.12.version.  Idempotent: a second run only
# checks that everything is there.
set -euo pipefail

KBUILD=${KBUILD:-/work/kbuild}
SRC=$KBUILD/linux-source-6.12
PKGS="linux-source-6.12 qemu-system-x86 build-essential bc flex bison libelf-dev libssl-dev
      ccache cpio xz-utils kmod busybox-static rsync dwarves zstd git file python3"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "fetch-src: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi

mkdir -p "$KBUILD"
ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
if [ ! -f "$SRC/.git/uffdgc-baseline" ]; then
	rm -rf "$SRC"
	echo "fetch-src: unpacking linux-source-6.12 $ver"
	tar -C "$KBUILD" -xf /usr/src/linux-source-6.12.tar.xz
	cd "$SRC"
	git init -q
	git config user.name "uffdgc kbuild"
	git config user.email "uffdgc@localhost"
	git add -f -A .
	git commit -q -m "Debian linux-source-6.12 $ver (pristine)"
	git tag -f debian-base >/dev/null
	git rev-parse HEAD >.git/uffdgc-baseline
fi
echo "$ver" >"$KBUILD/linux-source-6.12.version"
echo "fetch-src: $SRC = Debian linux-source-6.12 $ver ($(make -s -C "$SRC" kernelversion))"
