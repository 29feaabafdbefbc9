# A recorded session replayed as the server side of a test (Sans-I/O, driven by the shell like
# `session.Session`: `open`, `receive`, `timer_fired`, `release`; Actions out). The recording is
# the ordered client and server events of one real (or emulated) session; the replay answers
# the code under test with the recorded server events, causally:
#
# * the server events before the first client event go out on connect (`session.created`…);
# * each client event the code sends is matched with the next recorded one by `type` (the
#   payload is the code's business; a different type is a *divergence*), and the server events
#   recorded after it go out, up to the next recorded client event;
# * `input_audio_buffer.append` is matched by audio position, not event by event (the code may
#   cut its audio differently): a server event recorded after N bytes of audio waits until the
#   code has sent N bytes (`speech_started`, `committed` and the response of a VAD turn);
# * a divergence answers an `error` event (`server_error`, code `replay_divergence`, naming the
#   recorded and the received type) and is kept in `divergences` (the pytest fixture fails the
#   test with them); the replay then waits for the expected event.
#
# Recorded server events are sent as they were (their `event_id`s included).
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from . import errors
from .actions import Action, Close, Send

_decoder = msgspec.json.Decoder()
APPEND = "input_audio_buffer.append"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event of a recording: `direction` "client" or "server", the event, and for a server
    event the audio bytes the client had appended before it."""

    direction: str
    event: dict[str, Any]
    audio_before: int = 0


def audio_bytes(event: dict[str, Any]) -> int:
    """The decoded size of an `input_audio_buffer.append`'s audio (0 when it is not base64)."""
    audio = event.get("audio")
    if not isinstance(audio, str):
        return 0
    try:
        return len(base64.b64decode(audio, validate=True))
    except (binascii.Error, ValueError):
        return 0


def index_audio(steps: Sequence[tuple[str, dict[str, Any]]]) -> list[RecordedEvent]:
    """The recording with each server event's audio position filled in."""
    out: list[RecordedEvent] = []
    appended = 0
    for direction, event in steps:
        if direction == "client" and event.get("type") == APPEND:
            appended += audio_bytes(event)
            out.append(RecordedEvent(direction, event))
        else:
            out.append(RecordedEvent(direction, event, appended if direction == "server" else 0))
    return out


class ReplaySession:
    """Replays one recording on one connection (see the module comment)."""

    kind = "replay"
    sideband = False
    call_id = None

    def __init__(self, steps: Sequence[RecordedEvent]) -> None:
        self.steps = list(steps)
        self.pos = 0
        self.received_audio = 0
        self.divergences: list[str] = []
        """What the code under test did differently from the recording, in order."""
        self.closed = False
        self.last_event: dict[str, Any] | None = None
        self._n_client = 0

    def open(self, now: float) -> list[Action]:
        return self._advance()

    def receive(self, frame: str | bytes, now: float, *, binary: bool = False) -> list[Action]:
        self.last_event = None
        if self.closed or binary:
            return []
        try:
            event = _decoder.decode(frame)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return self._diverge("a frame that is not JSON", None)
        if not isinstance(event, dict):
            return self._diverge("a frame that is not a JSON object", None)
        self.last_event = event
        type_ = event.get("type")
        eid = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if type_ == APPEND:
            self.received_audio += audio_bytes(event)
            return self._advance()
        self._n_client += 1
        while self.pos < len(self.steps) and self.steps[self.pos].direction == "client" \
                and self.steps[self.pos].event.get("type") == APPEND:
            self.pos += 1  # recorded appends are matched by audio position
        if self.pos >= len(self.steps):
            return self._diverge(f"client event #{self._n_client} {type_!r}, but the recording has no more "
                                 "client events", eid)
        step = self.steps[self.pos]
        if step.direction != "client":
            # server events still waiting for audio: the recording had more audio before this event
            return self._diverge(f"client event #{self._n_client} {type_!r} after {self.received_audio} bytes of "
                                 f"audio; the recording sent {step.audio_before} bytes before its next "
                                 "client event", eid)
        if step.event.get("type") != type_:
            return self._diverge(f"client event #{self._n_client}: the recording has "
                                 f"{step.event.get('type')!r}, the code sent {type_!r}", eid)
        self.pos += 1
        return self._advance()

    def timer_fired(self, name: str, now: float) -> list[Action]:
        return []

    def fatal(self, fatal: errors.FatalClose, client_event_id: str | None = None) -> list[Action]:
        self.closed = True
        return [Send({"type": "error", "event_id": "event_replay_fatal",
                      "error": errors.error_payload(fatal.error, client_event_id)}),
                Close(fatal.close_code, fatal.reason)]

    def dtmf(self, digits: str, now: float) -> list[Action]:
        raise ValueError("a replayed session takes no DTMF")

    def release(self) -> None:
        self.closed = True

    @property
    def finished(self) -> bool:
        """Every recorded event was matched or sent."""
        return self.pos >= len(self.steps)

    def _advance(self) -> list[Action]:
        acts: list[Action] = []
        while self.pos < len(self.steps):
            step = self.steps[self.pos]
            if step.direction == "server":
                if step.audio_before > self.received_audio:
                    break
                acts.append(Send(dict(step.event)))
            elif step.event.get("type") != APPEND:
                break
            self.pos += 1
        return acts

    def _diverge(self, what: str, client_event_id: str | None) -> list[Action]:
        message = f"Replay divergence: {what}."
        self.divergences.append(message)
        err = errors.RequestError("replay_divergence", message, None, type="server_error")
        return [Send({"type": "error", "event_id": f"event_replay_{len(self.divergences)}",
                      "error": errors.error_payload(err, client_event_id)})]
