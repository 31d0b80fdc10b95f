#!/usr/bin/env python3
"""The library's layers (issue 13 §1, §4): os/ depends on nothing of ours, gc/ on os/ only,
runtime/ on both. Fails when a file includes a header of a layer above its own.

gc/ still reaches runtime/ in the places listed in PENDING: the collector works on
`uffdgc_heap` (runtime/heap.h) and cuts allocation through runtime/allocator.h until the
collector owns a gc::Heap and reaches mutators through an interface it declares. The list is
exact: a listed include that is gone fails too, so it can only shrink.

Usage: check_layers.py SOURCE_DIR
"""
import pathlib
import re
import sys

# layer -> the layers of ours it must not include
FORBIDDEN = {"os": ("gc", "runtime"), "gc": ("runtime",)}

PENDING = {
    ("gc/collector.cc", "runtime/allocator.h"),
    ("gc/concurrent_cycle.cc", "runtime/allocator.h"),
    ("gc/cycle.h", "runtime/heap.h"),
    ("gc/mark/marker.cc", "runtime/heap.h"),
    ("gc/verify.cc", "runtime/heap.h"),
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    seen, errors = set(), []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            rel = path.relative_to(root).as_posix()
            for header in INCLUDE.findall(path.read_text()):
                if header.split("/")[0] not in forbidden:
                    continue
                if (rel, header) in PENDING:
                    seen.add((rel, header))
                else:
                    errors.append(f"{rel} includes {header}: {layer}/ must not depend on "
                                  f"{header.split('/')[0]}/")
    for rel, header in sorted(PENDING - seen):
        errors.append(f"{rel} no longer includes {header}: remove it from PENDING in {__file__}")
    for e in errors:
        print(e)
    print(f"layers: {len(errors)} problem(s), {len(seen)} pending include(s) of runtime/ in gc/")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
