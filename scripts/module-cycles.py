#!/usr/bin/env python3
"""Report import cycles between two modules of the same crate.

Scope: every crate under services/*/src (and proto/src when present).

A *module* is a source file: src/lib.rs and src/main.rs are the crate root,
src/a.rs and src/a/mod.rs are `a`, src/a/b.rs is `a::b`. Inline modules
(`mod x { ... }`) count as part of the file that holds them, and items marked
`#[cfg(test)]` are skipped: test code may reach anywhere.

A module *imports from* another when it names a path into it, either in a
`use` declaration (`use crate::a::b::Item;`, `use super::{x, y};`, grouped
trees are expanded) or inline in code (`crate::a::f()`, `super::Item`). The
path is resolved to the longest prefix that names a module file.

Rule: two modules A and B form a cycle when A imports from B and B imports
from A, unless one is an ancestor of the other. Directories count as a whole
too: an import from a::x to b::y is an import between the siblings `a` and
`b` (the two children of their nearest common ancestor), so `http/export.rs`
using `webhooks/` while `webhooks/delivery.rs` uses `http/` is a cycle
between `http` and `webhooks` even though no single pair of files has both
directions. Parent and child are exempt
on purpose: a parent declares its children and re-exports or drives them, and
a child using `super::` items from its parent is the ordinary Rust idiom for a
module that was split into submodules; they are one unit. Everything else
(siblings, cousins, a module and its parent's sibling, ...) must have a single
direction, so a shared type lives in a module both sides can import (e.g.
`catalog::Endpoint`, `events::Recorded`, `state::AppState`).

Usage: scripts/module-cycles.py [REPO_ROOT]   (default: current directory)
Exit status 1 and one line per cycle when any is found.
"""

import glob
import os
import re
import sys

from rust_source import blank_literals, drop_test_items

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def expand_use_tree(tree):
    """`a::{b, c::{d, e as f}, g::*}` -> [[a,b], [a,c,d], [a,c,e], [a,g]]."""
    tree = re.sub(r"\s+as\s+", " as ", tree.strip())
    tree = re.sub(r"\s*([{},]|::)\s*", r"\1", tree)

    def parse(s, pos):
        """Parse one tree at s[pos:]; return (paths, new_pos)."""
        prefix = []
        while pos < len(s):
            m = re.match(r"(" + IDENT + r"|\*)", s[pos:])
            if s[pos] == "{":
                paths, pos = [], pos + 1
                while pos < len(s) and s[pos] != "}":
                    sub, pos = parse(s, pos)
                    paths += sub
                    if pos < len(s) and s[pos] == ",":
                        pos += 1
                return [prefix + p for p in paths] or [prefix], pos + 1
            if m:
                seg = m.group(1)
                pos += len(seg)
                if seg != "*":
                    prefix.append(seg)
                if s.startswith(" as ", pos):
                    pos += 4
                    rm = re.match(IDENT, s[pos:])
                    pos += rm.end() if rm else 0
                if s.startswith("::", pos):
                    pos += 2
                    continue
                return [prefix], pos
            return [prefix], pos
        return [prefix], pos

    paths, _ = parse(tree, 0)
    return [[seg for seg in p if seg != "self"] if p and p[0] != "self" else p for p in paths]


def module_of(src_dir, path):
    rel = os.path.relpath(path, src_dir)[:-3].split(os.sep)
    if rel[-1] == "mod" or (len(rel) == 1 and rel[0] in ("lib", "main")):
        rel = rel[:-1]
    return tuple(rel)


def resolve(segments, here, modules):
    """Module named by a `crate::`/`super::`/`self::` path used in module `here`."""
    if not segments:
        return None
    head, rest = segments[0], list(segments[1:])
    if head == "crate":
        base = []
    elif head in ("super", "self"):
        base = list(here)
        while True:
            if head == "super":
                if not base:
                    return None
                base.pop()
            if rest and rest[0] in ("super", "self"):
                head, rest = rest[0], rest[1:]
                continue
            break
    else:
        return None
    full = base + rest
    for k in range(len(full), -1, -1):
        if tuple(full[:k]) in modules:
            return tuple(full[:k])
    return ()


def crate_edges(src_dir):
    files = glob.glob(os.path.join(src_dir, "**", "*.rs"), recursive=True)
    modules = {module_of(src_dir, f): f for f in files}
    edges = {}
    for mod, path in modules.items():
        with open(path, encoding="utf-8") as f:
            code = drop_test_items(blank_literals(f.read()))
        targets = set()
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            for p in expand_use_tree(m.group(1)):
                t = resolve(p, mod, modules)
                if t is not None:
                    targets.add(t)
        no_use = re.sub(r"\buse\s+[^;]+;", "", code)
        for m in re.finditer(r"(?<![$\w])((?:crate|super|self)(?:::" + IDENT + r")+)", no_use):
            t = resolve(m.group(1).split("::"), mod, modules)
            if t is not None:
                targets.add(t)
        targets.discard(mod)
        edges[mod] = targets
    return edges


def is_ancestor(a, b):
    return len(a) < len(b) and b[:len(a)] == a


def name(mod):
    return "::".join(("crate",) + mod)


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    src_dirs = sorted(glob.glob(os.path.join(root, "services", "*", "src")))
    src_dirs += [d for d in [os.path.join(root, "proto", "src")] if os.path.isdir(d)]
    cycles = []
    for src_dir in src_dirs:
        edges = crate_edges(src_dir)
        crate = os.path.relpath(os.path.dirname(src_dir), root)
        # (sibling a, sibling b) -> the file-level imports that make a use b.
        between = {}
        for a in sorted(edges):
            for b in sorted(edges[a]):
                if is_ancestor(a, b) or is_ancestor(b, a) or a == b:
                    continue
                k = 0
                while a[k] == b[k]:
                    k += 1
                between.setdefault((a[:k + 1], b[:k + 1]), []).append((a, b))
        for (sa, sb), why in sorted(between.items()):
            if sa < sb and (sb, sa) in between:
                back = between[(sb, sa)]
                fmt = lambda e: f"{name(e[0])} -> {name(e[1])}"
                cycles.append(
                    f"{crate}: {name(sa)} <-> {name(sb)} ("
                    + ", ".join(map(fmt, why + back))
                    + ")"
                )
    for line in cycles:
        print(line)
    if cycles:
        print(f"{len(cycles)} module cycle(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
