"""Every complete Python example in the README and docs/ runs (against the emulator)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    with EmulatorThread() as emu:
        env = {**os.environ, "OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": "sk-docs-example"}
        proc = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 0, f"{name}\n{proc.stdout}\n{proc.stderr}"


def test_there_are_examples() -> None:
    names = [n for n, _ in examples()]
    assert any(n.startswith("README.md") for n in names)
    assert any(n.startswith("tools.md") for n in names)
    assert any(n.startswith("client.md") for n in names)
