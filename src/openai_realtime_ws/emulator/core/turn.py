# The responder contract (no I/O): what the session tells a responder about a turn
# (`TurnContext`) and what the responder answers (`Reply` with text and/or `ToolCall`s).
# Implementations live in `openai_realtime_ws.emulator.responder`.
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function (or remote MCP tool) call the assistant makes. `arguments` may be a mapping (JSON-encoded on the
    wire) or an already encoded JSON string. `call_id` is generated (`call_…`) when None."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None
    server_label: str | None = None
    """For a remote MCP tool: the server to call; None finds the server by the listed tool name
    (a name no listed MCP server offers is a function call)."""

    def arguments_json(self) -> str:
        """The arguments as the JSON string sent on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Reply:
    """What the assistant does in one response: say `text` (spoken or written per the response's
    output modality) and/or call `tool_calls` (after the message, at the next output indexes)."""

    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A function call of the conversation and the output the client sent for it."""

    call_id: str
    name: str
    arguments: str
    output: str


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a responder may look at. `items` are the response's input: the default conversation,
    or the `input` override of `response.create` (item references resolved). Audio items carry
    their transcript (what the emulator "heard") in `content[i]["transcript"]`."""

    items: Sequence[Mapping[str, Any]]
    instructions: str
    tools: Sequence[Mapping[str, Any]]
    tool_choice: Any
    output_modalities: Sequence[str]
    metadata: Mapping[str, Any] | None
    out_of_band: bool

    @property
    def last_user_text(self) -> str | None:
        """Text (or audio transcript) of the last user message, None if there is none."""
        for it in reversed(self.items):
            if it.get("type") == "message" and it.get("role") == "user":
                parts = []
                for c in it.get("content", []):
                    t = c.get("text") if c.get("type") == "input_text" else c.get("transcript")
                    if t:
                        parts.append(t)
                return " ".join(parts)
        return None

    @property
    def tool_results(self) -> list[ToolResult]:
        """Outputs since the last user/assistant message, each with its call (if known):
        `function_call_output` items, and MCP calls the server made (`mcp_call` items; a failed
        call's output is its error message)."""
        calls = {it.get("call_id"): it for it in self.items if it.get("type") == "function_call"}
        results: list[ToolResult] = []
        for it in reversed(self.items):
            if it.get("type") == "message":
                break
            if it.get("type") == "mcp_call" and (it.get("output") is not None or it.get("error")):
                error = it.get("error") or {}
                output = it.get("output") if it.get("output") is not None else str(error.get("message", ""))
                results.append(ToolResult(str(it.get("id")), str(it.get("name", "")),
                                          str(it.get("arguments", "")), str(output)))
            elif it.get("type") == "function_call_output":
                call = calls.get(it.get("call_id"), {})
                results.append(ToolResult(str(it.get("call_id")), str(call.get("name", "")),
                                          str(call.get("arguments", "")), str(it.get("output", ""))))
        results.reverse()
        return results


class Responder(Protocol):
    """Decides what the assistant says or does in each response."""

    def respond(self, turn: TurnContext) -> Reply:
        """What the assistant says and/or calls in the response described by `turn`."""
        ...
