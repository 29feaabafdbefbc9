"""The event type names a caller gives ``on``/``once``/``off``/``wait_for``, checked.

Owns: which names are known (every server event type of the generated types, plus the clients'
own ``event``/``error``/``frame``/``reconnecting``/``reconnected``), the beta names of GA events
(spec/PROTOCOL.md §2.3), and the rule: a name that is unknown but close to a known one (a typo, a
beta name) warns with :class:`UnknownEventTypeWarning` naming the type meant; a name unlike any
known type is accepted silently, since a server event newer than this library passes through.
"""

from __future__ import annotations

import difflib
import functools
import warnings
from typing import Final

from ..types import SERVER_EVENT_TYPES
from .dispatch import SPECIAL_TYPES

__all__ = ["BETA_NAMES", "SPECIAL_TYPES", "UnknownEventTypeWarning", "check_event_type"]

#: Beta server event names and their GA names (spec/PROTOCOL.md §2.3).
BETA_NAMES: Final = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
}
#: Names people reach for that are near a known type other than the one they mean.
MEANT: Final = {"response.completed": "response.done", "response.finished": "response.done"}


class UnknownEventTypeWarning(UserWarning):
    """``on``/``once``/``off``/``wait_for`` named an event type this library does not know but
    that is close to one it knows (a typo, a beta name): the handler would never run. Names
    unlike any known type are accepted silently, since unknown server events pass through."""


@functools.cache
def _known() -> tuple[str, ...]:
    return tuple(sorted(set(SERVER_EVENT_TYPES) | SPECIAL_TYPES))


def check_event_type(type: str, *, stacklevel: int = 2) -> str | None:
    """Warn (:class:`UnknownEventTypeWarning`) when ``type`` is not a known event type but
    resembles one, naming the type meant; return that name (``None`` when nothing is wrong)."""
    if not isinstance(type, str):
        raise TypeError(f"the event type must be a str, got {type.__class__.__name__}")
    known = _known()
    if type in known:
        return None
    if type in BETA_NAMES:
        meant = BETA_NAMES[type]
        why = f"{type!r} is the beta name of {meant!r} (this client speaks the GA protocol);"
    else:
        close = [MEANT[type]] if type in MEANT else difflib.get_close_matches(type, known, 1, 0.75)
        if not close:
            return None  # a server event newer than this library: it passes through
        meant = close[0]
        why = f"{type!r} is not a known event type; did you mean {meant!r}?"
    warnings.warn(
        f"{why} no server event is called {type!r}, so its handlers and wait_for never run.",
        UnknownEventTypeWarning,
        stacklevel=stacklevel + 1,
    )
    return meant
