"""Every Python example in README.md and docs/*.md runs as written.

The convention, for whoever writes a page (this docstring is its reference; docs/index.md
points here):

* Every ```` ```python ```` block of README.md and of every ``docs/*.md`` page (new pages
  included, nothing to register) is a complete program. The test runs it as written, as
  ``__main__``, in an empty directory, and it must end without an exception (or exit 0) and
  leave no thread running.
* Its environment is only what its page tells the reader to set: ``export NAME=value`` lines in
  the page's shell blocks (```` ```bash ````/```` ```sh ````/```` ```console ````). A loopback
  ``OPENAI_BASE_URL`` there (``export OPENAI_BASE_URL=http://127.0.0.1:8765/v1`` after starting
  ``openai-realtime-ws emulator --port 8765``) is pointed at a live emulator; any other value is
  set as written. Every other ``OPENAI_*``/``AZURE_OPENAI_*`` variable is removed, so a program
  that has neither an ``Emulator`` of its own nor such a sentence on its page fails here as it
  would for a reader without a key.
* A block that is not a program says so with an HTML comment on the line right before its fence
  (invisible once rendered):

  - ``<!-- fragment -->`` or ``<!-- fragment: why -->``: a piece of an earlier block, the shape
    of a call, a server that runs until it is stopped. Compiled (top-level ``await`` allowed),
    never run.
  - ``<!-- pytest -->``: a test module. Run by pytest in an empty directory, in pytest-asyncio's
    default *strict* mode, with the page's pytest configuration if it shows one (a
    ```` ```ini ```` block whose first line is ``# pytest.ini``, or a ```` ```toml ```` block
    whose first line is ``# pyproject.toml``), as a fresh project would be. Every test must pass,
    none may be skipped, and pytest must print no warning.

  Any other comment right before a fence is an error (a typo must not silently skip a block).
"""

from __future__ import annotations

import ast
import logging
import os
import re
import runpy
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from openai_realtime_ws.emulator import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(.*?)\s*-->\s*\Z", re.S)
EXPORT = re.compile(r"^\s*(?:\$\s*)?export\s+([A-Z_][A-Z0-9_]*)=(\S+)", re.M)
SHELL = ("bash", "sh", "console", "shell")
#: removed before each program runs: the page must say what to set
ENV_CLEARED = re.compile(r"^(OPENAI_|AZURE_OPENAI_)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    kind: str  # "program", "fragment" or "pytest"
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.name}:{self.line}"


def _marker_before(text: str, start: int) -> str | None:
    """The HTML comment on the line right before the fence at ``start``, if any."""
    before = text[:start].rstrip("\n")
    last = before.rsplit("\n", 1)[-1]
    found = MARKER.search(last)
    if found is None or not last.lstrip().startswith("<!--"):
        return None
    return found.group(1)


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for m in FENCE.finditer(text):
        if m.group(1) != "python":
            continue
        line = text.count("\n", 0, m.start()) + 1
        marker = _marker_before(text, m.start())
        if marker is None:
            kind = "program"
        elif marker == "fragment" or marker.startswith("fragment:"):
            kind = "fragment"
        elif marker == "pytest":
            kind = "pytest"
        else:
            raise AssertionError(
                f"{page.name}:{line}: unknown marker <!-- {marker} --> before a python block "
                "(expected <!-- fragment -->, <!-- fragment: why --> or <!-- pytest -->)"
            )
        found.append(Block(page, line, kind, m.group(2)))
    return found


def page_env(page: Path) -> dict[str, str]:
    """``export NAME=value`` lines of the page's shell blocks."""
    env: dict[str, str] = {}
    for m in FENCE.finditer(page.read_text()):
        if m.group(1) in SHELL:
            for name, value in EXPORT.findall(m.group(2)):
                env[name] = value.strip("'\"")
    return env


def pytest_config(page: Path) -> tuple[str, str] | None:
    """``(file name, text)`` of the page's pytest configuration block, if it shows one."""
    for m in FENCE.finditer(page.read_text()):
        first = m.group(2).split("\n", 1)[0].strip()
        if m.group(1) == "ini" and first == "# pytest.ini":
            return "pytest.ini", m.group(2)
        if m.group(1) == "toml" and first == "# pyproject.toml":
            return "pyproject.toml", m.group(2)
    return None


ALL = [b for p in pages() for b in blocks(p)]
PROGRAMS = [b for b in ALL if b.kind == "program"]
FRAGMENTS = [b for b in ALL if b.kind == "fragment"]
PYTESTS = [b for b in ALL if b.kind == "pytest"]


def _is_loopback_url(value: str) -> bool:
    return re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", value) is not None


def _logging_state() -> tuple[list[logging.Handler], dict[str, tuple[int, bool]]]:
    loggers = {name: logging.getLogger(name) for name in list(logging.root.manager.loggerDict)}
    state = {name: (lg.level, lg.disabled) for name, lg in loggers.items()}
    state[""] = (logging.root.level, logging.root.disabled)
    return list(logging.root.handlers), state


def _restore_logging(saved: tuple[list[logging.Handler], dict[str, tuple[int, bool]]]) -> None:
    handlers, state = saved
    for handler in logging.root.handlers[:]:
        if handler not in handlers:
            logging.root.removeHandler(handler)
    for name in [*logging.root.manager.loggerDict, ""]:
        lg = logging.getLogger(name) if name else logging.root
        level, disabled = state.get(name, (logging.NOTSET, False))
        lg.setLevel(level)
        lg.disabled = disabled


@pytest.mark.parametrize("block", PROGRAMS, ids=[b.name for b in PROGRAMS])
def test_program_runs_as_written(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this process, as ``__main__`` (a fresh interpreter per example cost a second each)."""
    for name in list(os.environ):
        if ENV_CLEARED.match(name):
            monkeypatch.delenv(name)
    script = tmp_path / "example.py"
    script.write_text(block.code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    env = page_env(block.page)
    before = set(threading.enumerate())
    logs = _logging_state()
    emu = EmulatorThread() if any(_is_loopback_url(v) for v in env.values()) else None
    try:
        if emu is not None:
            emu.start()
        for name, value in env.items():
            if emu is not None and _is_loopback_url(value):
                value = emu.base_url
            monkeypatch.setenv(name, value)
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            assert exc.code in (None, 0), f"{block.name} exited with {exc.code}"
    finally:
        if emu is not None:
            emu.close()
        _restore_logging(logs)  # (a logging recipe configures the process's loggers)
    left = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert not left, f"{block.name} left threads running: {left}"


@pytest.mark.parametrize("block", FRAGMENTS, ids=[b.name for b in FRAGMENTS])
def test_fragment_compiles(block: Block) -> None:
    """A fragment is not run, but it is Python (``await`` at the top level allowed)."""
    compile(block.code, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def _run_pytest(tmp_path: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and not ENV_CLEARED.match(k)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
    )


@pytest.mark.parametrize("block", PYTESTS, ids=[b.name for b in PYTESTS])
def test_pytest_example_passes_in_a_fresh_project(block: Block, tmp_path: Path) -> None:
    files = {"test_example.py": block.code}
    config = pytest_config(block.page)
    if config is not None:
        files[config[0]] = config[1]
    proc = _run_pytest(tmp_path, files)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"\d+ passed", out), out
    assert not re.search(r"\d+ (skipped|xfailed|warnings?|errors?)\b", out), out
    assert "warnings summary" not in out, out


def test_every_page_is_covered_and_markers_are_few() -> None:
    """New pages are picked up by the glob; most blocks are programs, not fragments."""
    names = {p.name for p in pages()}
    assert {"README.md", "client.md", "tools.md", "recipes.md", "emulator.md"} <= names
    assert any(b.page.name == "README.md" for b in PROGRAMS)
    assert len(PROGRAMS) > len(FRAGMENTS)


def test_the_marker_convention_reads_what_it_says(tmp_path: Path) -> None:
    """The parser itself: a program, a fragment with a reason, a pytest block, an env line, a
    config block; an unknown marker is an error."""
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nexport OPENAI_BASE_URL=http://127.0.0.1:8765/v1\n```\n\n"
        "```python\nprint(1)\n```\n\n"
        "<!-- fragment: continues the block above -->\n```python\nawait rt.close()\n```\n\n"
        "<!-- pytest -->\n```python\ndef test_x(): pass\n```\n\n"
        "```ini\n# pytest.ini\n[pytest]\n```\n"
    )
    assert [b.kind for b in blocks(page)] == ["program", "fragment", "pytest"]
    assert [b.line for b in blocks(page)] == [5, 10, 15]
    assert page_env(page) == {"OPENAI_BASE_URL": "http://127.0.0.1:8765/v1"}
    assert pytest_config(page) == ("pytest.ini", "# pytest.ini\n[pytest]\n")
    page.write_text("<!-- fragmnet -->\n```python\nx\n```\n")
    with pytest.raises(AssertionError, match="unknown marker"):
        blocks(page)


def _pytest_example() -> str:
    recipes = ROOT / "docs" / "recipes.md"
    found = [b.code for b in blocks(recipes) if b.kind == "pytest" and "@pytest.mark.asyncio" in b.code]
    assert len(found) == 1
    return found[0]


def test_the_pytest_recipe_needs_its_marker_in_strict_mode(tmp_path: Path) -> None:
    """docs/recipes.md: without the `@pytest.mark.asyncio` the recipe says strict mode needs, the
    same test does not run (it passes with it: test_pytest_example_passes_in_a_fresh_project)."""
    code = _pytest_example()
    unmarked = code.replace("@pytest.mark.asyncio\n", "")
    assert unmarked != code
    config = pytest_config(ROOT / "docs" / "recipes.md")
    files = {"test_my_agent.py": unmarked}
    if config is not None:
        files[config[0]] = config[1]
    proc = _run_pytest(tmp_path, files)
    out = proc.stdout
    assert "PASSED" not in out, out
    assert "test_my_agent.py::test_the_agent_answers" in out, out  # collected, and not run


def test_the_readme_program_without_a_key_says_so_before_connecting(tmp_path: Path) -> None:
    """README: the ten lines with no OPENAI_API_KEY end in one clear RealtimeConfigError, not in a
    DNS failure for api.openai.com."""
    first = next(b.code for b in blocks(ROOT / "README.md") if b.kind == "program")
    assert "Emulator" not in first  # the real-API program, as a new user copies it
    script = tmp_path / "ten_lines.py"
    script.write_text(first)
    env = {k: v for k, v in os.environ.items() if not ENV_CLEARED.match(k)}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("openai_realtime_ws.core.errors.RealtimeConfigError: OPENAI_API_KEY is not set"), proc.stderr
    assert "gaierror" not in proc.stderr and "api.openai.com" not in proc.stderr
