# The session object (PROTOCOL.md §3 "Session") and the `session.update` merge rules (§4.2):
# defaults as real GA `session.created` frames show them, field-wise merge of `audio`,
# `audio.input` and `audio.output`, whole replacement of the rest, validation of the whole update
# before anything is applied. No I/O.
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from . import errors, schema
from .config import EmulatorConfig

PCM = {"type": "audio/pcm", "rate": 24000}

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200,
    "idle_timeout_ms": None, "create_response": True, "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True,
}


def _turn_detection(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    base = SERVER_VAD_DEFAULTS if value.get("type", "server_vad") == "server_vad" else SEMANTIC_VAD_DEFAULTS
    return {**base, **value}


def _format(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(PCM) if value["type"] == "audio/pcm" else {"type": value["type"]}


def _default_input() -> dict[str, Any]:
    """`audio.input` of a new session, realtime or transcription (a fresh dict each time)."""
    return {
        "format": dict(PCM),
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": dict(SERVER_VAD_DEFAULTS),
    }


def default_realtime(config: EmulatorConfig, *, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": config.instructions,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "audio": {
            "input": _default_input(),
            "output": {"format": dict(PCM), "voice": config.voice, "speed": 1.0},
        },
        "include": None,
    }


def default_transcription(*, session_id: str, expires_at: int) -> dict[str, Any]:
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "expires_at": expires_at,
        "audio": {
            "input": _default_input(),
        },
        "include": None,
    }


def validate_update(session: Any, current: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the `session` payload of a `session.update` for a session of `current["type"]`.

    Returns the normalized payload; raises errors.RequestError (nothing is applied then).
    """
    if not isinstance(session, dict):
        raise errors.invalid_type("session", "an object", session)
    kind = session.get("type")
    if kind is None:
        raise errors.missing_parameter("session.type")
    if kind not in ("realtime", "transcription"):
        raise errors.invalid_value(kind, ["realtime", "transcription"], "session.type")
    if kind != current["type"]:
        raise errors.wrong_session_kind(kind, current["type"])
    validator = schema.realtime_session if kind == "realtime" else schema.transcription_session
    normalized: dict[str, Any] = validator(session, "session")
    # The model is fixed by the URL (`?model=`): a `model` in an update is accepted and ignored,
    # whatever its value, and `session.updated` keeps reporting the connection's model [INF:
    # the reference says every field but `voice` and `model` may be updated; pipecat sends its
    # `model` in every update and documents it as a no-op (pipecat-ai/pipecat#3000); the
    # openai-agents realtime model puts its default model into every update].
    normalized.pop("model", None)
    return normalized


def merge(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a validated update: top-level fields replace, `audio.input`/`audio.output` merge
    field-wise [INF], formats and turn_detection are completed with their defaults."""
    out = copy.deepcopy(dict(current))
    for key, value in update.items():
        if key == "audio":
            audio = out.setdefault("audio", {})
            for side, fields in value.items():
                target = audio.setdefault(side, {})
                for fkey, fval in fields.items():
                    if fkey == "format":
                        target[fkey] = _format(fval)
                    elif fkey == "turn_detection":
                        target[fkey] = _turn_detection(fval)
                    else:
                        target[fkey] = copy.deepcopy(fval)
        elif key == "tools":
            out[key] = [{"type": "function", **t} if "type" not in t else t for t in value]
        else:
            out[key] = copy.deepcopy(value)
    return out


def input_format(session: Mapping[str, Any]) -> str:
    fmt: str = session["audio"]["input"]["format"]["type"]
    return fmt


def output_format(session: Mapping[str, Any]) -> str:
    fmt: str = session["audio"]["output"]["format"]["type"]
    return fmt


def turn_detection(session: Mapping[str, Any]) -> dict[str, Any] | None:
    td: dict[str, Any] | None = session["audio"]["input"].get("turn_detection")
    return td


def voice_name(session: Mapping[str, Any]) -> str:
    voice = session["audio"]["output"]["voice"]
    return voice if isinstance(voice, str) else str(voice.get("id", "custom"))
