"""atheris fuzz target: arbitrary bytes -> ServerEventDecoder -> Dispatcher.

Every input is decoded as bytes (and as str and memoryview when it is UTF-8) and the result is
routed through a Dispatcher with "event", "error", once and per-type handlers. A crash is any
exception other than the documented MalformedFrameError, or a broken invariant:

* MalformedFrameError's message is one of the fixed, payload-free texts;
* UnknownServerEvent.decode_error is set exactly when the type is known;
* a typed event re-encoded with msgspec decodes to an equal event;
* bytes, str and memoryview give the same result;
* routing: "event" handlers first, then only handlers of the event's own type (or "error" for
  API errors), once-handlers at most once; route/route_error never raise.

See fuzz/README.md for how to run it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

atheris: Any
try:
    atheris = importlib.import_module("atheris")
except ModuleNotFoundError:  # replay only: tests/fuzz/test_fuzz_target.py, or no atheris here
    atheris = None

# coverage for this library's modules only, and only when fuzzing (not on replay or import)
_FUZZING = atheris is not None and __name__ == "__main__" and "--replay" not in sys.argv
with (
    atheris.instrument_imports(include=["openai_realtime_ws"])
    if _FUZZING
    else contextlib.nullcontext()
):
    import msgspec

    from openai_realtime_ws.core.codec import ServerEventDecoder
    from openai_realtime_ws.core.dispatch import SPECIAL_TYPES, Dispatcher
    from openai_realtime_ws.core.errors import MalformedFrameError, OpenAIRealtimeError
    from openai_realtime_ws.types import (
        SERVER_EVENT_TYPES,
        ErrorEvent,
        ServerEventBase,
        UnknownServerEvent,
    )

_KIND = r"(an array|a boolean|a number|a string|null|an object)"
MALFORMED = re.compile(
    r"could not parse websocket event: (?:not valid JSON \(\d+ bytes\)|not valid UTF-8 \(\d+ bytes\)"
    rf"|JSON nested too deeply|expected a JSON object, got {_KIND}"
    rf"|the 'type' field is (?:missing|{_KIND}, not a string))"
)
# Server events named like a library event ("event", "reconnecting", "reconnected") are routed
# to those handlers: a known bug (tests/fuzz/test_dispatch.py); FUZZ_STRICT=1 checks them too.
STRICT = os.environ.get("FUZZ_STRICT") == "1"

DECODER = ServerEventDecoder()


class Handler:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, arg: Any) -> None:
        return None


def decode(frame: bytes | str | memoryview) -> Any:
    try:
        event = DECODER.decode(frame)
    except MalformedFrameError as exc:
        if not MALFORMED.fullmatch(str(exc)):
            raise AssertionError(
                f"unexpected MalformedFrameError text: {str(exc)[:200]!r}"
            ) from None
        return exc
    if isinstance(event, UnknownServerEvent):
        assert isinstance(event.raw, dict) and event.raw.get("type") == event.type
        assert (event.decode_error is not None) == (event.type in SERVER_EVENT_TYPES)
    else:
        assert isinstance(event, ServerEventBase), type(event)
        assert isinstance(event, SERVER_EVENT_TYPES[event.type])
    return event


def route(result: Any) -> None:
    d = Dispatcher(redact=lambda s: s)
    event_h, once_h, error_h = Handler("event"), Handler("event-once"), Handler("error")
    d.add("event", event_h)
    d.add("event", once_h, once=True)
    d.add("error", error_h)
    registered: dict[str, list[Handler]] = {}
    types = ["session.created", "response.done", "x.unknown"]
    if not isinstance(result, MalformedFrameError) and result.type:  # add() refuses ""
        types.append(result.type)
    for t in types:
        registered.setdefault(t, []).append(Handler(t))
        d.add(t, registered[t][-1])
    for attempt in range(2):
        if isinstance(result, MalformedFrameError):
            routing = d.route_error(result)
            assert [h for h, _ in routing.calls] == [error_h] and routing.unhandled is None
            continue
        routing = d.route(result)
        handlers = [h for h, _ in routing.calls]
        assert handlers.count(once_h) == (1 if attempt == 0 else 0), "once handler"
        n = 2 if attempt == 0 else 1
        assert handlers[:n] == [event_h, once_h][:n], "'event' handlers come first"
        rest = routing.calls[n:]
        if result.type in SPECIAL_TYPES and result.type != "error" and not STRICT:
            continue  # known bug, see above
        if isinstance(result, ErrorEvent) or result.type == "error":
            assert [h for h, _ in rest] == [error_h, *registered.get("error", [])]
            assert all(isinstance(arg, OpenAIRealtimeError) for _, arg in rest)
        elif isinstance(result, UnknownServerEvent) and result.decode_error is not None:
            assert rest == [], "off-spec events skip typed handlers"
        else:
            assert [h for h, _ in rest] == registered.get(result.type, []), "only its own handlers"
            assert all(arg is result for _, arg in rest)


def TestOneInput(data: bytes) -> None:
    result = decode(data)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None:
        for other in (decode(text), decode(memoryview(data))):
            if isinstance(result, MalformedFrameError):
                assert isinstance(other, MalformedFrameError)
            else:
                assert other == result, (other, result)
    if isinstance(result, ServerEventBase):
        assert DECODER.decode(msgspec.json.encode(result)) == result
    route(result)


# ---- a structure-aware mutator -------------------------------------------------------------------
# msgspec is C and not instrumented, so libFuzzer sees little coverage to steer by; half of the
# mutations therefore edit the JSON tree (known types, wrong-typed fields, nulls, huge numbers,
# nesting, marker strings) and the other half are libFuzzer's byte-level ones.

_TYPES = [*sorted(SERVER_EVENT_TYPES), "event", "reconnecting", "x.unknown", ""]
_SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1.5,
    1e308,
    -0.0,
    "",
    "PAYLOAD-MARKER",
    "\u2028",
    "\U0001f600",
    [],
    {},
]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, (*path, i))
    return out


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return root


def _mutate_json(value: Any, rng: random.Random) -> Any:
    path = rng.choice(_nodes(value))
    op = rng.randrange(7)
    if op == 0 and isinstance(value, dict):
        value["type"] = rng.choice(_TYPES)
        return value
    if op == 1:
        return _set(value, path, rng.choice(_SCALARS))
    if op == 2 and path:  # drop a key / an element
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return value
    if op == 3:  # nest
        depth = rng.choice([1, 2, 10, 500, 1500])
        inner: Any = rng.choice(_SCALARS)
        for _ in range(depth):
            inner = [inner] if rng.random() < 0.5 else {"a": inner}
        return _set(value, path, inner)
    if op == 4 and isinstance(value, dict):  # a field of some event, with a random value
        value[
            rng.choice(
                [
                    "event_id",
                    "error",
                    "session",
                    "item",
                    "delta",
                    "response",
                    "part",
                    "content_index",
                    "message",
                    "code",
                ]
            )
        ] = rng.choice(_SCALARS)
        return value
    if op == 5:  # copy one node over another
        src = rng.choice(_nodes(value))
        node = value
        for key in src:
            node = node[key]
        return _set(value, path, json.loads(json.dumps(node)))
    return _set(value, path, {"type": rng.choice(_TYPES)})


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        try:
            value = json.loads(data)
            for _ in range(rng.randint(1, 3)):
                value = _mutate_json(value, rng)
            out = json.dumps(value, ensure_ascii=rng.random() < 0.3, separators=(",", ":"))
            encoded = out.encode("utf-8", "surrogatepass")
            if len(encoded) <= max_size:
                return encoded
        except (ValueError, RecursionError, TypeError, KeyError, IndexError):
            pass
    return bytes(atheris.Mutate(data, max_size))


def replay(paths: list[str]) -> int:
    """Run every file under ``paths`` through the target once (no atheris needed)."""
    files = [f for p in map(Path, paths) for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    count = 0
    for f in files:
        if f.is_file():
            TestOneInput(f.read_bytes())
            count += 1
    return count


def main() -> None:
    # the decoder logs a WARNING per off-spec event: millions of lines otherwise
    logging.getLogger("openai_realtime_ws").setLevel(logging.ERROR)
    if atheris is None or sys.argv[1:2] == ["--replay"]:
        n = replay([a for a in sys.argv[1:] if a != "--replay"])
        print(f"replayed {n} inputs: no crash")
        return
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
