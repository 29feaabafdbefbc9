"""How long real speech recognition holds up the emulator's event loop.

An in-process emulator with the `voice` extra's PocketSphinx transcriber gets a spoken utterance
(espeak-ng, about 3 s) committed on one connection while a ticker task on the same loop measures
the longest gap between its 5 ms ticks. Side by side: the default (`blocking = True`: called in a
worker thread, decoding in a helper process), a worker thread alone (`process=False`: PocketSphinx
holds the GIL for much of its search, so the loop still stalls), and inline on the loop (the
emulator before issue 10).

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
from openai_realtime_ws.emulator.voice import PocketsphinxTranscriber, espeak_synthesize, resample

TEXT = "please book a table for two people tomorrow evening at seven o'clock near the river"


class InlineTranscriber(PocketsphinxTranscriber):
    """The same recogniser, called on the event loop (the emulator before issue 10)."""

    blocking = False

    def __init__(self) -> None:
        super().__init__(process=False)


def utterance() -> bytes:
    utt = espeak_synthesize(TEXT, "en-us+robosoft3")
    pcm = np.frombuffer(utt.pcm, dtype=np.int16)
    out: bytes = np.clip(np.rint(resample(pcm.astype(np.float64), utt.rate, 24000)),
                         -32768, 32767).astype("<i2").tobytes()
    return out


async def measure(transcriber: Any, audio: bytes) -> tuple[float, float]:
    """(longest loop gap in ms, commit-to-transcript time in ms)."""
    async with Emulator(transcriber=transcriber, config=EmulatorConfig(speed=0)) as emu:
        async with websockets.connect(f"{emu.ws_url}?model=gpt-realtime", max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}}}}))
            await ws.recv()
            await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                      "audio": base64.b64encode(audio).decode()}))
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
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            while True:
                ev = json.loads(await ws.recv())
                if ev["type"] == "conversation.item.input_audio_transcription.completed":
                    break
            took = time.perf_counter() - t0
            stop = True
            await task
    return longest * 1000, took * 1000


async def main() -> None:
    audio = utterance()
    print(f"utterance {len(audio) / 48000:.1f} s; longest event-loop gap while it is recognised "
          "(median of 5 runs):")
    print(f"{'transcriber':<28} {'loop gap ms':>12} {'commit→transcript ms':>21}")
    modes: list[tuple[str, PocketsphinxTranscriber]] = [
        ("helper process (now)", PocketsphinxTranscriber()),
        ("worker thread only", PocketsphinxTranscriber(process=False)),
        ("on the loop (before)", InlineTranscriber()),
    ]
    for name, ears in modes:
        ears.transcribe(audio[:48000], audio_format="audio/pcm")  # build the decoder outside the timing
        runs = [await measure(ears, audio) for _ in range(5)]
        gap = sorted(g for g, _ in runs)[2]
        took = sorted(t for _, t in runs)[2]
        print(f"{name:<28} {gap:>12.1f} {took:>21.1f}")
        ears.close()


if __name__ == "__main__":
    asyncio.run(main())
