"""One question, one answer, without I/O: :class:`AskTurn`, the rules behind ``rt.ask("…")``.

Rules owned here (facts in, actions out, like the rest of the core):

* :meth:`AskTurn.start` returns the client events that open the turn: the user's message
  (``conversation.item.create`` with one ``input_text``) and a ``response.create``, each with an
  ``event_id`` of the turn, so that an API error caused by either is recognised as the turn's.
* The turn's responses are the first response created after the turn's ``response.create`` and,
  when a response ends with tool calls that this client answers itself (registered tools and
  ``auto_respond``: :meth:`~.tools.ToolRouter.follows_up`), the follow-up response that answers
  them, and so on. Deltas of other responses are not the turn's.
* The turn ends at the ``response.done`` of a response after which no follow-up comes (no tool
  call to answer here, or a cancelled/failed/incomplete response), or at an API error caused by
  one of its events (:meth:`AskTurn.on_error`).
* The reply (:class:`Reply`): the output text, the audio transcript, the audio (base64 deltas
  decoded once at the end), every function call the model made in the turn (with the output
  the conversation recorded for it, once echoed back), the usage summed over the turn's
  responses (:class:`~.usage.TokenCounts`), and the last response's status.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from ..types import (
    AnyServerEvent,
    ConversationItemAddedEvent,
    ConversationItemCreatedEvent,
    ConversationItemDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseOutputAudioDeltaEvent,
    ResponseOutputAudioTranscriptDeltaEvent,
    ResponseOutputTextDeltaEvent,
)
from .errors import OpenAIRealtimeError
from .usage import TokenCounts

__all__ = ["AskTurn", "Reply", "ToolCall"]

_IDS: Final = itertools.count(1)
_ITEM_EVENTS = (ConversationItemAddedEvent, ConversationItemCreatedEvent, ConversationItemDoneEvent)


@dataclass(slots=True)
class ToolCall:
    """A function call the model made during the turn."""

    name: str
    call_id: str
    arguments: dict[str, Any]
    """The arguments, decoded (``{}`` when they were not a JSON object: see ``raw_arguments``)."""
    raw_arguments: str
    output: str | None = None
    """The ``function_call_output`` the conversation recorded for it (``None`` until echoed)."""


@dataclass(slots=True)
class Reply:
    """What one :meth:`ask` turn produced."""

    text: str
    """The reply as text: the output text, or, for a spoken reply, its transcript."""
    transcript: str
    """The transcript of the spoken reply (empty for a text reply)."""
    audio: bytes
    """The spoken reply (in the session's output format; empty for a text reply)."""
    tool_calls: list[ToolCall]
    """The function calls the model made in the turn, in order."""
    usage: TokenCounts
    """Tokens of every response of the turn, summed."""
    status: str | None
    """The last response's status (``completed``, ``cancelled``, ``failed``, ``incomplete``)."""
    response_ids: list[str] = field(default_factory=list)
    """The turn's responses (more than one when tools ran in between)."""


class AskTurn:
    """One ``ask``: feed it every server event (:meth:`on_event`) and every routed error
    (:meth:`on_error`); it says when the turn is over and builds the :class:`Reply`."""

    def __init__(self, follows_up: Callable[[ResponseDoneEvent], bool]) -> None:
        self._follows_up = follows_up
        n = next(_IDS)
        self.event_ids = (f"ask_{n}_item", f"ask_{n}_response")
        self.done = False
        self.error: OpenAIRealtimeError | None = None
        self._waiting = False  # the next response.created is the turn's
        self._ids: list[str] = []
        self._text: list[str] = []
        self._transcript: list[str] = []
        self._audio: list[str] = []
        self._calls: dict[str, ToolCall] = {}
        self._usage = TokenCounts()
        self._status: str | None = None

    def start(self, text: str, response: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The events that open the turn (send them in order)."""
        if not isinstance(text, str):
            raise TypeError(f"ask() takes the question as a str, got {type(text).__name__}")
        item_id, response_id = self.event_ids
        create: dict[str, Any] = {"type": "response.create", "event_id": response_id}
        if response is not None:
            create["response"] = dict(response)
        self._waiting = True
        return [
            {
                "type": "conversation.item.create",
                "event_id": item_id,
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            },
            create,
        ]

    def on_event(self, event: AnyServerEvent) -> bool:
        """Take one server event; returns whether the turn is over now."""
        if self.done:
            return True
        if isinstance(event, ResponseCreatedEvent):
            if self._waiting and event.response.id:
                self._waiting = False
                self._ids.append(event.response.id)
        elif isinstance(event, ResponseOutputTextDeltaEvent):
            if self._ours(event.response_id):
                self._text.append(event.delta)
        elif isinstance(event, ResponseOutputAudioTranscriptDeltaEvent):
            if self._ours(event.response_id):
                self._transcript.append(event.delta)
        elif isinstance(event, ResponseOutputAudioDeltaEvent):
            if self._ours(event.response_id):
                self._audio.append(event.delta)
        elif isinstance(event, ResponseDoneEvent):
            if event.response.id and self._ours(event.response.id):
                self._finish_response(event)
        elif isinstance(event, _ITEM_EVENTS):
            item = event.item
            if item.type == "function_call_output" and item.call_id in self._calls:
                self._calls[item.call_id].output = item.output
        return self.done

    def on_error(self, error: OpenAIRealtimeError) -> bool:
        """Take one routed error; an API error caused by one of the turn's events ends it."""
        if not self.done and getattr(error, "client_event_id", None) in self.event_ids:
            self.error = error
            self.done = True
        return self.done

    def _ours(self, response_id: str | None) -> bool:
        return bool(self._ids) and response_id == self._ids[-1]

    def _finish_response(self, event: ResponseDoneEvent) -> None:
        response = event.response
        self._status = response.status
        counts = TokenCounts.from_event(event)
        if counts is not None:
            self._usage.add(counts)
        for item in response.output or ():
            if item.type == "function_call" and item.call_id and item.call_id not in self._calls:
                raw = item.arguments or ""
                try:
                    decoded = msgspec.json.decode(raw or "{}")
                except msgspec.DecodeError:
                    decoded = None
                self._calls[item.call_id] = ToolCall(
                    name=item.name or "", call_id=item.call_id,
                    arguments=decoded if isinstance(decoded, dict) else {}, raw_arguments=raw,
                )
        if self._follows_up(event):
            self._waiting = True  # the tools run, then the follow-up response is the turn's
        else:
            self.done = True

    def reply(self) -> Reply:
        """The turn's reply (once :attr:`done`)."""
        text = "".join(self._text)
        transcript = "".join(self._transcript)
        return Reply(
            text=text or transcript,
            transcript=transcript,
            audio=b"".join(base64.b64decode(chunk) for chunk in self._audio),
            tool_calls=list(self._calls.values()),
            usage=self._usage,
            status=self._status,
            response_ids=list(self._ids),
        )
