"""core.relay_policy without I/O: what a browser may send, server-owned fields, redaction, and
the usage meter's decisions."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest

from openai_realtime_ws.core.relay_policy import (
    DEFAULT_ALLOWED_HOSTS,
    Accepted,
    InputAudioFormat,
    Limits,
    Refused,
    RelayPolicy,
    UpstreamFact,
    UsageMeter,
    host_allowed,
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
    assert OWNED.owned == ("model", "instructions", "tools", "audio.output.voice", "prompt")


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
    event = {"type": "session.update", "event_id": "s1", "session": {
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
    out, fact = OWNED.from_upstream(text)
    assert fact is not None and fact.type == "session.updated"
    session = json.loads(out)["session"]
    assert session == {"model": "gpt-realtime", "audio": {"output": {"speed": 1.0}}}
    delta = '{"type":"response.output_audio.delta","delta":"AAAA"}'
    assert OWNED.from_upstream(delta) == (delta, None)
    assert OWNED.from_upstream(delta)[0] is delta  # byte for byte, not re-encoded
    assert RelayPolicy().from_upstream(text)[0] is text


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


# ---------------------------------------------------------------- issue 18: the holes


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("localhost", True), ("[::1]:8000", True),
    ("LOCALHOST.:80", True), ("rebind.test:8000", False), ("rebind.test", False), (None, False),
    ("", False), ("127.0.0.1.rebind.test:8000", False), ("localhost@evil:1", False),
])
def test_host_must_be_one_of_the_relay_names(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, DEFAULT_ALLOWED_HOSTS) is allowed


def test_configured_hosts_and_domains() -> None:
    names = frozenset({"relay.example.com", ".example.org"})
    assert host_allowed("relay.example.com:443", names)
    assert host_allowed("a.example.org", names) and host_allowed("example.org", names)
    assert not host_allowed("evilexample.org", names)
    assert not host_allowed("localhost:8000", names)
    assert host_allowed("anything", frozenset({"*"}))


SYSTEM = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]}


@pytest.mark.parametrize("event", [
    {"type": "conversation.item.create", "item": SYSTEM},
    {"type": "conversation.item.create", "item": {**SYSTEM, "role": "developer"}},
    {"type": "response.create", "response": {"input": [SYSTEM]}},
    {"type": "response.create", "response": {"input": [
        {"type": "message", "role": "user", "content": []}, {**SYSTEM, "role": "System"}]}},
])
def test_system_messages_refused_on_every_path(event: dict[str, object]) -> None:
    verdict = refused(RelayPolicy().check(frame({**event, "event_id": "e9"})))
    assert verdict.code == "relay_item_not_allowed"
    assert verdict.error["error"]["event_id"] == "e9"
    assert verdict.error["error"]["param"].endswith(".role")
    assert isinstance(RelayPolicy(allow_system_items=True).check(frame(event)), Accepted)


def test_user_and_assistant_items_pass_in_response_input() -> None:
    event = {"type": "response.create", "response": {"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "item_reference", "id": "item_1"}]}}
    assert isinstance(RelayPolicy().check(frame(event)), Accepted)


def test_stored_prompt_is_owned_with_the_instructions() -> None:
    for event in ({"type": "session.update", "session": {"type": "realtime",
                                                         "prompt": {"id": "pmpt_1"}}},
                  {"type": "response.create", "response": {"prompt": {"id": "pmpt_1"}}}):
        assert refused(OWNED.check(frame(event))).code == "relay_server_owned_field"


def test_size_limit_counts_utf8_bytes() -> None:
    policy = RelayPolicy(max_event_bytes=4096)
    text = "\u20ac" * 1500  # 1,500 characters, 4,500 UTF-8 bytes
    event = frame({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    event = json.dumps(json.loads(event), ensure_ascii=False)
    assert len(event) < 4096 < len(event.encode())
    verdict = refused(policy.check(event))
    assert verdict.code == "relay_event_too_large"
    assert f"{len(event.encode())} bytes" in verdict.error["error"]["message"]
    ascii_event = frame({"type": "response.create", "event_id": "x" * 3900})
    assert isinstance(policy.check(ascii_event), Accepted)


def test_audio_is_charged_on_the_confirmed_format() -> None:
    fmt = InputAudioFormat()
    assert fmt.bytes_per_ms == 48
    fmt.requested("u1", 8)  # pcmu asked: charged as G.711 (the longer duration) until answered
    assert fmt.bytes_per_ms == 8
    fmt.learn(UpstreamFact("session.updated", input_bytes_per_ms=8))
    assert fmt.bytes_per_ms == 8
    fmt.requested("u2", 48)  # PCM asked, then refused: stays G.711
    assert fmt.bytes_per_ms == 8
    fmt.learn(UpstreamFact("error", refused_event_id="u2"))
    assert fmt.bytes_per_ms == 8 and fmt.confirmed == 8
    fmt.requested("u3", 48)
    fmt.learn(UpstreamFact("session.updated", input_bytes_per_ms=48))
    assert fmt.bytes_per_ms == 48


def test_session_update_gets_an_event_id_to_match_refusals() -> None:
    verdict = RelayPolicy().check(frame({"type": "session.update", "session": {"type": "realtime"}}))
    assert isinstance(verdict, Accepted)
    assert str(verdict.event["event_id"]).startswith("event_relay_su_")


def test_upstream_errors_never_reach_the_browser_verbatim() -> None:
    account = frame({"type": "error", "event_id": "ev1", "error": {
        "type": "invalid_request_error", "code": "invalid_api_key", "param": None,
        "message": "Incorrect API key provided: sk-proj-abc...1da7. You can find your API key "
                   "at https://platform.openai.com/account/api-keys."}})
    out, fact = RelayPolicy().from_upstream(account)
    error = json.loads(out)["error"]
    assert error["code"] == "relay_upstream_error" and error["type"] == "server_error"
    assert "1da7" not in out and "https://" not in out and "Incorrect" not in out
    assert fact == UpstreamFact("error")
    server = frame({"type": "error", "error": {"type": "server_error", "code": None,
                                                "message": "upstream http://10.0.0.3:9000 died"}})
    assert "10.0.0.3" not in RelayPolicy().from_upstream(server)[0]
    browser = frame({"type": "error", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "param": "session.voice",
        "event_id": "b1", "message": "Invalid value 'x' (see https://platform.openai.com/docs); "
                                     "key sk-abcd1234 rejected"}})
    out, fact = RelayPolicy().from_upstream(browser)
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_value" and error["event_id"] == "b1"
    assert "Invalid value 'x'" in error["message"]
    assert "sk-abcd" not in out and "platform.openai.com" not in out
    assert fact == UpstreamFact("error", refused_event_id="b1")


@pytest.mark.parametrize("frame", [
    b'{"type":"input_audio_buffer.append","audio":"AAAA"}',
    b'{"type":"input_audio_buffer.append","audio":"AAA="}',
    b'{"type":"input_audio_buffer.append","audio":"AA\\"}',  # not base64: parsed, invalid
    b'{"type":"input_audio_buffer.append","audio":"AAAA","event_id":"e1"}',
    b'{"audio":"AAAA","type":"input_audio_buffer.append"}',
    b'{"type":"input_audio_buffer.append","audio":"AA\\u0041A"}',
    b'{"type":"input_audio_buffer.clear"}',
])
def test_append_fast_path_agrees_with_parsing(frame: bytes) -> None:
    policy = RelayPolicy()
    fast = policy.check_append(frame)
    try:
        parsed = json.loads(frame)
    except ValueError:
        assert fast is None
        return
    if parsed.get("type") != "input_audio_buffer.append":
        assert fast is None
        return
    full = policy.check(frame)
    assert isinstance(fast, Accepted) and isinstance(full, Accepted)
    assert fast.audio_ms == full.audio_ms and fast.type == full.type
    assert (fast.event_id or None) == parsed.get("event_id")


@pytest.mark.parametrize("frame", [
    b'{"type":"response.output_audio.delta","delta":"AAAA"}',
    b'{"type":"error","error":{"type":"server_error","message":"sk-abc http://x"}}',
    b'{"type":"session.updated","session":{"instructions":"Be brief."}}',
    b'{"event_id":"e","type":"error","error":{"type":"server_error","message":"x"}}',
    b'{"type":"err\\u006fr","error":{"type":"server_error","message":"sk-abc"}}',
])
def test_upstream_fast_path_reads_every_frame_it_must(frame: bytes) -> None:
    out, fact = OWNED.from_upstream(frame)
    kind = json.loads(frame)["type"]
    if kind == "response.output_audio.delta":
        assert out is frame and fact is None
    else:
        assert fact is not None and fact.type == kind and out is not frame
