# Validation of server events against openai-python's pydantic models (validated, not constructed).
from __future__ import annotations

from typing import Any

import pydantic
from openai.types.realtime import RealtimeServerEvent

_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)


def validate_server_event(frame: dict[str, Any]) -> Any:
    """Validate one frame with `TypeAdapter(RealtimeServerEvent).validate_python`; returns the model."""
    model = _ADAPTER.validate_python(frame)
    assert model.type == frame["type"], (model.type, frame["type"])
    return model
