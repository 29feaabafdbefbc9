# Every error row of PROTOCOL.md §5 that §8 names, reproduced over a real socket: code, message,
# param and `error.event_id` = the causing client event's id. (session_expired, invalid_api_key
# and beta_api_shape_disabled, which end the socket, are in test_handshake.py.)
from __future__ import annotations

import pytest

from openai_realtime_ws.emulator import Emulator, EmulatorConfig

from .helpers import b64, connect, types, user_text


async def test_session_stays_usable_after_errors(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)

    await raw.ws.send("{not json")
    err = await raw.expect_error()
    assert err["code"] == "invalid_event" and err["event_id"] is None

    await raw.send({"event_id": "evt_missing_type"})
    err = await raw.expect_error()
    assert (err["code"], err["message"], err["event_id"]) == (
        "invalid_event", "The 'type' field is missing.", "evt_missing_type")

    await raw.send({"type": "bogus.event", "event_id": "evt_bogus"})
    err = await raw.expect_error()
    assert (err["code"], err["param"], err["event_id"]) == ("invalid_value", "type", "evt_bogus")
    assert err["message"].startswith("Invalid value: 'bogus.event'. Supported values are: 'session.update', ")

    await raw.send({"type": "session.update", "event_id": "evt_unknown", "session": {"type": "realtime",
                                                                                     "modalities": ["text"]}})
    err = await raw.expect_error()
    assert (err["code"], err["message"], err["param"], err["event_id"]) == (
        "unknown_parameter", "Unknown parameter: 'session.modalities'.", "session.modalities", "evt_unknown")

    await raw.send({"type": "session.update", "event_id": "evt_missing", "session": {"instructions": "x"}})
    err = await raw.expect_error()
    assert (err["code"], err["message"], err["param"], err["event_id"]) == (
        "missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type", "evt_missing")

    await raw.send({"type": "input_audio_buffer.append", "audio": b64(b"\x00\x00" * 1200)})  # 50 ms
    await raw.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
    err = await raw.expect_error()
    assert (err["code"], err["event_id"]) == ("input_audio_buffer_commit_empty", "evt_commit")
    assert err["message"] == ("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                              "audio, but buffer only has 50.00ms of audio.")

    await raw.send({"type": "response.cancel", "event_id": "evt_cancel"})
    err = await raw.expect_error()
    assert (err["code"], err["message"], err["event_id"]) == (
        "response_cancel_not_active", "Cancellation failed: no active response found", "evt_cancel")

    # still alive: a normal turn works
    await raw.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    assert (await raw.recv())["type"] == "session.updated"
    await raw.send(user_text("still here?"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create"})
    events = await raw.response()
    assert events[-2]["response"]["status"] == "completed"


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=1.0))
async def test_active_response_error(realtime_emulator: Emulator) -> None:
    raw = await connect(realtime_emulator)
    await raw.send(user_text("please say something long enough to still be talking"))
    await raw.recv_until("conversation.item.done")
    await raw.send({"type": "response.create", "event_id": "evt_first"})
    created = await raw.recv()
    assert created["type"] == "response.created"
    await raw.send({"type": "response.create", "event_id": "evt_second"})
    events = await raw.recv_until("error")
    err = events[-1]["error"]
    resp_id = created["response"]["id"]
    assert (err["code"], err["event_id"]) == ("conversation_already_has_active_response", "evt_second")
    assert err["message"] == (f"Conversation already has an active response in progress: {resp_id}. "
                              "Wait until the response is finished before creating a new one.")
    await raw.send({"type": "response.cancel"})
    rest = await raw.response()
    assert rest[-2]["response"]["status"] == "cancelled"
    assert types(rest)[-2:] == ["response.done", "rate_limits.updated"]
