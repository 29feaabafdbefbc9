"""The repository stands alone and is packaged from one source of truth: the wire-protocol spec
is vendored (nothing points outside the clone), the version is written once, and the changelog
knows it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import openai_realtime_ws

ROOT = Path(__file__).resolve().parent.parent


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    names = [n for n in out.stdout.decode().split("\0") if n]
    return [ROOT / n for n in names
            if n.endswith((".py", ".md", ".toml", ".yml", ".cfg", ".ini")) or n in (".ci/run", "scripts/test")]


def test_the_spec_is_vendored_and_its_markers_explained() -> None:
    assert (ROOT / "spec" / "PROTOCOL.md").is_file()
    assert (ROOT / "spec" / "realtime-openapi-subset.json").is_file()
    readme = (ROOT / "spec" / "README.md").read_text(encoding="utf-8")
    assert "`[INF]`" in readme and "inference" in readme


def test_nothing_points_outside_the_clone() -> None:
    outside = re.compile(r"\.\./shared|\"shared\"\s*/|'shared'\s*/")
    offenders = [str(p.relative_to(ROOT)) for p in _tracked_text_files()
                 if p.is_file() and p.name != "test_repo.py"
                 and outside.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, f"files that read ../shared: {offenders}"


def test_the_type_generator_reads_the_vendored_spec() -> None:
    text = (ROOT / "scripts" / "gen_types.py").read_text(encoding="utf-8")
    match = re.search(r"^DEFAULT_SPEC = (.+)$", text, re.M)
    assert match is not None and '"spec"' in match.group(1) and ".." not in match.group(1)


def test_the_version_is_written_once() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "src/openai_realtime_ws/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", openai_realtime_ws.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{openai_realtime_ws.__version__}]" in changelog and "## [Unreleased]" in changelog


def test_every_logger_name_is_documented() -> None:
    """docs/recipes.md's logging table names every logger the package creates."""
    names: set[str] = set()
    for path in (ROOT / "src" / "openai_realtime_ws").rglob("*.py"):
        names.update(re.findall(r'getLogger\("([\w.]+)"\)', path.read_text(encoding="utf-8")))
    assert "openai_realtime_ws" in names
    recipes = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    table = recipes[recipes.index("## Logging"):]
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert not missing, f"loggers missing from docs/recipes.md#logging: {missing}"


def test_the_readme_says_what_it_resembles_without_jargon() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "seed" not in readme.lower()
    assert "`OpenAIRealtimeWS`" in readme and "`OpenAIRealtimeWebSocket`" in readme


def test_the_readme_links_point_at_files_that_exist() -> None:
    """README.md is read on GitHub, outside the docs build: its relative links are checked here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "no relative links found"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"
