"""What selects a session and what names an event, on random text: a model or call id is
accepted exactly when it has no control character, or refused with a RealtimeConfigError that
names the first one; an event type name never raises, and warns only with the type meant."""

from __future__ import annotations

import re
import warnings

from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.errors import RealtimeConfigError
from openai_realtime_ws.core.event_names import UnknownEventTypeWarning, check_event_type
from openai_realtime_ws.core.handshake import RealtimeTarget
from openai_realtime_ws.types import SERVER_EVENT_TYPES

from ._settings import FUZZ

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMES = st.text(min_size=1, max_size=80) | st.sampled_from(sorted(SERVER_EVENT_TYPES)).flatmap(
    lambda name: st.integers(0, len(name)).map(lambda i: name[:i] + name[i + 1:])  # a dropped char
)


@FUZZ
@given(st.text(min_size=1, max_size=80), st.sampled_from(["model", "call_id"]))
def test_a_session_name_is_accepted_or_refused_naming_the_control_character(value: str, field: str) -> None:
    bad = CONTROL.search(value)
    try:
        RealtimeTarget(**{field: value})
    except RealtimeConfigError as exc:
        assert bad is not None, value
        assert str(exc).startswith(
            f"`{field}` contains a control character (U+{ord(bad.group()):04X} at position {bad.start()})"
        )
    else:
        assert bad is None, value


@FUZZ
@given(_NAMES)
def test_an_event_type_name_never_raises_and_warns_only_with_a_known_type(name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meant = check_event_type(name)
    if meant is None:
        assert not caught
    else:
        assert meant in SERVER_EVENT_TYPES or meant in {"event", "error", "frame", "reconnecting",
                                                        "reconnected"}
        assert meant != name
        assert [w.category for w in caught] == [UnknownEventTypeWarning]
        assert repr(meant) in str(caught[0].message)
