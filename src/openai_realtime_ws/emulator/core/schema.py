# Validation of client payloads (PROTOCOL.md §4.2, §5): a tiny combinator library that walks a
# JSON value, names the offending field by its dotted path (`session.audio.input.format.rate`)
# and raises the OpenAI-style RequestError (`unknown_parameter`, `missing_required_parameter`,
# `invalid_value`, `invalid_type`, range codes). Also the schemas of every client event. No I/O.
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec

from . import errors

_decoder = msgspec.json.Decoder()

MAX_DEPTH = 64
"""Deepest JSON nesting a client event may have [INF]; deeper is `invalid_event` (the session's
copies and the encoder would otherwise hit Python's recursion limit)."""


class FrameRefused(NamedTuple):
    """A client frame that is not a JSON object: the error to answer with, and the event's id
    where one could be read."""

    error: errors.RequestError
    event_id: str | None = None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests more than `limit` arrays/objects (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def decode_client_frame(frame: str | bytes, *, binary: bool = False) -> dict[str, Any] | FrameRefused:
    """One client frame as a JSON object, or why not (every session kind: realtime,
    transcription, translation): binary frames, text that is not JSON, JSON that is not an
    object, nesting deeper than MAX_DEPTH."""
    if binary:
        return FrameRefused(errors.binary_frame())
    try:
        event = _decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return FrameRefused(errors.not_json(str(exc).split("\n")[0]))
    except RecursionError:  # a JSON value nested deeper than the decoder goes
        return FrameRefused(errors.not_json("the JSON value is nested too deeply"))
    if not isinstance(event, dict):
        return FrameRefused(errors.not_json(f"expected an object, got {type(event).__name__}"))
    if len(frame) > 2 * MAX_DEPTH and _deeper_than(event, MAX_DEPTH):
        deep_id = event.get("event_id")
        return FrameRefused(errors.not_json(f"the JSON value is nested deeper than {MAX_DEPTH} levels"),
                            deep_id if isinstance(deep_id, str) else None)
    return event

Validator = Callable[[Any, str], Any]
"""Takes (value, dotted path), returns the normalized value or raises errors.RequestError."""


def any_value(value: Any, path: str) -> Any:
    return value


def string(max_len: int | None = None) -> Validator:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise errors.invalid_type(path, "a string", value)
        if max_len is not None and len(value) > max_len:
            raise errors.RequestError(
                "string_above_max_length",
                f"Invalid '{path}': string too long. Expected a string with maximum length {max_len}, "
                f"but got a string with length {len(value)} instead.",
                path,
            )
        return value

    return check


def boolean(value: Any, path: str) -> Any:
    if not isinstance(value, bool):
        raise errors.invalid_type(path, "a boolean", value)
    return value


def number(lo: float | None = None, hi: float | None = None, integer: bool = False) -> Validator:
    def check(value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise errors.invalid_type(path, "an integer" if integer else "a number", value)
        if integer and isinstance(value, float):
            if not value.is_integer():
                raise errors.invalid_type(path, "an integer", value)
            value = int(value)
        if lo is not None and value < lo:
            raise errors.out_of_range(path, value, lo, above=False, integer=integer)
        if hi is not None and value > hi:
            raise errors.out_of_range(path, value, hi, above=True, integer=integer)
        return value

    return check


def enum(*values: Any) -> Validator:
    def check(value: Any, path: str) -> Any:
        if value not in values or isinstance(value, bool):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise errors.invalid_type(path, "one of " + ", ".join(map(str, values)), value)
            raise errors.invalid_value(value, [str(v) for v in values], path)
        return value

    return check


def nullable(inner: Validator) -> Validator:
    """`null` is a value of its own here (e.g. `turn_detection: null` turns VAD off)."""

    def check(value: Any, path: str) -> Any:
        return None if value is None else inner(value, path)

    check.accepts_null = True  # type: ignore[attr-defined]
    return check


def _accepts_null(validator: Validator) -> bool:
    return bool(getattr(validator, "accepts_null", False))


def list_of(inner: Validator, max_items: int | None = None) -> Validator:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise errors.invalid_type(path, "an array", value)
        if max_items is not None and len(value) > max_items:
            raise errors.RequestError(
                "array_above_max_length",
                f"Invalid '{path}': array too long. Expected an array with maximum length {max_items}, "
                f"but got an array with length {len(value)} instead.",
                path,
            )
        return [inner(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return check


def obj(fields: Mapping[str, Validator], required: tuple[str, ...] = (),
        extra: Validator | None = None) -> Validator:
    """An object with known keys; unknown keys are `unknown_parameter` unless `extra` is given.

    `null` for an optional key means "not given" (the key is left out of the result), as real
    clients send it (livekit's `response.create` carries `"instructions": null`); only keys whose
    validator is `nullable` keep `null` as a value. A required key set to `null` is refused by its
    validator."""

    def check(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise errors.invalid_type(path, "an object", value)
        for key in required:
            if key not in value:
                raise errors.missing_parameter(f"{path}.{key}" if path else key)
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            validator = fields.get(key, extra)
            if validator is None:
                raise errors.unknown_parameter(sub)
            if item is None and key not in required and not _accepts_null(validator):
                continue
            out[key] = validator(item, sub)
        return out

    return check


def tagged(tag: str, variants: Mapping[str, Validator], default: str | None = None) -> Validator:
    """An object whose `tag` field picks the schema (e.g. turn_detection by `type`)."""

    def check(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise errors.invalid_type(path, "an object", value)
        kind = value.get(tag, default)
        if kind is None:
            raise errors.missing_parameter(f"{path}.{tag}")
        if kind not in variants:
            raise errors.invalid_value(kind, list(variants), f"{path}.{tag}")
        return variants[kind](value, path)

    return check


def one_of(*validators: Validator) -> Validator:
    """First validator that accepts; the last one's error otherwise."""

    def check(value: Any, path: str) -> Any:
        last: errors.RequestError | None = None
        for v in validators:
            try:
                return v(value, path)
            except errors.RequestError as exc:
                last = exc
        assert last is not None
        raise last

    return check


# --- shared pieces -------------------------------------------------------------------------

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")

audio_format = tagged("type", {
    "audio/pcm": obj({"type": any_value, "rate": enum(24000)}),
    "audio/pcmu": obj({"type": any_value}),
    "audio/pcma": obj({"type": any_value}),
})

transcription = nullable(obj({
    "model": string(),
    "language": string(),
    "languages": list_of(string()),
    "prompt": string(),
    "keywords": list_of(string()),
    "delay": enum("minimal", "low", "medium", "high", "xhigh"),
}))

noise_reduction = nullable(obj({"type": enum("near_field", "far_field")}))

turn_detection = nullable(tagged("type", {
    "server_vad": obj({
        "type": any_value,
        "threshold": number(0, 1),
        "prefix_padding_ms": number(0, None, integer=True),
        "silence_duration_ms": number(0, None, integer=True),
        "idle_timeout_ms": nullable(number(5000, 30000, integer=True)),
        "create_response": boolean,
        "interrupt_response": boolean,
    }),
    "semantic_vad": obj({
        "type": any_value,
        "eagerness": enum("low", "medium", "high", "auto"),
        "create_response": boolean,
        "interrupt_response": boolean,
    }),
}))

voice = one_of(string(), obj({"id": string()}, required=("id",)))

function_tool = obj({
    "type": enum("function"),
    "name": string(64),
    "description": string(),
    "parameters": any_value,
}, required=("name",))

mcp_tool = obj({
    "type": enum("mcp"), "server_label": string(), "server_url": string(), "server_description": string(),
    "connector_id": string(), "authorization": string(), "headers": nullable(any_value),
    "allowed_tools": nullable(any_value), "require_approval": nullable(any_value),
    "allowed_callers": any_value, "defer_loading": boolean, "tunnel_id": string(),
}, required=("server_label",))

tool = tagged("type", {"function": function_tool, "mcp": mcp_tool}, default="function")

tool_choice = one_of(
    enum("auto", "none", "required"),
    tagged("type", {
        "function": obj({"type": any_value, "name": string()}, required=("name",)),
        "mcp": obj({"type": any_value, "server_label": string(), "name": string()}, required=("server_label",)),
    }),
)

max_output_tokens = one_of(enum("inf"), number(1, 4096, integer=True))

tracing = nullable(one_of(enum("auto"), obj({"workflow_name": string(), "group_id": string(),
                                             "metadata": any_value})))

truncation = one_of(enum("auto", "disabled"), obj({
    "type": enum("retention_ratio"), "retention_ratio": number(0, 1),
    "token_limits": obj({"post_instructions": number(0, None, integer=True)}),
}, required=("type", "retention_ratio")))

prompt = nullable(obj({"id": string(), "version": nullable(string()), "variables": nullable(any_value)},
                      required=("id",)))

include = nullable(list_of(enum("item.input_audio_transcription.logprobs")))

reasoning = nullable(obj({"effort": nullable(enum("minimal", "low", "medium", "high", "xhigh", "none"))}))


def modalities(value: Any, path: str) -> Any:
    out = list_of(enum("text", "audio"))(value, path)
    if len(set(out)) != 1:
        raise errors.RequestError(
            "invalid_value",
            f"Invalid '{path}': exactly one of 'text' or 'audio' is supported, got {out!r}.",
            path,
        )
    return out


def _metadata(value: Any, path: str) -> Any:
    if value is None:
        return None
    out = obj({}, extra=string(512))(value, path)
    if len(out) > 16:
        raise errors.RequestError("invalid_value", f"Invalid '{path}': at most 16 key-value pairs.", path)
    for key in out:
        if len(key) > 64:
            raise errors.RequestError("invalid_value", f"Invalid '{path}': keys are at most 64 characters.", path)
    return out


metadata = nullable(_metadata)

audio_input_fields: dict[str, Validator] = {
    "format": audio_format,
    "transcription": transcription,
    "noise_reduction": noise_reduction,
    "turn_detection": turn_detection,
}

realtime_session = obj({
    "type": enum("realtime"),
    "model": string(),
    "output_modalities": modalities,
    "instructions": string(),
    "audio": obj({
        "input": obj(audio_input_fields),
        "output": obj({"format": audio_format, "voice": voice, "speed": number(0.25, 1.5)}),
    }),
    "tools": list_of(tool, max_items=128),
    "tool_choice": tool_choice,
    "parallel_tool_calls": boolean,
    "max_output_tokens": max_output_tokens,
    "tracing": tracing,
    "truncation": truncation,
    "prompt": prompt,
    "include": include,
    "reasoning": reasoning,
}, required=("type",))

transcription_session = obj({
    "type": enum("transcription"),
    "audio": obj({"input": obj(audio_input_fields)}),
    "include": include,
}, required=("type",))


# --- items --------------------------------------------------------------------------------

ITEM_STATUS = enum("completed", "incomplete", "in_progress")

_user_part = tagged("type", {
    "input_text": obj({"type": any_value, "text": string()}, required=("text",)),
    "input_audio": obj({"type": any_value, "audio": nullable(string()), "transcript": nullable(string())}),
    "input_image": obj({"type": any_value, "image_url": string(), "detail": enum("auto", "low", "high")}),
})
_system_part = tagged("type", {"input_text": obj({"type": any_value, "text": string()}, required=("text",))})
_assistant_part = tagged("type", {
    "output_text": obj({"type": any_value, "text": string()}),
    "output_audio": obj({"type": any_value, "audio": nullable(string()), "transcript": nullable(string())}),
})

_common_item: dict[str, Validator] = {
    "id": string(64), "type": any_value, "object": enum("realtime.item"), "status": ITEM_STATUS,
}


def _message(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise errors.invalid_type(path, "an object", value)
    role = value.get("role")
    if role is None:
        raise errors.missing_parameter(f"{path}.role")
    parts = {"user": _user_part, "system": _system_part, "assistant": _assistant_part}
    if role not in parts:
        raise errors.invalid_value(role, list(parts), f"{path}.role")
    return obj({**_common_item, "role": any_value, "content": list_of(parts[role])},
               required=("content",))(value, path)


_mcp_tool_entry = obj({"name": string(), "input_schema": any_value, "description": nullable(string()),
                       "annotations": nullable(any_value)}, required=("name",))

item = tagged("type", {
    "message": _message,
    "mcp_approval_response": obj({**_common_item, "approval_request_id": string(), "approve": boolean,
                                  "reason": nullable(string())}, required=("approval_request_id", "approve")),
    "mcp_approval_request": obj({**_common_item, "server_label": string(), "name": string(),
                                 "arguments": string()}, required=("server_label", "name", "arguments")),
    "mcp_call": obj({**_common_item, "server_label": string(), "name": string(), "arguments": string(),
                     "approval_request_id": nullable(string()), "output": nullable(string()),
                     "error": nullable(any_value)}, required=("server_label", "name", "arguments")),
    "mcp_list_tools": obj({**_common_item, "server_label": string(), "tools": list_of(_mcp_tool_entry)},
                          required=("server_label", "tools")),
    "function_call": obj({**_common_item, "call_id": string(), "name": string(), "arguments": string()},
                         required=("name", "arguments")),
    "function_call_output": obj({**_common_item, "call_id": string(), "output": string()},
                                required=("call_id", "output")),
})

input_entry = tagged("type", {
    **{k: item for k in ("message", "function_call", "function_call_output", "mcp_approval_response",
                         "mcp_approval_request", "mcp_call", "mcp_list_tools")},
    "item_reference": obj({"type": any_value, "id": string()}, required=("id",)),
})

response_params = obj({
    "conversation": string(),
    "input": list_of(input_entry),
    "instructions": string(),
    "output_modalities": modalities,
    "audio": obj({"output": obj({"format": audio_format, "voice": voice})}),
    "tools": list_of(tool, max_items=128),
    "tool_choice": tool_choice,
    "parallel_tool_calls": boolean,
    "max_output_tokens": max_output_tokens,
    "metadata": metadata,
    "prompt": prompt,
    "reasoning": reasoning,
    "temperature": number(0.6, 1.2),
})


# --- client events (top level) --------------------------------------------------------------

_eid = {"type": any_value, "event_id": string(512)}

CLIENT_EVENTS: dict[str, Validator] = {
    "session.update": obj({**_eid, "session": any_value}, required=("session",)),
    "input_audio_buffer.append": obj({**_eid, "audio": string()}, required=("audio",)),
    "input_audio_buffer.commit": obj(_eid),
    "input_audio_buffer.clear": obj(_eid),
    "conversation.item.create": obj({**_eid, "previous_item_id": nullable(string()), "item": any_value},
                                    required=("item",)),
    "conversation.item.truncate": obj({**_eid, "item_id": string(), "content_index": number(0, None, True),
                                       "audio_end_ms": number(0, None, True)},
                                      required=("item_id", "content_index", "audio_end_ms")),
    "conversation.item.delete": obj({**_eid, "item_id": string()}, required=("item_id",)),
    "conversation.item.retrieve": obj({**_eid, "item_id": string()}, required=("item_id",)),
    "response.create": obj({**_eid, "response": nullable(any_value)}),
    "response.cancel": obj({**_eid, "response_id": string()}),
    "output_audio_buffer.clear": obj(_eid),
}
"""The 11 client event types (§2.1). A plain WebSocket session refuses the WebRTC/SIP-only
`output_audio_buffer.clear` as an unknown type (an Azure GA probe lists it so); a sideband
connection (`?call_id=`) takes it (see `session.SIDEBAND_EVENTS`)."""

REALTIME_EVENTS = tuple(t for t in CLIENT_EVENTS if t != "output_audio_buffer.clear")
"""Types a plain realtime WebSocket session accepts."""

TRANSCRIPTION_EVENTS = (
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "conversation.item.create", "conversation.item.truncate",
    "conversation.item.delete", "conversation.item.retrieve",
)
"""Types a transcription session accepts; `response.*` are unknown there [INF]."""
