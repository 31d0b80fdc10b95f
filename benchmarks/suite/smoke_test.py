#!/usr/bin/python3
"""Smoke test of the suite's C/C++ workload programs (CTest bench_suite_smoke, label heap).

usage: smoke_test.py PROGRAM...   (paths of uffdgc-suite-uffdgc / -boehm / -malloc)

Runs every workload of every program with tiny parameters (uffdgc in stw, move and copy mode,
and churn with the reference-mutator thread) and checks the contract (CONTRACT.md): the last
stdout line is one JSON object with the required fields, the op count is the one the workload
defines, the histograms are well formed and count every op, the workload's own verification
found nothing, and the uffdgc runs collected and reported their pauses. Asserts no timings.

A uffdgc mode this kernel cannot run (the program says UFFDGC_EUNSUPPORTED) is skipped with the
reason, unless UFFDGC_TEST_REQUIRE (comma-separated capabilities; CI sets it, .ci/run) lists it
("move", "copy"; "all"): then it fails. A program killed by a signal (the OOM killer...) or
timing out fails.
"""
import json
import os
import signal
import subprocess
import sys

REQUIRED = ("workload", "collector", "ops", "wall_s", "op_latency_hist", "probe_late_hist",
            "live_mib")


def tree_size(d):
    return (2 << d) - 1


def expected_ops(workload, depth, ops):
    if workload == "gcbench":
        n = 2  # stretch + long-lived
        for d in range(4, depth + 1, 2):
            n += 2 * (2 * tree_size(depth + 2) // tree_size(d))
        return n
    if workload == "binary-trees":
        return 2 + sum(1 << (depth - d + 4) for d in range(4, depth + 1, 2))
    return ops


def check_hist(h, what):
    assert isinstance(h, list), what
    last = -1
    total = 0
    for b in h:
        assert isinstance(b, list) and len(b) == 2, f"{what}: bucket {b!r}"
        upper, count = b
        assert upper > last, f"{what}: upper bounds not increasing at {b!r}"
        assert count > 0, f"{what}: empty bucket printed {b!r}"
        last = upper
        total += count
    return total


def required_capabilities():
    """UFFDGC_TEST_REQUIRE, as tests/support/require.h and uffdgc-bench read it."""
    return {c.strip() for c in os.environ.get("UFFDGC_TEST_REQUIRE", "").split(",") if c.strip()}


def mode_capability(args):
    """"move"/"copy" for a uffdgc run in that mode, else None."""
    if "--mode" in args:
        m = args[args.index("--mode") + 1]
        if m in ("move", "copy"):
            return m
    return None


def run(prog, args, failures, skips):
    cmd = [prog] + args
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:
        failures.append(f"{' '.join(cmd)}: timed out after {e.timeout} s (killed)")
        return None
    if p.returncode < 0:
        sig = -p.returncode
        why = "SIGKILL: the OOM killer?" if sig == signal.SIGKILL else signal.Signals(sig).name
        failures.append(f"{' '.join(cmd)}: killed by signal {sig} ({why})\nstderr: {p.stderr[-2000:]}")
        return None
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    try:
        d = json.loads(line)
    except ValueError:
        failures.append(f"{' '.join(cmd)}: exit {p.returncode}, last line not JSON: {line!r}\n"
                        f"stderr: {p.stderr[-2000:]}")
        return None
    if p.returncode != 0:
        cap = mode_capability(args)
        if "UFFDGC_EUNSUPPORTED" in d.get("error", "") and cap:
            req = required_capabilities()
            if cap in req or "all" in req:
                failures.append(f"{' '.join(cmd)}: {d['error']}: this kernel cannot run {cap} mode, "
                                f"and UFFDGC_TEST_REQUIRE lists '{cap}'")
            else:
                print(f"  SKIP: {' '.join(cmd)}: {d['error']}")
                skips.append(f"{' '.join(cmd)}: {d['error']}")
            return None
        failures.append(f"{' '.join(cmd)}: exit {p.returncode}: {d.get('error')}\n{p.stderr[-2000:]}")
        return None
    return d


def main():
    progs = sys.argv[1:]
    if not progs:
        print(__doc__)
        return 2
    failures = []
    skips = []
    runs = 0
    for prog in progs:
        name = os.path.basename(prog)
        variants = [[]]
        if name.endswith("uffdgc"):
            variants = [["--mode", m] for m in ("stw", "move", "copy")]
        for v in variants:
            cases = [
                ("gcbench", ["--depth", "8", "--heap-mib", "8"], 8, 0),
                ("binary-trees", ["--depth", "10", "--heap-mib", "4"], 10, 0),
                ("churn", ["--live-mib", "8", "--ops", "20000", "--heap-mib", "24"], 0, 20000),
                ("churn-mt", ["--live-mib", "8", "--ops", "20000", "--threads", "2",
                              "--heap-mib", "24"], 0, 20000),
            ]
            if name.endswith("uffdgc"):
                cases.append(("churn", ["--live-mib", "8", "--ops", "20000", "--heap-mib", "24",
                                        "--mutate-rate", "-1"], 0, 20000))
            for workload, extra, depth, ops in cases:
                args = ["--workload", workload] + extra + v
                d = run(prog, args, failures, skips)
                runs += 1
                if d is None:
                    continue
                tag = f"{name} {' '.join(args)}"
                try:
                    for k in REQUIRED:
                        assert k in d, f"missing field {k}"
                    assert d["workload"] == workload
                    assert d.get("ok", True) is True, d.get("error")
                    assert d.get("check_failures", 0) == 0, "the workload found corrupted data"
                    want = expected_ops(workload, depth, ops)
                    assert d["ops"] == want, f"ops {d['ops']} != {want}"
                    assert d["wall_s"] > 0
                    n = check_hist(d["op_latency_hist"], "op_latency_hist")
                    assert n == d["ops"], f"op histogram counts {n} ops of {d['ops']}"
                    check_hist(d["probe_late_hist"], "probe_late_hist")
                    assert d["live_mib"] > 0
                    for pz in d.get("pauses", []):
                        assert isinstance(pz[0], str) and pz[1] >= 0 and pz[2] > 0, pz
                    if name.endswith("uffdgc"):
                        gc = d["gc"]
                        # An allocation trigger does not wait for its concurrent cycle: a tiny
                        # run may end with its first cycle started (pause 1) but not flipped.
                        assert gc["collections"] >= 1 or gc["pauses"] >= 1, "no collection"
                        assert gc["pauses"] >= gc["collections"], "fewer pauses than cycles"
                        assert len(gc["stalls_log2_us"]) == 24
                        if "--mutate-rate" in args:
                            assert d["mutations"] > 0, "the reference mutator did not run"
                except AssertionError as e:
                    failures.append(f"{tag}: {e}")
                    continue
                print(f"  ok: {tag}: {d['collector']} ops={d['ops']} wall={d['wall_s']:.3f}s "
                      f"pauses={len(d.get('pauses', []))}")
    if skips:
        print(f"SKIPPED {len(skips)} of {runs} runs (this kernel cannot run them):")
        for f in skips:
            print("  " + f)
    if failures:
        print(f"FAILED {len(failures)} of {runs} runs:")
        for f in failures:
            print("  " + f)
        return 1
    print(f"all {runs - len(skips)} runs that can run here passed ({len(skips)} skipped, see above)"
          if skips else f"all {runs} runs passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
