#!/bin/bash
# mkinitramfs.sh - pack the co-test guest initramfs
#
# Usage: kernel-patches/scripts/mkinitramfs.sh OUT.cpio.gz [STATIC_BINARY...]
#   Puts busybox (static), guest/init, guest/run.sh (as /tests/run.sh) and
#   $KBUILD/bin/{uffd_mthp_probe,uffd-unit-tests} (if built) into the archive;
#   every further argument (a static binary, or BINARY=GTEST_FILTER) goes to /tests/extra/.
# Env: UFFDGC_GUEST_SUITE=path of the static uffdgc-suite-uffdgc (goes to /tests/)
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
KBUILD=${KBUILD:-/work/kbuild}
out=${1:?usage: $0 OUT.cpio.gz [static binaries...]}
shift
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

root=$(mktemp -d "$KBUILD/initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,tests/extra,usr/bin,usr/sbin}
cp /bin/busybox "$root/bin/busybox"
file "$root/bin/busybox" | grep -q "statically linked" ||
	{ echo "mkinitramfs: /bin/busybox is not static (apt-get install busybox-static)" >&2; exit 1; }
install -m 755 "$HERE/guest/init" "$root/init"
install -m 755 "$HERE/guest/run.sh" "$root/tests/run.sh"
for b in uffd_mthp_probe uffd-unit-tests; do
	[ -x "$KBUILD/bin/$b" ] && install -m 755 "$KBUILD/bin/$b" "$root/tests/$b"
done
# the collector's churn (guest/run.sh "the collector itself"), from the guest preset
if [ -n "${UFFDGC_GUEST_SUITE:-}" ]; then
	file -L "$UFFDGC_GUEST_SUITE" | grep -qE "statically linked|static-pie" ||
		{ echo "mkinitramfs: $UFFDGC_GUEST_SUITE is not a static binary" >&2; exit 1; }
	install -m 755 "$UFFDGC_GUEST_SUITE" "$root/tests/uffdgc-suite-uffdgc"
fi
for arg in "$@"; do
	[ -n "$arg" ] || continue
	b=${arg%%=*}
	if ! file -L "$b" | grep -qE "statically linked|static-pie"; then
		echo "mkinitramfs: $b is not a static binary" >&2
		exit 1
	fi
	install -m 755 "$b" "$root/tests/extra/$(basename "$b")"
	# BINARY=FILTER: the guest runs it with --gtest_filter=FILTER
	[ "$arg" != "$b" ] && printf '%s\n' "${arg#*=}" >"$root/tests/extra/$(basename "$b").gtest_filter"
done
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
echo "mkinitramfs: $out ($(du -h "$out" | cut -f1))"
