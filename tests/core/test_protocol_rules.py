"""Rules moved into the core by issue 23, driven with no event loop: the close sequence, the
reconnect verdicts and delays, which sends may be dropped, who closed first."""

from __future__ import annotations

import random

import pytest

from openai_realtime_ws import (
    HandshakeError,
    InvalidClientEvent,
    RealtimeConfigError,
    RealtimeConnectionError,
)
from openai_realtime_ws.core.connection import (
    Abort,
    Closed,
    Flush,
    Log,
    RealtimeProtocol,
    Reconnect,
    SendClose,
    State,
    close_outcome,
)
from openai_realtime_ws.core.reconnect import ReconnectPolicy, backoff, process_exception
from openai_realtime_ws.core.sendqueue import is_droppable


def opened(**kwargs: object) -> tuple[RealtimeProtocol, list[bytes]]:
    proto = RealtimeProtocol(redact=lambda t: t.replace("sk-secret", "***"), **kwargs)  # type: ignore[arg-type]
    written: list[bytes] = []
    proto.connection_made(written.append)
    proto.release()
    return proto, written


def logs(proto: RealtimeProtocol) -> list[str]:
    return [a.message for a in proto.actions if isinstance(a, Log)]


def test_close_sequence_flush_then_close_frame_then_done() -> None:
    proto, _ = opened()
    proto.writer_paused()
    proto.send_event({"type": "response.create"})
    assert proto.begin_close(4000, "bye") is True and proto.begin_close() is False
    step = proto.close_step(socket_up=True, write=None)  # still write-paused: wait for the flush
    assert isinstance(step, Flush)
    step = proto.close_step(flushed=True)  # (the deadline passed: the event stays unsent)
    assert step == SendClose(4000, "bye")
    assert any(".unsent" in m for m in logs(proto))
    assert isinstance(proto.close_step(ended=True), Closed)


def test_close_sequence_writes_what_is_queued_when_writable() -> None:
    proto, _ = opened()
    proto.writer_paused()
    proto.send_event({"type": "response.create"})
    proto.begin_close()
    fresh: list[bytes] = []
    assert proto.close_step(socket_up=True, write=fresh.append) == SendClose(1000, "OK")
    assert fresh == [b'{"type":"response.create"}']


def test_close_without_a_socket_records_the_code_and_ends() -> None:
    proto, _ = opened(reconnect=ReconnectPolicy())
    proto.connection_lost(1011, "", closed_here=False)
    assert proto.state is State.RECONNECTING
    proto.begin_close(1000, "done")
    assert isinstance(proto.close_step(socket_up=False), Closed)
    assert proto.closed and (proto.close_code, proto.close_reason) == (1000, "done")


def test_close_handshake_timeout_aborts_and_reports_the_discarded_bytes() -> None:
    proto, _ = opened()
    proto.begin_close()
    proto.close_step(socket_up=True, write=lambda b: None)
    assert isinstance(proto.close_step(timed_out=123), Abort)
    assert any("123 bytes" in m for m in logs(proto))


def test_backoff_is_the_policys_delays_for_each_attempt() -> None:
    policy = ReconnectPolicy(max_attempts=4, initial_delay=0.5, factor=2, max_delay=3, jitter=False)
    assert list(backoff(policy)) == [0.5, 1.0, 2.0, 3.0]
    jittered = list(backoff(ReconnectPolicy(max_attempts=3), random.Random(1)))
    assert len(jittered) == 3 and all(0 <= d < 15 for d in jittered)


def test_process_exception_verdicts() -> None:
    assert process_exception(RealtimeConnectionError("refused")) is None
    assert process_exception(HandshakeError("busy", status=503)) is None
    denied = HandshakeError("no", status=401)
    assert process_exception(denied) is denied
    wrapped = process_exception(ValueError("token sk-secret broke"), lambda t: t.replace("sk-secret", "***"))
    assert isinstance(wrapped, RealtimeConnectionError) and "sk-secret" not in wrapped.message
    assert isinstance(wrapped.__cause__, ValueError)


def test_reconnect_attempts_announce_each_and_give_up_when_they_run_out() -> None:
    proto, _ = opened(reconnect=ReconnectPolicy(max_attempts=2, jitter=False, initial_delay=0.1))
    seen: list[int] = []
    proto.add_handler("reconnecting", lambda ctx: seen.append(ctx.attempt), False)
    proto.connection_lost(1006, "", closed_here=False)
    assert any(isinstance(a, Reconnect) for a in proto.actions)
    delays = [ctx.delay for ctx in proto.reconnect_attempts(1006, "")]
    assert delays == [0.1, 0.2] and seen == [1, 2]
    assert proto.state is State.CLOSED and any("giving up after 2" in m for m in logs(proto))


def test_a_fatal_attempt_closes_with_its_cause() -> None:
    proto, _ = opened(reconnect=ReconnectPolicy())
    errors: list[Exception] = []
    proto.add_handler("error", errors.append, False)
    proto.connection_lost(1006, "", closed_here=False)
    assert proto.attempt_failed(1, RealtimeConnectionError("refused")) is True
    assert proto.attempt_failed(2, HandshakeError("bad key", status=401)) is False
    assert proto.state is State.CLOSED and isinstance(errors[-1], HandshakeError)


def test_on_reconnect_false_gives_up() -> None:
    proto, _ = opened(reconnect=ReconnectPolicy())
    proto.connection_lost(1006, "", closed_here=False)
    assert proto.on_reconnect_verdict(1, None) is True
    assert proto.on_reconnect_verdict(1, False) is False and proto.state is State.CLOSED


def test_only_audio_appends_are_droppable_and_the_protocol_classifies_sends() -> None:
    assert is_droppable("input_audio_buffer.append")
    assert not is_droppable("response.create") and not is_droppable("input_audio_buffer.commit")
    proto, _ = opened(send_queue_bytes=200)
    proto.writer_paused()
    for _ in range(5):
        proto.send_event({"type": "input_audio_buffer.append", "audio": "AAAA" * 10})
    proto.send_event({"type": "response.create"})
    # the audio went first when the control event needed room; the control event stayed
    kept = [q.droppable for q in proto.outbound.drain()]
    assert kept[-1] is False and len(kept) < 6


def test_send_audio_refuses_half_a_pcm16_sample() -> None:
    proto, written = opened()
    with pytest.raises(InvalidClientEvent, match="3 bytes is not a whole number of PCM16") as exc:
        proto.send_audio(b"\x00\x01\x02")
    assert exc.value.field == "audio" and isinstance(exc.value, ValueError) and written == []
    proto.send_audio(b"\x00\x01")
    assert len(written) == 1


def test_send_audio_takes_one_byte_samples_in_g711_sessions() -> None:
    proto, written = opened()
    proto.receive(
        b'{"type":"session.updated","event_id":"e","session":{"type":"realtime",'
        b'"audio":{"input":{"format":{"type":"audio/pcmu"}}}}}'
    )
    proto.send_audio(b"\xff\x7f\x00")
    assert len(written) == 1


@pytest.mark.parametrize(
    ("sent", "received", "received_first", "expected"),
    [
        (None, None, False, (None, "", False)),
        ((1000, "bye"), None, False, (1000, "bye", True)),  # we closed, no answer
        ((1000, "OK"), (1000, "OK"), False, (1000, "OK", True)),  # we closed, the peer answered
        ((1001, "away"), (1001, "away"), True, (1001, "away", False)),  # the peer closed first
        (None, (1011, "err"), True, (1011, "err", False)),
    ],
)
def test_close_outcome_who_closed_first(
    sent: tuple[int, str] | None,
    received: tuple[int, str] | None,
    received_first: bool,
    expected: tuple[int | None, str, bool],
) -> None:
    assert close_outcome(sent, received, received_first) == expected


def test_reconnect_policy_is_still_checked() -> None:
    with pytest.raises(RealtimeConfigError):
        ReconnectPolicy(max_attempts=0)


def test_upgrade_refusals_follow_plain_redirects_and_name_the_status() -> None:
    from openai_realtime_ws.core.handshake import ConnectPlan, openai_plan
    from openai_realtime_ws.core.opening import MAX_REDIRECTS, next_hop, upgrade_refused

    plain = ConnectPlan(url="ws://127.0.0.1:9/v1/realtime?model=m", headers=())
    hop = upgrade_refused(plain, 307, "/v2/realtime?model=m", None, "")
    assert isinstance(hop, ConnectPlan) and hop.url == "ws://127.0.0.1:9/v2/realtime?model=m"
    keyed = openai_plan("wss://api.example/v1/realtime?model=m", "sk-secret-0123456789")
    refused = upgrade_refused(keyed, 302, "https://elsewhere.example/", None, "")
    assert isinstance(refused, HandshakeError) and refused.status == 302 and "credentials" in str(refused)
    denied = upgrade_refused(keyed, 401, None, b'{"error":{"message":"bad key sk-secret-0123456789"}}', "")
    assert isinstance(denied, HandshakeError) and denied.status == 401
    assert "bad key ***" in str(denied) and "sk-secret" not in str(denied)
    assert "failed: boom" in str(upgrade_refused(keyed, None, None, None, "boom"))
    with pytest.raises(HandshakeError, match="unencrypted"):
        next_hop("wss://api.example/v1", "http://api.example/v1")
    assert next_hop("wss://a.example/x", "https://b.example/y") == "wss://b.example/y"
    assert MAX_REDIRECTS == 5


def test_a_reassembled_message_over_max_size_stops_writes() -> None:
    proto, written = opened(max_size=10)
    assert proto.message_too_big(10) is False
    assert proto.message_too_big(11) is True
    proto.send_event({"type": "response.create"})
    assert written == [] and len(proto.outbound) == 1  # queued, not written into the closing socket
