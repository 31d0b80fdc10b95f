#!/usr/bin/env python3
"""MOVE vs COPY table from uffdgc_bench_page_install JSON output.

    uffdgc_bench_page_install --benchmark_out=pi.json --benchmark_out_format=json \
        [--benchmark_repetitions=3]
    python3 benchmarks/micro/page_install_table.py pi.json

With repetitions the median aggregate is used (and the min-max range of ns/page over the
repetitions is shown); without, the single run.
"""
import json
import re
import sys

NAME = re.compile(r"^BM_Install/(move|copy)/([^/]+)/run:(\d+)")
SOURCES = ["4k", "mthp64k", "zram"]


def load(path):
    with open(path) as f:
        doc = json.load(f)
    runs = {}    # (mode, source, run) -> chosen entry
    spread = {}  # (mode, source, run) -> [ns_per_page of each repetition]
    has_median = any(b.get("aggregate_name") == "median" for b in doc["benchmarks"])
    for b in doc["benchmarks"]:
        m = NAME.match(b["name"])
        if not m:
            continue
        key = (m.group(1), m.group(2), int(m.group(3)))
        if b.get("error_occurred"):
            runs[key] = {"error": b.get("error_message", "error")}
            continue
        if b.get("run_type") == "iteration":
            spread.setdefault(key, []).append(b["ns_per_page"])
            if not has_median:
                runs[key] = b
        elif b.get("aggregate_name") == "median":
            runs[key] = b
    return doc["context"], runs, spread


def cell(entry):
    if entry is None:
        return "-"
    if "error" in entry:
        return "skipped"
    return f"{entry['ns_per_page']:.0f}"


def main():
    context, runs, spread = load(sys.argv[1])
    print(f"kernel {context.get('kernel', '?')}, batch {context.get('batch_pages', '?')} pages,"
          f" {context.get('num_cpus', '?')} CPUs")
    print()
    print("| source | run (pages) | MOVE ns/page | COPY ns/page | COPY/MOVE |"
          " MOVE splits/page | COPY splits/page | MOVE range | COPY range |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    runs_seen = sorted({k[2] for k in runs})
    for source in SOURCES:
        for run in runs_seen:
            mv = runs.get(("move", source, run))
            cp = runs.get(("copy", source, run))
            if mv is None and cp is None:
                continue
            ratio = "-"
            if mv and cp and "error" not in mv and "error" not in cp:
                ratio = f"{cp['ns_per_page'] / mv['ns_per_page']:.2f}x"

            def splits(e):
                return "-" if not e or "error" in e else f"{e['mthp_splits']:.4f}"

            def rng(mode):
                v = spread.get((mode, source, run), [])
                return f"{min(v):.0f}-{max(v):.0f}" if len(v) > 1 else "-"

            print(f"| {source} | {run} | {cell(mv)} | {cell(cp)} | {ratio} | {splits(mv)} |"
                  f" {splits(cp)} | {rng('move')} | {rng('copy')} |")
    errors = {k: v["error"] for k, v in runs.items() if "error" in v}
    for (mode, source, run), msg in sorted(errors.items()):
        print(f"\nskipped {mode}/{source}/run:{run}: {msg}")


if __name__ == "__main__":
    main()
