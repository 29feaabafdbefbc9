"""Import cycles in src/openai_realtime_ws, read from the source with ast (nothing is imported).

An edge A -> B is an import statement in A that names B: `import p.b`, `from p import b` (b a
submodule) or `from p.b import name`. The parent packages a dotted import also runs are not
edges (as pylint's cyclic-import and import-linter count them). Imports under
`if TYPE_CHECKING:` are not edges. Imports inside a function or method body are "function-level"
(they run when the function is called, after every module has loaded); all others, class bodies
and `try:` blocks at the top included, are "module-level".

Usage: python scripts/import_cycles.py   (prints the cycles; exit 1 if a module-level one exists)
tests/test_layout.py runs `module_level_cycles()` in CI.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "openai_realtime_ws"
SRC = ROOT / "src" / PACKAGE

Edges = dict[str, dict[str, int]]  # module -> {imported module: line}


def _modules(src: Path = SRC) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it is function-level; TYPE_CHECKING blocks skipped."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from walk(ast.Module(body=[other], type_ignores=[]), in_function)
            else:
                yield from walk(child, in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    yield from walk(tree, False)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target not in known:
        return
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        yield sub if sub in known else target


def import_graph(src: Path = SRC) -> tuple[Edges, Edges]:
    """(module-level edges, function-level edges) between the package's own modules."""
    known = _modules(src)
    top: Edges = {m: {} for m in known}
    inner: Edges = {m: {} for m in known}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _imports(tree):
            for target in _targets(node, module, path.name == "__init__.py", known):
                if target != module:
                    (inner if in_function else top)[module].setdefault(target, node.lineno)
    return top, inner


def strongly_connected(edges: Edges) -> list[list[str]]:
    """Tarjan's algorithm: the groups of two or more modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


def describe(group: list[str], edges: Edges) -> list[str]:
    """The edges inside one group, as 'a -> b (line n)'."""
    members = set(group)
    return [f"{a} -> {b} (line {line})" for a in group
            for b, line in sorted(edges[a].items()) if b in members]


def module_level_cycles(src: Path = SRC) -> list[list[str]]:
    top, _ = import_graph(src)
    return strongly_connected(top)


def main() -> int:
    top, inner = import_graph()
    both: Edges = {m: {**inner[m], **top[m]} for m in top}
    module_level = strongly_connected(top)
    any_level = strongly_connected(both)
    print(f"module-level import cycles: {len(module_level)}")
    for group in module_level:
        print("  " + ", ".join(group))
        for line in describe(group, top):
            print("    " + line)
    print(f"cycles counting function-level imports too: {len(any_level)}")
    for group in any_level:
        print("  " + ", ".join(group))
        for line in describe(group, top):
            print("    " + line)
        for line in describe(group, inner):
            print("    " + line + " [function-level]")
    return 1 if module_level else 0


if __name__ == "__main__":
    raise SystemExit(main())
