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


# tests/<x>/ tests src/openai_realtime_ws/<x>/ (unit tests of core/<m>.py in tests/core/). Folders
# of tests/ that name no subpackage, each with why:
FEATURE_SUITES = {
    "browser": "realtime.js and the relay's page in headless Chromium (relay/static/, relay/)",
    "frameworks": "the top-level adapters agents.py, openai_compat.py, pipecat.py (no folder)",
    "fuzz": "property tests across the core's decoder, encoder, dispatch and handshake",
}
# Subpackages without a tests/ folder of their name, each with where they are tested:
UNTESTED_BY_NAME: dict[str, str] = {}


def _subpackages() -> set[str]:
    src = ROOT / "src" / "openai_realtime_ws"
    return {str(p.parent.relative_to(src)) for p in src.rglob("__init__.py") if p.parent != src}


def _test_folders() -> set[str]:
    tests = ROOT / "tests"
    return {str(p.parent.relative_to(tests)) for p in tests.rglob("test_*.py")
            if p.parent != tests and "__pycache__" not in p.parts}


def test_every_subpackage_has_a_tests_folder_of_its_name() -> None:
    subpackages = _subpackages()
    assert {"aio", "sync", "core", "emulator", "emulator/core"} <= subpackages
    missing = sorted(subpackages - _test_folders() - set(UNTESTED_BY_NAME))
    assert not missing, f"subpackages with no tests/<name>/ folder of test files: {missing}"


def test_every_tests_folder_names_a_subpackage_or_a_feature_suite() -> None:
    subpackages = _subpackages()
    stray = sorted(f for f in _test_folders()
                   if f not in subpackages and f.split("/")[0] not in FEATURE_SUITES)
    assert not stray, f"tests/ folders that mirror no subpackage (move them, or list them): {stray}"
    assert not set(FEATURE_SUITES) & subpackages, "a listed feature suite now has a subpackage"
