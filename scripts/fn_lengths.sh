#!/bin/sh
# Lengths of the functions of crates' library code (tests excluded: a file's `#[cfg(test)]`
# module and the `tests/` folders), as rustfmt lays them out: a function runs from its `fn`
# line to the first `}` at the same indent.
#
#   scripts/fn_lengths.sh [crate ...]        counts per crate of functions over 70 and 100 lines
#   LIST=1 scripts/fn_lengths.sh [crate ...] also lists every function over 70 lines
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- $(ls crates)
for crate in "$@"; do
    find "crates/$crate/src" -name '*.rs' | sort | python3 -c '
import os, re, sys
crate, listing = sys.argv[1], os.environ.get("LIST") == "1"
fn_line = re.compile(r"^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?(extern \"C\" )?fn (\w+)")
over70 = over100 = total = 0
for path in sys.stdin.read().split():
    lines = open(path, encoding="utf-8").read().split("\n")
    # Blank out each `#[cfg(test)] mod ... { ... }`, up to its `}` at the same indent.
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].strip().startswith("mod "):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            j = i + 1
            while j < len(lines) and not (lines[j].startswith(indent + "}") and lines[j][len(indent)] == "}"):
                j += 1
            for k in range(i, min(j + 1, len(lines))):
                lines[k] = ""
            i = j
        i += 1
    for i, line in enumerate(lines):
        m = fn_line.match(line)
        if not m:
            continue
        indent = m.group(1)
        end = None
        for j in range(i, len(lines)):
            text = lines[j]
            if j > i and text.startswith(indent) and not text[len(indent):len(indent) + 1].isspace() and text[len(indent):].startswith("}"):
                end = j
                break
            if text.rstrip().endswith(";") and "{" not in "".join(lines[i:j + 1]):
                break  # a declaration without a body
        if end is None:
            continue
        total += 1
        length = end - i + 1
        if length > 70:
            over70 += 1
            if listing:
                print(f"  {length:5} {path}:{i + 1} {m.group(8)}")
        if length > 100:
            over100 += 1
print(f"{crate}: {total} functions, {over70} over 70 lines, {over100} over 100 lines")
' "$crate"
done
