# Remote MCP tools against a real MCP server (the official `mcp` SDK's streamable-HTTP server on
# loopback): tool listing, calls without approval, the approval flow (approved and denied), a
# failing tool and an unreachable server, driven by openai-python's realtime client. Every event
# is validated against openai-python's models (conftest.py).
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("mcp")
pytest.importorskip("uvicorn")

from openai import AsyncOpenAI

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, ScriptedResponder, ToolCall

from .mcp_server import serve_mcp

KEY = "sk-mcp-test-0000"


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with serve_mcp() as url:
        yield url


def responder() -> ScriptedResponder:
    return (ScriptedResponder()
            .on(r"add (\d+) and (\d+)", tools=[ToolCall("add", {"a": r"\1", "b": r"\2"})], then="The sum is {output}.")
            .on(r"explode", tools=[ToolCall("explode")], then="The tool said: {output}")
            .on(r"weather", tools=[ToolCall("get_weather", {"city": "Oslo"})], then="Weather: {output}."))


def realtime(emu: Emulator) -> Any:
    """openai-python's realtime connection to the emulator (typed Any: the tests send raw dicts)."""
    return AsyncOpenAI(api_key=KEY, base_url=emu.base_url).realtime.connect(model="gpt-realtime")


def mcp_tool(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "calc", "server_url": url, **extra}


async def until(conn: Any, type_: str) -> list[Any]:
    out = []
    async for ev in conn:
        out.append(ev)
        if ev.type == type_:
            return out
    raise AssertionError(f"closed before {type_}")


async def setup(conn: Any, tools: list[dict[str, Any]]) -> list[Any]:
    await conn.recv()
    await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": tools,
                                       "audio": {"input": {"turn_detection": None}}})
    return await until(conn, "conversation.item.done")


async def ask(conn: Any, text: str) -> list[Any]:
    await conn.conversation.item.create(item={"type": "message", "role": "user",
                                              "content": [{"type": "input_text", "text": text}]})
    await until(conn, "conversation.item.done")
    await conn.response.create()
    return await until(conn, "response.done")


def kinds(events: list[Any]) -> list[str]:
    out: list[str] = []
    for e in events:
        if not out or out[-1] != e.type:
            out.append(e.type)
    return out


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_list_tools_then_call_without_approval(realtime_emulator: Emulator, mcp_url: str) -> None:
    async with realtime(realtime_emulator) as conn:
        listed = await setup(conn, [mcp_tool(mcp_url, require_approval="never")])
        assert kinds(listed) == ["session.updated", "conversation.item.added", "mcp_list_tools.in_progress",
                                 "mcp_list_tools.completed", "conversation.item.done"]
        item = listed[-1].item
        assert item.type == "mcp_list_tools" and item.server_label == "calc"
        assert {t.name for t in item.tools} == {"add", "whoami", "explode"}
        assert item.tools[0].input_schema["properties"]["a"]["type"] == "integer"
        # the same tools again (openai-agents repeats its session.update): not listed again
        await conn.session.update(session={"type": "realtime", "tools": [mcp_tool(mcp_url, require_approval="never")]})
        assert kinds(await until(conn, "session.updated")) == ["session.updated"]

        events = await ask(conn, "please add 2 and 3")
        assert kinds(events) == [
            "response.created", "response.output_item.added", "conversation.item.added",
            "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done", "response.mcp_call.in_progress",
            "response.mcp_call.completed", "response.output_item.done", "conversation.item.done",
            "response.output_item.added", "conversation.item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "conversation.item.done", "response.done"]
        args = next(e for e in events if e.type == "response.mcp_call_arguments.done").arguments
        assert json.loads(args) == {"a": "2", "b": "3"}
        done = events[-1].response
        call, message = done.output
        assert (call.type, call.name, call.server_label, call.output, call.error) == ("mcp_call", "add", "calc", "5", None)
        assert call.approval_request_id is None
        assert message.content[0].text == "The sum is 5."
        # a function tool name no MCP server lists stays a function call
        await conn.session.update(session={"type": "realtime", "tools": [
            mcp_tool(mcp_url, require_approval="never"),
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
        await until(conn, "session.updated")
        events = await ask(conn, "weather?")
        assert [o.type for o in events[-1].response.output] == ["function_call"]


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_approval_request_then_approved_call(realtime_emulator: Emulator, mcp_url: str) -> None:
    async with realtime(realtime_emulator) as conn:
        await setup(conn, [mcp_tool(mcp_url)])  # require_approval absent: every call asks
        events = await ask(conn, "add 20 and 22")
        assert kinds(events) == ["response.created", "response.output_item.added", "conversation.item.added",
                                 "response.output_item.done", "conversation.item.done", "response.done"]
        request = events[-1].response.output[0]
        assert (request.type, request.name, request.server_label) == ("mcp_approval_request", "add", "calc")
        assert json.loads(request.arguments) == {"a": "20", "b": "22"}
        await conn.conversation.item.create(item={"type": "mcp_approval_response", "approval_request_id": request.id,
                                                  "approve": True})
        added = await until(conn, "conversation.item.done")
        assert added[-1].item.type == "mcp_approval_response" and added[-1].item.approve is True
        assert "status" not in added[-1].item.model_dump(exclude_unset=True)
        await conn.response.create()
        events = await until(conn, "response.done")
        call, message = events[-1].response.output
        assert (call.type, call.approval_request_id, call.output) == ("mcp_call", request.id, "42")
        assert message.content[0].text == "The sum is 42."
        # an approval response for an unknown request is refused, naming the field
        await conn.conversation.item.create(item={"type": "mcp_approval_response", "approval_request_id": "mcpr_x",
                                                  "approve": True})
        err = (await until(conn, "error"))[-1].error
        assert (err.code, err.param) == ("invalid_value", "item.approval_request_id")


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_denied_approval_runs_nothing(realtime_emulator: Emulator, mcp_url: str) -> None:
    async with realtime(realtime_emulator) as conn:
        await setup(conn, [mcp_tool(mcp_url, require_approval={"always": {"tool_names": ["add"]}})])
        request = (await ask(conn, "add 1 and 1"))[-1].response.output[0]
        await conn.conversation.item.create(item={"type": "mcp_approval_response", "approval_request_id": request.id,
                                                  "approve": False, "reason": "not now"})
        await until(conn, "conversation.item.done")
        await conn.response.create()
        events = await until(conn, "response.done")
        assert "response.mcp_call.in_progress" not in kinds(events)
        assert events[-1].response.output[0].content[0].text == "I did not run add: the call was not approved."


@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=responder())
async def test_failing_tool_and_unreachable_server(realtime_emulator: Emulator, mcp_url: str) -> None:
    async with realtime(realtime_emulator) as conn:
        await setup(conn, [mcp_tool(mcp_url, require_approval="never")])
        events = await ask(conn, "explode")
        assert "response.mcp_call.failed" in kinds(events)
        call, message = events[-1].response.output
        assert call.error.type == "tool_execution_error" and "explode" in call.error.message
        assert call.output is None
        assert message.content[0].text == f"The tool said: {call.error.message}"
        # a second server that is down: its listing fails, the first one's tools stay usable
        await conn.session.update(session={"type": "realtime", "tools": [
            mcp_tool(mcp_url, require_approval="never"),
            {"type": "mcp", "server_label": "down", "server_url": "http://127.0.0.1:9/mcp"}]})
        listed = await until(conn, "conversation.item.done")
        assert "mcp_list_tools.failed" in kinds(listed)
        assert listed[-1].item.server_label == "down" and listed[-1].item.tools == []
        events = await ask(conn, "add 1 and 2")
        assert events[-1].response.output[-1].content[0].text == "The sum is 3."
