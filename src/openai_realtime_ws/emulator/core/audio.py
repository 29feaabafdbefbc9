# Audio for the emulator, without I/O: the three wire formats (PCM16 24 kHz, G.711 mu-law and
# A-law 8 kHz; PROTOCOL.md §7), the deterministic synthetic "voice" that speaks a reply, the
# matching synthetic "ears" that transcribe it back, and frame energy for the VAD.
#
# The synthetic voice is a tone code: every character of the (lower-cased) text is a sine tone of
# CHAR_MS whose pitch is picked from a 50 Hz grid (200 Hz for index 0 of ALPHABET, 250 Hz for 1, ...),
# a space is CHAR_MS of silence. Every tone holds a whole number of periods per 20 ms unit, so units
# join without clicks, and chunks of any multiple of 20 ms can be cut without re-synthesis.
# `transcribe_tones` recovers the text from such audio (also after G.711 or a resample that keeps the
# pitch), so a test can speak "book a table" into the emulator and get "book a table" back as the
# transcript. Anything else decodes to a placeholder (see `SyntheticTranscriber`).
from __future__ import annotations

import base64
import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

from ...core import g711

AudioFormatType = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.,?!'-:;\"()/&%+=@#$"
UNIT_MS = 20
CHAR_MS = 60
BASE_HZ = 200
STEP_HZ = 50
AMPLITUDE = 0.3


def sample_rate(fmt: str) -> int:
    """Samples per second of a GA audio format type."""
    return 24000 if fmt == "audio/pcm" else 8000


def bytes_per_ms(fmt: str) -> int:
    """Bytes per millisecond of audio on the wire (PCM16 24 kHz: 48; G.711 8 kHz: 8)."""
    return 48 if fmt == "audio/pcm" else 8


def duration_ms(nbytes: int, fmt: str) -> float:
    return nbytes / bytes_per_ms(fmt)


# --- G.711 (ITU-T G.711): the client's codec (core/g711.py), written once -------------------

def encode_samples(samples: Sequence[int], fmt: str) -> bytes:
    """PCM samples (int16 values at the format's rate) to wire bytes."""
    pcm = array("h", samples)
    if sys.byteorder != "little":  # pragma: no cover - wire PCM16 is little-endian
        pcm.byteswap()
    if fmt == "audio/pcm":
        return pcm.tobytes()
    return g711.pcm16_to_ulaw(pcm.tobytes()) if fmt == "audio/pcmu" else g711.pcm16_to_alaw(pcm.tobytes())


def decode_samples(data: bytes, fmt: str) -> array[int]:
    """Wire bytes to int16 samples at the format's own rate (24 kHz or 8 kHz)."""
    if fmt == "audio/pcm":
        pcm = data[: len(data) - (len(data) % 2)]
    else:
        pcm = g711.ulaw_to_pcm16(data) if fmt == "audio/pcmu" else g711.alaw_to_pcm16(data)
    out = array("h")
    out.frombytes(pcm)
    if sys.byteorder != "little":  # pragma: no cover
        out.byteswap()
    return out


# --- synthetic voice ----------------------------------------------------------------------------

def char_frequency(ch: str) -> float | None:
    """Tone pitch for one character, None for a space (silence)."""
    if ch.isspace():
        return None
    idx = ALPHABET.find(ch.lower())
    if idx < 0:
        idx = ALPHABET.index("?")
    return float(BASE_HZ + STEP_HZ * idx)


def normalize_spoken(text: str) -> str:
    """What the tone code can carry: lower case, ALPHABET + single spaces (others become '?')."""
    out: list[str] = []
    for ch in text.lower():
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch if ch in ALPHABET else "?")
    return "".join(out).strip()


@lru_cache(maxsize=512)
def _unit(freq: float | None, fmt: str) -> bytes:
    """One UNIT_MS of tone (or silence) in wire bytes; cached."""
    rate = sample_rate(fmt)
    n = rate * UNIT_MS // 1000
    if freq is None:
        samples = [0] * n
    else:
        amp = AMPLITUDE * 32767
        w = 2 * math.pi * freq / rate
        samples = [round(amp * math.sin(w * i)) for i in range(n)]
    return encode_samples(samples, fmt)


def synth_units(text: str) -> list[float | None]:
    """The UNIT_MS units (pitch or None) that speak `text` with the tone code."""
    per_char = CHAR_MS // UNIT_MS
    units: list[float | None] = []
    for ch in text:
        units.extend([char_frequency(ch)] * per_char)
    return units


def synth_audio(text: str, fmt: str = "audio/pcm", *, lead_silence_ms: int = 0,
                tail_silence_ms: int = 0) -> bytes:
    """Speak `text` with the tone code (wire bytes in `fmt`). Handy to build test input audio."""
    silence = _unit(None, fmt)
    lead = silence * (lead_silence_ms // UNIT_MS)
    tail = silence * (tail_silence_ms // UNIT_MS)
    return lead + b"".join(_unit(u, fmt) for u in synth_units(text)) + tail


def silence(ms: int, fmt: str = "audio/pcm") -> bytes:
    return b"\x00\x00" * (sample_rate(fmt) * ms // 1000) if fmt == "audio/pcm" else (
        encode_samples([0] * (sample_rate(fmt) * ms // 1000), fmt))


@dataclass(frozen=True, slots=True)
class SpeechSegment:
    """One word of a spoken reply: its transcript delta and its audio chunks (base64, wire format).

    `text` is sent as one `response.output_audio_transcript.delta`, then each chunk as one
    `response.output_audio.delta`. `duration_ms` is the audio length of the segment.
    """

    text: str
    chunks: tuple[str, ...]
    duration_ms: int


class Synthesizer(Protocol):
    """Turns reply text into speech segments. The default is `ToneSynthesizer` (no I/O, no deps);
    a real TTS (e.g. the optional `voice` extra) plugs in here. An implementation whose calls
    take long sets a class attribute `blocking = True`: the emulator then runs it in a worker
    thread (it must be thread-safe)."""

    def synthesize(self, text: str, *, voice: str, audio_format: str, chunk_ms: int) -> list[SpeechSegment]:
        """`text` spoken in `voice`, as segments of `chunk_ms` chunks in `audio_format`."""
        ...


class Transcriber(Protocol):
    """Turns committed input audio into text (for transcription events and for the responder).
    `blocking = True` as a class attribute: run in a worker thread (see Synthesizer)."""

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        """The text heard in `audio` (wire bytes in `audio_format`); '' for silence."""
        ...


@lru_cache(maxsize=4096)
def _b64_chunk(units: tuple[float | None, ...], fmt: str) -> str:
    return base64.b64encode(b"".join(_unit(u, fmt) for u in units)).decode("ascii")


@lru_cache(maxsize=4096)
def _word_chunks(spoken: str, audio_format: str, units_per_chunk: int) -> tuple[tuple[str, ...], int]:
    units = synth_units(spoken)
    return tuple(
        _b64_chunk(tuple(units[j : j + units_per_chunk]), audio_format)
        for j in range(0, len(units), units_per_chunk)
    ), len(units) * UNIT_MS


class ToneSynthesizer:
    """Deterministic tone-code speech (see module comment). Word by word: each word's chunks hold
    the word plus the following space; chunk boundaries never cross words, so a word's last chunk
    may be shorter than `chunk_ms` (always a multiple of 20 ms)."""

    def synthesize(self, text: str, *, voice: str, audio_format: str, chunk_ms: int) -> list[SpeechSegment]:
        """`text` in tone code, one segment per word (see the class)."""
        units_per_chunk = max(1, chunk_ms // UNIT_MS)
        words = text.split(" ")
        segments: list[SpeechSegment] = []
        for i, word in enumerate(words):
            if not word:
                continue
            delta = word if not segments else " " + word
            spoken = word + (" " if i < len(words) - 1 else "")
            chunks, ms = _word_chunks(spoken, audio_format, units_per_chunk)
            segments.append(SpeechSegment(delta, chunks, ms))
        return segments


# --- analysis: energy and the tone-code decoder ----------------------------------------------

def frame_rms(samples: Sequence[int]) -> float:
    """Root mean square of a frame of int16 samples."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def rms_threshold(threshold: float) -> float:
    """VAD `threshold` (0..1) to an RMS level: -60 dBFS at 0, -35 dBFS at 0.5, -10 dBFS at 1 [INF]."""
    return 32768.0 * 10 ** ((-60.0 + 50.0 * threshold) / 20.0)


def _frame_pitch(samples: Sequence[int], rate: int) -> float | None:
    """Pitch from interpolated zero crossings; None when too few crossings."""
    first = last = -1.0
    count = 0
    prev = samples[0]
    for i in range(1, len(samples)):
        cur = samples[i]
        if (prev < 0) != (cur < 0):
            t = (i - 1) + prev / (prev - cur) if prev != cur else float(i)
            if first < 0:
                first = t
            last = t
            count += 1
        prev = cur
    if count < 3 or last <= first:
        return None
    return (count - 1) / 2.0 / ((last - first) / rate)


TONE_CODE_MIN_SHARE = 0.6
"""Share of the loud 10 ms frames that must sit in steady runs (>= 40 ms) of one tone-code pitch
for audio to count as tone code. Tone code scores 0.8-1.0 (0.8 when its frames straddle the
10 ms grid); espeak-ng speech scores 0.0: speech pitch glides and is off the 50 Hz grid."""


def transcribe_tones(audio: bytes, fmt: str = "audio/pcm") -> str:
    """Decode tone-code speech back to text (lower case). Returns '' when the audio is silent or
    not tone code (see TONE_CODE_MIN_SHARE): real speech is never decoded into letters."""
    symbols = _tone_symbols(audio, fmt)
    loud = sum(1 for sym in symbols if sym is not None)
    if not loud:
        return ""
    steady = 0
    i = 0
    while i < len(symbols):
        j = i
        while j < len(symbols) and symbols[j] == symbols[i]:
            j += 1
        if symbols[i] and j - i >= 4:
            steady += j - i
        i = j
    if steady < TONE_CODE_MIN_SHARE * loud:
        return ""
    return _decode_runs(symbols)


def _tone_symbols(audio: bytes, fmt: str) -> list[str | None]:
    """Per 10 ms frame: the tone-code character, None for silence, '' when unclear."""
    rate = sample_rate(fmt)
    samples = decode_samples(audio, fmt)
    frame = rate // 100  # 10 ms
    gate = rms_threshold(0.3)
    symbols: list[str | None] = []  # per 10 ms frame: char, None = silence, "" = unclear
    for start in range(0, len(samples) - frame + 1, frame):
        chunk = samples[start : start + frame]
        if frame_rms(chunk) < gate:
            symbols.append(None)
            continue
        pitch = _frame_pitch(chunk, rate)
        if pitch is None:
            symbols.append("")
            continue
        idx = round((pitch - BASE_HZ) / STEP_HZ)
        err = abs(pitch - (BASE_HZ + STEP_HZ * idx))
        symbols.append(ALPHABET[idx] if 0 <= idx < len(ALPHABET) and err < STEP_HZ * 0.3 else "")
    return symbols


def _decode_runs(symbols: list[str | None]) -> str:
    # run-length decode: a run of one symbol lasting k * CHAR_MS is that char k times
    out: list[str] = []
    frames_per_char = CHAR_MS / 10
    i = 0
    while i < len(symbols):
        j = i
        while j < len(symbols) and symbols[j] == symbols[i]:
            j += 1
        sym, run = symbols[i], j - i
        if sym is None:
            if out and out[-1] != " " and run >= frames_per_char * 0.5:
                out.append(" ")
        elif sym and run >= 2:
            out.append(sym * max(1, round(run / frames_per_char)))
        i = j
    return "".join(out).strip()


class SyntheticTranscriber:
    """Default ears: decode the tone code; audio that is not tone code (real speech, music,
    noise) becomes a placeholder `"[audio 1.2s]"` (its duration), silence becomes `""`.
    Deterministic. Real recognition: `voice.PocketsphinxTranscriber` (the `voice` extra)."""

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        """Tone code decoded, else the `[audio N.Ns]` placeholder, '' for silence."""
        text = transcribe_tones(audio, audio_format)
        if text:
            return text
        samples = decode_samples(audio, audio_format)
        if frame_rms(samples) < rms_threshold(0.2):
            return ""
        return f"[audio {duration_ms(len(audio), audio_format) / 1000:.1f}s]"


def b64decode(data: str) -> bytes:
    return base64.b64decode(data, validate=False)
