"""The asyncio client."""

from .client import AsyncOpenAIRealtimeWS

__all__ = ["AsyncOpenAIRealtimeWS"]
