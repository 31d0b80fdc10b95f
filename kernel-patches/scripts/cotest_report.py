#!/usr/bin/env python3
# cotest_report.py - the co-test's verdict and stock/patched/debug table (cotest.sh runs it)
#
#   cotest_report.py parse OUT DEBIAN_VERSION [SUITE]
#       reads OUT/guest-{stock,patched,debug}.{log,secs}, writes OUT/results.{json,txt},
#       prints the table; exit 1 if the verdict is FAIL.  SUITE non-empty: the guests ran
#       the collector's churn (UFFDGC_GUEST_SUITE), whose counts are then part of the verdict.
#   cotest_report.py table RESULTS.json
#       prints the table and verdict again from a results.json (no logs needed)
#   cotest_report.py readme RESULTS.json README.md
#       replaces the text between "<!-- cotest-table -->" and "<!-- /cotest-table -->" in
#       README.md with that table
import json, re, sys

KERNELS = ("stock", "patched", "debug")


def parse(out, debver, suite):
    res = {"debian_version": debver, "kernels": {}}
    for k in ("stock", "patched", "debug"):
        log = open(f"{out}/guest-{k}.log", errors="replace").read()
        r = {"secs": int(open(f"{out}/guest-{k}.secs").read()),
             "finished": "GUEST: done" in log,
             "guest_rc": int(m.group(1)) if (m := re.search(r"GUEST: done rc=(\d+)", log)) else None,
             "kernel_bug": bool(re.search(r"kernel BUG|WARNING:|Kernel panic|Oops|BUG: ", log)),
             "debug_reports": len(re.findall(r"WARNING: .*(locking|lock held|lock order)|"
                                             r"BUG: KASAN|BUG: sleeping function|"
                                             r"possible recursive locking", log)),
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
        r["collector"] = {}
        for m in re.finditer(r"^COLLECTOR (\S+) (.*)$", log, re.M):
            r["collector"][m.group(1)] = dict(x.split("=", 1) for x in m.group(2).split() if "=" in x)
        r["vmstat"] = {m.group(1): int(m.group(2))
                       for m in re.finditer(r"^GUEST: vmstat (\S+) (\d+)", log, re.M)}
        for m in re.finditer(r"^GUEST: test (\S+) rc=(\d+) secs=(\S+)", log, re.M):
            r["tests"][m.group(1)] = {"rc": int(m.group(2)), "secs": float(m.group(3))}
        res["kernels"][k] = r

    res["suite"] = suite
    return res


def table(res):
    """The markdown table (list of lines) of a results dict, without the verdict."""
    debver = res["debian_version"]
    S, P, D = (res["kernels"][k] for k in KERNELS)
    def cell(r, case):
        p = r["probe"].get(case)
        if not p:
            return "-"
        keys = ["split", "dst_large", "errno", "ebusy", "dst_large_after_readback",
                "split_failed", "killed_after", "rounds", "partial", "unaccounted",
                "ns_per_page", "us", "moves", "whole", "eexist", "breaks_in_d", "after"]
        extra = " ".join(f"{k}={p[k]}" for k in keys if k in p)
        return f"{p['status']} {extra}".strip()

    kver = debver.split("-")[0]
    K = (S, P, D)
    head = f"stock {kver} | patched | patched, lockdep+KASAN"
    sep = "---|---|---|---"
    row = lambda name, f: f"{name} | " + " | ".join(f(r) for r in K)
    lines = [f"UFFDIO_MOVE co-test: Debian linux-source-6.12 {debver}, qemu TCG, DEBUG_VM=y",
             "", f"probe case | {head}", sep]
    for c in dict.fromkeys(c for r in K for c in r["probe"]):
        lines.append(row(c, lambda r: cell(r, c)))
    lines += ["", f"uffd-unit-tests case | {head}", sep]
    for c in dict.fromkeys(c for r in K for c in r["selftests"]):
        f = lambda r: (lambda t: t["status"] + (f" ({t['reason']})" if t and t["reason"] else "") if t else "-")(r["selftests"].get(c))
        lines.append(row(c, f))
    lines += ["", f"collector churn (move mode, 64K mTHP always) | {head}", sep]
    for key in ("mthp_alloc", "mthp_split", "frames_whole", "frames_partly", "collections",
                "pages_moved", "pages_copied", "copied_on_ebusy"):
        lines.append(row(key, lambda r: r["collector"].get("churn-move", {}).get(key, "-")))
    lines += ["", f"/proc/vmstat at the end of the guest run | {head}", sep]
    for key in dict.fromkeys(k for r in K for k in r.get("vmstat", {})):
        lines.append(row(key, lambda r: str(r.get("vmstat", {}).get(key, "-"))))
    def summary(r):
        st = [t["status"] for t in r["selftests"].values()]
        return f"pass={st.count('pass')} fail={st.count('failed')} skip={st.count('skipped')}"
    count = lambda status: lambda r: str(sum(p["status"] == status for p in r["probe"].values()))
    lines += ["", f"summary | {head}", sep,
              row("selftests", summary),
              row("probe LIVELOCK cases", count("LIVELOCK")),
              row("probe HANG cases", count("HANG")),
              row("probe FAIL cases", count("FAIL")),
              row("kernel BUG/WARN", lambda r: "yes" if r["kernel_bug"] else "no"),
              row("lockdep/KASAN/atomic-sleep reports", lambda r: str(r["debug_reports"])),
              row("guest finished", lambda r: "yes" if r["finished"] else "NO"),
              row("guest wall time (s, TCG: not a measurement)", lambda r: str(r["secs"]))]
    extra = sorted(t for r in K for t in r["tests"] if t.startswith("extra-"))
    extra = list(dict.fromkeys(extra))
    for t in extra:
        lines.append(row(t, lambda r: f"rc={r['tests'][t]['rc']}" if t in r["tests"] else "-"))

    return lines


def verdict(res):
    """The problems that make the co-test fail (empty: PASS)."""
    UFFDGC_SUITE = res.get("suite", False)
    S, P, D = (res["kernels"][k] for k in KERNELS)
    extra = list(dict.fromkeys(sorted(t for r in (S, P, D) for t in r["tests"]
                                      if t.startswith("extra-"))))
    problems = []
    if not S["finished"]: problems.append("stock guest did not finish")
    if S["kernel_bug"]: problems.append("stock kernel BUG/WARN")
    for c, p in S["probe"].items():
        # stock has upstream's split livelock fix since 6.12.118: EBUSY, no hang
        if p["status"] in ("FAIL", "LIVELOCK", "HANG"):
            problems.append(f"stock probe {c}: {p['status']}")
    if UFFDGC_SUITE and int(S["collector"].get("churn-move", {}).get("mthp_split") or 0) == 0:
        # without splits on stock, the patched kernels' 0 would show nothing
        problems.append("stock: the collector's compactions split no 64K folio")
    # the debug kernel runs the patched series: everything that holds for it must hold there
    for name, r in (("patched", P), ("debug", D)):
        if not r["finished"]: problems.append(f"{name} guest did not finish")
        elif r["guest_rc"] != 0: problems.append(f"{name} guest tests returned rc={r['guest_rc']}")
        if r["kernel_bug"] or r["debug_reports"]: problems.append(f"{name} kernel BUG/WARN/lockdep/KASAN report")
        for c, p in r["probe"].items():
            if p["status"] in ("FAIL", "LIVELOCK", "HANG"):
                problems.append(f"{name} probe {c}: {p['status']}")
        a = r["probe"].get("present-mthp-aligned-full", {})
        if a.get("status") == "OK" and a.get("split") != "0":
            problems.append(f"{name}: aligned mTHPs were split")
        for c, p in r["probe"].items():
            if c.startswith("swap-mthp") and p.get("ebusy", "0") != "0":
                problems.append(f"{name} {c}: EBUSY")
        for c, t in r["selftests"].items():
            if t["status"] == "failed":
                problems.append(f"{name} selftest {c} failed")
        if not r["selftests"]:
            problems.append(f"{name}: no selftest ran")
        if r["selftests"].get("move-mthp-swapcache@loop-swap", {}).get("status") != "pass":
            problems.append(f"{name}: move-mthp-swapcache did not pass on the loop swap device")
        if r["probe"].get("anon-vma-retry-split", {}).get("status") != "OK":
            problems.append(f"{name}: the anon_vma retry race did not pass")
        for t in extra:
            if r["tests"].get(t, {}).get("rc", 1) != 0:
                problems.append(f"{name} {t} failed")
        if UFFDGC_SUITE:
            c = r["collector"].get("churn-move", {})
            if r["tests"].get("collector-churn", {}).get("rc", 1) != 0 or not c:
                problems.append(f"{name}: the collector churn failed")
            elif int(c.get("mthp_alloc") or 0) == 0:
                problems.append(f"{name}: the collector's heap got no 64K folios")
            elif int(c.get("frames_whole") or 0) == 0:
                problems.append(f"{name}: the collector moved no whole 64K frame")
            elif int(c["mthp_split"]) > int(c.get("frames_partly") or 0) + int(c["mthp_alloc"]) // 100:
                # a split beyond the frames moved in part: an aligned whole frame was split
                problems.append(f"{name}: the collector's compactions split {c['mthp_split']} "
                                f"64K folios, more than the {c.get('frames_partly')} frames "
                                f"it moved in part")
    return problems


def report(res):
    problems = verdict(res)
    res["problems"] = problems
    return table(res) + ["", "verdict: " + ("PASS" if not problems else
                                             "FAIL: " + "; ".join(problems))]


def main(argv):
    if len(argv) >= 4 and argv[1] == "parse":
        out = argv[2]
        res = parse(out, argv[3], len(argv) > 4 and argv[4] != "")
        lines = report(res)
        open(f"{out}/results.txt", "w").write("\n".join(lines) + "\n")
        json.dump(res, open(f"{out}/results.json", "w"), indent=1)
        print("\n".join(lines))
        return 1 if res["problems"] else 0
    if len(argv) == 3 and argv[1] == "table":
        print("\n".join(report(json.load(open(argv[2])))))
        return 0
    if len(argv) == 4 and argv[1] == "readme":
        lines = report(json.load(open(argv[2])))
        text = open(argv[3]).read()
        begin, end = "<!-- cotest-table -->\n", "<!-- /cotest-table -->"
        a, b = text.index(begin) + len(begin), text.index(end)
        open(argv[3], "w").write(text[:a] + "\n".join(lines) + "\n" + text[b:])
        return 0
    sys.exit(__doc__ or "usage: see the head of cotest_report.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
