# Issue 19 item 5: OpenAIRealtimeError.event_id is the server event's id (openai-node's meaning);
# the client event's id is RealtimeAPIError.client_event_id (and still exc.error.event_id).
from __future__ import annotations

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeError, RealtimeAPIError
from openai_realtime_ws.emulator import Emulator


async def test_event_id_is_the_server_events_and_client_event_id_the_clients(realtime_emulator: Emulator) -> None:
    errors: list[OpenAIRealtimeError] = []
    rt = await AsyncOpenAIRealtimeWS.create(base_url=realtime_emulator.base_url, api_key="sk-x", model="gpt-realtime")
    rt.on("error", errors.append)
    rt.send_raw('{"type":"response.cancel","event_id":"evt_mine"}')
    event = await rt.wait_for("error", timeout=5)
    await rt.close()
    [err] = errors
    assert isinstance(err, RealtimeAPIError)
    assert err.event_id == event.event_id and err.event_id.startswith("event_")  # the server's error event
    assert err.client_event_id == "evt_mine" == (err.error.event_id if err.error else None)
    assert err.server_event_id == err.event_id
    assert OpenAIRealtimeError("local").event_id is None  # no server event behind a local error
