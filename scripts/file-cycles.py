#!/usr/bin/env python3
"""Circles of files: for every crate, which source files use which (by `crate::`, `super::`
and `self::` paths and paths that start with a child module's name, following `pub use`
re-exports to the file that defines the name), and any circle among them. A module's
declaration of its children (`mod x;`) is not a use; its re-exports are. Exit 1 when a circle
is found.

usage: scripts/file-cycles.py [--edges] [DIR]   (DIR: a checkout, default this one)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_files(src):
    """Module path (tuple) -> file, for one crate's src folder."""
    files = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("lib", "main", "mod"):
            parts = parts[:-1]
        if parts and parts[0] == "bin":
            continue
        files[tuple(parts)] = f
    return files


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)  # comments (docs included: links are not uses)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # test modules: a test's uses of its own module are not the code's
    return re.split(r"#\[cfg\(test\)\]\s*mod \w+", text)[0]


def paths(text):
    """Every `crate::…`, `super::…`, `self::…` path, braces expanded one level."""
    out = []
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)*)(::\{([^{}]*)\})?", text):
        if not m.group(2) and m.group(3) is None:
            continue  # `pub(crate)`, `pub(super)`, `&self`: not a path
        base = [m.group(1)] + [p for p in m.group(2).split("::") if p]
        if m.group(4) is not None:
            for item in m.group(4).split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    out.append(base + [p for p in item.split("::") if p and p != "*"])
        else:
            out.append(base)
    return out


def resolve(mod, path):
    """A path as seen from module `mod`, made absolute."""
    parts, rest = ([], path[1:]) if path[0] == "crate" else (list(mod), path)
    for p in rest:
        if p == "super":
            parts = parts[:-1]
        elif p != "self":
            parts.append(p)
    return parts


def main():
    global ROOT
    show = "--edges" in sys.argv
    dirs = [a for a in sys.argv[1:] if not a.startswith("--")]
    if dirs:
        ROOT = pathlib.Path(dirs[0]).resolve()
    circles = 0
    for cargo in sorted(ROOT.glob("crates/*/Cargo.toml")) + sorted(ROOT.glob("bench/*/Cargo.toml")):
        src = cargo.parent / "src"
        if not src.is_dir():
            continue
        files = module_files(src)
        texts = {m: strip(f.read_text()) for m, f in files.items()}
        # name re-exported by a module -> the module it comes from
        reexports = {}
        for m, t in texts.items():
            for u in re.finditer(r"pub(?:\([^)]*\))? use ([^;]+);", t):
                spec = u.group(1).strip()
                first = re.match(r"\w+", spec).group(0)
                if first not in ("crate", "super", "self"):
                    if m + (first,) not in files:
                        continue  # another crate's item
                    spec = "self::" + spec
                for p in paths(spec):
                    r = resolve(m, p)
                    if r:
                        reexports[(m, r[-1])] = tuple(r[:-1])
        edges = {m: set() for m in files}
        for m, t in texts.items():
            # a path may also start with a child module's name (`chat::run` in main.rs)
            children = {k[-1] for k in files if len(k) == len(m) + 1 and k[: len(m)] == m}
            relative = [
                ["self", c.group(1)] + [x for x in c.group(2).split("::") if x]
                for c in re.finditer(r"(?<![:\w])(\w+)((?:::\w+)*)::?[{\w]", t)
                if c.group(1) in children
            ]
            for p in paths(t) + relative:
                r = tuple(resolve(m, p))
                # the longest prefix that is a file; a name re-exported there points further
                target = None
                for k in range(len(r), -1, -1):
                    if r[:k] in files:
                        target = r[:k]
                        name = r[k] if k < len(r) else None
                        seen = set()
                        while name and (target, name) in reexports and (target, name) not in seen:
                            seen.add((target, name))
                            target = reexports[(target, name)]
                        break
                if target is not None and target != m and target in files:
                    edges[m].add(target)
        # circles: strongly connected components of more than one file
        index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

        def visit(v):
            index[v] = low[v] = n[0]
            n[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)

        sys.setrecursionlimit(10000)
        for v in files:
            if v not in index:
                visit(v)
        name = cargo.parent.relative_to(ROOT)
        label = lambda m: str(files[m].relative_to(src))
        if show:
            for m in sorted(edges):
                print(f"{name}: {label(m)} -> {', '.join(sorted(label(t) for t in edges[m]))}")
        for comp in comps:
            circles += 1
            print(f"{name}: circle: {' , '.join(sorted(label(c) for c in comp))}")
    print(f"file circles: {circles}")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())
