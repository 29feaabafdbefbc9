#!/usr/bin/env -S uv run python
# Copied from openai-python (https://github.com/openai/openai-python), examples/realtime/realtime.py
# at commit e43b422412a9e96c9cc5192c61fffbe2d7e04836. Copyright OpenAI, licensed under the
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0). Modified: one import added
# (`from openai_realtime_ws import connect`) and one line changed
# (`client.realtime.connect(` -> `connect(client,`); everything else is as published.
# tests/frameworks/test_openai_compat.py runs it against the emulator, typing into its stdin.
# It type-checks under mypy --strict as published (event.type comparisons narrow); ruff's
# ASYNC250 (input() in async code) is OpenAI's choice, kept.
# ruff: noqa: ASYNC250
import asyncio

from openai import AsyncOpenAI

from openai_realtime_ws import connect

# Azure OpenAI Realtime Docs

# How-to: https://learn.microsoft.com/azure/ai-services/openai/how-to/realtime-audio
# Supported models and API versions: https://learn.microsoft.com/azure/ai-services/openai/how-to/realtime-audio#supported-models
# Entra ID auth: https://learn.microsoft.com/azure/ai-services/openai/how-to/managed-identity


async def main() -> None:
    """The following example demonstrates how to configure OpenAI to use the Realtime API.
    For an audio example, see push_to_talk_app.py and update the client and model parameter accordingly.

    When prompted for user input, type a message and hit enter to send it to the model.
    Enter "q" to quit the conversation.
    """

    client = AsyncOpenAI()
    async with connect(client,
        model="gpt-realtime",
    ) as connection:
        await connection.session.update(
            session={
                "output_modalities": ["text"],
                "model": "gpt-realtime",
                "type": "realtime",
            }
        )
        while True:
            user_input = input("Enter a message: ")
            if user_input == "q":
                break

            await connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": user_input}],
                }
            )
            await connection.response.create()
            async for event in connection:
                if event.type == "response.output_text.delta":
                    print(event.delta, flush=True, end="")
                elif event.type == "response.output_text.done":
                    print()
                elif event.type == "response.done":
                    break


asyncio.run(main())
