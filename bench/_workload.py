"""The benchmark workload, shared by the flood server and the clients (no I/O here).

One *period* is one realistic audio response of exactly ``PERIOD`` (200) server events, shaped
like a GA trace of the emulator (``EmulatorConfig(audio_chunk_ms=20)``):

    response.created, rate_limits.updated, response.output_item.added,
    response.content_part.added,
    191 deltas: 141 ``response.output_audio.delta`` (20 ms = 480 samples PCM16 = 960 bytes,
        1280 base64 chars), 46 ``response.output_audio_transcript.delta`` (one every 3 audio
        deltas), 4 ``response.output_text.delta``,
    response.output_audio.done, response.output_audio_transcript.done,
    response.content_part.done, response.output_item.done,
    response.done (status completed, full ``usage``).

A flood of ``k`` responses is ``k * PERIOD`` events; its last event is the k-th
``response.done``. A *probe* is the first ``FIRST_DELTA_INDEX + 1`` events of a period, ending
with its first audio delta (request -> first delta latency).
"""

from __future__ import annotations

import base64
import math
from typing import Any, Final

import msgspec

PERIOD: Final = 200
FIRST_DELTA_INDEX: Final = 4
AUDIO_TYPE: Final = "response.output_audio.delta"
DONE_TYPE: Final = "response.done"
BENCH_EVENTS_KEY: Final = "bench_events"
"""``response.create`` with ``response.metadata[BENCH_EVENTS_KEY] = "<n>"`` asks the flood
server for ``n`` events of the cyclic script."""
COUNT_PREFIX: Final = "event_count_"
"""``input_audio_buffer.clear`` is answered with ``input_audio_buffer.cleared`` whose
``event_id`` is ``COUNT_PREFIX + <text frames received on this connection>``."""

SAMPLE_RATE: Final = 24_000
CHUNK_SAMPLES: Final = 480  # 20 ms
CHUNK_BYTES: Final = CHUNK_SAMPLES * 2

_RESP = "resp_BenchFlood0000000001"
_ITEM = "item_BenchFlood0000000001"
_CONV = "conv_BenchFlood0000000001"
_WORDS = ("Sure", ",", " here", " is", " a", " long", " answer", " about", " the", " weather",
          " in", " Paris", " today", ".")


def pcm_chunks(count: int = 50, freq: float = 440.0) -> list[bytes]:
    """``count`` consecutive 20 ms chunks of a sine tone, PCM16 little-endian mono 24 kHz."""
    out: list[bytes] = []
    for c in range(count):
        samples = bytearray()
        for i in range(CHUNK_SAMPLES):
            t = (c * CHUNK_SAMPLES + i) / SAMPLE_RATE
            v = int(12_000 * math.sin(2 * math.pi * freq * t))
            samples += v.to_bytes(2, "little", signed=True)
        out.append(bytes(samples))
    return out


def session_created() -> dict[str, Any]:
    return {
        "type": "session.created",
        "event_id": "event_BenchFlood000000000",
        "session": {
            "type": "realtime", "object": "realtime.session", "id": "sess_BenchFlood000000000",
            "model": "gpt-realtime", "output_modalities": ["audio"],
            "instructions": "You are a helpful, witty, and friendly AI.",
            "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
            "truncation": "auto", "prompt": None, "expires_at": 1795709931,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                        "silence_duration_ms": 200, "idle_timeout_ms": None,
                        "create_response": True, "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy",
                           "speed": 1.0},
            },
            "include": None,
        },
    }


def _response(status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "object": "realtime.response", "id": _RESP, "status": status, "status_details": None,
        "output": output, "conversation_id": _CONV, "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "usage": usage, "metadata": None,
    }


def response_period() -> list[dict[str, Any]]:
    """The ``PERIOD`` events of one audio response, in wire order."""
    ids = iter(range(1, 10_000))

    def eid() -> str:
        return f"event_BenchFlood{next(ids):09d}"

    loc = {"response_id": _RESP, "item_id": _ITEM, "output_index": 0, "content_index": 0}
    audio = [base64.b64encode(c).decode() for c in pcm_chunks(50)]
    head: list[dict[str, Any]] = [
        {"type": "response.created", "event_id": eid(), "response": _response("in_progress", [], None)},
        {"type": "rate_limits.updated", "event_id": eid(),
         "rate_limits": [{"name": "tokens", "limit": 40000, "remaining": 39750, "reset_seconds": 0.375}]},
        {"type": "response.output_item.added", "event_id": eid(), "response_id": _RESP,
         "output_index": 0, "item": {"id": _ITEM, "type": "message", "status": "in_progress",
                                     "role": "assistant", "content": []}},
        {"type": "response.content_part.added", "event_id": eid(), **loc,
         "part": {"type": "audio", "transcript": ""}},
    ]
    tail_len = 5
    body: list[dict[str, Any]] = []
    transcript: list[str] = []
    unit = 0
    n_audio = 0
    while len(body) < PERIOD - len(head) - tail_len:
        kinds = ["A", "A", "A", "T"] + (["X"] if unit % 10 == 9 else [])
        for kind in kinds:
            if len(body) >= PERIOD - len(head) - tail_len:
                break
            if kind == "A":
                body.append({"type": AUDIO_TYPE, "event_id": eid(), **loc,
                             "delta": audio[n_audio % len(audio)]})
                n_audio += 1
            elif kind == "T":
                word = _WORDS[len(transcript) % len(_WORDS)]
                transcript.append(word)
                body.append({"type": "response.output_audio_transcript.delta", "event_id": eid(),
                             **loc, "delta": word})
            else:
                body.append({"type": "response.output_text.delta", "event_id": eid(), **loc,
                             "delta": " (text)"})
        unit += 1
    text = "".join(transcript)
    item_done = {"id": _ITEM, "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_audio", "transcript": text}]}
    usage = {
        "total_tokens": 412, "input_tokens": 141, "output_tokens": 271,
        "input_token_details": {
            "text_tokens": 121, "audio_tokens": 20, "image_tokens": 0, "cached_tokens": 64,
            "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 58, "audio_tokens": 213},
    }
    tail: list[dict[str, Any]] = [
        {"type": "response.output_audio.done", "event_id": eid(), **loc},
        {"type": "response.output_audio_transcript.done", "event_id": eid(), **loc,
         "transcript": text},
        {"type": "response.content_part.done", "event_id": eid(), **loc,
         "part": {"type": "audio", "transcript": text}},
        {"type": "response.output_item.done", "event_id": eid(), "response_id": _RESP,
         "output_index": 0, "item": item_done},
        {"type": DONE_TYPE, "event_id": eid(), "response": _response("completed", [item_done], usage)},
    ]
    events = head + body + tail
    assert len(events) == PERIOD and events[FIRST_DELTA_INDEX]["type"] == AUDIO_TYPE
    assert sum(e["type"] == DONE_TYPE for e in events) == 1 and events[-1]["type"] == DONE_TYPE
    return events


def audio_per_period() -> int:
    return sum(e["type"] == AUDIO_TYPE for e in response_period())


def encode_all(events: list[dict[str, Any]]) -> list[bytes]:
    enc = msgspec.json.Encoder()
    return [enc.encode(e) for e in events]


def server_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented server->client text frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


def mix_summary() -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in response_period():
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    return counts
