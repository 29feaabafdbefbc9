"""The web console end to end: headless Chromium with a fake microphone (espeak-ng speech) →
the console page → realtime.js → the relay (a real `relay` process) → the emulator, which hears
the speech (PocketSphinx), answers with a long spoken reply, and is interrupted when the speech
comes round again; the truncation must be at the position the page played, as the emulator
received it. Then the upstream drops and the console shows the relay's reconnect. A screenshot of
the console is taken and checked."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_realtime_ws.emulator import (
    CloseWith,
    EmulatorConfig,
    EmulatorThread,
    Reply,
    TurnContext,
)
from openai_realtime_ws.emulator.voice import PocketsphinxTranscriber, voice_available
from openai_realtime_ws.relay import RealtimeRelay, Upstream

from .conftest import launch, relay_in_a_thread, relay_process

pytestmark = pytest.mark.skipif(not voice_available(),
                                reason="the voice extra (pocketsphinx) is not installed")

LONG = (" and then I will keep talking for a long while so that you can interrupt me at any "
        "moment you like")


class LongReply:
    def respond(self, turn: TurnContext) -> Reply:
        return Reply(text=f"You said {turn.last_user_text}." + LONG)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(config=EmulatorConfig(speed=1), responder=LongReply(),
                        transcriber=PocketsphinxTranscriber()) as emu:
        yield emu


@pytest.fixture(scope="module")
def browser(speech_wav: Path) -> Iterator[Any]:
    with launch("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={speech_wav}") as browser:
        yield browser


@pytest.mark.timeout(90)
def test_talk_hear_interrupt_and_screenshot(emulator: EmulatorThread, browser: Any,
                                            tmp_path: Path) -> None:
    with relay_process(emulator.base_url) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "?autoconnect&mic")
        page.wait_for_function("window.realtimeConsole && "
                               "window.realtimeConsole.interruptions.length > 0", timeout=45_000)
        state: dict[str, Any] = page.evaluate("""() => {
            const s = window.realtimeConsole;
            const at = (type) => (s.log.find((e) => e.type === type) || {}).t;
            return {
                status: s.status, turns: s.turns, errors: s.errors,
                latencyLabel: document.getElementById("latency-label").textContent,

                interruption: s.interruptions[0],
                transcript: s.transcript.map((m) => [m.role, m.text]),
                firstAudio: at("response.output_audio.delta"),
                speechStarts: s.log.filter((e) => e.type === "input_audio_buffer.speech_started")
                                   .map((e) => e.t),
            };
        }""")
        page.wait_for_function("document.querySelectorAll('#interruptions li').length > 0")
        # the upstream drops: the relay reconnects, the console shows it
        emulator.connections[-1].inject_fault(CloseWith(1011))
        page.wait_for_function("window.realtimeConsole.reconnects === 1 && "
                               "window.realtimeConsole.status === 'connected'", timeout=15_000)
        assert page.locator("#reconnects").inner_text() == "1 reconnect"
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot))
        assert page.locator("#status").get_attribute("data-state") == "connected"
        assert page.locator("#log li").count() > 10
    assert errors == [] and state["errors"] == []
    # the user's speech was heard (PocketSphinx on espeak speech: some of the words come back)
    user = [text for role, text in state["transcript"] if role == "user"]
    assert user and {"one", "two", "three", "four", "five"} & set(user[0].split())
    assistant = [text for role, text in state["transcript"] if role == "assistant"]
    assert assistant[0].startswith("You said")
    # the reply was played, and its latency measured from the end of the speech at the
    # microphone: never less than the VAD's silence window (500 ms in the console's form), which
    # the user waits through before the server can even tell the turn ended
    assert state["turns"] and 500 <= state["turns"][0]["ms"] < 10_000, state["turns"]
    assert "end of your speech" in state["latencyLabel"]
    # ... and it starts where the speech ended, not at the server's audio_end_ms, which comes
    # after the silence window (500 ms): the figure is what the user waits
    first = state["turns"][0]
    assert 400 <= first["serverEndAt"] - first["speechEndAt"] <= 700, first
    assert abs(first["ms"] - (first["heardAt"] - first["speechEndAt"])) <= 1
    # the interruption truncated at the played position, as the emulator received it
    stop = state["interruption"]["stop"]
    assert stop["wasPlaying"] and 0 < stop["heardMs"] < stop["receivedMs"]
    received = [e for c in emulator.connections for e in c.received
                if e["type"] == "conversation.item.truncate"]
    assert received == [{"type": "conversation.item.truncate", "item_id": stop["itemId"],
                         "content_index": 0, "audio_end_ms": stop["heardMs"]}]
    # ... which is how long the reply had been sounding (wall clock, from the page's log)
    sounding = state["speechStarts"][-1] - state["firstAudio"]
    assert sounding - 600 < stop["heardMs"] <= sounding + 50
    # the screenshot is the console, not a blank page
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 800)
    assert len(data) > 30_000


@pytest.mark.timeout(60)
def test_console_connects_again_after_a_relay_restart(emulator: EmulatorThread,
                                                      browser: Any) -> None:
    relay = RealtimeRelay(upstream=Upstream("openai", api_key="sk-test",
                                            base_url=emulator.base_url))
    with relay_in_a_thread(relay) as (url, loop):
        page = browser.new_page()
        page.goto(url + "/?autoconnect")
        page.wait_for_function("window.realtimeConsole.status === 'connected'")
        asyncio.run_coroutine_threadsafe(relay.drain(timeout=5), loop).result(10)
        page.wait_for_function("window.realtimeConsole.restarts === 1")
        # the load balancer's next worker (here: the same relay, taking sessions again)
        relay.draining = False
        page.wait_for_function("window.realtimeConsole.status === 'connected' && "
                               "window.realtimeConsole.rt !== null", timeout=20_000)
        assert page.evaluate("window.realtimeConsole.errors") == []
        page.close()
