"""The Sans-I/O core stays I/O-free: no module under core/ or types/ imports an event loop,
threads, sockets or a WebSocket/HTTP library, and each says what it owns in its top comment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import openai_realtime_ws

PACKAGE = Path(openai_realtime_ws.__file__).parent
FORBIDDEN = {"asyncio", "threading", "socket", "ssl", "selectors", "websockets", "picows", "aiohttp"}
MODULES = sorted([*(PACKAGE / "core").glob("*.py"), *(PACKAGE / "types").glob("*.py")])


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_core_module_is_io_free(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{path.name} imports {sorted(imported & FORBIDDEN)}"
    text = path.read_text().lstrip()
    assert text.startswith(('"""', "#")), f"{path.name} has no top comment"
