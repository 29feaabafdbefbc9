"""``openai-realtime-ws events`` and ``replay``: print a session's server events as JSON lines,
record a session (client and server events with their time offsets) and replay its client events
against a fresh connection, so that a bug can be reproduced offline on the embedded emulator.

Record format (JSON lines): one ``{"direction": "meta", "t": 0, "event": {...}}`` header, then one
``{"direction": "client"|"server", "t": <seconds since connect>, "event": {...}}`` per event.

Replay is causal, not timed: each recorded client event is sent once the replayed session has
received as many events of the type that preceded it in the recording (e.g. "after the 2nd
``response.done``"); then replay waits for the recording's last server event and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fnmatch
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from .. import (
    AsyncOpenAIRealtimeWS,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidClientEvent,
    OpenAIRealtimeError,
    RealtimeAPIError,
    UnknownServerEvent,
    __version__,
)
from ..types import AnyServerEvent, ErrorEvent, ErrorEventError
from ._errors import EXIT_CONNECTION, EXIT_ERROR, EXIT_OK, EXIT_USAGE, CLIError
from ._target import (
    Target,
    connection_failure,
    open_async,
    redact,
    resolve_target,
)

__all__ = ["add_events_parsers", "run_events", "run_replay"]

_json = msgspec.json.Encoder()


def _event_arg(value: str) -> list[dict[str, Any]]:
    """``--send`` value: one JSON object, or ``@FILE`` with one JSON object per line."""
    if value.startswith("@"):
        try:
            lines = Path(value[1:]).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {value[1:]}: {exc.strerror}") from None
    else:
        lines = [value]
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            where = f"line {n}: " if value.startswith("@") else ""
            raise argparse.ArgumentTypeError(f"{where}not JSON ({exc})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise argparse.ArgumentTypeError("each event must be a JSON object with a string type")
        events.append(obj)
    return events


def add_events_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    filters = argparse.ArgumentParser(add_help=False)
    g = filters.add_argument_group("output")
    g.add_argument("--type", action="append", default=[], metavar="TYPE",
                   help="print only events of this type (repeatable; shell patterns such as "
                        "'response.*' work)")
    g.add_argument("--exclude", action="append", default=[], metavar="TYPE",
                   help="do not print events of this type (repeatable, patterns work)")
    g.add_argument("--record", metavar="FILE.jsonl",
                   help="save the whole session (client and server events, time offsets)")

    p = sub.add_parser(
        "events", parents=[*parents, filters], help="print every server event as JSON lines",
        description="Connect, optionally send events, and print every server event as one JSON "
                    "object per line until the connection closes, --until/--count/--duration "
                    "is reached, or Ctrl-C.")
    p.add_argument("--send", action="append", default=[], type=_event_arg, metavar="JSON",
                   help="client event to send once the session is ready (repeatable; @FILE "
                        "reads one event per line)")
    p.add_argument("--no-validate", action="store_true",
                   help="send --send events as they are (send_raw), without schema validation")
    p.add_argument("--until", metavar="TYPE", help="stop after the first event of this type")
    p.add_argument("--count", type=int, metavar="N", help="stop after printing N events")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")

    r = sub.add_parser(
        "replay", parents=[*parents, filters],
        help="replay a recorded session's client events and print the server events",
        description="Send the client events of a session recorded with `events --record` to a "
                    "fresh connection (the embedded emulator unless a server or --api-key is "
                    "given), each after the server event that preceded it in the recording, and "
                    "print the server events. Exits 1 when the replay diverges.")
    r.add_argument("file", metavar="FILE.jsonl", help="a recording made with events --record")
    r.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="how long to wait for each expected server event (default: %(default)s)")


# --------------------------------------------------------------------------- shared plumbing


def event_to_json(event: AnyServerEvent) -> Any:
    """A server event as a JSON-ready object (typed events re-encoded; null fields omitted)."""
    if isinstance(event, UnknownServerEvent):
        return event.raw
    return msgspec.to_builtins(event)


class RawFrames:
    """The exact JSON of each server message (the client's ``"frame"`` hook), so that what is
    printed and recorded is what the server sent: nulls and unknown fields included."""

    def __init__(self) -> None:
        self._objects: collections.deque[dict[str, Any]] = collections.deque()

    def __call__(self, text: str) -> None:
        try:
            obj = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return  # a malformed frame never becomes an event
        if isinstance(obj, dict) and isinstance(obj.get("type"), str):
            self._objects.append(obj)

    def json_for(self, event: AnyServerEvent) -> Any:
        """The raw object of ``event`` (frames arrive before their events, in the same order)."""
        while self._objects:
            obj = self._objects.popleft()
            if obj["type"] == event.type:
                return obj
        return event_to_json(event)


class Output:
    """Prints selected events as JSON lines and records everything."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.include: list[str] = args.type
        self.exclude: list[str] = args.exclude
        self.printed = 0
        self.started = time.monotonic()
        self._record: IO[bytes] | None = None
        if args.record:
            try:
                self._record = open(args.record, "wb")  # closed in close()
            except OSError as exc:
                raise CLIError(f"cannot write {args.record}: {exc.strerror}") from None

    def selected(self, etype: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(etype, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(etype, p) for p in self.exclude)

    def record(self, direction: str, event: Any) -> None:
        if self._record is not None:
            t = 0.0 if direction == "meta" else round(time.monotonic() - self.started, 4)
            self._record.write(_json.encode({"direction": direction, "t": t, "event": event}))
            self._record.write(b"\n")

    def server(self, event: AnyServerEvent, raw: RawFrames | None = None) -> None:
        obj = raw.json_for(event) if raw is not None else event_to_json(event)
        self.record("server", obj)
        if self.selected(event.type):
            sys.stdout.write(_json.encode(obj).decode() + "\n")
            sys.stdout.flush()
            self.printed += 1

    def close(self) -> None:
        if self._record is not None:
            self._record.close()
            self._record = None


@dataclass
class Connected:
    rt: AsyncOpenAIRealtimeWS
    target: Target
    last_error: ErrorEventError | None = None
    raw: RawFrames | None = None


@contextlib.asynccontextmanager
async def connected(target: Target) -> AsyncIterator[Connected]:
    """The embedded emulator when the target is local, then the connection (closed on exit)."""
    async with contextlib.AsyncExitStack() as stack:
        rt = await open_async(stack, target)

        def on_error(error: OpenAIRealtimeError) -> None:
            # API errors reach the iteration as `error` events; report the others here
            if not isinstance(error, RealtimeAPIError):
                sys.stderr.write(f"openai-realtime-ws: warning: {redact(error.message)}\n")

        rt.on("error", on_error)
        raw = RawFrames()
        rt.on("frame", raw)
        try:
            yield Connected(rt, target, raw=raw)
        finally:
            with contextlib.suppress(OpenAIRealtimeError):
                await rt.close()


def _send(rt: AsyncOpenAIRealtimeWS, out: Output, event: dict[str, Any], validate: bool) -> None:
    if validate:
        rt.send(event)
    else:
        rt.send_raw(_json.encode(event))
    out.record("client", event)


def _meta(conn: Connected, what: str) -> dict[str, Any]:
    return {"tool": f"openai-realtime-ws {__version__}", "command": what,
            "model": conn.target.model, "server": "emulator" if conn.target.is_local
            else conn.rt.url, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# --------------------------------------------------------------------------- events


def run_events(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise CLIError("--count must be at least 1", EXIT_USAGE)
    if args.duration is not None and args.duration <= 0:
        raise CLIError("--duration must be positive", EXIT_USAGE)
    target = resolve_target(args)
    to_send = [e for group in args.send for e in group]
    out = Output(args)
    try:
        return asyncio.run(_events(args, target, to_send, out))
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is the normal way to stop watching
    finally:
        out.close()


async def _events(args: argparse.Namespace, target: Target, to_send: list[dict[str, Any]],
                  out: Output) -> int:
    deadline = None if args.duration is None else time.monotonic() + args.duration
    async with connected(target) as conn:
        out.started = time.monotonic()
        out.record("meta", _meta(conn, "events"))
        rt = conn.rt
        ready = False
        iterator = aiter(rt)
        while True:
            if not ready:
                limit = args.timeout
            else:
                limit = None
            if deadline is not None:
                left = deadline - time.monotonic()
                limit = left if limit is None else min(limit, left)
                if left <= 0:
                    return EXIT_OK
            try:
                event = await asyncio.wait_for(anext(iterator), limit)
            except (StopAsyncIteration, ConnectionClosedOK):
                return EXIT_OK
            except TimeoutError:
                if ready:
                    return EXIT_OK  # --duration reached
                raise CLIError(f"no session.created within {args.timeout:g} s",
                               EXIT_CONNECTION) from None
            except ConnectionClosedError as exc:
                raise connection_failure(conn.last_error, exc) from None
            if isinstance(event, ErrorEvent):
                conn.last_error = event.error
            out.server(event, conn.raw)
            if not ready and event.type == "session.created":
                ready = True
                for i, e in enumerate(to_send, 1):
                    try:
                        _send(rt, out, e, not args.no_validate)
                    except InvalidClientEvent as exc:
                        raise CLIError(f"--send event {i}: {exc.message}", EXIT_USAGE) from None
            if args.until and fnmatch.fnmatchcase(event.type, args.until):
                return EXIT_OK
            if args.count is not None and out.printed >= args.count:
                return EXIT_OK


# --------------------------------------------------------------------------- replay


@dataclass
class Step:
    event: dict[str, Any]
    after: tuple[str, int] | None
    """Send once this many events of this type have arrived (None: at once)."""


def load_recording(path: str) -> tuple[list[Step], tuple[str, int] | None]:
    """The client events with their causal anchors, and the recording's last server event."""
    steps: list[Step] = []
    seen: Counter[str] = Counter()
    last: tuple[str, int] | None = None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = msgspec.json.decode(line)
            direction = entry["direction"]
            event = entry["event"]
            etype = event["type"] if direction != "meta" else None
        except (msgspec.DecodeError, KeyError, TypeError):
            raise CLIError(f"{path}:{n}: not a recording line "
                           "(expected {\"direction\", \"t\", \"event\"})") from None
        if direction == "server" and isinstance(etype, str):
            seen[etype] += 1
            last = (etype, seen[etype])
        elif direction == "client":
            steps.append(Step(event, last))
    return steps, last


def run_replay(args: argparse.Namespace) -> int:
    if args.wait <= 0:
        raise CLIError("--wait must be positive", EXIT_USAGE)
    steps, final = load_recording(args.file)
    if not steps:
        raise CLIError(f"{args.file}: no client events to replay")
    target = resolve_target(args, default_local=True)
    out = Output(args)
    try:
        return asyncio.run(_replay(args, target, steps, final, out))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        out.close()


async def _replay(args: argparse.Namespace, target: Target, steps: Sequence[Step],
                  final: tuple[str, int] | None, out: Output) -> int:
    async with connected(target) as conn:
        out.started = time.monotonic()
        out.record("meta", _meta(conn, "replay"))
        rt = conn.rt
        counts: Counter[str] = Counter()
        changed = asyncio.Event()
        closed: list[BaseException | None] = []
        """Set when the connection ends: None (normal close) or the ConnectionClosedError."""
        all_sent = False

        def finished() -> bool:
            return all_sent and (final is None or counts[final[0]] >= final[1])

        async def read() -> None:
            try:
                async for event in rt.all_events():  # (unknown events too: this is a log)
                    if isinstance(event, ErrorEvent):
                        conn.last_error = event.error
                    out.server(event, conn.raw)
                    counts[event.type] += 1
                    changed.set()
                    if finished():
                        return  # the recording ends here: print nothing after it
                closed.append(None)
            except ConnectionClosedOK:
                closed.append(None)
            except ConnectionClosedError as exc:
                closed.append(exc)
            finally:
                changed.set()

        async def reached(anchor: tuple[str, int]) -> bool:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.wait
            while counts[anchor[0]] < anchor[1]:
                if closed:
                    return False
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), deadline - loop.time())
                except TimeoutError:
                    return False
            return True

        reader = asyncio.create_task(read())
        diverged = 0
        try:
            for i, step in enumerate(steps, 1):
                if step.after is not None and not await reached(step.after):
                    diverged += 1
                    if closed:
                        _warn(f"the connection closed before client event {i} "
                              f"({step.event.get('type')}) could be sent")
                        break
                    _warn(f"client event {i} ({step.event.get('type')}) expected "
                          f"{_nth(step.after)} first; sending it anyway")
                rt.send_raw(_json.encode(step.event))
                out.record("client", step.event)
            else:
                all_sent = True
                if final is not None and not await reached(final):
                    diverged += 1
                    _warn(f"the recording ended with {_nth(final)}; it did not arrive"
                          + ("" if closed else f" within {args.wait:g} s"))
        finally:
            if not closed:
                with contextlib.suppress(OpenAIRealtimeError):
                    await rt.close()
            if not reader.done():
                await reader
        if closed and closed[0] is not None:
            raise connection_failure(conn.last_error, closed[0])
        if diverged:
            _warn("the replay diverged from the recording")
            return EXIT_ERROR
        return EXIT_OK


def _nth(anchor: tuple[str, int]) -> str:
    n = anchor[1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {n}{suffix} {anchor[0]}"


def _warn(text: str) -> None:
    sys.stderr.write(f"openai-realtime-ws: warning: {text}\n")
    sys.stderr.flush()
