"""ClientEventEncoder on random client events: bytes, or InvalidClientEvent naming a field that is
in the input; never another exception."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_realtime_ws.core.codec import ClientEventEncoder
from openai_realtime_ws.core.errors import InvalidClientEvent
from openai_realtime_ws.types import CLIENT_EVENT_TYPES, ClientEvent

from ._settings import FUZZ
from .strategies import client_event_dicts, conforming_event

ENCODER = ClientEventEncoder()
_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\[\.\.\.\]")
# `.field` is None only for these root-level messages (see test_root_level_field_is_named)
_ROOT = re.compile(
    r"invalid client event '[^']*': Object (missing required|contains unknown) field `(.*)`", re.S
)


def path_exists(data: Any, path: str) -> bool:
    """Does msgspec's error path (``item.content[0].text``, ``x[...]``) exist in ``data``?"""
    nodes = [data]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None or m.end() == pos:
            return False
        pos = m.end()
        nxt: list[Any] = []
        for node in nodes:
            if m.group(1) is not None and isinstance(node, dict) and m.group(1) in node:
                nxt.append(node[m.group(1)])
            elif m.group(2) is not None and isinstance(node, list) and int(m.group(2)) < len(node):
                nxt.append(node[int(m.group(2))])
            elif m.group(0) == "[...]" and isinstance(node, dict):
                nxt.extend(node.values())
        if not nxt:
            return False
        nodes = nxt
    return True


def key_anywhere(data: Any, name: str) -> bool:
    if isinstance(data, dict):
        return name in data or any(key_anywhere(v, name) for v in data.values())
    if isinstance(data, list):
        return any(key_anywhere(v, name) for v in data)
    return False


@FUZZ
@given(client_event_dicts())
def test_encode_or_invalid_client_event(event: dict[str, Any]) -> None:
    try:
        data = ENCODER.encode(event)
    except InvalidClientEvent as exc:
        assert exc.field is not None, str(exc)
        if "missing required field" in str(exc):
            # .field names the missing field: its parent exists, the field does not
            parent, _, _ = exc.field.rpartition(".")
            assert not parent or path_exists(event, parent), (exc.field, str(exc))
        elif "contains unknown field" in str(exc):
            # the key itself may hold path syntax ("[", "."): check the name, found anywhere
            name = str(exc).split("unknown field `", 1)[1].rsplit("`", 1)[0]
            if " at `" in name:
                name = name.rsplit("` at `", 1)[0]
            assert exc.field.endswith(name) and key_anywhere(event, name), (exc.field, str(exc))
        else:
            assert exc.field == "type" or path_exists(event, exc.field), (exc.field, str(exc))
        return
    assert isinstance(data, bytes)
    typed = msgspec.json.decode(data, type=ClientEvent)
    assert typed.type == event["type"]


@FUZZ
@given(
    st.sampled_from(sorted(CLIENT_EVENT_TYPES)).flatmap(
        lambda t: conforming_event(CLIENT_EVENT_TYPES[t])
    )
)
def test_conforming_client_events_encode(event: dict[str, Any]) -> None:
    data = ENCODER.encode(event)
    typed = msgspec.json.decode(data, type=ClientEvent)
    # typed events go through the same validation and produce the same bytes
    assert ENCODER.encode(typed) == msgspec.json.encode(typed)
    assert msgspec.json.decode(ENCODER.encode(typed), type=ClientEvent) == typed


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers())))
def test_bad_type_names_type(etype: Any) -> None:
    event = {"type": etype}
    if isinstance(etype, str) and etype in CLIENT_EVENT_TYPES:
        return
    with pytest.raises(InvalidClientEvent) as info:
        ENCODER.encode(event)
    assert info.value.field == "type"


# ---- known bugs ---------------------------------------------------------------------------------


def test_lone_surrogate_is_invalid_client_event() -> None:
    # json.loads('"\\ud800"') yields such a string: forwarded user text crashes send()
    with pytest.raises(InvalidClientEvent):
        ENCODER.encode(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "\ud800"}}
        )


def test_root_level_field_is_named() -> None:
    with pytest.raises(InvalidClientEvent) as info:
        ENCODER.encode({"type": "response.cancel", "modalities": ["text"]})
    assert info.value.field is not None


def test_key_with_path_marker_does_not_confuse_field() -> None:
    # the unknown key's own text contains " - at `$": partition() (not rpartition()) takes the
    # key as the path: .field == "instructions` - at `$.session", the message is mangled
    with pytest.raises(InvalidClientEvent) as info:
        ENCODER.encode(
            {"type": "session.update", "session": {"type": "realtime", "a - at `$.instructions": 1}}
        )
    assert info.value.field == "session.a - at `$.instructions"
