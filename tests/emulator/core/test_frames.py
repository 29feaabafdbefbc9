# The one rule for a client frame (emulator/core/schema.py: decode_client_frame), as every session
# kind answers it: realtime, transcription and translation sessions refuse the same frames with
# the same error (the translation session once had its own copy without the depth check).
from __future__ import annotations

from typing import Any

import pytest

from openai_realtime_ws.emulator.core import EmulatorConfig, IdFactory, Send, Session
from openai_realtime_ws.emulator.core.schema import MAX_DEPTH, FrameRefused, decode_client_frame
from openai_realtime_ws.emulator.core.translation import TranslationSession
from openai_realtime_ws.emulator.responder import EchoResponder

NOW = 1_700_000_000.0
DEEP = '{"type": "session.update", "event_id": "evt_deep", "session": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
FRAMES: list[tuple[str | bytes, bool, str, str | None]] = [
    (b"\x00\x01", True, "Binary frames are not supported", None),
    ("not json", False, "could not be parsed as a JSON object", None),
    ("[1, 2]", False, "expected an object, got list", None),
    (DEEP, False, f"nested deeper than {MAX_DEPTH} levels", "evt_deep"),
]


def _sessions() -> list[Any]:
    config = EmulatorConfig(speed=0)
    return [
        Session(config=config, responder=EchoResponder(), ids=IdFactory(1), now=NOW, kind=kind,
                model="gpt-realtime", defaults=None)
        for kind in ("realtime", "transcription")
    ] + [TranslationSession(config=config, ids=IdFactory(1), now=NOW, model="gpt-realtime-translate")]


@pytest.mark.parametrize(("frame", "binary", "message", "event_id"), FRAMES)
def test_the_rule(frame: str | bytes, binary: bool, message: str, event_id: str | None) -> None:
    refused = decode_client_frame(frame, binary=binary)
    assert isinstance(refused, FrameRefused)
    assert refused.error.code == "invalid_event" and message in refused.error.message
    assert refused.event_id == event_id


def test_an_object_passes() -> None:
    assert decode_client_frame('{"type": "x", "a": [[1]]}') == {"type": "x", "a": [[1]]}


@pytest.mark.parametrize(("frame", "binary", "message", "event_id"), FRAMES)
def test_every_session_kind_answers_alike(frame: str | bytes, binary: bool, message: str,
                                          event_id: str | None) -> None:
    for session in _sessions():
        session.open(NOW)
        sent = [a.event for a in session.receive(frame, NOW, binary=binary) if isinstance(a, Send)]
        assert [e["type"] for e in sent] == ["error"], type(session).__name__
        error = sent[0]["error"]
        assert error["code"] == "invalid_event" and message in error["message"], type(session).__name__
        assert error.get("event_id") == event_id, type(session).__name__
