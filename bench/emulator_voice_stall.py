"""How long real speech recognition holds up the emulator's events and connection.

An in-process emulator with the `voice` extra's PocketSphinx transcriber (decoding in its helper
process) gets a spoken utterance (espeak-ng, about 4 s) and 0.8 s of silence; server VAD commits
it and a response follows. A `session.update` is sent right behind the audio (how long the
connection makes an unrelated request wait) and a ticker task on the same loop measures the
longest gap between its 5 ms ticks. Side by side: the emulator before issue 19 (the recognition
awaited on the connection's event path: `speech_stopped`, `committed`, `conversation.item.added`
and the request waited for it) and now (off the path: only the response waits for it).

    .venv/bin/python bench/emulator_voice_stall.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import numpy as np
import websockets

from openai_realtime_ws.emulator import Emulator, EmulatorConfig
from openai_realtime_ws.emulator._executor import _offload
from openai_realtime_ws.emulator.core.actions import Offload
from openai_realtime_ws.emulator.voice import PocketsphinxTranscriber, espeak_synthesize, resample

TEXT = "please book a table for two people tomorrow evening at seven o'clock near the river"


def utterance() -> bytes:
    utt = espeak_synthesize(TEXT, "en-us+robosoft3")
    pcm = np.frombuffer(utt.pcm, dtype=np.int16)
    out: bytes = np.clip(np.rint(resample(pcm.astype(np.float64), utt.rate, 24000)),
                         -32768, 32767).astype("<i2").tobytes()
    return out


class HeldEmulator(Emulator):
    """The emulator before issue 19: a blocking recognition is awaited on the connection's event
    path (holding its lock), so the turn's events queued before it wait for it."""

    async def _apply(self, conn: Any, actions: list[Any]) -> None:
        for act in actions:
            if isinstance(act, Offload) and act.blocking and act.then is not None:
                result = await _offload(act)
                if not conn._dead:
                    await super()._apply(conn, act.then(result))
            else:
                await super()._apply(conn, [act])


async def measure(transcriber: Any, audio: bytes, cls: type[Emulator] = Emulator) -> dict[str, float]:
    """Client-side times (ms) from the last audio frame sent, and the longest event-loop gap."""
    async with cls(transcriber=transcriber, config=EmulatorConfig(speed=0)) as emu:
        async with websockets.connect(f"{emu.ws_url}?model=gpt-realtime", max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "output_modalities": ["text"],
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}}))
            await ws.recv()
            longest = 0.0
            stop = False

            async def ticker() -> None:
                nonlocal longest
                last = time.perf_counter()
                while not stop:
                    await asyncio.sleep(0.005)
                    now = time.perf_counter()
                    longest = max(longest, now - last)
                    last = now

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)
            # the utterance and 800 ms of silence: server VAD commits it and answers
            await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                      "audio": base64.b64encode(audio + bytes(48000 * 8 // 10)).decode()}))
            t0 = time.perf_counter()
            # a request sent right behind the audio: how long the connection makes it wait
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            seen: dict[str, float] = {}
            while "response.created" not in seen:
                ev = json.loads(await ws.recv())
                seen.setdefault(ev["type"], (time.perf_counter() - t0) * 1000)
            stop = True
            await task
    return {"stopped": seen["input_audio_buffer.speech_stopped"], "added": seen["conversation.item.added"],
            "updated": seen["session.updated"],
            "transcript": seen["conversation.item.input_audio_transcription.completed"],
            "response": seen["response.created"], "gap": longest * 1000}


async def main() -> None:
    audio = utterance()
    print(f"utterance {len(audio) / 48000:.1f} s + 0.8 s silence, server VAD, PocketSphinx in its helper "
          "process; ms after the audio was sent, at the client (median of 5 runs):")
    cols = ["stopped", "added", "updated", "transcript", "response", "gap"]
    heads = ["speech_stopped", "item.added", "other request", "transcript", "response", "loop gap"]
    print(f"{'emulator':<22}" + "".join(f"{h:>15}" for h in heads))
    ears = PocketsphinxTranscriber()
    ears.transcribe(audio[:48000], audio_format="audio/pcm")  # build the decoder outside the timing
    for name, cls in (("events held (before)", HeldEmulator), ("off the path (now)", Emulator)):
        runs = [await measure(ears, audio, cls) for _ in range(5)]
        print(f"{name:<22}" + "".join(f"{sorted(r[c] for r in runs)[2]:>15.1f}" for c in cols))
    ears.close()


if __name__ == "__main__":
    asyncio.run(main())
