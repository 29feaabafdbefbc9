"""The system packages the real-part tests use are listed once (scripts/system-packages), read by
both scripts/test and .ci/run, and scripts/test names what is missing and which tests skip."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "system-packages"


def packages() -> list[str]:
    lines = [line.split("#", 1)[0].split() for line in LIST.read_text().splitlines()]
    return [words[0] for words in lines if words]


def test_one_list_read_by_both_scripts() -> None:
    listed = packages()
    assert {"chromium", "redis-server", "pulseaudio", "espeak-ng"} <= set(listed)
    for script in (ROOT / "scripts" / "test", ROOT / ".ci" / "run"):
        text = script.read_text()
        assert "scripts/system-packages" in text, script
        # no second copy of the list in the script
        assert not re.search(r"\bredis-server\b.*\bpulseaudio\b", text), script


def test_every_entry_names_what_shows_it_and_the_tests_that_skip() -> None:
    for line in LIST.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            assert len(words) >= 3, line
            assert words[2].startswith("tests/"), line


def test_scripts_test_names_the_missing_package_and_the_tests_that_skip(tmp_path: Path) -> None:
    fake = tmp_path / "list"
    fake.write_text(LIST.read_text() + "no-such-package-xyz  no-such-program-xyz  tests/fake/ (a check)\n")
    env = {**os.environ, "SYSTEM_PACKAGES_LIST": str(fake), "NO_SYSTEM_PACKAGES": "1"}
    proc = subprocess.run([str(ROOT / "scripts" / "test"), "--system-packages-only"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "missing system packages: " in out and "no-such-package-xyz" in out, out
    assert "no-such-package-xyz: tests/fake/ (a check)" in out, out
    assert "sudo apt-get install " in out and "no-such-package-xyz" in out.split("sudo apt-get install", 1)[1], out
