#!/usr/bin/env python3
"""The design notes (docs/design/) and the code that cites them agree (issue 13 §5).

Fails when
  * code (gc/, os/, runtime/, include/, tests/, benchmarks/, tools/) cites a tag
    ("design: .install.ebusy", several separated by commas) that no note defines;
  * a note defines a tag twice, or two notes define the same tag;
  * a note (other than README.md) has no "Status:" line or no "## History" section;
  * a path a note names in backticks (gc/..., os/..., runtime/..., include/..., tests/...,
    docs/..., benchmarks/..., scripts/..., tools/..., kernel-patches/...) outside its history
    does not exist.

A tag is defined by a paragraph or list item that starts with it in bold: **.install.ebusy**.

Usage: check_design_tags.py SOURCE_DIR
"""
import pathlib
import re
import sys

DEFINITION = re.compile(r"^(?:[*-] )?\*\*(\.[a-z0-9-]+(?:\.[a-z0-9-]+)+)\*\*", re.M)
CITATION = re.compile(r"design: ((?:\.[a-z0-9-]+(?:\.[a-z0-9-]+)+)(?:,\s*\.[a-z0-9-]+(?:\.[a-z0-9-]+)+)*)")
PATH = re.compile(r"`((?:gc|os|runtime|include|tests|docs|benchmarks|scripts|tools|kernel-patches)/"
                  r"[A-Za-z0-9_./{},-]*)`")
CODE_DIRS = ("gc", "os", "runtime", "include", "tests", "benchmarks", "tools")
CODE_SUFFIXES = (".h", ".hpp", ".cc", ".c", ".py", ".sh")


def expand(path: str):
    """`os/uffd/page_installer.{h,cc}` names two files."""
    m = re.search(r"\{([^}]*)\}", path)
    if m is None:
        return [path]
    return [path[:m.start()] + alt + path[m.end():] for alt in m.group(1).split(",")]


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    errors, defined = [], {}
    for note in sorted((root / "docs" / "design").glob("*.md")):
        text = note.read_text()
        rel = note.relative_to(root).as_posix()
        if note.name != "README.md":
            if not re.search(r"^Status: ", text, re.M):
                errors.append(f"{rel}: no 'Status:' line")
            if not re.search(r"^## History\s*$", text, re.M):
                errors.append(f"{rel}: no '## History' section")
        for tag in DEFINITION.findall(text):
            if tag in defined:
                errors.append(f"{rel}: tag {tag} already defined in {defined[tag]}")
            defined[tag] = rel
        present = text.split("\n## History", 1)[0]  # the history names what used to be
        for path in PATH.findall(present):
            for p in expand(path.rstrip("/.,")):
                if not (root / p).exists():
                    errors.append(f"{rel}: names {p}, which does not exist")
    cited = 0
    for d in CODE_DIRS:
        for path in sorted((root / d).rglob("*")):
            if path.suffix not in CODE_SUFFIXES or not path.is_file():
                continue
            for group in CITATION.findall(path.read_text(errors="replace")):
                for tag in re.findall(r"\.[a-z0-9-]+(?:\.[a-z0-9-]+)+", group):
                    cited += 1
                    if tag not in defined:
                        errors.append(f"{path.relative_to(root)} cites {tag}, which no note "
                                      "in docs/design/ defines")
    for e in errors:
        print(e)
    print(f"design tags: {len(defined)} defined, {cited} citation(s), {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
