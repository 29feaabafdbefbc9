"""The atheris target (fuzz/fuzz_decode.py) replays its seed corpus cleanly, without atheris."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

FUZZ_DIR = Path(__file__).resolve().parents[2] / "fuzz"


def load_target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_decode", FUZZ_DIR / "fuzz_decode.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_corpus_replays_without_crash() -> None:
    target = load_target()
    seeds = sorted((FUZZ_DIR / "corpus").iterdir())
    assert len(seeds) >= 50 and all(f.stat().st_size <= 4096 for f in seeds)
    assert target.replay([str(FUZZ_DIR / "corpus")]) == len(seeds)


def test_target_on_edge_inputs() -> None:
    # a typed event (round trip), nesting past the recursion limit, an off-spec error event
    target = load_target()
    target.TestOneInput(b'{"type":"input_audio_buffer.cleared","event_id":"e"}')
    target.TestOneInput(b"[" * 5000)
    target.TestOneInput(b'{"type":"error","event_id":"e","error":{"type":"t","message":5}}')
