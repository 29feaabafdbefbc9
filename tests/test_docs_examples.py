"""Every complete Python example in the README and docs/ runs (against the emulator)."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from openai_realtime_ws.emulator import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for i, code in enumerate(BLOCK.findall(path.read_text())):
            # complete programs only (fragments that continue an earlier block are skipped)
            if "asyncio.run(" in code or "with EmulatorThread" in code:
                found.append((f"{path.name}#{i}", code))
    return found


@pytest.mark.parametrize(("name", "code"), examples(), ids=[n for n, _ in examples()])
def test_example_runs(name: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as a program (``__main__``), in this process: a fresh interpreter per example cost a
    second each. The example must leave no thread behind."""
    script = tmp_path / "example.py"
    script.write_text(code)
    before = set(threading.enumerate())
    with EmulatorThread() as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-example")
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            assert exc.code in (None, 0), f"{name} exited with {exc.code}"
    left = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert not left, f"{name} left threads running: {left}"


def test_there_are_examples() -> None:
    names = [n for n, _ in examples()]
    assert any(n.startswith("README.md") for n in names)
    assert any(n.startswith("tools.md") for n in names)
    assert any(n.startswith("client.md") for n in names)


def _pytest_example() -> str:
    recipes = (ROOT / "docs" / "recipes.md").read_text()
    found: list[str] = [c for c in BLOCK.findall(recipes) if "@pytest.mark.asyncio" in c]
    assert len(found) == 1
    return found[0]


def test_the_pytest_recipe_passes_in_strict_mode_and_needs_its_marker(tmp_path: Path) -> None:
    """docs/recipes.md: the emulator fixture with pytest-asyncio in strict mode passes, and without
    the `@pytest.mark.asyncio` the recipe says strict mode needs, the same test does not run.
    (One pytest process for both.)"""
    code = _pytest_example()
    unmarked = code.replace("@pytest.mark.asyncio\n", "").replace(
        "def test_the_agent_answers", "def test_unmarked")
    assert "def test_unmarked" in unmarked
    body = unmarked[unmarked.index("async def test_unmarked"):]
    (tmp_path / "test_my_agent.py").write_text(code + "\n\n" + body)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = strict\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "test_my_agent.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )
    out = proc.stdout
    assert "PASSED test_my_agent.py::test_the_agent_answers" in out, out + proc.stderr
    assert "PASSED test_my_agent.py::test_unmarked" not in out, out
    assert "test_my_agent.py::test_unmarked" in out, out  # it was collected, and skipped


def test_the_readme_program_without_a_key_says_so_before_connecting(tmp_path: Path) -> None:
    """README: the ten lines with no OPENAI_API_KEY end in one clear RealtimeConfigError, not in a
    DNS failure for api.openai.com."""
    readme = (ROOT / "README.md").read_text()
    first = next(c for c in BLOCK.findall(readme) if "asyncio.run(" in c)
    assert "Emulator" not in first  # the real-API program, as a new user copies it
    script = tmp_path / "ten_lines.py"
    script.write_text(first)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("openai_realtime_ws.core.errors.RealtimeConfigError: OPENAI_API_KEY is not set"), proc.stderr
    assert "gaierror" not in proc.stderr and "api.openai.com" not in proc.stderr
