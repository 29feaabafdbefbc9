"""The package's shape: no module-level import cycle in src/ (scripts/import_cycles.py reads the
imports with ast), and tests/ mirrors the package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _import_cycles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_cycles", module)
    spec.loader.exec_module(module)
    return module


def test_no_module_level_import_cycle_in_src() -> None:
    ic = _import_cycles()
    top, _ = ic.import_graph()
    assert len(top) > 50 and sum(map(len, top.values())) > 100  # the graph was read
    cycles = ic.module_level_cycles()
    assert not cycles, "module-level import cycles:\n" + "\n".join(
        line for group in cycles for line in ic.describe(group, top))


def test_the_cycle_finder_sees_a_cycle_and_skips_type_checking(tmp_path: Path) -> None:
    ic = _import_cycles()
    pkg = tmp_path / "openai_realtime_ws"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import A\n")
    (pkg / "sub" / "a.py").write_text("from ..b import B\nA = 1\n")
    (pkg / "b.py").write_text("from . import c\nB = 2\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import D\n"
        "def f():\n    from .sub import a\n")
    (pkg / "d.py").write_text("from .c import f\nD = 3\n")
    assert ic.module_level_cycles(pkg) == []  # c -> d only for type checkers, c -> sub.a in a function
    top, inner = ic.import_graph(pkg)
    assert "openai_realtime_ws.sub.a" in inner["openai_realtime_ws.c"]
    assert ic.strongly_connected({m: {**inner[m], **top[m]} for m in top}) == [
        ["openai_realtime_ws.b", "openai_realtime_ws.c", "openai_realtime_ws.sub.a"]]
    (pkg / "c.py").write_text("from .sub.a import A\n")
    assert ic.module_level_cycles(pkg) == [
        ["openai_realtime_ws.b", "openai_realtime_ws.c", "openai_realtime_ws.sub.a"]]
