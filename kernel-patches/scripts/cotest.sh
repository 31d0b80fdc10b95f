#!/bin/bash
# cotest.sh - build stock and patched 6.12 guest kernels, run the same tests in
# qemu on both, and print a stock-vs-patched comparison table
#
# Usage: kernel-patches/scripts/cotest.sh
# Env:
#   KBUILD              scratch folder (default /work/kbuild)
#   COTEST_OUT          results folder (default $KBUILD/cotest): results.txt,
#                       results.json, guest-{stock,patched}.log
#   UFFDGC_GUEST_TESTS  "path1 path2 ..." extra static binaries (e.g. the
#                       runtime's gtest binaries) to run in the guest too
#   COTEST_FULL=1       run the whole uffd-unit-tests suite (~6 min per kernel
#                       under TCG) instead of its move cases
#   COTEST_STRESS=N     seconds of the MADV_PAGEOUT stress per kernel (default 10)
#   VM_TIMEOUT          seconds per guest run (default 600, 1200 with COTEST_FULL:
#                       the extra binaries of scripts/kernel-cotest took 260 s on
#                       stock under TCG on a loaded 2-core machine)
#   VM_ACCEL            tcg (default) or kvm
#
# Steps: fetch-src.sh (apt + unpack, once), build.sh stock and patched (cached
# by config+series hash), uapi headers + the kernel's uffd-unit-tests from the
# patched tree (static), tests/uffd_mthp_probe.c (static), one initramfs, one
# guest run per kernel.
#
# Exit status 0 only if: the patched guest finished with rc=0, printed no kernel
# BUG/WARNING/Oops, all probe cases are OK (no FAIL, no LIVELOCK), whole
# aligned mTHPs moved without a split, no EBUSY on swapcache mTHPs, all
# uffd-unit-tests passed (skips allowed) and the extra binaries passed; and the
# stock guest finished without a kernel BUG/WARNING, without a probe FAIL and
# without a probe LIVELOCK.  Stock (the Debian version in kernel-patches/source-version)
# is expected to split the mTHPs, to return EBUSY for large swapcache folios and
# to fail the new selftests move-mthp and move-mthp-swapcache (loop swap): that
# is what the series changes, and the table shows it.  It must not hang: since
# 6.12.118 upstream's "userfaultfd: fix UFFDIO_MOVE livelock on large folio with
# extra references" makes the failed split of a pinned or extra-referenced
# folio return EBUSY (6.12.117 looped until SIGKILL: LIVELOCK in the table).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
export KBUILD=${KBUILD:-/work/kbuild}
OUT=${COTEST_OUT:-$KBUILD/cotest}
STRESS=${COTEST_STRESS:-10}
FULL=${COTEST_FULL:-0}
TMO=${VM_TIMEOUT:-$([ "$FULL" = 1 ] && echo 1200 || echo 600)}
mkdir -p "$OUT" "$KBUILD/bin"
t0=$(date +%s)
step() { echo "cotest: [$(( $(date +%s) - t0 ))s] $*" >&2; }

step "fetch-src"
"$HERE/scripts/fetch-src.sh" >&2
step "build stock kernel"
stock_img=$("$HERE/scripts/build.sh" stock | tail -1)
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

cmdline="stress=$STRESS"
[ "$FULL" = 1 ] && cmdline="$cmdline uffd_full"
for k in stock patched; do
	img=$stock_img
	[ $k = patched ] && img=$patched_img
	step "boot $k kernel ($(basename "$img")), timeout ${TMO}s"
	s=$(date +%s)
	# shellcheck disable=SC2086 # $cmdline: one word per kernel parameter
	VM_LOG=$OUT/guest-$k.log "$HERE/scripts/runvm.sh" "$img" \
		"$OUT/initramfs.cpio.gz" "$TMO" $cmdline >/dev/null 2>&1 || true
	echo $(( $(date +%s) - s )) >"$OUT/guest-$k.secs"
done

step "compare"
rc=0
python3 - "$OUT" "$(cat "$KBUILD/linux-source-6.12.version")" <<'EOF' || rc=$?
import json, re, sys

out, debver = sys.argv[1], sys.argv[2]
res = {"debian_version": debver, "kernels": {}}
for k in ("stock", "patched"):
    log = open(f"{out}/guest-{k}.log", errors="replace").read()
    r = {"secs": int(open(f"{out}/guest-{k}.secs").read()),
         "finished": "GUEST: done" in log,
         "guest_rc": int(m.group(1)) if (m := re.search(r"GUEST: done rc=(\d+)", log)) else None,
         "kernel_bug": bool(re.search(r"kernel BUG|WARNING:|Kernel panic|Oops|BUG: ", log)),
         "probe": {}, "selftests": {}, "tests": {}}
    for m in re.finditer(r"^RESULT (\S+) (\S+) ?(.*)$", log, re.M):
        kv = dict(x.split("=", 1) for x in m.group(3).split() if "=" in x)
        r["probe"][m.group(1)] = {"status": m.group(2), **kv}
    loop = log.find("GUEST: swap on loop0")
    for m in re.finditer(r"Testing (\S+) on (\S+)\.\.\. (done|failed|skipped)(?: \[reason: ([^\]]*)\])?", log):
        name = m.group(1) + ("" if m.group(2) == "anon" else "@" + m.group(2)) \
            + ("@loop-swap" if 0 <= loop < m.start() else "")
        r["selftests"][name] = {"status": {"done": "pass"}.get(m.group(3), m.group(3)),
                                       "reason": m.group(4) or ""}
    for m in re.finditer(r"^GUEST: test (\S+) rc=(\d+) secs=(\S+)", log, re.M):
        r["tests"][m.group(1)] = {"rc": int(m.group(2)), "secs": float(m.group(3))}
    res["kernels"][k] = r

S, P = res["kernels"]["stock"], res["kernels"]["patched"]

def cell(r, case):
    p = r["probe"].get(case)
    if not p:
        return "-"
    keys = ["split", "dst_large", "errno", "ebusy", "dst_large_after_readback",
            "split_failed", "killed_after", "rounds", "partial", "unaccounted",
            "ns_per_page", "us"]
    extra = " ".join(f"{k}={p[k]}" for k in keys if k in p)
    return f"{p['status']} {extra}".strip()

kver = debver.split("-")[0]
head = f"stock {kver} | patched"
lines = [f"UFFDIO_MOVE co-test: Debian linux-source-6.12 {debver}, qemu TCG, DEBUG_VM=y",
         "", f"probe case | {head}", "---|---|---"]
cases = list(dict.fromkeys(list(S["probe"]) + list(P["probe"])))
for c in cases:
    lines.append(f"{c} | {cell(S, c)} | {cell(P, c)}")
lines += ["", f"uffd-unit-tests case | {head}", "---|---|---"]
for c in dict.fromkeys(list(S["selftests"]) + list(P["selftests"])):
    f = lambda r: (lambda t: t["status"] + (f" ({t['reason']})" if t and t["reason"] else "") if t else "-")(r["selftests"].get(c))
    lines.append(f"{c} | {f(S)} | {f(P)}")
def summary(r):
    st = [t["status"] for t in r["selftests"].values()]
    return f"pass={st.count('pass')} fail={st.count('failed')} skip={st.count('skipped')}"
lines += ["", f"summary | {head}", "---|---|---",
          f"selftests | {summary(S)} | {summary(P)}",
          f"probe LIVELOCK cases | {sum(p['status']=='LIVELOCK' for p in S['probe'].values())} | {sum(p['status']=='LIVELOCK' for p in P['probe'].values())}",
          f"probe FAIL cases | {sum(p['status']=='FAIL' for p in S['probe'].values())} | {sum(p['status']=='FAIL' for p in P['probe'].values())}",
          f"kernel BUG/WARN | {'yes' if S['kernel_bug'] else 'no'} | {'yes' if P['kernel_bug'] else 'no'}",
          f"guest finished | {'yes' if S['finished'] else 'NO'} | {'yes' if P['finished'] else 'NO'}",
          f"guest wall time (s) | {S['secs']} | {P['secs']}"]
extra = sorted(t for t in set(S["tests"]) | set(P["tests"]) if t.startswith("extra-"))
for t in extra:
    g = lambda r: (f"rc={r['tests'][t]['rc']}" if t in r["tests"] else "-")
    lines.append(f"{t} | {g(S)} | {g(P)}")

problems = []
if not P["finished"]: problems.append("patched guest did not finish")
elif P["guest_rc"] != 0: problems.append(f"patched guest tests returned rc={P['guest_rc']}")
if P["kernel_bug"]: problems.append("patched kernel BUG/WARN")
if not S["finished"]: problems.append("stock guest did not finish")
if S["kernel_bug"]: problems.append("stock kernel BUG/WARN")
for c, p in P["probe"].items():
    if p["status"] in ("FAIL", "LIVELOCK"):
        problems.append(f"patched probe {c}: {p['status']}")
for c, p in S["probe"].items():
    # stock has upstream's split livelock fix since 6.12.118: EBUSY, no hang
    if p["status"] in ("FAIL", "LIVELOCK"):
        problems.append(f"stock probe {c}: {p['status']}")
a = P["probe"].get("present-mthp-aligned-full", {})
if a.get("status") == "OK" and a.get("split") != "0":
    problems.append("patched: aligned mTHPs were split")
for c, p in P["probe"].items():
    if c.startswith("swap-mthp") and p.get("ebusy", "0") != "0":
        problems.append(f"patched {c}: EBUSY")
for c, t in P["selftests"].items():
    if t["status"] == "failed":
        problems.append(f"patched selftest {c} failed")
if not P["selftests"]:
    problems.append("patched: no selftest ran")
for t in extra:
    if P["tests"].get(t, {}).get("rc", 1) != 0:
        problems.append(f"patched {t} failed")
lines += ["", "verdict: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems))]
res["problems"] = problems
open(f"{out}/results.txt", "w").write("\n".join(lines) + "\n")
json.dump(res, open(f"{out}/results.json", "w"), indent=1)
print("\n".join(lines))
sys.exit(1 if problems else 0)
EOF
step "done (results in $OUT/results.txt, $OUT/results.json)"
exit $rc
