"""Telemetry off costs nothing: the client, the core (usage and cost included), the emulator, the
relay and the phone bridges import neither OpenTelemetry nor prometheus_client (a fresh
interpreter, a real session)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio, sys
from openai_realtime_ws import AsyncOpenAIRealtimeWS
from openai_realtime_ws.core.usage import UsageTotals
from openai_realtime_ws.emulator import Emulator
import openai_realtime_ws.relay, openai_realtime_ws.telephony.twilio, openai_realtime_ws.telephony.sip

async def main():
    async with Emulator() as emu:
        async with await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key="sk-x", model="gpt-realtime") as rt:
            usage = UsageTotals().attach(rt)
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await rt.wait_for("response.done")
            assert usage.response_count == 1
asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "prometheus_client")
                or m.startswith("openai_realtime_ws.telemetry"))
print("LOADED", loaded)
"""


def test_a_session_and_the_services_import_no_telemetry() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LOADED []" in out.stdout, out.stdout
