# Error events of the Realtime API (PROTOCOL.md §5) and the close reasons of §6: every message
# text the emulator sends for a client mistake lives here, so tests and docs have one source.
# Codes marked [INF] are not confirmed by captures; they are this emulator's choice.
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class RequestError(Exception):
    """A client event was refused; becomes one `error` event (session stays open unless fatal)."""

    def __init__(self, code: str | None, message: str, param: str | None = None,
                 type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type


@dataclass(frozen=True, slots=True)
class FatalClose:
    """An error that ends the socket: `error` event, then close(code, reason)."""

    error: RequestError
    close_code: int

    @property
    def reason(self) -> str:
        return f"{self.error.type}.{self.error.code}"


def error_payload(err: RequestError, client_event_id: str | None) -> dict[str, Any]:
    """The `error` object of an `error` event; `event_id` = the causing client event's id."""
    return {
        "type": err.type,
        "code": err.code,
        "message": err.message,
        "param": err.param,
        "event_id": client_event_id,
    }


def _quote_list(values: Iterable[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def missing_type() -> RequestError:
    return RequestError("invalid_event", "The 'type' field is missing.", "type")


def not_json(detail: str) -> RequestError:
    # [INF] message
    return RequestError("invalid_event", f"The event could not be parsed as a JSON object: {detail}")


def binary_frame() -> RequestError:
    # [INF] the API only takes text frames
    return RequestError("invalid_event", "Binary frames are not supported; send each event as a JSON text frame.")


def invalid_value(value: Any, supported: Iterable[str] | None, param: str | None) -> RequestError:
    shown = value if isinstance(value, str) else repr(value)
    msg = f"Invalid value: '{shown}'."
    if supported is not None:
        msg += f" Supported values are: {_quote_list(supported)}."
    return RequestError("invalid_value", msg, param)


def invalid_type(param: str, expected: str, value: Any) -> RequestError:
    return RequestError(
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {_describe(value)} instead.",
        param,
    )


def unknown_parameter(param: str) -> RequestError:
    return RequestError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def missing_parameter(param: str) -> RequestError:
    return RequestError("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


def out_of_range(param: str, value: float, bound: float, above: bool, integer: bool) -> RequestError:
    kind = "integer" if integer else "decimal"
    side = "above maximum" if above else "below minimum"
    op = "<=" if above else ">="
    code = f"{kind}_{'above_max' if above else 'below_min'}_value"
    return RequestError(
        code,
        f"Invalid '{param}': {kind} {side} value. Expected a value {op} {bound:g}, but got {value:g} instead.",
        param,
    )


def commit_empty(buffered_ms: float) -> RequestError:
    return RequestError(
        "input_audio_buffer_commit_empty",
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
        f"but buffer only has {buffered_ms:.2f}ms of audio.",
    )


def active_response(response_id: str) -> RequestError:
    return RequestError(
        "conversation_already_has_active_response",
        f"Conversation already has an active response in progress: {response_id}. "
        "Wait until the response is finished before creating a new one.",
    )


def cancel_not_active() -> RequestError:
    return RequestError("response_cancel_not_active", "Cancellation failed: no active response found")


def session_expired(message: str) -> FatalClose:
    return FatalClose(RequestError("session_expired", message), 1001)


def invalid_api_key(received: str | None) -> FatalClose:
    if received:
        shown = f"{received[:3]}…{received[-4:]}" if len(received) > 8 else "…"
        msg = f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
    else:
        msg = ("You didn't provide an API key. You need to provide your API key in an Authorization "
               "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
    return FatalClose(RequestError("invalid_api_key", msg), 3000)


BETA_MESSAGE = "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."


def beta_disabled() -> FatalClose:
    return FatalClose(RequestError("beta_api_shape_disabled", BETA_MESSAGE), 4000)


def invalid_model(model: str, mode: str = "realtime") -> FatalClose:
    """A URL model the endpoint does not serve: `error` invalid_model, close 4000
    `invalid_request_error.invalid_model`. Code, close and message shape observed for
    transcription mode (`Model "gpt-4o-mini-transcribe" is not supported in transcription mode.`,
    livekit/agents-js#1756); "not supported in realtime mode" with `invalid_model` reported for a
    non-realtime model (hurttlocker/o8#2165); the realtime/translation wording is [INF]."""
    return FatalClose(RequestError("invalid_model", f'Model "{model}" is not supported in {mode} mode.', "model"),
                      4000)


# --- item errors: codes [INF] (item_truncate_invalid_item_id is seen in public client code) ---

def item_not_found(action: str, item_id: Any) -> RequestError:
    return RequestError(f"item_{action}_invalid_item_id", f"Item with item_id not found: {item_id}", "item_id")


def previous_item_not_found(item_id: Any) -> RequestError:
    return RequestError(
        "item_create_invalid_previous_item_id",
        f"Previous item with item_id not found: {item_id}",
        "previous_item_id",
    )


def duplicate_item(item_id: str) -> RequestError:
    return RequestError("item_create_duplicate_item_id", f"Item with item_id already exists: {item_id}", "item.id")


def truncate_not_audio() -> RequestError:
    # [OBS] code and text quoted in livekit/agents#6157 (and the message in livekit/agents#1016)
    return RequestError("unsupported_content_type", "Only model output audio messages can be truncated",
                        "item_id")


def truncate_too_long(item_ms: int, audio_end_ms: int) -> RequestError:
    return RequestError(
        "invalid_value",
        f"Audio content of {item_ms}ms is already shorter than {audio_end_ms}ms",
        "audio_end_ms",
    )


def content_index_invalid(index: Any) -> RequestError:
    return RequestError("invalid_value", f"Invalid value: '{index}'. The item has no content part at this index.", "content_index")


def cannot_update_voice() -> RequestError:
    return RequestError(
        "cannot_update_voice",
        "Cannot update a conversation's voice if assistant audio is present.",
        "session.audio.output.voice",
    )


def wrong_session_kind(sent: str, actual: str) -> RequestError:
    return RequestError(
        "invalid_value",
        f"Passing a {sent} session update event to a {actual} session is not allowed.",
        "session.type",
    )


def nothing_to_clear() -> RequestError:
    # [INF] code and text: the reference does not say what clearing an empty buffer answers
    return RequestError("invalid_value", "There is no output audio playing to clear.", None)


def approval_request_not_found(request_id: Any) -> RequestError:
    # [INF] code and text
    return RequestError("invalid_value", f"No pending MCP approval request with id: {request_id}",
                        "item.approval_request_id")


def undeclared_tool(names: Iterable[str], declared: Iterable[str]) -> RequestError:
    """The responder (a test's script) made the model call a function the session and the
    response did not declare: the real model cannot, so the emulator refuses the response and
    says which tool (a `server_error`: the emulator's responder is the server side) [emulator]."""
    shown = ", ".join(repr(n) for n in names)
    known = ", ".join(repr(n) for n in declared) or "none"
    return RequestError("emulator_undeclared_tool",
                        f"The emulator's responder called {shown}, which neither the session nor the response "
                        f"declared (declared function tools: {known}); the real model can only call declared "
                        "tools: add it to session.tools (or response.tools) or fix the script.",
                        None, type="server_error")
