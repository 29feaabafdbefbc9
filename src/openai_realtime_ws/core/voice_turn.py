"""One voice turn, without I/O: every rule a spoken conversation applies to the Realtime server's
events, for every shell that plays assistant audio (:class:`~openai_realtime_ws.VoiceSession` on a
speaker, the Twilio bridge on a phone line, the SIP agent's sideband session).

Rules owned here (one place; the shells only wire them):

* **Barge-in.** ``input_audio_buffer.speech_started`` while audio may still be sounding or an
  in-band response is running stops playback (:class:`StopPlayback`). The shell stops its
  playback and reports where it stopped (:meth:`VoiceTurn.playback_stopped`); the turn then
  answers with the ``response.cancel`` (only when the server does not cancel by itself:
  ``turn_detection.interrupt_response`` off or no ``turn_detection``), the truncate at what was
  heard or the delete of an assistant message that got no audio (core/playback.py), and drops
  the requests queued behind the interrupted response (they are stale).
* **Cut responses.** Audio and transcript deltas of an interrupted response still in flight are
  never played (:meth:`VoiceTurn.is_cut`); the last 256 cut response ids are remembered.
* **Unheard items.** An assistant message of the active response with no audio yet is deleted
  at a barge-in rather than truncated (the API refuses to truncate it).
* **turn_detection flags.** The shell passes the session's ``audio.input.turn_detection`` (or
  None) with the speech events. ``create_response`` (default on with ``turn_detection``): at
  ``speech_stopped`` the server is about to answer, so requests wait for its
  ``response.created`` (a named timer, :data:`SERVER_RESPONSE_TIMER`, gives up after
  ``server_response_timeout``; ``response.created`` cancels it). ``interrupt_response``
  (default on): the server cancels on speech by itself.
* **One active response.** Every ``response.create`` goes through the
  :class:`~openai_realtime_ws.core.responses.ResponseSequencer` (:meth:`VoiceTurn.respond`).
* **Tool follow-up.** For tools named in :attr:`VoiceTurn.tool_names` (the shell runs them and the
  client sends each ``function_call_output``), once every call of a completed response has its
  output in the conversation (``conversation.item.added``/``.created``), the reply is asked for
  through the sequencer, in the modalities of the response that called (never a second
  ``response.create`` racing one the user's speech started).
* **Reconnects.** :meth:`VoiceTurn.reset`: the old socket's responses will never finish.

Use::

    turn = VoiceTurn()
    for action in turn.on_event(event, playing=sink.playing,
                                turn_detection=turn_detection_of(rt.session)):
        match action:
            case Send(event=e): rt.send(e)
            case PlayAudio(): sink.write(action.item_id, action.content_index, b64decode(action.delta))
            case CompletePart(): sink.mark_complete(action.item_id, action.content_index)
            case StopPlayback(report=True): carry_out(turn.playback_stopped(sink.interrupt()))
            case StopPlayback(): sink.interrupt()
            case ArmTimer(): loop.call_later(action.seconds, lambda: carry_out(turn.timer_fired(action.name)))
            case CancelTimer(): ...

Feed it the server events it names (others are ignored): ``response.created``, ``response.done``,
``response.output_item.added``, ``conversation.item.added``/``created``,
``response.output_audio.delta``, ``response.output_audio.done``,
``input_audio_buffer.speech_started``, ``input_audio_buffer.speech_stopped``, ``error`` (or call
:meth:`VoiceTurn.on_error`). Events may be typed (attributes) or dicts. No clock is read: timers
are actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .playback import PlaybackStop, barge_in_events
from .responses import ResponseSequencer

__all__ = [
    "SERVER_RESPONSE_TIMER",
    "Action",
    "ArmTimer",
    "CancelTimer",
    "CompletePart",
    "PlayAudio",
    "Send",
    "StopPlayback",
    "VoiceTurn",
    "server_creates",
    "server_interrupts",
    "turn_detection_of",
]

SERVER_RESPONSE_TIMER = "server_response"
"""The timer armed at ``speech_stopped`` with ``create_response``: when it fires, stop holding
requests for the server's own response."""

_CUT_LIMIT = 256
_TOOL_RESPONSES_LIMIT = 32


@dataclass(frozen=True, slots=True)
class Send:
    """Send this client event."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Play this ``response.output_audio.delta`` (``delta``: base64 audio in the session's output
    format)."""

    item_id: str
    content_index: int
    delta: str
    response_id: str | None


@dataclass(frozen=True, slots=True)
class CompletePart:
    """``response.output_audio.done``: no more audio will come for this part."""

    item_id: str
    content_index: int


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop playback now and drop what is queued. With ``report``, pass where it stopped to
    :meth:`VoiceTurn.playback_stopped` (None when the shell has no playback) and carry out what
    it returns; without (a reconnect), nothing is truncated."""

    response_id: str | None
    report: bool = True


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Call :meth:`VoiceTurn.timer_fired` with ``name`` after ``seconds`` (replacing a timer of
    the same name)."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the timer ``name`` if it is armed."""

    name: str


Action = Send | PlayAudio | CompletePart | StopPlayback | ArmTimer | CancelTimer


_MISSING = object()


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        if type(obj) is dict:
            obj = obj.get(name)
            continue
        value = getattr(obj, name, _MISSING)  # typed events first: attribute access is cheap
        if value is _MISSING:
            value = obj.get(name) if isinstance(obj, Mapping) else None
        obj = value
    return obj


def turn_detection_of(session: Any) -> Any:
    """The ``audio.input.turn_detection`` of a session (typed or a dict), or None."""
    return _get(session, "audio", "input", "turn_detection")


def _flag(turn_detection: Any, name: str) -> bool:
    """A turn_detection flag: off without turn_detection, on when the field is left out."""
    if turn_detection is None:
        return False
    value = _get(turn_detection, name)
    return value is None or bool(value)


def server_interrupts(turn_detection: Any) -> bool:
    """The server cancels (and, on a SIP call, cuts the audio of) the response when the user
    starts speaking: ``turn_detection.interrupt_response``, on unless set false."""
    return _flag(turn_detection, "interrupt_response")


def server_creates(turn_detection: Any) -> bool:
    """The server answers the user's turn by itself: ``turn_detection.create_response``, on
    unless set false."""
    return _flag(turn_detection, "create_response")


class VoiceTurn:
    """The turn rules of one voice conversation (module docstring). One per Realtime session."""

    __slots__ = ("_barging", "_cut", "_tool_calls", "_unheard", "barge_in", "sequencer",
                 "server_response_timeout", "tool_names")

    def __init__(self, *, barge_in: bool = True, server_response_timeout: float = 3.0,
                 sequencer: ResponseSequencer | None = None) -> None:
        self.barge_in = barge_in
        """Stop playback when the user starts speaking (server VAD ``speech_started``)."""
        self.server_response_timeout = server_response_timeout
        """Seconds to hold requests after the user's speech ends for the server's own response."""
        self.sequencer = sequencer if sequencer is not None else ResponseSequencer()
        self.tool_names: set[str] = set()
        """Tools whose follow-up ``response.create`` this turn asks for (the client's own
        follow-up must be off: ``rt.auto_respond = False``)."""
        self._cut: dict[str, None] = {}  # interrupted responses, oldest first
        self._unheard: dict[str, str] = {}  # assistant item with no audio yet -> response_id
        self._tool_calls: dict[str, tuple[set[str], list[str] | None]] = {}  # response -> calls
        self._barging: tuple[str | None, bool] | None = None  # (response_id, server_cancels)

    # ------------------------------------------------------------------ the application asks

    def respond(self, response: Mapping[str, Any] | None = None) -> list[Action]:
        """Ask for a response (``response.create`` parameters): sent now, or once the active
        response ends (out-of-band ones always now)."""
        return [Send(e) for e in self.sequencer.create(response)]

    def say(self, text: str, response: Mapping[str, Any] | None = None) -> list[Action]:
        """A user text message (a typed line, a DTMF choice, a note from the application), then
        the request for a reply (as :meth:`respond`)."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        return [Send({"type": "conversation.item.create", "item": item}), *self.respond(response)]

    def interrupt(self, *, playing: bool) -> list[Action]:
        """Barge in by hand (the server will not cancel): :class:`StopPlayback` when something
        is playing or running, else nothing."""
        return self._barge_in(playing=playing, server_cancels=False)

    def is_cut(self, response_id: Any) -> bool:
        """The response was interrupted: its late audio and transcript are not played or shown."""
        return response_id in self._cut

    @property
    def active(self) -> str | None:
        """The in-band response running now."""
        return self.sequencer.active

    # ------------------------------------------------------------------ facts from the shell

    def on_event(self, event: Any, *, playing: bool = False,
                 turn_detection: Any = None) -> list[Action]:
        """Feed one server event. ``playing``: assistant audio may still be sounding (speech
        events); ``turn_detection``: the session's ``audio.input.turn_detection`` now (speech
        events; see :func:`turn_detection_of`)."""
        etype = _get(event, "type")
        if etype == "response.output_audio.delta":
            rid = _get(event, "response_id")
            if rid in self._cut:
                return []  # audio of an interrupted response still in flight: never played
            item_id = str(_get(event, "item_id"))
            if self._unheard:
                self._unheard.pop(item_id, None)
            return [PlayAudio(item_id, int(_get(event, "content_index") or 0),
                              str(_get(event, "delta") or ""), rid)]
        if etype == "response.output_audio.done":
            return [CompletePart(str(_get(event, "item_id")), int(_get(event, "content_index") or 0))]
        if etype == "response.created":
            out: list[Action] = [Send(e) for e in self.sequencer.on_event(event)]
            out.append(CancelTimer(SERVER_RESPONSE_TIMER))
            return out
        if etype == "response.done":
            return self._on_done(event)
        if etype == "response.output_item.added":
            item = _get(event, "item")
            if _get(item, "type") == "message" and _get(item, "role") == "assistant":
                rid = _get(event, "response_id")
                if rid is not None and rid == self.sequencer.active:
                    self._unheard[str(_get(item, "id"))] = rid
            return []
        if etype in ("conversation.item.added", "conversation.item.created"):
            return self._on_item(_get(event, "item"))
        if etype == "input_audio_buffer.speech_started":
            if not self.barge_in:
                return []
            return self._barge_in(playing=playing, server_cancels=server_interrupts(turn_detection))
        if etype == "input_audio_buffer.speech_stopped":
            if not server_creates(turn_detection):
                return []
            self.sequencer.expect_server_response()
            return [ArmTimer(SERVER_RESPONSE_TIMER, self.server_response_timeout)]
        if etype == "error":
            err = _get(event, "error")
            return self.on_error(_get(err, "code"), _get(err, "event_id"), _get(err, "message"))
        return []

    def on_error(self, code: str | None, event_id: str | None, message: Any = None) -> list[Action]:
        """An API error (the client's ``error`` handler gets the error object, not the event)."""
        return [Send(e) for e in self.sequencer.on_event({"type": "error", "error": {
            "code": code, "event_id": event_id, "message": message}})]

    def playback_stopped(self, stop: PlaybackStop | None) -> list[Action]:
        """Where playback stopped after a :class:`StopPlayback` (None: the shell plays nothing):
        the cancel, truncate and delete events."""
        barging, self._barging = self._barging, None
        if barging is None:
            return []
        rid, server_cancels = barging
        events: list[dict[str, Any]] = []
        if rid is not None and not server_cancels:
            events.extend(self.sequencer.cancel(rid))
        self.sequencer.drop_pending()
        unheard = next((i for i, r in self._unheard.items() if r == rid), None) if rid else None
        if stop is not None:
            events.extend(barge_in_events(stop, unheard_item_id=unheard))
        elif unheard is not None:
            events.append({"type": "conversation.item.delete", "item_id": unheard})
        return [Send(e) for e in events]

    def timer_fired(self, name: str) -> list[Action]:
        """A timer armed by :class:`ArmTimer` ran out."""
        if name == SERVER_RESPONSE_TIMER:
            return [Send(e) for e in self.sequencer.server_response_not_coming()]
        return []

    def reset(self) -> list[Action]:
        """The socket was replaced (reconnecting): forget every response; stop playback without
        truncating (the new session has not got those items)."""
        self.sequencer.reset()
        self._unheard.clear()
        self._tool_calls.clear()
        self._barging = None
        return [StopPlayback(None, report=False), CancelTimer(SERVER_RESPONSE_TIMER)]

    # ------------------------------------------------------------------ internals

    def _barge_in(self, *, playing: bool, server_cancels: bool) -> list[Action]:
        rid = self.sequencer.active
        if not playing and rid is None:
            return []
        if rid is not None:
            self._cut[rid] = None
            while len(self._cut) > _CUT_LIMIT:
                del self._cut[next(iter(self._cut))]
        self._barging = (rid, server_cancels)
        return [StopPlayback(rid)]

    def _on_done(self, event: Any) -> list[Action]:
        response = _get(event, "response")
        rid = _get(response, "id")
        if self.tool_names and rid is not None and _get(response, "status") == "completed":
            calls = {str(_get(item, "call_id")) for item in _iter(_get(response, "output"))
                     if _get(item, "type") == "function_call" and _get(item, "name") in self.tool_names}
            if calls:
                modalities = _get(response, "output_modalities")
                self._tool_calls[rid] = (calls, list(modalities) if modalities else None)
                while len(self._tool_calls) > _TOOL_RESPONSES_LIMIT:
                    del self._tool_calls[next(iter(self._tool_calls))]
        out: list[Action] = [Send(e) for e in self.sequencer.on_event(event)]
        if self._unheard:
            for item_id, r in list(self._unheard.items()):
                if r == rid:
                    del self._unheard[item_id]
        return out

    def _on_item(self, item: Any) -> list[Action]:
        if not self._tool_calls or _get(item, "type") != "function_call_output":
            return []
        call_id = str(_get(item, "call_id"))
        for rid, (calls, modalities) in list(self._tool_calls.items()):
            if call_id in calls:
                calls.discard(call_id)
                if calls:
                    return []
                del self._tool_calls[rid]  # every call of that response answered: the reply
                return self.respond({"output_modalities": modalities} if modalities else None)
        return []


def _iter(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else ()
