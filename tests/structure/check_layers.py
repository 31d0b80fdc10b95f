#!/usr/bin/env python3
"""The library's layers (issue 13 §1, §4): os/ depends on nothing of ours, gc/ on os/ only,
runtime/ on both (design: .overview.layers). Fails when a file includes a header of a layer
above its own: the collector reaches mutators only through gc/mutators.h, which runtime/
implements.

Usage: check_layers.py SOURCE_DIR
"""
import pathlib
import re
import sys

# layer -> the layers of ours it must not include
FORBIDDEN = {"os": ("gc", "runtime"), "gc": ("runtime",)}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    errors, files = [], 0
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            rel = path.relative_to(root).as_posix()
            files += 1
            for header in INCLUDE.findall(path.read_text()):
                if header.split("/")[0] not in forbidden:
                    continue
                errors.append(f"{rel} includes {header}: {layer}/ must not depend on "
                              f"{header.split('/')[0]}/")
    for e in errors:
        print(e)
    print(f"layers: {len(errors)} problem(s) in {files} files of os/ and gc/")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
