# The voice session: a thin asyncio shell that joins an audio source, a Realtime client and an
# audio sink. It owns only wiring and timing: the microphone pump (20 ms `input_audio_buffer.append`
# frames), assistant audio to the sink, transcripts and per-turn latency as VoiceEvents. Every turn
# rule (barge-in, cut/unheard audio, turn_detection flags, one active response, tool follow-up) is
# decided in core/voice_turn.py: this shell feeds it the server events and the sink's facts and
# carries out the actions it returns. It uses the clients' public API only (on/off/send/send_audio,
# .session), so it works on the asyncio client and, through BlockingVoiceSession, the blocking one.
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .._turn_shell import TurnShell
from ..audio._resample import Resampler
from ..audio._sinks import AudioSink
from ..audio._sources import pcm_frames
from ..core.g711 import pcm16_to_alaw, pcm16_to_ulaw
from ..core.playback import PlaybackStop
from ..core.responses import is_benign_error
from ..core.voice_turn import (
    Action,
    ArmTimer,
    CancelTimer,
    CompletePart,
    PlayAudio,
    Send,
    StopPlayback,
    VoiceTurn,
)

__all__ = ["TurnLatency", "VoiceEvent", "VoiceSession"]

logger = logging.getLogger("openai_realtime_ws.voice")

VoiceEventType = Literal[
    "speech_started",
    "speech_stopped",
    "user_transcript",
    "assistant_transcript_delta",
    "assistant_transcript",
    "interrupted",
    "turn",
    "response_done",
    "error",
]

_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")

# API error codes that follow from a truncate racing the end of an item: reported, never fatal
TRUNCATE_ERROR_CODES = frozenset({
    "item_truncate_invalid_item_id",
    "unsupported_content_type",
    "invalid_value",
    "item_delete_invalid_item_id",
})


@dataclass(frozen=True, slots=True)
class VoiceEvent:
    """Something a voice UI shows: a transcript, an interruption, a turn's latency, an error."""

    type: VoiceEventType
    text: str = ""
    item_id: str | None = None
    response_id: str | None = None
    latency_ms: float | None = None
    """``turn``: from the end of the user's speech (``speech_stopped``) to the first audio."""
    stop: PlaybackStop | None = None
    """``interrupted``: where playback stopped."""
    code: str | None = None
    """``error``: the API error code."""


@dataclass(slots=True)
class TurnLatency:
    """One user turn: when the speech ended and when the reply's first audio arrived
    (``time.perf_counter()``)."""

    speech_end: float
    first_audio: float | None = None

    @property
    def latency_ms(self) -> float | None:
        """From the end of the user's speech to the first audio of the reply (None: no audio yet)."""
        if self.first_audio is None:
            return None
        return (self.first_audio - self.speech_end) * 1000.0


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return obj


class VoiceSession(TurnShell):
    """A live spoken conversation on a connected client.

    ``source``: an async iterable of PCM16 24 kHz mono audio (a :class:`Microphone`, or
    :func:`wav_frames`; cut into 20 ms ``input_audio_buffer.append`` frames here). ``sink``: an
    :class:`AudioSink` (a :class:`Speaker`, :class:`PacedSink`, ...). With ``barge_in`` (default)
    the user's speech (server VAD ``speech_started``) stops playback at once, drops queued audio,
    cancels the response if the server does not, and truncates the item at what was heard.

    ``audio_format``: the session's format both ways (``audio/pcm``; ``audio/pcmu`` or
    ``audio/pcma`` for G.711 8 kHz, and the sink must play the same). ``source_format``: the
    source's format (``audio/pcm`` is converted to a G.711 session format; the session's own
    format passes through untouched).

    API errors never end the session: they arrive as ``error`` events (and in :attr:`errors`);
    ``conversation_already_has_active_response`` and ``response_cancel_not_active`` are handled.

    Iterate for :class:`VoiceEvent`s, or pass ``on_event``. ``respond()`` asks for a response
    through the one-active-response sequencer; ``interrupt()`` barges in by hand.
    """

    def __init__(
        self,
        rt: Any,
        *,
        source: AsyncIterable[bytes] | None = None,
        sink: AudioSink | None = None,
        barge_in: bool = True,
        configure: bool = True,
        instructions: str | None = None,
        voice: str | None = None,
        transcription_model: str | None = "gpt-4o-mini-transcribe",
        audio_format: str = "audio/pcm",
        source_format: str = "audio/pcm",
        on_event: Callable[[VoiceEvent], object] | None = None,
        max_events: int = 1000,
    ) -> None:
        if audio_format not in _FORMATS:
            raise ValueError(f"audio_format: expected one of {', '.join(_FORMATS)}, got {audio_format!r}")
        if source_format not in ("audio/pcm", audio_format):
            raise ValueError(f"source_format: expected 'audio/pcm' (24 kHz PCM16, converted) or "
                             f"{audio_format!r} (passed through), got {source_format!r}")
        if sink is not None and sink.audio_format != audio_format:
            raise ValueError(f"sink: it plays {sink.audio_format!r} but the session's audio_format is "
                             f"{audio_format!r}; make the sink with the same format")
        self.audio_format = audio_format
        self.source_format = source_format
        self.rt = rt
        self.source = source
        self.sink = sink
        self.configure = configure
        self.instructions = instructions
        self.voice = voice
        self.transcription_model = transcription_model
        self.on_event = on_event
        self.turn = VoiceTurn(barge_in=barge_in)
        """The turn rules (core/voice_turn.py) this session carries out."""
        self.sequencer = self.turn.sequencer
        self.turns: list[TurnLatency] = []
        self.stops: list[tuple[float, PlaybackStop]] = []
        """Each interruption: ``perf_counter`` time it was handled and where playback stopped."""
        self.speech_started_at: list[float] = []
        self.errors: list[tuple[str | None, str]] = []
        self._turn_latency: TurnLatency | None = None
        self._events: asyncio.Queue[VoiceEvent | None] | None = None
        self._max_events = max_events
        self._pump: asyncio.Task[None] | None = None
        self._handlers: list[tuple[str, Callable[[Any], object]]] = []
        self._started = False
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def barge_in(self) -> bool:
        """Stop playback when the user starts speaking."""
        return self.turn.barge_in

    @barge_in.setter
    def barge_in(self, value: bool) -> None:
        self.turn.barge_in = value

    @property
    def server_response_timeout(self) -> float:
        """Seconds to hold requests after the user's speech ends for the server's own response."""
        return self.turn.server_response_timeout

    @server_response_timeout.setter
    def server_response_timeout(self, value: float) -> None:
        self.turn.server_response_timeout = value

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Register the handlers, send the ``session.update`` (``configure``), start the sink and
        the microphone pump."""
        if self._started:
            return
        self._started = True
        self._events = asyncio.Queue(self._max_events)
        on = {
            "response.created": self._feed,
            "response.done": self._on_response_done,
            "response.output_item.added": self._feed,
            "conversation.item.added": self._feed,
            "response.output_audio.delta": self._feed,
            "response.output_audio.done": self._feed,
            "response.output_audio_transcript.delta": self._on_transcript_delta,
            "response.output_audio_transcript.done": self._on_transcript_done,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "conversation.item.input_audio_transcription.completed": self._on_user_transcript,
            "error": self._on_error,
            "reconnecting": self._on_reconnecting,
        }
        for etype, handler in on.items():
            self.rt.on(etype, handler)
            self._handlers.append((etype, handler))
        if self.configure:
            self.rt.send({"type": "session.update", "session": self.session_config()})
        if self.sink is not None:
            await self.sink.start()
        if self.source is not None:
            self._pump = asyncio.get_running_loop().create_task(self._pump_audio(self.source))

    def session_config(self) -> dict[str, Any]:
        """The ``session.update`` ``session`` this voice session sends at start (``configure``)."""
        fmt: dict[str, Any] = ({"type": "audio/pcm", "rate": 24000} if self.audio_format == "audio/pcm"
                               else {"type": self.audio_format})
        audio_in: dict[str, Any] = {
            "format": fmt,
            "turn_detection": {"type": "server_vad", "interrupt_response": True, "create_response": True},
        }
        if self.transcription_model:
            audio_in["transcription"] = {"model": self.transcription_model}
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": audio_in, "output": {"format": dict(fmt)}},
        }
        if self.instructions:
            session["instructions"] = self.instructions
        if self.voice:
            session["audio"]["output"]["voice"] = self.voice
        return session

    async def aclose(self) -> None:
        """Stop the pump, remove the handlers, close the sink; iteration ends."""
        self._cancel_timers()
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            try:
                await pump
            except (asyncio.CancelledError, Exception):
                pass
        for etype, handler in self._handlers:
            self.rt.off(etype, handler)
        self._handlers.clear()
        if self.sink is not None:
            await self.sink.aclose()
        if self._events is not None:
            self._put(None)

    def start_blocking(self, timeout: float | None = 10.0) -> None:
        """Start on the blocking client (:class:`OpenAIRealtimeWS`): runs :meth:`start` on the
        client's loop thread, where the handlers and the audio pump then run. Use ``on_event``
        for events (called on that thread)."""
        asyncio.run_coroutine_threadsafe(self.start(), self.rt.loop).result(timeout)

    def close_blocking(self, timeout: float | None = 10.0) -> None:
        """:meth:`aclose` for the blocking client."""
        asyncio.run_coroutine_threadsafe(self.aclose(), self.rt.loop).result(timeout)

    async def __aenter__(self) -> VoiceSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[VoiceEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[VoiceEvent]:
        if self._events is None:
            await self.start()
        assert self._events is not None
        while True:
            ev = await self._events.get()
            if ev is None:
                return
            yield ev

    async def wait_pump(self) -> None:
        """Wait until the source is exhausted (all of it was appended)."""
        if self._pump is not None:
            await asyncio.shield(self._pump)

    # ------------------------------------------------------------------ actions

    def tool(
        self, name: str | None = None, *, description: str = "", parameters: Any = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a tool with the client (``rt.tool``, same arguments) whose follow-up
        ``response.create`` goes through this session's sequencer: the client's own follow-up is
        turned off (``rt.auto_respond = False``), and once every call of a response has its
        ``function_call_output`` in the conversation the session asks for the reply. Then a reply
        never collides with a response that started meanwhile (the user spoke, ``say()``). Use it
        for all tools of the session (``auto_respond`` is the client's, for every tool)."""
        register = self.rt.tool(name, description=description, parameters=parameters)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            register(func)
            self.turn.tool_names.add(name or func.__name__)
            self.rt.auto_respond = False
            return func

        return decorator

    def interrupt(self) -> PlaybackStop | None:
        """Barge in by hand: stop playback, cancel the running response, truncate at what was
        heard. Returns where playback stopped (None without a sink and nothing running)."""
        stops = len(self.stops)
        self._do(self.turn.interrupt(playing=self.sink is not None and self.sink.playing))
        return self.stops[-1][1] if len(self.stops) > stops else None

    # ------------------------------------------------------------------ pump

    async def _pump_audio(self, source: AsyncIterable[bytes]) -> None:
        try:
            async for frame in self._frames(source):
                self.rt.send_audio(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("audio source failed: %s", type(exc).__name__, exc_info=exc)
            self._emit(VoiceEvent("error", text=f"audio source failed: {exc}"))

    async def _frames(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """20 ms frames in the session's input format: PCM16 24 kHz re-chunked; G.711 passed
        through (160 bytes a frame) or converted from PCM16 24 kHz (one streaming Resampler)."""
        if self.audio_format == "audio/pcm":
            async for frame in pcm_frames(source, frame_ms=20, pad_last=False):
                yield frame
            return
        g711 = source if self.source_format == self.audio_format else self._to_g711(source)
        buf = bytearray()
        async for chunk in g711:
            buf += chunk
            while len(buf) >= 160:  # 20 ms at 8 kHz, one byte a sample
                yield bytes(buf[:160])
                del buf[:160]
        if buf:
            yield bytes(buf)

    async def _to_g711(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        down = Resampler(24000, 8000)
        encode = pcm16_to_ulaw if self.audio_format == "audio/pcmu" else pcm16_to_alaw
        async for frame in pcm_frames(source, frame_ms=20, pad_last=False):
            yield encode(down.process(frame))
        yield encode(down.flush())

    # ------------------------------------------------------------------ server events

    def _feed(self, event: Any) -> None:
        """One server event through the turn rules; its actions carried out."""
        self._feed_turn(event, playing=self.sink is not None and self.sink.playing, rt=self.rt)

    def _do(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._send_all([action.event])
            elif isinstance(action, PlayAudio):
                self._play(action)
            elif isinstance(action, CompletePart):
                if self.sink is not None:
                    self.sink.mark_complete(action.item_id, action.content_index)
            elif isinstance(action, StopPlayback):
                stop = self.sink.interrupt() if self.sink is not None else None
                if action.report:
                    self._do(self.turn.playback_stopped(stop))
                    if stop is not None:
                        self.stops.append((time.perf_counter(), stop))
                        self._emit(VoiceEvent("interrupted", item_id=stop.item_id,
                                              response_id=action.response_id, stop=stop))
            elif isinstance(action, (ArmTimer, CancelTimer)):
                self._timer(action)

    def _play(self, action: PlayAudio) -> None:
        turn = self._turn_latency
        if turn is not None and turn.first_audio is None:
            turn.first_audio = time.perf_counter()
            self._emit(VoiceEvent("turn", item_id=action.item_id, response_id=action.response_id,
                                  latency_ms=turn.latency_ms))
        if self.sink is None:
            return
        try:
            data = base64.b64decode(action.delta, validate=False)
        except (binascii.Error, ValueError):
            return
        self.sink.write(action.item_id, action.content_index, data)

    def _on_response_done(self, event: Any) -> None:
        self._feed(event)
        self._emit(VoiceEvent("response_done", response_id=_get(event, "response", "id"),
                              text=str(_get(event, "response", "status") or "")))

    def _on_transcript_delta(self, event: Any) -> None:
        if self.turn.is_cut(_get(event, "response_id")):
            return
        self._emit(VoiceEvent("assistant_transcript_delta", text=str(_get(event, "delta") or ""),
                              item_id=_get(event, "item_id"), response_id=_get(event, "response_id")))

    def _on_transcript_done(self, event: Any) -> None:
        self._emit(VoiceEvent("assistant_transcript", text=str(_get(event, "transcript") or ""),
                              item_id=_get(event, "item_id"), response_id=_get(event, "response_id")))

    def _on_user_transcript(self, event: Any) -> None:
        self._emit(VoiceEvent("user_transcript", text=str(_get(event, "transcript") or ""),
                              item_id=_get(event, "item_id")))

    def _on_speech_started(self, event: Any) -> None:
        self.speech_started_at.append(time.perf_counter())
        self._feed(event)
        self._emit(VoiceEvent("speech_started", item_id=_get(event, "item_id")))

    def _on_speech_stopped(self, event: Any) -> None:
        self._feed(event)
        turn = TurnLatency(time.perf_counter())
        self._turn_latency = turn
        self.turns.append(turn)
        if len(self.turns) > 10_000:
            del self.turns[:5_000]
        self._emit(VoiceEvent("speech_stopped", item_id=_get(event, "item_id")))

    def _on_error(self, error: Any) -> None:
        code = getattr(error, "code", None)
        message = str(getattr(error, "message", error))
        self._do(self.turn.on_error(code, getattr(error, "event_id", None), message))
        self.errors.append((code, message))
        if is_benign_error(code):
            logger.debug("benign API error %s: %s", code, message)
            return
        if code in TRUNCATE_ERROR_CODES:
            logger.info("truncate/delete after an interruption was refused (%s): %s", code, message)
        self._emit(VoiceEvent("error", text=message, code=code))

    def _on_reconnecting(self, ctx: Any) -> None:
        # the socket is gone: what was queued will not be answered on the new one
        self._turn_latency = None
        self._do(self.turn.reset())

    # ------------------------------------------------------------------ helpers

    def _send_all(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            try:
                self.rt.send(ev)
            except Exception as exc:  # closed/closing: the session is ending anyway
                logger.debug("voice: could not send %s: %s", ev.get("type"), type(exc).__name__)
                return

    def _emit(self, event: VoiceEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:
                logger.error("voice on_event handler raised %s", type(exc).__name__, exc_info=exc)
        self._put(event)

    def _put(self, event: VoiceEvent | None) -> None:
        q = self._events
        if q is None:
            return
        if q.full():
            try:
                q.get_nowait()  # keep the newest: a UI that does not read loses the oldest
            except asyncio.QueueEmpty:
                pass
        q.put_nowait(event)
