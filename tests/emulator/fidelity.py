# Validation of server events against openai-python's pydantic models (validated, not constructed).
from __future__ import annotations

from typing import Any

import pydantic
from openai.types.realtime import RealtimeServerEvent
from openai.types.realtime.realtime_translation_server_event import RealtimeTranslationServerEvent

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
_TRANSLATION: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeTranslationServerEvent)
_TRANSLATION_ONLY = ("session.closed", "session.input_transcript.delta", "session.output_transcript.delta",
                     "session.output_audio.delta")


def _translation_frame(frame: dict[str, Any]) -> bool:
    session = frame.get("session")
    return frame.get("type") in _TRANSLATION_ONLY or (isinstance(session, dict) and session.get("type") == "translation")


def validate_server_event(frame: dict[str, Any]) -> Any:
    """Validate one frame with `TypeAdapter(RealtimeServerEvent).validate_python` (translation
    session events with `RealtimeTranslationServerEvent`); returns the model."""
    model = (_TRANSLATION if _translation_frame(frame) else _ADAPTER).validate_python(frame)
    assert model.type == frame["type"], (model.type, frame["type"])
    return model
