"""The shells after issue 23, against the real emulator: the deprecated ``connection`` alias,
clear errors (blocking client in a running loop, wait_for timeouts, half a PCM16 sample), one
asyncio class with no ``recovery`` module reaching into it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from openai_realtime_ws import AsyncOpenAIRealtimeWS, InvalidClientEvent, OpenAIRealtimeWS
from openai_realtime_ws.aio import client as aio_client
from openai_realtime_ws.emulator import Emulator

KEY = "sk-test-key-0123456789abcdef"


async def test_connection_is_a_deprecated_alias_of_protocol() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        with pytest.warns(DeprecationWarning, match=r"\.protocol"):
            assert rt.connection is rt.protocol
        await rt.close()


async def test_wait_for_timeout_names_what_was_awaited() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        with pytest.raises(TimeoutError, match=r"no 'response.done' event within 0.05 s"):
            await rt.wait_for("response.done", timeout=0.05)
        await rt.close()


async def test_half_a_pcm16_sample_is_refused_before_anything_is_sent() -> None:
    async with Emulator(api_key=KEY) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        await rt.wait_for("session.created", timeout=5)
        with pytest.raises(InvalidClientEvent, match="3 bytes is not a whole number"):
            rt.send_audio(b"\x00\x01\x02")
        rt.send_audio(b"\x00\x01")
        rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared", timeout=5)
        await rt.close()
        assert emu.connections[0].received_types().count("input_audio_buffer.append") == 1


async def test_blocking_client_inside_a_running_loop_says_what_to_use() -> None:
    with pytest.raises(RuntimeError, match="inside a running event loop: use AsyncOpenAIRealtimeWS"):
        OpenAIRealtimeWS.create(base_url="http://127.0.0.1:9", api_key=KEY, model="gpt-realtime")


def test_the_asyncio_client_is_one_module_with_no_back_references() -> None:
    package = Path(aio_client.__file__).parent
    assert not (package / "recovery.py").exists()
    for path in package.glob("*.py"):
        if path.name in ("client.py", "__init__.py"):
            continue
        tree = ast.parse(path.read_text())
        imported = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "client" not in imported, f"{path.name} imports the client back"
    # no decision written in the shells: audio droppability is core.sendqueue.is_droppable
    for path in (*package.glob("*.py"), *package.parent.joinpath("sync").glob("*.py")):
        assert '== "input_audio_buffer.append"' not in path.read_text(), path.name


async def test_create_used_without_await_says_so() -> None:
    async with Emulator(api_key=KEY) as emu:
        opening = AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="gpt-realtime")
        with pytest.raises(TypeError, match=r"AsyncOpenAIRealtimeWS.create\(\) must be awaited: rt = await .*then \.send"):
            opening.send({"type": "response.create"})  # type: ignore[attr-defined]
        assert not hasattr(opening, "session")  # (probes stay quiet)
        rt = await opening  # still usable once awaited
        assert rt.protocol.state.value == "open"
        await rt.close()
