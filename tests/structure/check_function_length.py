#!/usr/bin/env python3
"""No function of the library (gc/, os/, runtime/) is longer than LIMIT lines (issue 13 §3)
unless the line before it says why: a comment containing "long function:" and the reason.

Counts from the first line of a top-level definition (its signature starts in column 0) to its
closing brace. Member functions defined inside a class body are not top-level
definitions and are not counted; keep those short by habit.

Usage: check_function_length.py SOURCE_DIR [LIMIT]
"""
import pathlib
import re
import sys

START = re.compile(r"^[A-Za-z_][\w:<>,*&\s]*?\b([\w:~]+)\(")
SKIP = ("namespace", "extern", "struct", "class", "enum", "using", "typedef", "template")


def definition_at(lines, i):
    """The name and the line of the opening brace if a definition starts at line i."""
    m = START.match(lines[i])
    if m is None or lines[i].startswith(SKIP):
        return None
    for j in range(i, min(i + 6, len(lines))):  # signatures wrap over a few lines at most
        text = lines[j].rstrip()
        if text.endswith(";"):
            return None
        if text.endswith("{"):
            return m.group(1), j
    return None


def long_functions(path: pathlib.Path, limit: int):
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        found = definition_at(lines, i)
        if found is None:
            i += 1
            continue
        name, j = found
        depth = 0
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            if depth == 0:
                break
            j += 1
        length = j - i + 1
        excused = i > 0 and "long function:" in lines[i - 1]
        if length > limit and not excused:
            yield i + 1, name, length
        i = j + 1


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    problems = 0
    for layer in ("gc", "os", "runtime"):
        for path in sorted((root / layer).rglob("*.cc")):
            for line, name, length in long_functions(path, limit):
                print(f"{path.relative_to(root)}:{line}: {name} is {length} lines (limit {limit})")
                problems += 1
    print(f"function length: {problems} function(s) over {limit} lines")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
