# Real local speech for the emulator (the optional `voice` extra): `EspeakSynthesizer` speaks the
# responder's replies with espeak-ng, `PocketsphinxTranscriber` recognises the user's input audio
# with PocketSphinx's bundled US English model. Both plug into `Emulator(synthesizer=...,
# transcriber=...)` (or `python -m openai_realtime_ws.emulator --voice`) in place of the tone code.
#
# Nothing here imports the wheels at module import: `espeakng_loader`, `pocketsphinx` and `numpy`
# are imported on first use, so `openai_realtime_ws.emulator(.voice)` imports without the extra and
# `voice_available()` says whether it is installed.
#
# espeak-ng is called through ctypes on the shared library that `espeakng-loader` ships (with its
# data): `espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ..., data path, DONT_EXIT)` once per process,
# a synth callback that collects the 22050 Hz PCM16 mono buffers and the WORD events (character
# position and sample index of every word), `espeak_SetVoiceByName` + `espeak_SetParameter(RATE)`
# and `espeak_Synth(UTF-8 | ENDPAUSE)`. The library keeps global state, so all calls go through
# one lock. The utterance is resampled (band-limited, FFT) to 24 kHz or 8 kHz, cut at the word
# events snapped to the 20 ms grid (one `SpeechSegment` per word, deltas that join to the text) and
# encoded with the emulator's own format conversion (`core.audio.encode_samples`, G.711 included).
from __future__ import annotations

import base64
import contextlib
import ctypes
import importlib
import itertools
import json
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .core.audio import (
    UNIT_MS,
    SpeechSegment,
    decode_samples,
    encode_samples,
    rms_threshold,
    sample_rate,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_VOICES",
    "ESPEAK_RATE",
    "EspeakSynthesizer",
    "EspeakUtterance",
    "PocketsphinxTranscriber",
    "VoiceUnavailableError",
    "espeak_synthesize",
    "resample",
    "voice_available",
]

ESPEAK_RATE = 22050
"""espeak-ng's output rate (PCM16 mono); `espeak_Initialize` reports it."""
RECOGNIZER_RATE = 16000
"""What PocketSphinx's bundled acoustic model expects."""

_REQUIRED = ("espeakng_loader", "pocketsphinx", "numpy")
_INSTALL_HINT = "pip install 'openai-realtime-ws[voice]'"

# OpenAI voice names -> espeak-ng voices (language + variant). The default session voice, alloy,
# gets the variant PocketSphinx recognises best (robosoft3: 11.6 of 14 test sentences' words right,
# plain en-us about half), so the emulator's own speech transcribes back. Anything else is tried as
# an espeak-ng voice name as is (e.g. "en-gb", "en-us+klatt"), then falls back to "en-us".
DEFAULT_VOICES: Mapping[str, str] = {
    "alloy": "en-us+robosoft3",
    "ash": "en-us+edward",
    "ballad": "en-us+robosoft2",
    "coral": "en-us+f5",
    "echo": "en-us+klatt5",
    "sage": "en-us+f3",
    "shimmer": "en-us+f2",
    "verse": "en-us+m3",
    "marin": "en-us+f4",
    "cedar": "en-us+m5",
}
_FALLBACK_VOICE = "en-us"


class VoiceUnavailableError(RuntimeError):
    """The optional `voice` extra (espeakng-loader, pocketsphinx, numpy) is not installed or does
    not load."""


def voice_available() -> bool:
    """True when the `voice` extra is installed and its libraries load."""
    try:
        for name in _REQUIRED:
            importlib.import_module(name)
    except (ImportError, OSError):
        return False
    return True


def _require(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:
        raise VoiceUnavailableError(
            f"the emulator's real voice needs the optional 'voice' extra ({name} is missing: {exc}); "
            f"install it with: {_INSTALL_HINT}") from exc


def _numpy() -> Any:
    return _require("numpy")


# --- resampling -------------------------------------------------------------------------------

def resample(samples: FloatArray | Sequence[int], src: int, dst: int) -> FloatArray:
    """Band-limited resampling (FFT: keep/zero-pad the spectrum up to the lower Nyquist), float64
    out at int16 scale. Whole-utterance only (it is circular; speech starts and ends quiet)."""
    np = _numpy()
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if src == dst or n == 0:
        return x.copy()  # type: ignore[no-any-return]
    m = max(1, round(n * dst / src))
    spec = np.fft.rfft(x)
    out = np.zeros(m // 2 + 1, dtype=np.complex128)
    k = min(len(spec), len(out))
    out[:k] = spec[:k]
    if m % 2 == 0 and k == len(out):  # the new Nyquist bin of a real signal must be real
        out[-1] = out[-1].real
    return np.fft.irfft(out, m) * (m / n)  # type: ignore[no-any-return]


def _to_int16(x: FloatArray) -> Any:
    np = _numpy()
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


# --- espeak-ng through ctypes -----------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_RATE = 1  # espeak_PARAMETER espeakRATE (words per minute)
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1


class _EspeakEvent(ctypes.Structure):
    """`espeak_EVENT` (speak_lib.h); the trailing `id` union is 8 bytes (char[8] / pointer)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the UTF-8 text
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # sample index from the start of the utterance
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_EspeakEvent))


@dataclass(frozen=True, slots=True)
class EspeakUtterance:
    """Raw espeak output: PCM16 mono at `rate`, and `(char_index, sample)` of each word start
    (0-based character index into the text)."""

    pcm: bytes
    rate: int
    words: tuple[tuple[int, int], ...]


class _Espeak:
    """The process-wide espeak-ng library (global state: one instance, one lock)."""

    def __init__(self) -> None:
        loader = _require("espeakng_loader")
        try:
            lib = ctypes.CDLL(loader.get_library_path())
            data = loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise VoiceUnavailableError(f"espeak-ng does not load: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise VoiceUnavailableError(f"espeak_Initialize failed ({rate}) with data at {data}")
        self.lib = lib
        self.rate = int(rate)
        self.lock = threading.Lock()
        self._voice: str | None = None
        self._pcm: list[bytes] = []
        self._words: list[tuple[int, int]] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self._pcm.append(ctypes.string_at(wav, count * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._words.append((ev.text_position - 1, ev.sample))
            i += 1
        return 0  # continue

    def _set_voice(self, name: str) -> None:
        if name == self._voice:
            return
        for candidate in (name, _FALLBACK_VOICE):
            if self.lib.espeak_SetVoiceByName(candidate.encode()) == 0:
                self._voice = candidate
                return
        raise RuntimeError(f"espeak-ng has no voice {name!r}")

    def speak(self, text: str, voice: str, rate_wpm: int | None) -> EspeakUtterance:
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            self._set_voice(voice)
            if rate_wpm is not None:
                self.lib.espeak_SetParameter(_RATE, rate_wpm, 0)
            self._pcm, self._words = [], []
            err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE,
                                        None, None)
            pcm, words = b"".join(self._pcm), tuple(self._words)
            self._pcm, self._words = [], []
        if err != 0:
            raise RuntimeError(f"espeak_Synth failed ({err})")
        return EspeakUtterance(pcm, self.rate, words)


_engine: _Espeak | None = None
_engine_lock = threading.Lock()


def _espeak() -> _Espeak:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Espeak()
        return _engine


def espeak_synthesize(text: str, voice: str = _FALLBACK_VOICE, *, rate_wpm: int | None = None) -> EspeakUtterance:
    """Speak `text` with espeak-ng (`voice` is an espeak-ng voice name): 22050 Hz PCM16 mono."""
    return _espeak().speak(text, voice, rate_wpm)


# --- the synthesizer --------------------------------------------------------------------------

def _word_cuts(text: str, words: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(text cut, sample cut) where each word after the first starts: text cuts at the end of the
    previous word (so deltas carry a leading space, like the tone synthesizer's), both increasing."""
    cuts: list[tuple[int, int]] = []
    last_char, last_sample = 0, 0
    for char, sample in sorted(words, key=lambda w: (w[1], w[0])):
        cut = len(text[:char].rstrip())
        if cut <= last_char or sample <= last_sample:
            continue
        cuts.append((cut, sample))
        last_char, last_sample = cut, sample
    return cuts


class EspeakSynthesizer:
    """Speech with espeak-ng (the `voice` extra). One `SpeechSegment` per spoken word: its
    transcript delta (the deltas join to exactly the reply text) and its audio, cut on the 20 ms
    grid into `chunk_ms` chunks (a word's last chunk may be shorter, always a multiple of 20 ms).

    `voice` overrides the session voice with an espeak-ng voice name; otherwise the session voice
    is mapped through `voices` (default `DEFAULT_VOICES`) or tried as an espeak-ng name.
    `rate_wpm` is espeak's speaking rate (default 160 words per minute).
    `blocking`: the emulator runs `synthesize` in a worker thread, off its event loop.
    """

    blocking = True

    def __init__(self, voice: str | None = None, *, rate_wpm: int = 160,
                 voices: Mapping[str, str] | None = None) -> None:
        _require("numpy")
        self._engine = _espeak()
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.voices = dict(DEFAULT_VOICES if voices is None else voices)

    def espeak_voice(self, voice: str) -> str:
        return self.voice or self.voices.get(voice, voice or _FALLBACK_VOICE)

    def synthesize(self, text: str, *, voice: str, audio_format: str, chunk_ms: int) -> list[SpeechSegment]:
        if not text.strip():
            return []
        np = _numpy()
        utt = self._engine.speak(text, self.espeak_voice(voice), self.rate_wpm)
        rate = sample_rate(audio_format)
        unit = rate * UNIT_MS // 1000
        pcm = np.frombuffer(utt.pcm, dtype=np.int16)
        audio = _to_int16(resample(pcm, utt.rate, rate))
        total = -(-len(audio) // unit) * unit
        audio = np.concatenate([audio, np.zeros(total - len(audio), dtype=np.int16)])
        # word boundaries on the 20 ms grid; a word that would get no audio joins the previous one
        bounds: list[tuple[int, int]] = [(0, 0)]
        for char, sample in _word_cuts(text, utt.words):
            at = round(sample * rate / utt.rate / unit) * unit
            if bounds[-1][1] < at < total:
                bounds.append((char, at))
        bounds.append((len(text), total))
        per_chunk = max(1, chunk_ms // UNIT_MS) * unit
        segments: list[SpeechSegment] = []
        for (c0, s0), (c1, s1) in itertools.pairwise(bounds):
            words = audio[s0:s1]
            chunks = tuple(self._encode(words[j : j + per_chunk], audio_format)
                           for j in range(0, len(words), per_chunk))
            segments.append(SpeechSegment(text[c0:c1], chunks, len(words) * 1000 // rate))
        return segments

    @staticmethod
    def _encode(samples: Any, fmt: str) -> str:
        data = samples.astype("<i2").tobytes() if fmt == "audio/pcm" else encode_samples(samples.tolist(), fmt)
        return base64.b64encode(data).decode("ascii")


# --- the transcriber --------------------------------------------------------------------------

class PocketsphinxTranscriber:
    """Speech recognition with PocketSphinx and its bundled US English model (the `voice` extra).

    Input audio (PCM16 24 kHz or G.711 8 kHz) is resampled to 16 kHz and decoded as one utterance;
    the result is lower-case words ('' for silence or nothing recognised). Only the stretch from the
    first to the last 10 ms frame louder than `gate_rms` (default about -50 dBFS), plus 150 ms
    either side, is decoded. `language` is ignored (the model is English). Decoding takes about a
    third of the audio's duration. `decoder_options` go to `pocketsphinx.Decoder` (e.g. `hmm`,
    `lm`, `dict`, `jsgf`, `keyphrase`; JSON values with `process=True`); the decoder is built on
    first use (about 0.3 s, 0.5 s with its process).

    Off the event loop: `blocking` makes the emulator call `transcribe` in a worker thread, and
    with `process=True` (the default) the decoding itself runs in a helper process
    (`python -m openai_realtime_ws.emulator._recognizer`, started on first use, ended with
    `close()` or when this object is collected), because PocketSphinx holds the GIL for much of
    its search: in a thread a 4 s utterance still stalled the loop for about 0.8 s
    (bench/emulator_voice_stall.py). `process=False` decodes in this process.
    """

    blocking = True

    def __init__(self, *, gate_rms: float = rms_threshold(0.2), process: bool = True,
                 **decoder_options: Any) -> None:
        _require("numpy")
        self.gate_rms = gate_rms
        self._pocketsphinx = _require("pocketsphinx")
        self.decoder_options: dict[str, Any] = {"loglevel": "FATAL", **decoder_options,
                                                "samprate": RECOGNIZER_RATE}
        self._decoder: Any = None
        self._lock = threading.Lock()
        self._helper: _RecognizerProcess | None = None
        if process:
            try:
                json.dumps(self.decoder_options)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"decoder_options must be JSON values with process=True: {exc}") from None
            self._helper = _RecognizerProcess(self.decoder_options)

    def close(self) -> None:
        """End the helper process (a later call starts a new one)."""
        if self._helper is not None:
            self._helper.close()

    def _get_decoder(self) -> Any:
        if self._decoder is None:
            self._decoder = self._pocketsphinx.Decoder(**self.decoder_options)
        return self._decoder

    def recognize(self, pcm16k: bytes) -> str:
        """Decode 16 kHz PCM16 mono (one utterance) to text."""
        if self._helper is not None:
            return self._helper.recognize(pcm16k)
        with self._lock:
            decoder = self._get_decoder()
            decoder.start_utt()
            decoder.process_raw(pcm16k, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        return " ".join(str(hyp.hypstr).split()) if hyp is not None else ""

    def transcribe(self, audio: bytes, *, audio_format: str, language: str | None = None) -> str:
        samples = decode_samples(audio, audio_format)
        if not samples:
            return ""
        speech = _trim_to_speech(resample(samples, sample_rate(audio_format), RECOGNIZER_RATE),
                                 RECOGNIZER_RATE, self.gate_rms)
        if speech is None:
            return ""
        return self.recognize(_to_int16(speech).astype("<i2").tobytes())


class _RecognizerProcess:
    """The helper process (see `_recognizer.py`): one request at a time, restarted after a
    failure. Waiting on its pipe releases the GIL, so the emulator's event loop runs meanwhile."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        proc = subprocess.Popen([sys.executable, "-m", "openai_realtime_ws.emulator._recognizer"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(self._options).encode() + b"\n")
        proc.stdin.flush()
        self._proc = proc
        self._finalizer = weakref.finalize(self, _end_process, proc)
        return proc

    def recognize(self, pcm16k: bytes) -> str:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(struct.pack(">I", len(pcm16k)) + pcm16k)
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError as exc:
                self.close()
                raise RuntimeError(f"the PocketSphinx helper process failed: {exc}") from exc
            if not line:
                self.close()
                raise RuntimeError("the PocketSphinx helper process ended")
        reply: dict[str, str] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["text"]

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._proc = self._finalizer = None


def _end_process(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()  # EOF: the helper returns
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _trim_to_speech(x: FloatArray, rate: int, gate_rms: float, margin_ms: int = 150) -> FloatArray | None:
    """`x` cut to its first..last 10 ms frame above `gate_rms`, plus `margin_ms` either side; None
    when no frame is. PocketSphinx's running normalisation drifts over long silence or faint noise
    (it hears words in 0.5 s of zeros, and loses most of a sentence padded with 1 s of noise at
    -80 dBFS), so it only gets the speech."""
    np = _numpy()
    frame = rate // 100
    n = len(x) // frame
    if n == 0:
        return None
    energy = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1))
    loud = np.flatnonzero(energy >= gate_rms)
    if len(loud) == 0:
        return None
    margin = rate * margin_ms // 1000
    return x[max(0, int(loud[0]) * frame - margin) : min(len(x), (int(loud[-1]) + 1) * frame + margin)]
