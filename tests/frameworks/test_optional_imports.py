# The framework adapters are optional: without their framework installed, importing them says
# which extra to install (a real subprocess in which the framework cannot be imported).
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("module", "blocked", "extra"), [
    ("openai_realtime_ws.agents", "agents", "openai-realtime-ws[agents]"),
    ("openai_realtime_ws.pipecat", "pipecat", "openai-realtime-ws[pipecat]"),
])
def test_missing_framework_names_the_extra(module: str, blocked: str, extra: str) -> None:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"  # None in sys.modules: ImportError
            f"import openai_realtime_ws, openai_realtime_ws.openai_compat\n"
            f"try:\n    import {module}\nexcept ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert extra in out.stdout
