#!/bin/bash
# runvm.sh - boot a co-test kernel with an initramfs in qemu and check the result
#
# Usage: kernel-patches/scripts/runvm.sh BZIMAGE INITRAMFS [TIMEOUT_S] [EXTRA CMDLINE...]
#   extra cmdline words understood by the guest: notests, uffd_full, stress=N
# Env: VM_ACCEL=tcg|kvm (default: tcg; on this machine's nested kvm_pvm normal
#      guests never run, see README), VM_LOG=file (default: stdout only)
# The guest console goes to stdout (and VM_LOG).  Exit status: 0 if the guest
# printed "GUEST: done rc=0" and no kernel BUG/WARNING/panic/Oops, 1 otherwise
# (test failure, crash, or qemu killed by the timeout).
set -euo pipefail

kernel=${1:?usage: $0 BZIMAGE INITRAMFS [TIMEOUT_S] [CMDLINE...]}
initrd=${2:?}
tmo=${3:-600}
shift $(( $# < 3 ? $# : 3 ))
log=${VM_LOG:-$(mktemp)}
accel=${VM_ACCEL:-tcg}
cpu=max
smp=${VM_SMP:-2}
[ "$accel" = kvm ] && cpu=host

set +e
timeout --foreground -k 5 "$tmo" qemu-system-x86_64 -nodefaults -no-user-config \
	-accel "$accel" -cpu "$cpu" -smp "$smp" -m 2G -display none -serial stdio \
	-no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 rdinit=/init panic=-1 oops=panic loglevel=4 $*" \
	</dev/null 2>&1 | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "runvm: TIMEOUT after ${tmo}s" | tee -a "$log"
	exit 1
fi
if grep -qE "(kernel BUG|WARNING:|Kernel panic|Oops|BUG: )" "$log"; then
	echo "runvm: kernel BUG/WARN/panic in the guest log" | tee -a "$log"
	exit 1
fi
if grep -q "GUEST: done rc=0" "$log"; then
	exit 0
fi
echo "runvm: guest did not finish cleanly" | tee -a "$log"
exit 1
