# The Sans-I/O core of the emulator: protocol state and decisions, no asyncio, threading, sockets
# or aiohttp (a unit test in tests/emulator/core checks the imports). `Session` is the entry point.
from .actions import Action, CancelTimer, Close, Offload, Send, SetTimer, StartStream, Step
from .config import EmulatorConfig
from .ids import IdFactory
from .session import Session

__all__ = [
    "Action",
    "CancelTimer",
    "Close",
    "EmulatorConfig",
    "IdFactory",
    "Offload",
    "Send",
    "Session",
    "SetTimer",
    "StartStream",
    "Step",
]
