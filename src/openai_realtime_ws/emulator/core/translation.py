# The state machine of one Realtime *translation* session (`/v1/realtime/translations?model=…`),
# Sans-I/O like `session.Session` and driven the same way by the shell (`open`, `receive`,
# `timer_fired`, `release`; Actions out). Shapes from openai-python 3.63's generated types
# (`types/realtime/realtime_translation_*.py`) and openai-node's `src/realtime/translations/ws.ts`:
#
# * server → `session.created` (first), `session.updated`, `session.input_transcript.delta` (only
#   with `audio.input.transcription`), `session.output_transcript.delta`,
#   `session.output_audio.delta` (PCM16 24 kHz mono, `format`/`sample_rate`/`channels`),
#   `session.closed`, `error`;
# * client → `session.update` (`session.audio.input.transcription|noise_reduction`,
#   `session.audio.output.language`; `model` is fixed at creation), `session.input_audio_buffer.
#   append` (24 kHz PCM16), `session.close` (flush the pending input, emit the remaining output,
#   then `session.closed`).
#
# What the emulator "translates" [emulator's choice]: the input is cut into utterances by the
# same energy VAD as realtime sessions (500 ms of silence ends one), each utterance is recognised
# by the emulator's transcriber (tone code by default, PocketSphinx with the voice extra; a
# blocking one off the event path), and the translation is a deterministic transformation that a
# test can predict: **the letters of each recognised word reversed** ("book a table" → "koob a
# elbat"), whatever the target language. The output audio speaks that text with the
# synthesizer. `elapsed_ms` is the input audio time at the end of the utterance, rounded down to
# the 200 ms translation frame [INF].
from __future__ import annotations

import base64
import binascii
import copy
from collections import deque
from collections.abc import Generator, Mapping
from typing import Any

from . import errors, schema
from .actions import Action, Close, Offload, Send, SetTimer, StartStream, Step
from .audio import SpeechSegment, Synthesizer, SyntheticTranscriber, ToneSynthesizer, Transcriber
from .config import EmulatorConfig
from .ids import IdFactory
from .vad import InputBuffer, SpeechStopped

TIMER_EXPIRE = "session_expired"
TIMER_CLOSE = "translation_close"
CLOSE_GRACE_SECONDS = 5.0
"""After `session.closed` the client closes the socket (openai-node does at once); the emulator
closes it itself (1000) after this long [INF]."""
FRAME_MS = 200
"""The translation engine's frame (openai-python's append docstring: 200 ms frames)."""
PREFIX_MS = 300
VAD: dict[str, Any] = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": PREFIX_MS,
                       "silence_duration_ms": 500}
"""How the emulator cuts the input into utterances [INF]."""
DEFAULT_LANGUAGE = "es"
"""Target language of a new session when none is configured [INF]."""

TRANSLATION_EVENTS = ("session.update", "session.input_audio_buffer.append", "session.close")

_transcription = schema.nullable(schema.obj({"model": schema.string()}, required=("model",)))
_noise = schema.nullable(schema.obj({"type": schema.enum("near_field", "far_field"),
                                     "strength": schema.number(0, 1)}, required=("type",)))
_audio = schema.obj({
    "input": schema.obj({"transcription": _transcription, "noise_reduction": _noise}),
    "output": schema.obj({"language": schema.string(64)}),
})
_update = schema.obj({"type": schema.enum("translation"), "audio": _audio, "model": schema.string()})
CLIENT_EVENTS: dict[str, Any] = {
    "session.update": schema.obj({"type": schema.any_value, "event_id": schema.string(512),
                                  "session": _update}, required=("session",)),
    "session.input_audio_buffer.append": schema.obj({"type": schema.any_value, "event_id": schema.string(512),
                                                     "audio": schema.string()}, required=("audio",)),
    "session.close": schema.obj({"type": schema.any_value, "event_id": schema.string(512)}),
}


def translate(text: str) -> str:
    """The emulator's translation: every word's letters reversed (see the module comment)."""
    return " ".join(word[::-1] for word in text.split(" "))


def default_session(session_id: str, model: str, expires_at: int, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """A new translation session object (`RealtimeTranslationSession`)."""
    return {"id": session_id, "type": "translation", "model": model, "expires_at": expires_at,
            "audio": {"input": {"transcription": None, "noise_reduction": None},
                      "output": {"language": language}}}


def merge_update(state: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`state` with a validated `session.update` payload applied (`model` is fixed: ignored)."""
    out = copy.deepcopy(state)
    audio = update.get("audio") or {}
    for side in ("input", "output"):
        for key, value in (audio.get(side) or {}).items():
            out["audio"][side][key] = copy.deepcopy(value)
    return out


class TranslationSession:
    """One translation session. See the module comment for the protocol it implements."""

    kind = "translation"
    sideband = False
    call_id = None

    def __init__(self, *, config: EmulatorConfig, ids: IdFactory, now: float, model: str,
                 defaults: Mapping[str, Any] | None = None, synthesizer: Synthesizer | None = None,
                 transcriber: Transcriber | None = None) -> None:
        self.config = config
        self.ids = ids
        self.synthesizer: Synthesizer = synthesizer or ToneSynthesizer()
        self.transcriber: Transcriber = transcriber or SyntheticTranscriber()
        self.id = ids.new("sess")
        self.state = default_session(self.id, model, int(now + config.session_seconds))
        if defaults:
            self.state = merge_update(self.state, defaults)
        self.input = InputBuffer("audio/pcm")
        self.closed = False
        self.closing = False
        """`session.close` was received: input is closed, output is being flushed."""
        self.last_event: dict[str, Any] | None = None
        self.hearing = 0
        """Utterances being recognised."""
        self._outq: deque[tuple[str, str, int]] = deque()  # (lead, translated text, elapsed_ms)
        self._said_any = False
        self._streaming = False
        self._pending_in: list[tuple[int, str]] = []  # (order, source text) recognised out of order
        self._next_seq = 0
        self._emit_seq = 0
        self._done: dict[int, tuple[str | None, int]] = {}

    # --- shell entry points ----------------------------------------------------------------

    def open(self, now: float) -> list[Action]:
        return [self._ev("session.created", session=copy.deepcopy(self.state)),
                SetTimer(TIMER_EXPIRE, self.config.session_seconds)]

    def receive(self, frame: str | bytes, now: float, *, binary: bool = False) -> list[Action]:
        """Handle one client frame (text, or `binary=True` for a binary frame)."""
        self.last_event = None
        if self.closed:
            return []
        event = schema.decode_client_frame(frame, binary=binary)
        if isinstance(event, schema.FrameRefused):
            return self._error(event.error, event.event_id)
        self.last_event = event
        eid = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        type_ = event.get("type")
        if type_ is None:
            return self._error(errors.missing_type(), eid)
        if not isinstance(type_, str) or type_ not in TRANSLATION_EVENTS:
            return self._error(errors.invalid_value(type_, TRANSLATION_EVENTS, "type"), eid)
        try:
            CLIENT_EVENTS[type_](event, "")
            if type_ == "session.update":
                return self._on_update(event)
            if type_ == "session.input_audio_buffer.append":
                return self._on_append(event)
            return self._on_close()
        except errors.RequestError as exc:
            return self._error(exc, eid)
        except RecursionError:
            return self._error(errors.not_json("the JSON value is nested too deeply"), eid)

    def timer_fired(self, name: str, now: float) -> list[Action]:
        if self.closed:
            return []
        if name == TIMER_EXPIRE:
            return self.fatal(errors.session_expired(f"Your session hit the maximum duration of "
                                                     f"{self.config.session_seconds:g} seconds."))
        if name == TIMER_CLOSE:
            self.closed = True
            return [Close(1000, "")]
        return []

    def fatal(self, fatal: errors.FatalClose, client_event_id: str | None = None) -> list[Action]:
        self.closed = True
        reason = fatal.error.message if fatal.close_code == 1001 else fatal.reason
        return [self._ev("error", error=errors.error_payload(fatal.error, client_event_id)),
                Close(fatal.close_code, reason)]

    def dtmf(self, digits: str, now: float) -> list[Action]:
        raise ValueError("DTMF exists only on a sideband connection (?call_id=...)")

    def release(self) -> None:
        self.closed = True
        self.input.clear()
        self._outq.clear()
        self._done.clear()

    # --- handlers ---------------------------------------------------------------------------

    def _ev(self, type_: str, **fields: Any) -> Send:
        return Send({"type": type_, "event_id": self.ids.event(), **fields})

    def _error(self, err: errors.RequestError, client_event_id: str | None) -> list[Action]:
        return [self._ev("error", error=errors.error_payload(err, client_event_id))]

    def _input_closed(self) -> errors.RequestError:
        return errors.RequestError("session_closing", "The translation session is closing: no more input "
                                   "is accepted after session.close.", None)

    def _on_update(self, event: dict[str, Any]) -> list[Action]:
        if self.closing:
            raise self._input_closed()
        self.state = merge_update(self.state, event["session"])
        return [self._ev("session.updated", session=copy.deepcopy(self.state))]

    def _on_append(self, event: dict[str, Any]) -> list[Action]:
        if self.closing:
            raise self._input_closed()
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.RequestError("invalid_value", f"Invalid 'audio': not valid base64 ({exc}).", "audio") from exc
        acts: list[Action] = []
        for vad in self.input.append(data, VAD):
            if isinstance(vad, SpeechStopped):
                acts.append(self._recognise(vad.audio, vad.audio_end_ms))
        if not self.input.speaking:  # drop silence between utterances (keeps the buffer small)
            self.input.take(max(self.input.start_ms, self.input.cursor_ms - PREFIX_MS))
        return acts

    def _on_close(self) -> list[Action]:
        if self.closing:
            return []  # sent once; a repeat changes nothing [INF]
        self.closing = True
        acts: list[Action] = []
        if self.input.speaking and self.input.buffered_ms > 0:  # flush the utterance in progress
            end = int(self.input.cursor_ms)
            self.input.reset_vad()
            acts.append(self._recognise(self.input.take(), end))
        acts.extend(self._maybe_closed())
        return acts

    # --- recognition and output ---------------------------------------------------------------

    def _recognise(self, audio: bytes, end_ms: int) -> Offload:
        seq = self._next_seq
        self._next_seq += 1
        self.hearing += 1
        transcriber = self.transcriber
        elapsed = end_ms // FRAME_MS * FRAME_MS

        def run() -> str | None:
            try:
                return transcriber.transcribe(audio, audio_format="audio/pcm", language=None)
            except Exception:
                return None

        def then(text: str | None) -> list[Action]:
            self.hearing -= 1
            if self.closed:
                return []
            self._done[seq] = (text, elapsed)
            return self._deliver()

        return Offload(run, then, blocking=bool(getattr(transcriber, "blocking", False)))

    def _deliver(self) -> list[Action]:
        """Recognised utterances, in input order: input transcript deltas, then their
        translation queued for the output stream."""
        acts: list[Action] = []
        while self._emit_seq in self._done:
            text, elapsed = self._done.pop(self._emit_seq)
            self._emit_seq += 1
            if not text:
                continue
            lead = " " if self._said_any else ""  # append-only text: utterances joined by a space
            self._said_any = True
            if self.state["audio"]["input"].get("transcription"):
                for i, word in enumerate(text.split(" ")):
                    acts.append(self._ev("session.input_transcript.delta", delta=(lead if i == 0 else " ") + word,
                                         elapsed_ms=elapsed))
            self._outq.append((lead, translate(text), elapsed))
        if self._outq and not self._streaming:
            self._streaming = True
            acts.append(StartStream(self._output(), self.id))
        acts.extend(self._maybe_closed())
        return acts

    def _maybe_closed(self) -> list[Action]:
        """`session.closed` once closing and nothing is left to recognise or to say."""
        if not self.closing or self.hearing or self._streaming or self._outq or self.closed:
            return []
        self.closed = True  # answers nothing more; the shell keeps the socket for the client's close
        return [self._ev("session.closed"), SetTimer(TIMER_CLOSE, CLOSE_GRACE_SECONDS)]

    def _output(self) -> Generator[Step, Any, None]:
        """Stream the queued translations: transcript delta per word, then its audio, paced at
        `config.speed` like a response's audio."""
        cfg = self.config
        scale = (1.0 / cfg.speed) if cfg.speed > 0 else 0.0
        clock = 0.0
        while self._outq:
            lead, text, elapsed = self._outq.popleft()

            def speak(text: str = text, synth: Synthesizer = self.synthesizer) -> list[SpeechSegment]:
                return synth.synthesize(text, voice="translation", audio_format="audio/pcm", chunk_ms=cfg.audio_chunk_ms)

            if getattr(self.synthesizer, "blocking", False):  # real TTS: in a worker thread
                segments: list[SpeechSegment] = yield Offload(speak, blocking=True)
            else:
                segments = speak()
            for seg in segments:
                if self.closed and not self.closing:
                    return
                steps: list[Action] = [self._ev("session.output_transcript.delta", delta=lead + seg.text,
                                                elapsed_ms=elapsed)]
                lead = ""
                for b64 in seg.chunks:
                    steps.append(self._ev("session.output_audio.delta", delta=b64, format="pcm16",
                                          sample_rate=24000, channels=1, elapsed_ms=elapsed))
                yield steps
                if scale:
                    clock += seg.duration_ms / 1000.0 * scale
                    yield clock
        self._streaming = False
        closing = self._maybe_closed()
        if closing:
            yield closing
