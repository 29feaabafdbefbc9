# What the Sans-I/O session asks its shell to do. The session never sends, sleeps or closes by
# itself: `Session.receive()` & co. return a list of these, the shell carries them out in order.
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(slots=True)
class Send:
    """Send one server event (a JSON object) as one text frame."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with `code`/`reason` (after the sends that precede it)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call `Session.timer_fired(name, now)` after `delay` seconds (replaces a timer of that name)."""

    name: str
    delay: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Offload:
    """Call `fn()` and hand its result to `then`. `fn` is plug-in work that may take long (real
    speech synthesis or recognition); it must not touch the session (it only calls the plug-in).
    Without `blocking` a shell calls it in place and carries out `then`'s Actions next, in order.
    With `blocking=True` it runs off the event path: in a worker thread, while the shell goes on
    with this connection's other frames and actions (nothing is held behind it); when it is done,
    `then` runs back on the shell's thread, serialized with the connection's other session calls,
    and its Actions are carried out (the session keeps whatever must wait for it).

    Inside a response stream the step is an Offload with `then=None`: the shell sends the result
    into the stream (`stream.send(result)`) to get the next step."""

    fn: Callable[[], Any]
    then: Callable[[Any], list[Action]] | None = None
    blocking: bool = False


@dataclass(frozen=True, slots=True)
class McpResult:
    """What an MCP server answered: `tools` (tools/list: name, description, input_schema,
    annotations), `output` (tools/call: the text content), or `error` (a Realtime MCP error object:
    `{"type": "http_error"|"protocol_error", "code", "message"}` or
    `{"type": "tool_execution_error", "message"}`)."""

    tools: list[dict[str, Any]] | None = None
    output: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class McpRequest:
    """Ask the MCP server of `server` (an `{"type": "mcp", ...}` tool: `server_url`, `headers`,
    `authorization`) to list its tools (`method="tools/list"`) or to call `name` with `arguments`
    (`"tools/call"`). Network I/O: the shell runs it without holding up the connection and hands
    the McpResult to `then` (session-level), or sends it into the response stream (then=None)."""

    server: dict[str, Any]
    method: str
    name: str | None = None
    arguments: dict[str, Any] | None = None
    then: Callable[[McpResult], list[Action]] | None = None


@dataclass(frozen=True, slots=True)
class StartStream:
    """Drive `stream` concurrently with everything else. The stream yields Steps:

    * a float: "do not pull the next step before `offset` seconds after the stream started"
      (the pacing; a shell sleeps here, and this is where a cancel can land);
    * a list of Actions: carry them out now, in order, without interleaving other sends;
    * an Offload or McpRequest (then=None): run it and `send()` its result into the stream.

    The stream stops by itself (StopIteration) once the session cancelled the response; the
    cancel's terminal events come from the cancelling call, not from the stream."""

    stream: Generator[Step, Any, None]
    response_id: str


Action: TypeAlias = Send | Close | SetTimer | CancelTimer | StartStream | Offload | McpRequest
Step: TypeAlias = float | list[Action] | Offload | McpRequest
