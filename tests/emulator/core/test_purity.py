# The Sans-I/O rule: the core (and the responder/fault descriptions) import no asyncio,
# threading, socket, ssl, selectors, aiohttp or websockets - checked on the source, not at runtime.
from __future__ import annotations

import ast
from pathlib import Path

import openai_realtime_ws.emulator as pkg

FORBIDDEN = {"asyncio", "threading", "socket", "ssl", "selectors", "aiohttp", "websockets", "subprocess"}
ROOT = Path(pkg.__file__).parent
PURE = [*sorted((ROOT / "core").glob("*.py")), ROOT / "responder.py", ROOT / "faults.py"]


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_io() -> None:
    assert len(PURE) > 10
    for path in PURE:
        bad = imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {bad}"


def test_every_module_opens_with_an_ownership_comment() -> None:
    for path in [*ROOT.glob("*.py"), *(ROOT / "core").glob("*.py")]:
        assert path.read_text().startswith("# "), path.name
