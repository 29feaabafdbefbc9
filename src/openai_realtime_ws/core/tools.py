"""Function calling (no I/O here): which tool calls a finished response asks for, and the client
events that answer them.

The model asks for tools in ``response.done`` (its ``output`` holds ``function_call`` items with
``call_id``, ``name`` and JSON ``arguments``). :class:`ToolRouter` knows the registered tools,
turns each call into a :class:`ToolCallRequest` (arguments parsed, or a parse error), and turns
results into ``conversation.item.create`` (``function_call_output``) events, followed by one
``response.create`` once every call of the response is answered (§4.8: the server does not
answer a tool result on its own). Running the tools (sync or async) is the shell's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..types import ResponseDoneEvent

__all__ = ["Tool", "ToolCallRequest", "ToolRouter"]


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its schema (for ``session.tools``) and its handler."""

    name: str
    handler: Callable[..., Any]
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def schema(self) -> dict[str, Any]:
        """The ``{"type": "function", …}`` entry for ``session.update`` ``tools``."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class ToolCallRequest:
    """One call the model asked for."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None  # the arguments were not a JSON object


class ToolRouter:
    """The registered tools and the bookkeeping of one response's calls."""

    __slots__ = ("auto_respond", "tools")

    def __init__(self, *, auto_respond: bool = True) -> None:
        self.tools: dict[str, Tool] = {}
        self.auto_respond = auto_respond
        """Send ``response.create`` once all calls of a response are answered."""

    def register(self, tool: Tool) -> None:
        if not tool.name or not isinstance(tool.name, str):
            raise ValueError("a tool needs a non-empty name")
        self.tools[tool.name] = tool

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def session_update(self, session_type: str | None, **fields: Any) -> dict[str, Any]:
        """The ``session.update`` announcing every registered tool (plus other ``fields``)."""
        session = {"type": session_type or "realtime", **fields, "tools": self.schemas()}
        return {"type": "session.update", "session": session}

    def calls(self, event: ResponseDoneEvent) -> list[ToolCallRequest]:
        """The calls of a finished response that a registered tool handles."""
        if event.response.status not in (None, "completed"):
            return []  # a cancelled or failed response's calls are not run
        out: list[ToolCallRequest] = []
        for item in event.response.output or ():
            if item.type != "function_call" or item.name not in self.tools or not item.call_id:
                continue
            try:
                args = msgspec.json.decode(item.arguments or "{}")
            except msgspec.DecodeError:
                out.append(ToolCallRequest(item.call_id, item.name, {}, "arguments are not JSON"))
                continue
            if not isinstance(args, dict):
                out.append(
                    ToolCallRequest(item.call_id, item.name, {}, "arguments are not a JSON object")
                )
                continue
            out.append(ToolCallRequest(item.call_id, item.name, args))
        return out

    @staticmethod
    def output_event(call: ToolCallRequest, result: Any) -> dict[str, Any]:
        """``function_call_output`` for a result: strings as they are, anything else as JSON."""
        if isinstance(result, str):
            output = result
        else:
            try:
                output = msgspec.json.encode(result).decode()
            except (TypeError, msgspec.EncodeError):
                output = msgspec.json.encode(str(result)).decode()
        return {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call.call_id, "output": output},
        }

    @staticmethod
    def error_event(call: ToolCallRequest, message: str) -> dict[str, Any]:
        """The output the model sees when a tool failed (it can apologise or retry)."""
        return ToolRouter.output_event(call, {"error": message})

    def follow_up(
        self, answered: int, output_modalities: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """After ``answered`` outputs of one response: the ``response.create`` (if any), in the
        modalities of the response that asked (a text turn stays a text turn)."""
        if not answered or not self.auto_respond:
            return []
        if output_modalities:
            return [{"type": "response.create", "response": {"output_modalities": list(output_modalities)}}]
        return [{"type": "response.create"}]
