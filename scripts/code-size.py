#!/usr/bin/env python3
"""Size limits for the Rust sources under services/.

Rules (the code-health issue: units that grow past these get split):
  * no file over MAX_FILE_LINES lines, and
  * no function over MAX_FN_LINES lines (from the line holding `fn` to the
    line holding its closing brace, both included).

Test code is exempt: files named *tests.rs and every item annotated with
`#[cfg(test)]` (normally the `mod tests { ... }` block) are not measured, and
their lines do not count towards the file's length.

The parser is deliberately small: it blanks comments, string, byte-string,
raw-string and char literals, then matches braces. That is enough for
rustfmt-formatted code; it is not a Rust parser.

Usage: scripts/code-size.py [ROOT ...]   (default: services)
Exit status 1 and one line per offender when a rule is broken.
"""

import os
import re
import sys

from rust_source import blank_literals, matching_brace, test_spans

MAX_FILE_LINES = 400
MAX_FN_LINES = 80


FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def check_file(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    code = blank_literals(src)
    spans = test_spans(code)

    def in_tests(idx):
        return any(a <= idx <= b for a, b in spans)

    def line_of(idx):
        return code.count("\n", 0, idx) + 1

    test_lines = sum(line_of(b) - line_of(a) + 1 for a, b in spans)
    total = src.count("\n") + (0 if src.endswith("\n") or not src else 1)
    offenders = []
    if total - test_lines > MAX_FILE_LINES:
        offenders.append(f"{path}: {total - test_lines} lines (max {MAX_FILE_LINES}, tests excluded)")
    for m in FN_RE.finditer(code):
        if in_tests(m.start()):
            continue
        # The body starts at the first `{` after the signature, unless a `;`
        # comes first (a trait method declaration without a body).
        j = m.end()
        while j < len(code) and code[j] not in "{;":
            j += 1
        if j >= len(code) or code[j] == ";":
            continue
        end = matching_brace(code, j)
        length = line_of(end) - line_of(m.start()) + 1
        if length > MAX_FN_LINES:
            offenders.append(f"{path}:{line_of(m.start())}: fn {m.group(1)} is {length} lines (max {MAX_FN_LINES})")
    return offenders


def main(argv):
    roots = argv[1:] or ["services"]
    offenders = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "target")
            for name in sorted(filenames):
                if name.endswith(".rs") and not name.endswith("tests.rs"):
                    offenders += check_file(os.path.join(dirpath, name))
    for line in offenders:
        print(line)
    if offenders:
        print(f"{len(offenders)} offender(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
