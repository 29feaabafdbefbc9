"""realtime.js in headless Chromium: the Python client's URL, credential and emitter cases
(tests/core/test_handshake.py, tests/aio/), ported, against the real emulator and relay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from openai_realtime_ws import create_client_secret_sync
from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread

from .conftest import launch, relay_process

KEY = "sk-" + "browsertest-0123456789"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(api_key=KEY, config=EmulatorConfig(speed=0)) as emu:
        yield emu


@pytest.fixture(scope="module")
def ephemeral(emulator: EmulatorThread) -> str:
    """Minted before the browser starts (Playwright's sync API owns this thread's loop then)."""
    return str(create_client_secret_sync(
        session={"type": "realtime", "model": "gpt-realtime", "instructions": "From the server."},
        api_key=KEY, base_url=emulator.base_url)["value"])


@pytest.fixture(scope="module")
def page(emulator: EmulatorThread, ephemeral: str) -> Iterator[Any]:
    with relay_process(emulator.base_url, api_key=KEY) as url, launch() as browser:
        page = browser.new_page()
        page.goto(url)
        page.evaluate("async () => { window.rtjs = await import('/realtime.js'); }")
        yield page


def js(page: Any, body: str, *args: Any) -> Any:
    """Run ``body`` (an async function body with ``rtjs`` in scope and ``args``) in the page."""
    return page.evaluate(f"async (args) => {{ const rtjs = window.rtjs; {body} }}", list(args))


def url_of(page: Any, options: dict[str, Any]) -> Any:
    return js(page, """
        try { return {url: rtjs.buildRealtimeUrl(args[0])}; }
        catch (e) { return {error: e.name, message: e.message}; }""", options)


def check(page: Any, url: str) -> Any:
    return js(page, """
        try { return {url: rtjs.checkWsUrl(args[0])}; }
        catch (e) { return {error: e.name, message: e.message}; }""", url)


def test_https_becomes_wss_with_model(page: Any) -> None:
    assert url_of(page, {"model": "gpt-realtime"}) == {
        "url": "wss://api.openai.com/v1/realtime?model=gpt-realtime"}


def test_trailing_slash_and_call_id_and_intent(page: Any) -> None:
    base = "https://example.com/v1/"
    assert url_of(page, {"baseURL": base, "callId": "rtc_1"})["url"] == (
        "wss://example.com/v1/realtime?call_id=rtc_1")
    assert url_of(page, {"baseURL": base, "intent": "transcription"})["url"] == (
        "wss://example.com/v1/realtime?intent=transcription")
    assert url_of(page, {"baseURL": "http://127.0.0.1:9/v1", "model": "m"})["url"] == (
        "ws://127.0.0.1:9/v1/realtime?model=m")


def test_websocket_base_url_wins(page: Any) -> None:
    assert url_of(page, {"baseURL": "https://api.openai.com/v1",
                         "websocketBaseURL": "wss://gw.example.com/v1", "model": "m"})["url"] == (
        "wss://gw.example.com/v1/realtime?model=m")


@pytest.mark.parametrize("options", [{}, {"model": "m", "callId": "c"},
                                     {"model": "m", "intent": "transcription"}])
def test_exactly_one_target(page: Any, options: dict[str, Any]) -> None:
    result = url_of(page, {"baseURL": "https://x.example/v1", **options})
    assert result["error"] == "RealtimeConfigError" and "exactly one" in result["message"]


def test_bad_intent(page: Any) -> None:
    result = url_of(page, {"baseURL": "https://x.example/v1", "intent": "speech"})
    assert "'transcription'" in result["message"]


def test_plain_ws_refused_off_loopback(page: Any) -> None:
    result = url_of(page, {"baseURL": "http://api.example.com/v1", "model": "m"})
    assert "unencrypted" in result["message"]
    for host in ("127.0.0.1", "127.8.9.10", "[::1]", "localhost"):
        assert url_of(page, {"baseURL": f"http://{host}:8000/v1", "model": "m"})["url"].startswith(
            "ws://")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.255.0.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True), ("10.0.0.1", False), ("128.0.0.1", False),
    ("localhost.example.com", False), ("", False), (None, False)])
def test_loopback(page: Any, host: str | None, loopback: bool) -> None:
    assert js(page, "return rtjs.isLoopbackHost(args[0]);", host) is loopback


def test_url_builder_exact_and_checked(page: Any) -> None:
    assert js(page, """return rtjs.buildRealtimeUrl({model: "m", urlBuilder: (c, t) =>
        `wss://gw.example.com/custom?deployment=${t.model}`});""") == (
        "wss://gw.example.com/custom?deployment=m")
    for bad, words in (("https://gw.example.com/x", "wss://"), ("ws://gw.example.com/x", "wss://")):
        result = js(page, """try { rtjs.buildRealtimeUrl({model: "m", urlBuilder: () => args[0]}); }
                             catch (e) { return e.message; }""", bad)
        assert words in result


@pytest.mark.parametrize("url", ["wss://user:pw@gw.example.com/realtime",
                                 "wss://gw.example.com/realtime?api-key=abc",
                                 "wss://gw.example.com/realtime?model=m&token=abc"])
def test_credentials_never_in_url(page: Any, url: str) -> None:
    result = check(page, url)
    assert result["error"] == "RealtimeConfigError" and "credential" in result["message"]


@pytest.mark.parametrize("name", ["authorization", "Authorization", "auth", "bearer", "ek",
                                  "x-amz-signature", "X-Amz-Signature", "x_amz_credential",
                                  "access_token", "id_token", "jwt", "client-secret"])
def test_credential_like_query_names_refused(page: Any, name: str) -> None:
    secret = "Zq8v3NUlpT6kXw2Y"
    result = check(page, f"wss://h.example/v1/realtime?model=m&{name}={secret}")
    assert "must not carry a credential" in result["message"]
    assert secret not in result["message"]


@pytest.mark.parametrize("value", [KEY, "ek_" + "ab12" * 8, "Bearer " + KEY])
def test_key_shaped_value_refused_under_any_name(page: Any, value: str) -> None:
    result = check(page, f"wss://h.example/v1/realtime?model=m&trace={value}")
    assert "parameter 'trace'" in result["message"] and value not in result["message"]


def test_ordinary_query_names_still_pass(page: Any) -> None:
    url = "wss://h.example/v1/realtime?model=m&deployment=d&api-version=2025-08-28&author=me"
    assert check(page, url) == {"url": url}


# ---------------------------------------------------------------- credentials, live


def test_real_key_refused_in_a_browser_unless_dangerously_allowed(
        page: Any, emulator: EmulatorThread) -> None:
    result = js(page, """
        try { await rtjs.RealtimeWebSocket.create({baseURL: args[0], model: "gpt-realtime",
                                                   key: args[1]}); }
        catch (e) { return {error: e.name, message: e.message}; }""", emulator.base_url, KEY)
    assert result["error"] == "RealtimeConfigError"
    assert "dangerouslyAllowBrowser" in result["message"] and KEY not in result["message"]
    before = len(emulator.connections)
    event = js(page, """
        const rt = await rtjs.RealtimeWebSocket.create({baseURL: args[0], model: "gpt-realtime",
            key: args[1], dangerouslyAllowBrowser: true});
        const created = await new Promise((resolve) => rt.once("session.created", resolve));
        await rt.close();
        return created.type;""", emulator.base_url, KEY)
    assert event == "session.created"
    assert emulator.connections[before].received_api_key == KEY


def test_ephemeral_key_via_subprotocol(page: Any, emulator: EmulatorThread,
                                       ephemeral: str) -> None:
    secret = ephemeral
    before = len(emulator.connections)
    result = js(page, """
        const rt = await rtjs.RealtimeWebSocket.create({baseURL: args[0], model: "gpt-realtime",
                                                         key: async () => args[1]});
        const created = await new Promise((resolve) => rt.once("session.created", resolve));
        const closed = await rt.close(1000, "bye");
        return {instructions: created.session.instructions, protocol: rt.socket.protocol,
                closed, url: rt.url};""", emulator.base_url, secret)
    assert result["instructions"] == "From the server."
    assert result["protocol"] == "realtime"
    assert result["closed"]["code"] == 1000
    assert secret not in result["url"]
    conn = emulator.connections[before]
    assert conn.received_api_key == secret
    assert conn.subprotocol == "realtime"


def test_no_key_without_relay_refused(page: Any) -> None:
    result = js(page, """
        try { await rtjs.RealtimeWebSocket.create({model: "gpt-realtime"}); }
        catch (e) { return e.message; }""")
    assert "ephemeral" in result


# ---------------------------------------------------------------- emitter, through the relay


def test_emitter_order_once_off_and_normalised_error(page: Any,
                                                     emulator: EmulatorThread) -> None:
    result = js(page, """
        const rt = await rtjs.RealtimeWebSocket.create({relay: "/realtime"});
        const seen = [];
        const errors = [];
        rt.on("event", (e) => seen.push("event:" + e.type));
        rt.on("session.created", (e) => seen.push("specific:" + e.type));
        let onceCount = 0;
        rt.once("session.updated", () => { onceCount++; });
        const removed = () => seen.push("removed");
        rt.on("session.updated", removed);
        rt.off("session.updated", removed);
        rt.on("error", (err) => errors.push({name: err.name, code: err.code, param: err.param,
                                             eventId: err.eventId, clientEventId: err.clientEventId,
                                             message: err.message}));
        await new Promise((resolve) => rt.once("session.created", resolve));
        for (let i = 0; i < 2; i++) {
            rt.send({type: "session.update", session: {type: "realtime", instructions: "x" + i}});
            await new Promise((resolve) => rt.once("session.updated", resolve));
        }
        rt.send({type: "response.cancel", event_id: "evt_cancel"});  // nothing to cancel
        await new Promise((resolve) => rt.once("error", resolve));
        rt.on("input_audio_buffer.cleared", () => { throw new Error("boom"); });
        rt.send({type: "input_audio_buffer.clear"});
        await new Promise((resolve) => rt.once("error", resolve));
        let sendError = null;
        try { rt.send({nope: 1}); } catch (e) { sendError = {name: e.name, field: e.field}; }
        const closed = await rt.close(4001, "done here");
        let afterClose = null;
        try { rt.send({type: "response.create"}); } catch (e) { afterClose = e.name; }
        return {seen: seen.slice(0, 2), removed: seen.includes("removed"), onceCount, errors,
                sendError, closed, afterClose};""")
    assert result["seen"] == ["event:session.created", "specific:session.created"]
    assert result["removed"] is False
    assert result["onceCount"] == 1
    api_error, handler_error = result["errors"]
    assert api_error["name"] == "RealtimeAPIError"
    assert api_error["clientEventId"] == "evt_cancel" and api_error["code"]
    assert api_error["eventId"] and api_error["eventId"] != "evt_cancel"  # the error event's own
    assert handler_error["name"] == "HandlerError" and "boom" in handler_error["message"]
    assert result["sendError"] == {"name": "InvalidClientEvent", "field": "type"}
    assert result["closed"]["code"] == 4001
    assert result["afterClose"] == "ConnectionClosedError"
    assert json.dumps(result)  # plain data came back


def test_relay_reconnect_events_reach_the_page(page: Any, emulator: EmulatorThread) -> None:
    from openai_realtime_ws.emulator import CloseWith

    js(page, """
        window.rt2 = await rtjs.RealtimeWebSocket.create({relay: "/realtime"});
        window.rt2events = [];
        rt2.on("reconnecting", (e) => rt2events.push("reconnecting:" + e.close_code));
        rt2.on("reconnected", () => rt2events.push("reconnected"));
        await new Promise((resolve) => rt2.once("session.created", resolve));""")
    emulator.connections[-1].inject_fault(CloseWith(1011))
    page.wait_for_function("window.rt2events.length >= 2", timeout=10_000)
    assert js(page, "const e = window.rt2events; await rt2.close(); return e;") == [
        "reconnecting:1011", "reconnected"]


# ---------------------------------------------------------------- barge-in rules, same as Python


@pytest.mark.parametrize(("item_id", "heard", "received", "complete", "unheard"), [
    ("item_a", 1200, 3000, False, None),     # cut mid-part: truncate at what was heard
    ("item_a", 0, 400, False, None),         # nothing heard, audio received: truncate at 0
    ("item_a", 5000, 3000, False, None),     # never more than received
    ("item_a", 3000, 3000, True, None),      # complete and heard to the end: nothing
    ("item_a", 3000, 3000, False, None),     # heard all received, more was coming: truncate
    (None, 0, 0, False, "item_b"),           # no audio at all for the message: delete it
    ("item_a", 800, 2000, False, "item_b"),  # truncate one, delete the unheard other
])
def test_barge_in_events_match_core_playback(page: Any, item_id: str | None, heard: int,
                                              received: int, complete: bool,
                                              unheard: str | None) -> None:
    from openai_realtime_ws.core.playback import PlaybackStop, barge_in_events

    expected = barge_in_events(PlaybackStop(item_id, 0, heard, received, complete, 0.0, True),
                               unheard_item_id=unheard)
    got = js(page, """
        const audio = await import('/realtime-audio.js');
        const [itemId, heardMs, receivedMs, complete, unheard] = args;
        return audio.bargeInEvents({itemId, contentIndex: 0, heardMs, receivedMs, complete},
                                   {unheardItemId: unheard});""",
             item_id, heard, received, complete, unheard)
    assert got == expected


def test_barge_in_in_a_tail_truncates_the_next_reply_queued_behind_it_at_0(
        page: Any, emulator: EmulatorThread) -> None:
    """Two real replies from the emulator, the second's audio queued behind the first's; the
    user speaks while the first still sounds: the first is truncated at what was heard and the
    second, received but none of it heard, at 0 (core/playback.py's unheard_parts), as the
    emulator receives them. The clock is an OfflineAudioContext suspended at a known time."""
    from openai_realtime_ws.core.playback import PlaybackStop, barge_in_events

    result = js(page, """
        const audio = await import('/realtime-audio.js');
        const ctx = new OfflineAudioContext(1, audio.SAMPLE_RATE * 120, audio.SAMPLE_RATE);
        const player = new audio.AudioPlayer({context: ctx});
        const rt = await rtjs.RealtimeWebSocket.create({relay: "/realtime"});
        await new Promise((resolve) => rt.once("session.created", resolve));
        window.bargeIn = new Promise((resolve) => audio.attachPlayback(rt, player, {
            onInterrupt: (stop, events) => resolve({stop, events})}));
        const truncated = []; // the emulator's answers to the page's truncates
        rt.on("conversation.item.truncated", (e) => truncated.push(e));
        window.bargeInAnswered = async (n) => {
            while (truncated.length < n) await new Promise((resolve) => rt.once("conversation.item.truncated", resolve));
        };
        window.bargeInRt = rt;
        const items = [];
        for (const text of ["Say one thing.", "Say another thing."]) {
            const done = new Promise((resolve) => rt.once("response.done", resolve));
            rt.send({type: "conversation.item.create", item: {type: "message", role: "user",
                     content: [{type: "input_text", text}]}});
            rt.send({type: "response.create"});
            const r = await done;
            items.push(r.response.output.find((o) => o.type === "message").id);
        }
        const [a, b] = items.map((id) => player.part(id, 0));
        // hear the first reply up to half way, then stop the clock
        const at = 0.01 + a.receivedMs / 2000;
        const suspended = ctx.suspend(at);
        ctx.startRendering();
        await suspended;
        return {items, receivedMs: [a.receivedMs, b.receivedMs], heardAt: ctx.currentTime};""")
    items = result["items"]
    assert result["receivedMs"][0] > 100 and result["receivedMs"][1] > 0, result
    conn = emulator.connections[-1]
    emulator.inject(conn, [{"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                            "item_id": "item_user_speech"}])
    got = js(page, """
        const r = await window.bargeIn;
        await window.bargeInAnswered(r.events.length);
        await window.bargeInRt.close();
        return r;""")
    stop, events = got["stop"], got["events"]
    heard = int((result["heardAt"] - 0.01) * 1000)
    assert stop["itemId"] == items[0] and abs(stop["heardMs"] - heard) <= 1, (stop, result)
    assert events == [
        {"type": "conversation.item.truncate", "item_id": items[0], "content_index": 0,
         "audio_end_ms": stop["heardMs"]},
        {"type": "conversation.item.truncate", "item_id": items[1], "content_index": 0,
         "audio_end_ms": 0},
    ]
    assert stop.get("unheardParts") == [[items[1], 0]]
    # the same stop gives the same events in Python (core/playback.py)
    assert events == barge_in_events(PlaybackStop(
        stop["itemId"], 0, stop["heardMs"], stop["receivedMs"], stop["complete"], 0.0,
        stop["wasPlaying"], unheard_parts=((items[1], 0),)))
    # ... and the emulator received exactly those
    received = [e for e in conn.received if e["type"] == "conversation.item.truncate"]
    assert [{k: e[k] for k in ("item_id", "content_index", "audio_end_ms")} for e in received] == [
        {k: e[k] for k in ("item_id", "content_index", "audio_end_ms")} for e in events]


@pytest.mark.parametrize(("unheard_parts", "unheard"), [
    ([["item_b", 0]], None),                       # the next reply's part: truncated at 0
    ([["item_b", 0], ["item_c", 1]], "item_d"),    # several, oldest first; a delete as well
    ([["item_b", 0]], "item_b"),                   # truncated at 0, so not deleted as well
])
def test_unheard_parts_match_core_playback(page: Any, unheard_parts: list[list[Any]],
                                           unheard: str | None) -> None:
    from openai_realtime_ws.core.playback import PlaybackStop, barge_in_events

    expected = barge_in_events(PlaybackStop(
        "item_a", 0, 700, 2000, False, 0.0, True,
        unheard_parts=tuple((i, c) for i, c in unheard_parts)), unheard_item_id=unheard)
    got = js(page, """
        const audio = await import('/realtime-audio.js');
        const [unheardParts, unheard] = args;
        return audio.bargeInEvents({itemId: "item_a", contentIndex: 0, heardMs: 700,
                                    receivedMs: 2000, complete: false, unheardParts},
                                   {unheardItemId: unheard});""", unheard_parts, unheard)
    assert got == expected
