"""Function calling (no I/O here): a tool's JSON schema from its Python signature, which tool
calls a finished response asks for (with their arguments checked and converted), and the client
events that answer them.

The model asks for tools in ``response.done`` (its ``output`` holds ``function_call`` items with
``call_id``, ``name`` and JSON ``arguments``). :class:`ToolRouter` knows the registered tools,
turns each call into a :class:`ToolCallRequest` (arguments converted to the function's parameter
types, or an error for the model), and turns results into ``conversation.item.create``
(``function_call_output``) events, followed by one ``response.create`` once every call of the
response is answered (PROTOCOL.md §4.8: the server does not answer a tool result on its own).
Running the tools (sync or async) is the shell's business.

Schemas (:func:`tool_schema`): a :class:`Tool` registered without ``parameters`` gets the JSON
schema of its signature, made by ``msgspec.json.schema`` from the type hints (``int``, ``str``,
``Literal``, ``list[...]``, ``TypedDict``, dataclasses, msgspec Structs, ``Annotated[...,
msgspec.Meta(description=...)]``); parameters without a default are ``required``. Its docstring is
the description. The model's arguments are then converted with ``msgspec.convert(...,
strict=False)``: ``"4"`` for an ``int`` parameter becomes ``4``; what cannot be converted is
answered to the model as a tool error naming the argument, and the function is not called.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import msgspec

from ..types import ResponseDoneEvent

__all__ = ["Tool", "ToolCallRequest", "ToolRouter", "tool_schema"]

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class _Signature:
    """What a function's signature says about its arguments: a Struct type to convert them to,
    the names to pass on, and whether extra arguments go to ``**kwargs``."""

    __slots__ = ("names", "struct", "var_keyword")

    def __init__(self, struct: type[msgspec.Struct], names: tuple[str, ...], var_keyword: bool):
        self.struct = struct
        self.names = names
        self.var_keyword = var_keyword


def _signature(func: Callable[..., Any], name: str) -> _Signature:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tool {name!r}: cannot read the function's signature ({exc})") from None
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise ValueError(
            f"tool {name!r}: cannot resolve the type hints of its parameters ({exc}); "
            "pass parameters= with a JSON schema instead"
        ) from None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    names: list[str] = []
    var_keyword = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.POSITIONAL_ONLY:
            if p.default is p.empty:
                raise ValueError(
                    f"tool {name!r}: positional-only parameter {p.name!r} cannot be passed by "
                    "name; tools are called with keyword arguments"
                )
            continue
        hint = hints.get(p.name, Any)
        if p.default is p.empty:
            fields.append((p.name, hint))
        else:
            fields.append((p.name, hint, p.default))
        names.append(p.name)
    # required fields first (msgspec's rule, like dataclasses); kw_only keeps any order valid
    struct = msgspec.defstruct(f"{name}_arguments", fields, kw_only=True)
    return _Signature(struct, tuple(names), var_keyword)


def tool_schema(func: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """The JSON schema (an ``object``) of ``func``'s keyword arguments, from its type hints.

    Raises ``ValueError`` naming the tool when a hint has no JSON schema (say, a socket).
    """
    tool_name: str = name or str(getattr(func, "__name__", "tool"))
    return _schema_of(_signature(func, tool_name), tool_name)


def _schema_of(sig: _Signature, name: str) -> dict[str, Any]:
    try:
        (ref,), components = msgspec.json.schema_components(
            [sig.struct], ref_template="#/$defs/{name}"
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"tool {name!r}: a parameter's type has no JSON schema ({exc}); use JSON-like types "
            "(str, int, float, bool, list, dict, Literal, TypedDict, dataclasses, msgspec "
            "Structs) or pass parameters="
        ) from None
    top_name = ref["$ref"].rsplit("/", 1)[-1]
    schema = dict(components.pop(top_name))
    schema.pop("title", None)
    schema.setdefault("properties", {})
    if not schema.get("required", True):
        del schema["required"]
    if sig.var_keyword:
        schema["additionalProperties"] = True
    if components:
        schema["$defs"] = components
    return schema


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its schema (for ``session.tools``) and its handler.

    Without ``parameters``, the schema is derived from the handler's signature and type hints,
    and the model's arguments are converted to those types before the call. Without
    ``description``, the handler's docstring (cleaned by ``inspect.getdoc``) is used.
    """

    name: str
    handler: Callable[..., Any]
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    _signature: _Signature | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a tool needs a non-empty name")
        if not callable(self.handler):
            raise ValueError(f"tool {self.name!r}: the handler is not callable")
        if not self.description:
            object.__setattr__(self, "description", inspect.getdoc(self.handler) or "")
        if self.parameters is None:
            sig = _signature(self.handler, self.name)
            object.__setattr__(self, "_signature", sig)
            object.__setattr__(self, "parameters", _schema_of(sig, self.name))

    def schema(self) -> dict[str, Any]:
        """The ``{"type": "function", …}`` entry for ``session.update`` ``tools``."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters or _EMPTY_SCHEMA),
        }

    def convert(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the handler: converted to its parameter types when the
        schema came from its signature (``"4"`` → ``4``), as they are otherwise.

        Raises ``ValueError`` with a message for the model (which argument, what was expected).
        """
        sig = self._signature
        if sig is None:
            return arguments
        try:
            obj = msgspec.convert(arguments, sig.struct, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(f"invalid arguments for {self.name}: {_explain(exc)}") from None
        kwargs = {n: getattr(obj, n) for n in sig.names}
        if sig.var_keyword:
            kwargs.update({k: v for k, v in arguments.items() if k not in kwargs})
        return kwargs


def _explain(exc: msgspec.ValidationError) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.count``` → ``count: expected int, got str``."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    where = where.rstrip("`")
    if where.startswith("$."):
        where = where[2:]
    message = message.replace("`", "")
    if message.startswith("Object missing required field "):
        return f"missing required argument {message.rsplit(' ', 1)[-1]}"
    if where and where != "$":
        return f"{where}: {message[:1].lower()}{message[1:]}"
    return message


@dataclass(frozen=True)
class ToolCallRequest:
    """One call the model asked for: ``arguments`` are ready to pass as keyword arguments;
    ``error`` (when set) is what to answer the model instead of calling."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None  # the arguments were not a JSON object, or did not fit the types


class ToolRouter:
    """The registered tools and the bookkeeping of one response's calls."""

    __slots__ = ("auto_respond", "tools")

    def __init__(self, *, auto_respond: bool = True) -> None:
        self.tools: dict[str, Tool] = {}
        self.auto_respond = auto_respond
        """Send ``response.create`` once all calls of a response are answered."""

    def register(self, tool: Tool) -> None:
        """Add (or replace, by name) a tool."""
        if not tool.name or not isinstance(tool.name, str):
            raise ValueError("a tool needs a non-empty name")
        self.tools[tool.name] = tool

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools`` list for ``session.update``, in registration order."""
        return [t.schema() for t in self.tools.values()]

    def session_update(self, session_type: str | None, **fields: Any) -> dict[str, Any]:
        """The ``session.update`` announcing every registered tool (plus other ``fields``)."""
        session = {"type": session_type or "realtime", **fields, "tools": self.schemas()}
        return {"type": "session.update", "session": session}

    def calls(self, event: ResponseDoneEvent) -> list[ToolCallRequest]:
        """The calls of a finished response that a registered tool handles, arguments converted
        (or an ``error`` for the model when they cannot be)."""
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
            try:
                kwargs = self.tools[item.name].convert(args)
            except ValueError as exc:
                out.append(ToolCallRequest(item.call_id, item.name, {}, str(exc)))
                continue
            out.append(ToolCallRequest(item.call_id, item.name, kwargs))
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

    def follows_up(self, event: ResponseDoneEvent) -> bool:
        """Whether this client answers tool calls of ``event`` and then asks for the next
        response itself (registered tools, ``auto_respond``)."""
        return self.auto_respond and bool(self.calls(event))

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
