#!/bin/bash
# rebase-series.sh - move the series to the Debian version in kernel-patches/source-version
#
# Usage: kernel-patches/scripts/rebase-series.sh            apply the series in a fresh tree
#        kernel-patches/scripts/rebase-series.sh --export   regenerate the patch files from it
# Env:   KBUILD (default /work/kbuild)
#        REROLL=N (--export): subjects say [PATCH vN m/n] (file names do not change)
#
# 1. (no argument) fetch-src.sh (installs and unpacks the pinned version), then a fresh git
#    worktree $KBUILD/rebase-tree at the pristine baseline, and "git am" of every patch
#    listed in series.  If a patch does not apply, its hunks that do apply are applied and
#    the others are left as *.rej files; fix them by hand, then
#        cd $KBUILD/rebase-tree && rm -f $(git ls-files -o '*.rej') && git add -f -A && git am --continue
#    (that applies the remaining patches; repeat on the next conflict).  A patch that the
#    new base already has: "git am --skip" (and it will be gone from series after 2.).
# 2. --export: git format-patch --cover-letter of everything on top of the baseline into
#    kernel-patches/ (the old 0NNN-*.patch files are removed, series lists the new ones).
#    The cover letter keeps the subject and text of the current 0000-cover-letter.patch;
#    only the shortlog and diffstat are regenerated: update the text (base version,
#    changes) by hand.  Commit messages are edited in the tree (git rebase -i, or
#    git commit --amend) before exporting.
# Then: check-series.sh --build-each, scripts/kernel-cotest, results/ and README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
export KBUILD=${KBUILD:-/work/kbuild}
SRC=$KBUILD/linux-source-6.12
tree=$KBUILD/rebase-tree
git_kb=(git -C "$tree" -c user.name="uffdgc kbuild" -c user.email=uffdgc@localhost)

if [ "${1:-}" != --export ]; then
	"$HERE/scripts/fetch-src.sh"
	git -C "$SRC" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
	git -C "$SRC" worktree prune
	git -C "$SRC" worktree add -q --detach "$tree" debian-base
	patches=()
	while read -r p; do
		case "$p" in ''|\#*) continue ;; esac
		patches+=("$HERE/$p")
	done <"$HERE/series"
	if "${git_kb[@]}" am -q "${patches[@]}"; then
		echo "rebase-series: all ${#patches[@]} patches apply to $(cat "$SRC/.git/uffdgc-version");" \
			"now: $0 --export"
		exit 0
	fi
	cur=$("${git_kb[@]}" am --show-current-patch=diff 2>/dev/null || true)
	echo "$cur" | git -C "$tree" apply --reject --whitespace=nowarn - 2>&1 | grep -v "^Checking" || true
	cat >&2 <<MSG

rebase-series: a patch does not apply (see above); the hunks that apply are applied,
the others are in these files:
$(cd "$tree" && git ls-files -o -- '*.rej' | sed 's/^/  /')
Fix them by hand in $tree, then
  cd $tree && rm -f \$(git ls-files -o -- '*.rej') && git add -f -A && git am --continue
or, if the new base already has the change: git am --skip (and see README.md "Moving the pin").
When all patches are in: $0 --export
MSG
	exit 1
fi

# --export
[ -e "$tree/.git" ] || { echo "rebase-series: no $tree (run without --export first)" >&2; exit 1; }
if [ -d "$(git -C "$tree" rev-parse --git-path rebase-apply)" ]; then
	echo "rebase-series: git am is still in progress in $tree" >&2
	exit 1
fi
[ -z "$(git -C "$tree" status --porcelain)" ] || {
	echo "rebase-series: $tree has uncommitted changes" >&2; exit 1; }
n=$(git -C "$tree" rev-list --count debian-base..HEAD)
[ "$n" -gt 0 ] || { echo "rebase-series: no commits on top of debian-base" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the cover letter's From: is the user's identity: take the series' author
first=$(git -C "$tree" rev-list --reverse debian-base..HEAD | head -1)
git -C "$tree" -c user.name="$(git -C "$tree" log -1 --format=%an "$first")" \
	-c user.email="$(git -C "$tree" log -1 --format=%ae "$first")" \
	format-patch -q --cover-letter ${REROLL:+--subject-prefix="PATCH v$REROLL"} \
	-o "$tmp" debian-base..HEAD

# Cover letter: the generated headers, shortlog and diffstat, our subject and text.
old=$HERE/0000-cover-letter.patch
python3 - "$old" "$tmp/0000-cover-letter.patch" <<'EOF'
import re, sys
old_path, new_path = sys.argv[1], sys.argv[2]
old = open(old_path).read().split("\n")
new = open(new_path).read()
# subject: the (possibly folded) Subject: header without its "[PATCH 0/N] " prefix
i = next(k for k, l in enumerate(old) if l.startswith("Subject:"))
subj = old[i][len("Subject:"):]
while old[i + 1].startswith(" "):
    i += 1
    subj += old[i]
subj = re.sub(r"^\s*\[[^]]*\]\s*", "", subj)
# text: after the headers up to the shortlog heading ("Name (N):")
body = old[old.index("", i) + 1:]
end = max(k for k, l in enumerate(body) if re.match(r"^\S.* \(\d+\):$", l))
text = "\n".join(body[:end]).rstrip("\n")
if "*** SUBJECT HERE ***" not in new or "*** BLURB HERE ***" not in new:
    sys.exit("rebase-series: unexpected format-patch cover letter")
new = new.replace("*** SUBJECT HERE ***", subj).replace("*** BLURB HERE ***", text)
open(new_path, "w").write(new)
EOF
rm -f "$HERE"/0[0-9][0-9][0-9]-*.patch
cp "$tmp"/*.patch "$HERE/"
{
	grep '^#' "$HERE/series"
	for f in "$tmp"/0[0-9][0-9][0-9]-*.patch; do
		case "$f" in */0000-cover-letter.patch) ;; *) basename "$f" ;; esac
	done
} >"$tmp/series"
cp "$tmp/series" "$HERE/series"
echo "rebase-series: wrote $n patches + cover letter to $HERE, and series:"
cat "$HERE/series"
