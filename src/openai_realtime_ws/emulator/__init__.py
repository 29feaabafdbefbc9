# `openai_realtime_ws.emulator`: a protocol-faithful local OpenAI Realtime (GA) server for tests,
# benchmarks and offline development. Public API re-exported here; see docs/emulator.md.
"""A local, protocol-faithful OpenAI Realtime (GA) server.

    async with Emulator() as emu:
        client = AsyncOpenAI(api_key="sk-test", base_url=emu.base_url)
        async with client.realtime.connect(model="gpt-realtime") as conn: ...

Layout: `core/` is the Sans-I/O session state machine; `server.py` the aiohttp shell (routes,
handshake, lifecycle, the action executor), `_wire.py` its frame writer, `records.py` what it
remembers about connections, `_fault_io.py` the fault plan and how fired faults are carried out;
`_mcp_client.py` reaches remote MCP servers; `responder.py` decides what the assistant says;
`faults.py` describes injected failures; `voice.py` real local speech (the `voice` extra);
`replay.py` recorded sessions replayed as the server side of a test.
"""

from ._fault_io import FaultPlan
from ._wire import add_frame_observer
from .core.audio import (
    SpeechSegment,
    Synthesizer,
    SyntheticTranscriber,
    ToneSynthesizer,
    Transcriber,
    synth_audio,
)
from .core.config import EmulatorConfig
from .faults import (
    CloseWith,
    DelayEvents,
    DelayHandshake,
    Drop,
    Fault,
    Redirect,
    RefuseHandshake,
    SendDTMF,
    SendMalformed,
    Stall,
)
from .records import ConnectionLog, ConnectionRecord, RedirectHit
from .replay import Recording
from .responder import (
    EchoResponder,
    Reply,
    Responder,
    ScriptedResponder,
    ToolCall,
    ToolResult,
    TurnContext,
)
from .server import Emulator, EmulatorThread

__all__ = [
    "CloseWith",
    "ConnectionLog",
    "ConnectionRecord",
    "DelayEvents",
    "DelayHandshake",
    "Drop",
    "EchoResponder",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "Fault",
    "FaultPlan",
    "Recording",
    "Redirect",
    "RedirectHit",
    "RefuseHandshake",
    "Reply",
    "Responder",
    "ScriptedResponder",
    "SendDTMF",
    "SendMalformed",
    "SpeechSegment",
    "Stall",
    "Synthesizer",
    "SyntheticTranscriber",
    "ToneSynthesizer",
    "ToolCall",
    "ToolResult",
    "Transcriber",
    "TurnContext",
    "add_frame_observer",
    "synth_audio",
]
