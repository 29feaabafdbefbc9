"""Function calling: registered tools run when the model asks, their output goes back, and the
model answers with it (the emulator's ScriptedResponder plays the model)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeError, OpenAIRealtimeWS
from openai_realtime_ws.emulator import Emulator, EmulatorThread, ScriptedResponder, ToolCall
from openai_realtime_ws.types import ConversationItemDoneEvent, ResponseDoneEvent

KEY = "sk-tools-0000000000"


def weather_responder() -> ScriptedResponder:
    r = ScriptedResponder()
    r.on(r"weather in (\w+)", tools=[ToolCall("get_weather", {"city": r"\1"})], then="Report: {output}")
    r.on(r"broken tool", tools=[ToolCall("explode", {})], then="Tool said: {output}")
    return r


def ask(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": text}]}},
        {"type": "response.create", "response": {"output_modalities": ["text"]}},
    ]


async def test_async_tool_runs_and_the_model_answers_with_its_output() -> None:
    async with Emulator(responder=weather_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        seen: list[dict[str, Any]] = []

        @rt.tool(description="Weather for a city",
                 parameters={"type": "object", "properties": {"city": {"type": "string"}}})
        async def get_weather(city: str) -> dict[str, Any]:
            seen.append({"city": city})
            await asyncio.sleep(0)
            return {"city": city, "temp_c": 21}

        done: list[Any] = []
        rt.on("response.done", done.append)
        rt.update_tools()
        await rt.wait_for("session.updated", timeout=5)
        for event in ask("What is the weather in Paris?"):
            rt.send(event)
        for _ in range(200):
            if len(done) == 2:
                break
            await asyncio.sleep(0.02)
        await rt.close()
    assert seen == [{"city": "Paris"}]
    assert done[0].response.output[0].type == "function_call"
    final = done[1].response.output[0].content[0].text
    assert '"temp_c":21' in final and "Paris" in final
    received = emu.connections[-1].received
    tools = received[0]["session"]["tools"]
    assert tools[0]["name"] == "get_weather" and tools[0]["description"] == "Weather for a city"
    outputs = [e["item"] for e in received if e["type"] == "conversation.item.create"
               and e["item"]["type"] == "function_call_output"]
    assert outputs and outputs[0]["output"] == '{"city":"Paris","temp_c":21}'
    assert [e["type"] for e in received][-1] == "response.create"


async def test_failing_tool_answers_an_error_and_reports_it() -> None:
    async with Emulator(responder=weather_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        errors: list[OpenAIRealtimeError] = []
        rt.on("error", errors.append)

        @rt.tool()
        def explode() -> str:
            """Always fails."""
            raise RuntimeError("kaboom")

        done: list[Any] = []
        rt.on("response.done", done.append)
        for event in ask("use the broken tool"):
            rt.send(event)
        for _ in range(200):
            if len(done) == 2:
                break
            await asyncio.sleep(0.02)
        await rt.close()
    assert len(errors) == 1 and "kaboom" in errors[0].message and "explode" in errors[0].message
    assert "kaboom" in done[1].response.output[0].content[0].text


def test_blocking_tool_runs_in_a_worker_thread() -> None:
    with EmulatorThread(responder=weather_responder()) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m") as rt:
            threads: list[str] = []

            @rt.tool()
            def get_weather(city: str) -> str:
                threads.append(threading.current_thread().name)
                return f"sunny in {city}"

            rt.update_tools()
            for event in ask("weather in Oslo please"):
                rt.send(event)
            rt.wait_for("response.done", timeout=10)  # the tool call
            final = rt.wait_for("response.done", timeout=10)  # the answer
    assert final.response.output is not None
    text = final.response.output[0].content[0].text  # type: ignore[index]
    assert text == "Report: sunny in Oslo"
    assert threads and threads[0] != "openai-realtime-ws"


def arithmetic_responder() -> ScriptedResponder:
    r = ScriptedResponder()
    r.on(r"add (\w+) and (\w+)", tools=[ToolCall("add", {"a": r"\1", "b": r"\2"})],
         then="Sum: {output}")
    return r


async def run_turn(rt: AsyncOpenAIRealtimeWS, text: str, responses: int = 2) -> list[Any]:
    """Send one user turn; the response.done events until `responses` have arrived."""
    done: list[Any] = []
    finished = asyncio.Event()

    def on_done(event: Any) -> None:
        done.append(event)
        if len(done) == responses:
            finished.set()

    rt.on("response.done", on_done)
    for event in ask(text):
        rt.send(event)
    await asyncio.wait_for(finished.wait(), 10)
    rt.off("response.done", on_done)
    return done


async def test_schema_from_type_hints_and_string_arguments_converted() -> None:
    async with Emulator(responder=arithmetic_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        got: list[tuple[Any, Any]] = []

        @rt.tool()
        def add(a: int, b: int = 0) -> int:
            """Add two integers."""
            got.append((a, b))
            return a + b

        rt.update_tools()
        await rt.wait_for("session.updated", timeout=5)
        done = await run_turn(rt, "please add 4 and 5")
        await rt.close()
    assert got == [(4, 5)] and all(type(x) is int for x in got[0])  # the emulator sent "4", "5"
    assert done[1].response.output[0].content[0].text == "Sum: 9"
    tools = emu.connections[-1].received[0]["session"]["tools"]
    assert tools == [{"type": "function", "name": "add", "description": "Add two integers.",
                      "parameters": {"type": "object",
                                     "properties": {"a": {"type": "integer"},
                                                    "b": {"type": "integer", "default": 0}},
                                     "required": ["a"]}}]


async def test_arguments_that_do_not_fit_answer_a_tool_error_without_calling() -> None:
    async with Emulator(responder=arithmetic_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        called: list[int] = []

        @rt.tool()
        def add(a: int, b: int) -> int:
            called.append(a)
            return a + b

        done = await run_turn(rt, "add many and 5")
        await rt.close()
    assert called == []
    text = done[1].response.output[0].content[0].text
    assert text == 'Sum: {"error":"invalid arguments for add: a: expected int, got str"}'


def text_of(done: ResponseDoneEvent) -> str | None:
    """The text of a response's first output item (None for a function call)."""
    output: Any = done.response.output or [None]
    first = output[0]
    return None if first is None or first.type == "function_call" else str(first.content[0].text)


def slow_responder() -> ScriptedResponder:
    r = ScriptedResponder()
    r.on(r"slow (\w+)", tools=[ToolCall("slow", {"word": r"\1"})], then="Slow said: {output}")
    r.on(r"broken tool", tools=[ToolCall("explode", {})], then="Tool said: {output}")
    return r


def item_done(rt: AsyncOpenAIRealtimeWS, item_type: str) -> asyncio.Event:
    """Set when a ``conversation.item.done`` for an item of ``item_type`` arrives."""
    seen = asyncio.Event()

    def check(event: ConversationItemDoneEvent) -> None:
        if event.item.type == item_type:
            seen.set()

    rt.on("conversation.item.done", check)
    return seen


async def quiesce(rt: AsyncOpenAIRealtimeWS) -> None:
    """One round trip: everything sent before it has been handled by the server."""
    rt.send({"type": "input_audio_buffer.clear"})
    await rt.wait_for("input_audio_buffer.cleared", timeout=5)


async def test_tools_are_announced_when_registered_without_update_tools() -> None:
    async with Emulator(responder=arithmetic_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        await rt.wait_for("session.created", timeout=5)

        @rt.tool()
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        updated = await rt.wait_for("session.updated", timeout=5)
        done = await run_turn(rt, "add 2 and 3")
        await rt.close()
    tools: Any = updated.session.tools
    assert [t.name for t in tools] == ["add"]
    assert done[1].response.output[0].content[0].text == "Sum: 5"


async def test_auto_respond_is_public_and_off_means_no_response_create() -> None:
    async with Emulator(responder=arithmetic_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        assert rt.auto_respond is True
        rt.auto_respond = False

        @rt.tool()
        def add(a: int, b: int) -> int:
            return a + b

        await rt.wait_for("session.updated", timeout=5)
        output_done = item_done(rt, "function_call_output")
        done = await run_turn(rt, "add 2 and 3", responses=1)
        await asyncio.wait_for(output_done.wait(), 5)  # the tool's output reached the server
        await quiesce(rt)  # ... and anything sent after it too
        await rt.close()
    assert done[0].response.output[0].type == "function_call"
    received = list(emu.connections[-1].received)
    outputs = [i for i, e in enumerate(received) if e["type"] == "conversation.item.create"
               and e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1
    assert [e["type"] for e in received[outputs[0]:]].count("response.create") == 0


async def test_a_raising_tool_does_not_fail_wait_for() -> None:
    async with Emulator(responder=slow_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")

        @rt.tool()
        def explode() -> str:
            raise RuntimeError("kaboom")

        await rt.wait_for("session.updated", timeout=5)
        for event in ask("use the broken tool"):
            rt.send(event)
        first = await rt.wait_for("response.done", timeout=5)  # no "error" handler registered
        second = await rt.wait_for("response.done", timeout=5)
        await rt.close()
    assert text_of(first) is None and "kaboom" in str(text_of(second))


async def test_a_long_async_tool_does_not_block_dispatch() -> None:
    async with Emulator(responder=slow_responder()) as emu:
        rt = await AsyncOpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m")
        release = asyncio.Event()
        started = asyncio.Event()

        @rt.tool()
        async def slow(word: str) -> str:
            started.set()
            await release.wait()
            return word.upper()

        await rt.wait_for("session.updated", timeout=5)
        done: list[Any] = []
        answered = asyncio.Event()

        def on_done(event: Any) -> None:
            done.append(event)
            if len(done) == 2:
                answered.set()

        rt.on("response.done", on_done)
        for event in ask("slow hello"):
            rt.send(event)
        await asyncio.wait_for(started.wait(), 5)
        # the tool is still running: other events are dispatched meanwhile
        rt.send({"type": "input_audio_buffer.clear"})
        await rt.wait_for("input_audio_buffer.cleared", timeout=5)
        assert not release.is_set() and len(done) == 1
        release.set()
        await asyncio.wait_for(answered.wait(), 5)
        await rt.close()
    assert done[1].response.output[0].content[0].text == "Slow said: HELLO"


def test_blocking_client_auto_respond_and_announce() -> None:
    with EmulatorThread(responder=arithmetic_responder()) as emu:
        with OpenAIRealtimeWS.create(base_url=emu.base_url, api_key=KEY, model="m") as rt:
            rt.wait_for("session.created", timeout=5)
            rt.auto_respond = True

            @rt.tool()
            def add(a: int, b: int) -> int:
                return a + b

            rt.wait_for("session.updated", timeout=5)
            for event in ask("add 40 and 2"):
                rt.send(event)
            rt.wait_for("response.done", timeout=10)
            final = rt.wait_for("response.done", timeout=10)
    assert rt.auto_respond is True
    assert text_of(final) == "Sum: 42"
