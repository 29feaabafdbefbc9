"""Hypothesis strategies shared by the property tests in this folder.

* :func:`json_values` - any JSON tree (nulls, huge ints, deep-ish nesting, text with a planted
  :data:`MARKER` so that tests can prove a payload never reaches an error message);
* :func:`schema_values` - values that *conform* to a msgspec type (read with
  ``msgspec.inspect``), so generated events get past the first field and exercise deep paths;
* :func:`server_event_dicts` / :func:`client_event_dicts` - events of a known ``type`` whose
  fields are conforming, mutated (random type, null, dropped) or extra;
* :func:`frames` - what a server could put in a text frame: bytes, text, JSON, events, invalid
  UTF-8, nesting.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from openai_realtime_ws.types import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES

__all__ = [
    "MARKER",
    "MARKER_B",
    "client_event_dicts",
    "frames",
    "json_values",
    "mutated",
    "schema_values",
    "server_event_dicts",
]

#: Planted in generated payloads; must never show up in an error message.
MARKER = "PAYLOAD-MARKER-q7Zx"
MARKER_B = MARKER.encode()

#: Deepest nesting generated: past msgspec's limit (the interpreter's recursion limit, 1000).
MAX_NESTING = 3000

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1

# Text for JSON strings (no lone surrogates: a JSON document holding one cannot be encoded;
# str frames with lone surrogates come from `frames()`).
texts = st.one_of(
    st.text(max_size=12),
    st.just(MARKER),
    st.text(max_size=6).map(lambda s: s + MARKER),
    st.sampled_from(["", " ", "\x00", "\u2028", "\U0001f600", "é", "\\", '"', "null", "type"]),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=_INT64_MIN, max_value=_UINT64_MAX),
    st.integers(),  # unbounded: huge ints beyond 64 bits
    st.sampled_from([2**64, -(2**63) - 1, 10**40, -(10**40), 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0]),
    texts,
)


def json_values(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(texts, children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


# ---- schema-conforming values ------------------------------------------------------------------

_MAX_DEPTH = 7


@functools.cache
def _struct_info(cls: type) -> mi.StructType:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info


def _int_strategy(t: mi.IntType) -> st.SearchStrategy[int]:
    lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else _INT64_MIN)
    hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else _UINT64_MAX)
    return st.integers(min_value=lo, max_value=hi)


def _float_strategy(t: mi.FloatType) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=t.ge if t.ge is not None else t.gt,
        max_value=t.le if t.le is not None else t.lt,
        exclude_min=t.gt is not None,
        exclude_max=t.lt is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _str_strategy(t: mi.StrType) -> st.SearchStrategy[str]:
    if t.pattern is not None:
        return st.from_regex(t.pattern, fullmatch=True)
    lo = t.min_length or 0
    hi = t.max_length if t.max_length is not None else max(lo, 12)
    plain = st.text(min_size=lo, max_size=min(hi, max(lo, 12)))
    if hi >= lo + len(MARKER):
        return st.one_of(plain, st.just(MARKER + "x" * lo))
    return plain


def schema_values(t: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values that msgspec decodes into type ``t`` (a ``msgspec.inspect.Type``)."""
    if isinstance(t, mi.StructType):
        return _struct_values(t.cls, min(depth, _MAX_DEPTH))
    if isinstance(t, mi.UnionType):
        members = list(t.types)
        if depth >= _MAX_DEPTH and any(isinstance(m, mi.NoneType) for m in members):
            return st.none()
        return st.one_of([schema_values(m, depth + 1) for m in members])
    if isinstance(t, mi.StrType):
        return _str_strategy(t)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return _int_strategy(t)
    if isinstance(t, mi.FloatType):
        return _float_strategy(t)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.ListType):
        lo = t.min_length or 0
        if depth >= _MAX_DEPTH and lo == 0:
            return st.just([])
        hi = max(lo, 3) if t.max_length is None else t.max_length
        return st.lists(schema_values(t.item_type, depth + 1), min_size=lo, max_size=hi)
    if isinstance(t, mi.DictType):
        if depth >= _MAX_DEPTH:
            return st.just({})
        return st.dictionaries(
            schema_values(t.key_type, depth + 1), schema_values(t.value_type, depth + 1), max_size=3
        )
    # AnyType and anything this generator does not model
    return json_values(8)


@functools.cache
def _struct_values(cls: type, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    info = _struct_info(cls)
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if info.tag_field is not None:
        required[info.tag_field] = st.just(info.tag)
    for f in info.fields:
        if f.required:
            required[f.encode_name] = schema_values(f.type, depth + 1)
        elif depth < _MAX_DEPTH:
            optional[f.encode_name] = schema_values(f.type, depth + 1)
    return st.fixed_dictionaries(required, optional=optional)


def conforming_event(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    return _struct_values(cls, 0)


# ---- mutations -----------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, value: Any, rate: float = 0.15) -> Any:
    """``value`` with some nested values replaced by random JSON, nulled, dropped or extended."""

    def walk(v: Any, top: bool) -> Any:
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for k, child in v.items():
                if top and k == "type":
                    out[k] = child
                    continue
                action = draw(st.sampled_from(["keep"] * 6 + ["random", "null", "drop"]))
                if action == "keep":
                    out[k] = walk(child, False)
                elif action == "random":
                    out[k] = draw(json_values(8))
                elif action == "null":
                    out[k] = None
            if draw(st.booleans()) and draw(st.booleans()):
                extra = draw(texts)
                if not (top and extra == "type"):
                    out[extra] = draw(json_values(6))
            return out
        if isinstance(v, list):
            return [walk(x, False) for x in v]
        return v

    return walk(value, True)


def server_event_dicts(mutate: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with a known server ``type``; conforming, or mutated when ``mutate``."""
    base = st.sampled_from(sorted(SERVER_EVENT_TYPES)).flatmap(
        lambda t: conforming_event(SERVER_EVENT_TYPES[t])
    )
    if not mutate:
        return base
    return st.one_of(base, base.flatmap(lambda d: mutated(d)))


def client_event_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with a known client ``type``: conforming, mutated, or random fields."""
    ctype = st.sampled_from(sorted(CLIENT_EVENT_TYPES))
    base = ctype.flatmap(lambda t: conforming_event(CLIENT_EVENT_TYPES[t]))
    random_fields = st.tuples(ctype, st.dictionaries(texts, json_values(10), max_size=5)).map(
        lambda p: {**p[1], "type": p[0]}
    )
    return st.one_of(base, base.flatmap(lambda d: mutated(d)), random_fields)


# ---- frames --------------------------------------------------------------------------------------

_BAD_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xe2\x82",
]


def _encode(v: Any) -> bytes:
    return msgspec.json.encode(v)


@st.composite
def _splice_bad_utf8(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:at] + draw(st.sampled_from(_BAD_UTF8)) + data[at:]


@st.composite
def _nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.one_of(st.integers(1, 100), st.integers(1, MAX_NESTING)))
    kind = draw(st.sampled_from(["list", "dict", "typed", "truncated"]))
    leaf = _encode(MARKER)
    if kind == "list":
        return b"[" * depth + leaf + b"]" * depth
    if kind == "truncated":
        return b"[" * depth + leaf
    inner = b'{"a":' * depth + leaf + b"}" * depth
    if kind == "typed":
        etype = draw(st.sampled_from([*sorted(SERVER_EVENT_TYPES), "x.unknown"]))
        return b'{"type":' + _encode(etype) + b',"event_id":"e","session":' + inner + b"}"
    return inner


def _json_frames() -> st.SearchStrategy[bytes]:
    return st.one_of(
        json_values().map(_encode),
        st.dictionaries(texts, json_values(10), max_size=5).map(_encode),
        st.tuples(
            st.one_of(st.sampled_from(sorted(SERVER_EVENT_TYPES)), texts, json_values(3)),
            st.dictionaries(texts, json_values(10), max_size=5),
        ).map(lambda p: _encode({**p[1], "type": p[0]})),
        server_event_dicts().map(_encode),
        # JSON Python's json module writes but msgspec may not take (NaN, Infinity)
        st.dictionaries(texts, st.floats(), max_size=3).map(
            lambda d: json.dumps({"type": "x", **d}).encode()
        ),
    )


def frames() -> st.SearchStrategy[str | bytes | memoryview]:
    """Anything a text frame could carry, as bytes, str or memoryview; most carry the marker."""
    as_bytes = st.one_of(
        st.binary(max_size=64),
        st.binary(max_size=32).map(lambda b: b + MARKER_B),
        _json_frames(),
        _json_frames().flatmap(_splice_bad_utf8),
        _json_frames().map(lambda b: b[: len(b) // 2]),
        _nested(),
    )
    as_text = st.one_of(
        st.text(max_size=40).map(lambda s: s + MARKER),
        # lone surrogates: a str no UTF-8 decoder could have produced
        st.text(st.characters(exclude_categories=()), max_size=20).map(
            lambda s: '{"type":"x","a":"' + s + MARKER + '"}'
        ),
        as_bytes.filter(_is_utf8).map(bytes.decode),
    )
    return st.one_of(as_bytes, as_bytes.map(_view), as_text)


def _view(b: bytes) -> memoryview:
    return memoryview(b)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode()
    except UnicodeDecodeError:
        return False
    return True
