"""The asyncio client against the real emulator over loopback (plain and TLS)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import pytest

from openai_realtime_ws import (
    AsyncOpenAIRealtimeWS,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidClientEvent,
    OpenAIRealtimeError,
    RealtimeAPIError,
    RealtimeConnectionError,
)
from openai_realtime_ws.emulator import Emulator
from openai_realtime_ws.types import (
    ConversationItemCreateEvent,
    ResponseCreateEvent,
    ResponseDoneEvent,
    ResponseOutputAudioDeltaEvent,
    ServerEventBase,
    SessionCreatedEvent,
)

KEY = "sk-test-key-0123456789abcdef"


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


async def text_turn(rt: AsyncOpenAIRealtimeWS, text: str) -> tuple[str, ResponseDoneEvent]:
    deltas: list[str] = []
    rt.on("response.output_text.delta", lambda e: deltas.append(e.delta))
    rt.send(user_text(text))
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    done = await rt.wait_for("response.done", timeout=10)
    return "".join(deltas), done


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_text_turn_plain_and_tls(tls: bool) -> None:
    async with Emulator(api_key=KEY, tls=tls) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key=KEY, model="gpt-realtime", ssl=emu.ssl_context
        )
        assert rt.url.startswith("wss://" if tls else "ws://")
        first = await rt.__anext__()
        assert isinstance(first, SessionCreatedEvent)
        text, done = await text_turn(rt, "hello there")
        assert done.response.status == "completed"
        assert text and "hello there" in text
        assert done.response.usage is not None and done.response.usage.total_tokens
        await rt.close()
        assert rt.closed and rt.close_code == 1000


async def test_typed_events_and_catch_all_order() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        order: list[str] = []
        rt.on("event", lambda e: order.append("event:" + e.type))
        rt.on("response.done", lambda e: order.append("specific:" + e.type))
        rt.send(msgspec.convert(user_text("x"), ConversationItemCreateEvent))
        rt.send(ResponseCreateEvent())
        done = await rt.wait_for("response.done", timeout=10)
        assert isinstance(done, ResponseDoneEvent)
        await rt.close()
    i = order.index("event:response.done")
    assert order[i + 1] == "specific:response.done"


async def test_audio_turn_decodes_audio_lazily() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        chunks: list[bytes] = []

        @rt.on("response.output_audio.delta")
        def on_audio(event: ResponseOutputAudioDeltaEvent) -> None:
            chunks.append(event.audio)

        rt.send(user_text("say something"))
        rt.send({"type": "response.create"})
        await rt.wait_for("response.done", timeout=10)
        await rt.close()
    pcm = b"".join(chunks)
    assert len(pcm) > 4800 and len(pcm) % 2 == 0  # > 100 ms of PCM16 at 24 kHz


async def test_once_off_and_decorator() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        once: list[str] = []
        many: list[str] = []
        rt.once("response.created", lambda e: once.append(e.response.id or ""))
        removed: list[str] = []

        def gone(e: object) -> None:
            removed.append("x")

        rt.on("response.created", gone)
        rt.off("response.created", gone)

        @rt.on("response.created")
        async def counted(e: Any) -> None:
            await asyncio.sleep(0)
            many.append(e.response.id)

        for _ in range(2):
            rt.send(user_text("again"))
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await rt.wait_for("response.done", timeout=10)
        await rt.close()
    assert len(once) == 1 and len(many) == 2 and removed == []


async def test_bad_event_names_field_and_sends_nothing() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        with pytest.raises(InvalidClientEvent) as info:
            rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": 5}})
        assert "session.instructions" in str(info.value) and "str" in str(info.value)
        assert info.value.field == "session.instructions"
        with pytest.raises(InvalidClientEvent, match="unknown `type`"):
            rt.send({"type": "session.updat"})
        with pytest.raises(InvalidClientEvent, match="modalities"):
            rt.send({"type": "session.update", "session": {"type": "realtime", "modalities": ["text"]}})
        with pytest.raises(InvalidClientEvent, match="`type` is missing"):
            rt.send({"session": {}})
        # the connection is intact and the next good event is the first the server sees
        rt.send({"type": "session.update", "event_id": "evt_ok", "session": {"type": "realtime", "instructions": "Be brief."}})
        updated = await rt.wait_for("session.updated", timeout=5)
        assert updated.session.instructions == "Be brief."
        await rt.close()
        assert emu.connections[-1].received_types() == ["session.update"]


async def test_send_raw_skips_validation_and_server_error_reaches_listener() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        errors: list[OpenAIRealtimeError] = []
        rt.on("error", errors.append)
        rt.send_raw('{"type":"bogus.thing","event_id":"evt_bogus"}')
        await rt.wait_for("error", timeout=5)
        await rt.close()
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, RealtimeAPIError)
    assert err.error is not None and err.error.code == "invalid_value"
    assert err.error.event_id == "evt_bogus"
    # the fields are attributes; .message is the API's message alone, str() adds the fields
    assert (err.code, err.param, err.type, err.client_event_id) == (
        err.error.code, err.error.param, err.error.type, "evt_bogus"
    )
    assert err.message == err.error.message and "code=" not in err.message
    assert "code=invalid_value" in str(err) and "event_id=evt_bogus" in str(err)
    assert err.event_id and err.event_id.startswith("event_") and err.server_event_id == err.event_id


async def test_unhandled_api_error_is_raised_from_next_iteration_and_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        assert (await rt.__anext__()).type == "session.created"
        rt.send({"type": "response.cancel", "event_id": "evt_cancel"})
        with pytest.raises(RealtimeAPIError) as info:
            await rt.__anext__()
        assert info.value.code == "response_cancel_not_active"
        assert "response_cancel_not_active" in caplog.text  # logged, never silent
        # iteration continues after the raise
        rt.send({"type": "session.update", "session": {"type": "realtime"}})
        assert (await rt.__anext__()).type == "session.updated"
        # a second unhandled error, not consumed by iteration, is raised by close()
        rt.send({"type": "response.cancel"})
        await asyncio.sleep(0.3)
        with pytest.raises(OpenAIRealtimeError, match="response_cancel_not_active"):
            await rt.close()


async def test_unhandled_error_fails_wait_for() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        rt.send({"type": "response.cancel"})
        with pytest.raises(OpenAIRealtimeError, match="response_cancel_not_active"):
            await rt.wait_for("response.done", timeout=5)
        await rt.close()


async def test_wait_for_timeout() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        with pytest.raises(TimeoutError):
            await rt.wait_for("response.done", timeout=0.2)
        await rt.close()


async def test_bad_key_gets_error_then_close_3000() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(
            base_url=emu.base_url, api_key="sk-wrong-key-zzzz9999", model="m"
        )
        errors: list[OpenAIRealtimeError] = []
        rt.on("error", errors.append)
        events: list[object] = []
        with pytest.raises(ConnectionClosedError) as info:
            async for e in rt:
                events.append(e)
        assert info.value.code == 3000
        assert rt.close_code == 3000
        assert rt.close_reason == "invalid_request_error.invalid_api_key"
        assert errors and isinstance(errors[0], RealtimeAPIError)
        assert errors[0].code == "invalid_api_key"
        assert "sk-wrong-key-zzzz9999" not in errors[0].message
        with pytest.raises(ConnectionClosedError):
            rt.send({"type": "response.create"})


async def test_token_providers_sync_and_async_are_resolved_before_connecting() -> None:
    calls: list[str] = []

    def sync_provider() -> str:
        calls.append("sync")
        return KEY

    async def async_provider() -> str:
        calls.append("async")
        return KEY

    async with Emulator(api_key=KEY) as emu:
        for provider in (sync_provider, async_provider):
            rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=provider, model="m")
            first = await rt.__anext__()
            assert first.type == "session.created"
            await rt.close()
            record = emu.connections[-1]
            assert record.received_api_key == KEY
            assert record.headers["authorization"] == f"Bearer {KEY}"
    assert calls == ["sync", "async"]


async def test_client_object_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    class Client:
        def __init__(self, base_url: str) -> None:
            self.api_key = KEY
            self.base_url = base_url

    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(Client(emu.base_url), model="m")
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        rt = await AsyncOpenAIRealtimeWS.create(model="m")
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()


async def test_openai_sdk_client_object() -> None:
    openai = pytest.importorskip("openai")
    async with Emulator(api_key=KEY) as emu:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=emu.base_url)
        rt = await AsyncOpenAIRealtimeWS.create(client, model="gpt-realtime")
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()


async def test_azure_key_header_and_token_provider() -> None:
    async with Emulator(api_key=KEY) as emu:
        endpoint = emu.base_url.rsplit("/v1", 1)[0]
        rt = await AsyncOpenAIRealtimeWS.azure(endpoint=endpoint, api_key=KEY, deployment="dep")
        assert rt.url.endswith("/openai/v1/realtime?model=dep")
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()
        record = emu.connections[-1]
        assert record.path == "/openai/v1/realtime" and record.query == {"model": "dep"}
        assert record.headers["api-key"] == KEY and "authorization" not in record.headers
        rt = await AsyncOpenAIRealtimeWS.azure(
            endpoint=endpoint, azure_ad_token_provider=lambda: KEY, deployment="dep"
        )
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()
        record = emu.connections[-1]
        assert record.headers["authorization"] == f"Bearer {KEY}" and "api-key" not in record.headers


async def test_no_secret_in_repr_url_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-very-secret-key-XYZ123"
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=secret, model="m")
        texts = [repr(rt), str(rt), rt.url, repr(rt._plan)]
        raised: list[OpenAIRealtimeError] = []
        while True:
            try:
                await rt.__anext__()
            except ConnectionClosedError as exc:
                raised.append(exc)
                break
            except OpenAIRealtimeError as exc:  # the unhandled invalid_api_key error, first
                raised.append(exc)
        assert [type(e).__name__ for e in raised] == ["RealtimeAPIError", "ConnectionClosedError"]
        texts += [t for e in raised for t in (str(e), repr(e))]
    for t in [*texts, caplog.text]:
        assert secret not in t
        assert "XYZ123" not in t or "…" in t  # the server itself shows at most the last 4


async def test_close_code_and_reason_reach_server() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        await rt.close(4321, "bye now")
        assert rt.closed
        record = emu.connections[-1]
        assert await record.wait_closed() == 4321
        with pytest.raises(ConnectionClosedOK):  # we closed it: a normal close
            rt.send({"type": "response.create"})


async def test_connection_refused_is_clear() -> None:
    with pytest.raises(RealtimeConnectionError, match="could not connect"):
        await AsyncOpenAIRealtimeWS.create(base_url="http://127.0.0.1:9/v1", api_key=KEY, model="m")


async def test_iteration_ends_after_normal_close() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        seen: list[ServerEventBase] = []

        async def consume() -> None:
            async for event in rt:
                assert isinstance(event, ServerEventBase)
                seen.append(event)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.2)
        await rt.close()
        await asyncio.wait_for(task, 5)
    assert seen and seen[0].type == "session.created"


async def test_drain_waits_for_queued_sends() -> None:
    async with Emulator() as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        for _ in range(200):
            rt.send_audio(b"\x00\x01" * 2400)
        await rt.drain()
        assert rt.outbound_bytes == 0
        rt.send({"type": "input_audio_buffer.commit", "event_id": "evt_c"})
        await rt.wait_for("input_audio_buffer.committed", timeout=5)
        await rt.close()
        with pytest.raises(ConnectionClosedOK):
            await rt.drain()
    types = emu.connections[-1].received_types()
    assert types.count("input_audio_buffer.append") == 200 and types[-1] == "input_audio_buffer.commit"


async def test_azure_accepts_an_openai_azure_client_object() -> None:
    openai = pytest.importorskip("openai")
    async with Emulator(api_key=KEY) as emu:
        endpoint = emu.base_url.rsplit("/v1", 1)[0]
        client = openai.AzureOpenAI(
            azure_endpoint=endpoint, api_key=KEY, api_version="2025-04-01-preview",
            azure_deployment="my-deployment",
        )
        rt = await AsyncOpenAIRealtimeWS.azure(client)
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()
        record = emu.connections[-1]
        assert record.path == "/openai/v1/realtime" and record.query == {"model": "my-deployment"}
        assert record.headers["api-key"] == KEY
        calls: list[str] = []

        async def token() -> str:
            calls.append("token")
            return KEY

        aclient = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint, azure_ad_token_provider=token, api_version="2025-04-01-preview"
        )
        rt = await AsyncOpenAIRealtimeWS.azure(aclient, deployment="other")
        assert (await rt.__anext__()).type == "session.created"
        await rt.close()
        record = emu.connections[-1]
        assert record.query == {"model": "other"} and calls == ["token"]
        assert record.headers["authorization"] == f"Bearer {KEY}" and "api-key" not in record.headers
