"""The blocking client."""

from .client import OpenAIRealtimeWS

__all__ = ["OpenAIRealtimeWS"]
