# The pytest example of docs/emulator.md, verbatim (test_docs_example_is_in_the_docs keeps them equal).
# --- example start ---
import json

import pytest
from openai import AsyncOpenAI

from openai_realtime_ws.emulator import Emulator, EmulatorConfig, ScriptedResponder, ToolCall

agent_script = ScriptedResponder().on(
    r"weather in (\w+)",
    tools=[ToolCall("get_weather", {"city": r"\1"})],
    then="It is {output} in town.",
)


@pytest.mark.asyncio
@pytest.mark.realtime_emulator(config=EmulatorConfig(speed=0), responder=agent_script)
async def test_weather_agent(realtime_emulator: Emulator) -> None:
    client = AsyncOpenAI(api_key="sk-test", base_url=realtime_emulator.base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        # the script may only call tools the session (or the response) declares, as the real model
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [
            {"type": "function", "name": "get_weather", "description": "The weather in a city.",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
        await conn.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "What's the weather in Lisbon?"}]})
        await conn.response.create()
        answered = False
        async for event in conn:
            if event.type == "response.function_call_arguments.done":
                assert json.loads(event.arguments) == {"city": "Lisbon"}
                await conn.conversation.item.create(item={
                    "type": "function_call_output", "call_id": event.call_id, "output": "sunny"})
                await conn.response.create()
            elif event.type == "response.output_text.done":
                assert event.text == "It is sunny in town."
                answered = True
            elif event.type == "response.done" and answered:
                break  # at response.done: websockets' close() stalls on a large unread backlog
    # what the server received, per connection
    sent = realtime_emulator.connections[0].received_types()
    assert sent.count("response.create") == 2
# --- example end ---


def test_docs_example_is_in_the_docs() -> None:
    from pathlib import Path

    here = Path(__file__).read_text()
    example = here.split("# --- example start ---\n")[1].split("# --- example end ---")[0]
    docs = (Path(__file__).parents[2] / "docs" / "emulator.md").read_text()
    assert example.strip() in docs
