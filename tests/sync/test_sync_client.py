"""The blocking client against the emulator running in a thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from openai_realtime_ws import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidClientEvent,
    OpenAIRealtimeError,
    OpenAIRealtimeWS,
    RealtimeAPIError,
)
from openai_realtime_ws.emulator import EmulatorThread
from openai_realtime_ws.types import (
    ResponseDoneEvent,
    ResponseOutputTextDeltaEvent,
    UnknownServerEvent,
)

KEY = "sk-sync-key-0123456789"


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_blocking_text_turn(tls: bool) -> None:
    with EmulatorThread(api_key=KEY, tls=tls) as emu:
        with OpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="gpt-realtime", ssl=emu.ssl_context
        ) as rt:
            seen: list[str] = []
            threads: set[str] = set()
            deltas: list[str] = []
            rt.on("event", lambda e: seen.append(e.type))

            @rt.on("response.output_text.delta")
            def on_delta(event: ResponseOutputTextDeltaEvent) -> None:
                threads.add(threading.current_thread().name)
                deltas.append(event.delta)

            rt.send(user_text("blocking hello"))
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done = rt.wait_for("response.done", timeout=10)
            assert isinstance(done, ResponseDoneEvent)
            assert done.response.status == "completed"
        assert rt.closed
    # handlers registered right after create() saw session.created
    assert seen[0] == "session.created"
    assert "blocking hello" in "".join(deltas)
    assert threads == {"openai-realtime-ws"}  # handlers run on the client's loop thread


def test_blocking_iteration_and_validation() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        with pytest.raises(InvalidClientEvent, match="item"):
            rt.send({"type": "conversation.item.create", "item": "not an object"})
        rt.send(user_text("iterate"))
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        types = []
        for event in rt:
            types.append(event.type)
            if event.type == "response.done":
                break
        assert types[0] == "session.created"
        assert "response.output_text.delta" in types
        rt.close()


def test_blocking_unhandled_error_raised_on_wait_for_and_close_is_idempotent() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        rt.send({"type": "response.cancel"})
        with pytest.raises(OpenAIRealtimeError, match="response_cancel_not_active"):
            rt.wait_for("response.done", timeout=5)
        rt.close()
        rt.close()
        with pytest.raises(ConnectionClosedOK):
            rt.send({"type": "response.create"})


def test_blocking_bad_key() -> None:
    with EmulatorThread(api_key=KEY) as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key="sk-bad-0000", model="m")
        errors: list[OpenAIRealtimeError] = []
        rt.on("error", errors.append)
        with pytest.raises(ConnectionClosedError) as info:
            for _ in rt:
                pass
        assert info.value.code == 3000
        assert isinstance(errors[0], RealtimeAPIError) and errors[0].code == "invalid_api_key"
        rt.close()


def test_blocking_method_from_handler_is_refused() -> None:
    with EmulatorThread() as emu:
        rt = OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        problems: list[BaseException] = []

        def bad(event: object) -> None:
            try:
                rt.wait_for("response.done", timeout=1)
            except RuntimeError as exc:
                problems.append(exc)

        rt.on("session.created", bad)
        rt.start()
        rt.send({"type": "session.update", "session": {"type": "realtime"}})
        rt.wait_for("session.updated", timeout=5)
        rt.close()
    assert problems and "loop thread" in str(problems[0])


def test_blocking_send_then_slow_wait_for_does_not_miss_the_reply() -> None:
    import time

    with EmulatorThread() as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m") as rt:
            rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": "one"}})
            time.sleep(0.3)  # the reply arrives before wait_for is even called
            first = rt.wait_for("session.updated", timeout=5)
            assert first.session.instructions == "one"
            rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": "two"}})
            time.sleep(0.3)
            second = rt.wait_for("session.updated", timeout=5)
            assert second.session.instructions == "two"  # not the first reply again
            with pytest.raises(TimeoutError):
                rt.wait_for("session.updated", timeout=0.3)  # nothing new since


def test_blocking_iteration_is_typed_over_known_events_and_all_events_yields_every_one() -> None:
    with EmulatorThread(api_key=KEY) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime") as rt:
            assert rt.wait_for("session.created", timeout=5).type == "session.created"
            emu.inject(emu.connections[0], [{"type": "brand.new.event", "event_id": "e1"}])
            rt.send({"type": "input_audio_buffer.clear"})
            known = next(iter(rt))
            assert known.type == "input_audio_buffer.cleared"  # the unknown one was passed over
            emu.inject(emu.connections[0], [{"type": "brand.new.event", "event_id": "e2"}])
            rt.send({"type": "input_audio_buffer.clear"})
            every = rt.all_events()
            first, second = next(every), next(every)
            assert isinstance(first, UnknownServerEvent) and first.event_id == "e2"
            assert second.type == "input_audio_buffer.cleared"


def test_a_blocking_call_from_a_signal_handler_while_the_lock_is_held_does_not_deadlock() -> None:
    # a Python signal handler runs in the main thread between bytecodes, possibly while that
    # thread is inside the loop thread's lock (devx saw a Ctrl-C hang): the lock is re-entrant
    with EmulatorThread(api_key=KEY) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime") as rt:
            with rt._runner._lock:  # as if interrupted inside _submit/_wait
                rt.send({"type": "input_audio_buffer.clear"})  # what the handler calls
                event = rt.wait_for("input_audio_buffer.cleared", timeout=5)
            assert event.type == "input_audio_buffer.cleared"
