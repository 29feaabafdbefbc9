# Emulator-wide settings (everything PROTOCOL.md §9 asks to keep configurable), as one plain
# dataclass shared by the Sans-I/O core and the aiohttp shell. No I/O.
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..faults import Fault


@dataclass(slots=True)
class EmulatorConfig:
    """Knobs of the emulator. Defaults follow real GA traffic where it is known.

    Pacing: a response's events are scheduled on the audio clock divided by `speed`
    (`speed=10`: ten times faster than real time; `0`: no pacing at all, as fast as the socket takes).
    """

    api_key: str | None = None
    """Expected credential (`sk-…`); None accepts any credential or none."""
    speed: float = 10.0
    """Pacing factor versus real time; 0 disables pacing."""
    audio_chunk_ms: int = 100
    """Duration of one `response.output_audio.delta` (multiple of 20 ms)."""
    session_seconds: float = 3600.0
    """Maximum session length; then `error session_expired` and close 1001."""
    session_expired_message: str = "Your session hit the maximum duration of 60 minutes."
    send_conversation_created: bool = False
    """Send `conversation.created` after `session.created` (real GA traces don't)."""
    model: str = "gpt-realtime"
    """Model reported when the URL names none (call_id / transcription sessions)."""
    model_check: str = "openai"
    """Which URL `model` names are refused the way the real API refuses them (`error`
    invalid_model, close 4000): "openai" (default) names of other OpenAI model families
    (`gpt-4o`, `o3`, `whisper-1`: `core.models.is_other_openai_model`), "all" every name that is
    not a Realtime model (what the real API does; short placeholder names like "m" included),
    "off" none. Azure deployment names are never checked."""
    voice: str = "alloy"
    instructions: str = (
        "You are a helpful, witty, and friendly AI. Your voice and personality should be warm and "
        "engaging. Talk quickly. This assistant is emulated locally by openai-realtime-ws."
    )
    session_defaults: Mapping[str, Any] | None = None
    """Extra defaults merged into every new realtime session (same shape as `session.update`)."""
    response_latency_ms: float = 200.0
    """Time from `response.created` to the first output (real-time ms, divided by `speed`)."""
    text_tokens_per_second: float = 60.0
    """Generation rate of text-only responses (real time, multiplied by `speed`)."""
    text_chars_per_token: int = 4
    audio_ms_per_token_in: int = 100
    audio_ms_per_token_out: int = 50
    rate_limit_tokens: int = 40000
    idle_timeout_scale: float = 1.0
    """Multiplies `idle_timeout_ms` (tests use e.g. 0.01 to wait 50 ms instead of 5 s)."""
    commit_min_ms: float = 100.0
    """Minimum audio per manual commit (`input_audio_buffer_commit_empty` below)."""
    seed: int | None = None
    """Seed for ids (reproducible traces)."""
    max_message_bytes: int = 32 * 1024 * 1024
    record_received: bool = True
    """Record the parsed client events of each connection (`ConnectionRecord.received`)."""
    record_transcript: bool = False
    """Keep every client and server event of each connection with its time (`ConnectionRecord.
    transcript`), for `Recording.from_connection` (unbounded: for tests)."""
    record_limit: int = 1000
    """Keep only the last this many recorded events per connection (0 = no limit)."""
    closed_history: int = 64
    """How many closed connections `Emulator.connections` remembers (live ones always)."""
    max_conversation_items: int = 1000
    """Items a session keeps; beyond it the oldest are forgotten (0 = no limit)."""
    max_item_audio_bytes: int = 4 * 1024 * 1024
    """Audio bytes a session keeps for its items (retrieve/truncate); the oldest items' audio is
    dropped beyond it, their durations kept (0 = no limit)."""
    mcp_timeout_seconds: float = 10.0
    """Time allowed for one request to a remote MCP server (list tools, call a tool)."""
    frame_observer: Callable[[dict[str, Any]], None] | None = None
    """Called with every event the server sends (before encoding); for fidelity checks."""
    faults: list[Fault] = field(default_factory=list)
    """Faults applied to every connection (see `openai_realtime_ws.emulator.faults`)."""
    beta_close: bool = True
    """Close beta-protocol sockets with 4000 (the only behaviour of the live service)."""
