"""core.relay_policy without I/O: what a browser may send, server-owned fields, redaction, and
the usage meter's decisions."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest

from openai_realtime_ws.core.relay_policy import (
    Accepted,
    Limits,
    Refused,
    RelayPolicy,
    UsageMeter,
)

OWNED = RelayPolicy(server_session={"instructions": "Be brief.", "tools": [{"type": "function",
                                                                            "name": "f"}],
                                    "audio": {"output": {"voice": "marin"}}},
                    redact_server_fields=True)


def frame(event: Mapping[str, object]) -> str:
    return json.dumps(event)


def refused(verdict: Accepted | Refused) -> Refused:
    assert isinstance(verdict, Refused)
    return verdict


def test_owned_paths_are_the_leaves_plus_model() -> None:
    assert OWNED.owned == ("model", "instructions", "tools", "audio.output.voice")


@pytest.mark.parametrize(("session", "param"), [
    ({"instructions": "x"}, "session.instructions"),
    ({"tools": []}, "session.tools"),
    ({"audio": {"output": {"voice": "ash"}}}, "session.audio.output.voice"),
    ({"model": "gpt-4o"}, "session.model"),
])
def test_session_update_cannot_override(session: dict[str, object], param: str) -> None:
    verdict = refused(OWNED.check(frame({"type": "session.update", "event_id": "e1",
                                         "session": {"type": "realtime", **session}})))
    assert verdict.code == "relay_server_owned_field"
    assert verdict.error["error"]["param"] == param
    assert verdict.error["error"]["event_id"] == "e1"


def test_same_value_and_other_fields_pass() -> None:
    event = {"type": "session.update", "session": {
        "type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"],
        "audio": {"output": {"voice": "marin", "speed": 1.1}}}}
    assert OWNED.check(frame(event)) == Accepted(event, "session.update")


def test_response_overrides_are_checked_too() -> None:
    verdict = refused(OWNED.check(frame({"type": "response.create",
                                         "response": {"instructions": "Be long."}})))
    assert verdict.error["error"]["param"] == "response.instructions"
    assert isinstance(OWNED.check(frame({"type": "response.create"})), Accepted)


def test_allowlist_size_and_shape() -> None:
    policy = RelayPolicy(allowed_events=frozenset({"input_audio_buffer.append"}),
                         max_event_bytes=2048)
    assert refused(policy.check('{"type":"response.create"}')).code == "relay_event_not_allowed"
    assert refused(policy.check("x" * 3000)).code == "relay_event_too_large"
    assert refused(policy.check("not json")).code == "relay_invalid_event"
    assert refused(policy.check("[1]")).code == "relay_invalid_event"
    with pytest.raises(ValueError, match="allowed_events"):
        RelayPolicy(allowed_events=frozenset({"output_audio_buffer.clear"}))


def test_system_items_refused_by_default() -> None:
    item = {"type": "conversation.item.create", "item": {
        "type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]}}
    assert refused(RelayPolicy().check(frame(item))).code == "relay_item_not_allowed"
    assert isinstance(RelayPolicy(allow_system_items=True).check(frame(item)), Accepted)


def test_audio_duration_follows_the_format() -> None:
    audio = base64.b64encode(bytes(960)).decode()  # 20 ms of PCM16 24 kHz
    verdict = RelayPolicy().check(frame({"type": "input_audio_buffer.append", "audio": audio}))
    assert isinstance(verdict, Accepted) and verdict.audio_ms == 20
    verdict = RelayPolicy().check(frame({"type": "input_audio_buffer.append", "audio": audio}), 8)
    assert isinstance(verdict, Accepted) and verdict.audio_ms == 120
    update = RelayPolicy().check(frame({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}}))
    assert isinstance(update, Accepted) and update.input_bytes_per_ms == 8


def test_redaction() -> None:
    text = frame({"type": "session.updated", "session": {
        "instructions": "Be brief.", "model": "gpt-realtime", "tools": [],
        "audio": {"output": {"voice": "marin", "speed": 1.0}}}})
    session = json.loads(OWNED.redact(text))["session"]
    assert session == {"model": "gpt-realtime", "audio": {"output": {"speed": 1.0}}}
    delta = '{"type":"response.output_audio.delta","delta":"AAAA"}'
    assert OWNED.redact(delta) is delta
    assert RelayPolicy().redact(text) is text


def test_session_update_and_secret_session() -> None:
    assert OWNED.session_update() == {"type": "session.update", "session": {
        "type": "realtime", **OWNED.server_session}}
    assert RelayPolicy().session_update() is None
    merged = OWNED.secret_session({"output_modalities": ["text"],
                                   "audio": {"output": {"speed": 1.2}}}, "gpt-realtime")
    assert merged == {"type": "realtime", "model": "gpt-realtime", "output_modalities": ["text"],
                      "instructions": "Be brief.", "tools": OWNED.server_session["tools"],
                      "audio": {"output": {"speed": 1.2, "voice": "marin"}}}
    assert isinstance(OWNED.secret_session({"instructions": "x"}, "gpt-realtime"), Refused)


def test_meter_counts_events_and_audio_and_refuses_once_per_window() -> None:
    meter = UsageMeter(Limits(events_per_second=3, audio_seconds=0.05, audio_window=60))
    assert meter.due(100.0)
    pending = meter.take_pending(100.0)
    assert pending == {"ev:100": 0.0, "au:1": 0.0}
    meter.apply({"ev:100": 1.0, "au:1": 0.0}, 100.0)  # another worker used one event
    assert not meter.due(100.0)
    assert meter.charge(100.1, 20) is None
    assert meter.charge(100.2, 20) is None
    first = meter.charge(100.3, 0)
    assert first is not None and first.code == "relay_rate_limited"
    again = meter.charge(100.4, 0)
    assert again is not None and again.error == {}  # dropped quietly
    assert meter.charge(101.0, 20) is not None  # audio: 40 + 20 ms > 50 ms
    assert meter.due(101.0)
    assert meter.take_pending(101.0) == {"ev:101": 0.0, "au:1": 40.0, "ev:100": 2.0}


def test_limits_validated() -> None:
    with pytest.raises(ValueError, match=r"Limits\.max_sessions"):
        Limits(max_sessions=0)


def test_control_events_sync_before_and_after() -> None:
    meter = UsageMeter(Limits(events_per_second=10))
    meter.apply({"ev:5": 0.0}, 5.0)
    assert not meter.due(5.01)          # nothing pending, interval not over
    assert meter.due(5.01, control=True)  # a control event is decided on fresh totals ...
    assert meter.charge(5.01, 0) is None
    assert meter.push_after(control=True)  # ... and pushed before it goes upstream
    assert not meter.push_after(control=False)
