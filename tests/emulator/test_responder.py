# Responders: the echo default and scripted rules (no I/O: TurnContext in, Reply out).
from __future__ import annotations

from typing import Any

from openai_realtime_ws.emulator import (
    EchoResponder,
    Reply,
    ScriptedResponder,
    ToolCall,
    ToolResult,
    TurnContext,
)


def turn(*items: dict[str, Any]) -> TurnContext:
    return TurnContext(items=list(items), instructions="", tools=[], tool_choice="auto",
                       output_modalities=["audio"], metadata=None, out_of_band=False)


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def audio_user(transcript: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": transcript}]}


def test_echo() -> None:
    echo = EchoResponder()
    assert echo.respond(turn()).text == "Hello! How can I help you today?"
    assert echo.respond(turn(user("a"), user("b c"))).text == "You said: b c"
    assert echo.respond(turn(audio_user("spoken words"))).text == "You said: spoken words"
    t = turn(user("x"), {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c1", "output": "42"})
    assert t.tool_results == [ToolResult("c1", "f", "{}", "42")]
    assert echo.respond(t).text == "f returned 42."


def test_scripted_rules() -> None:
    r = (ScriptedResponder()
         .on(r"^hi\b", text="Hello!", times=1)
         .on(r"book (\d+) seats", text=r"Booking \1.", tools=[ToolCall("book", {"seats": r"\1", "n": 1})],
             then=lambda results, t: Reply(text=f"Done: {results[0].output}"))
         .on("custom", reply=lambda m, t: Reply(text=m.group(0).upper())))
    assert r.respond(turn(user("hi there"))).text == "Hello!"
    assert r.respond(turn(user("hi again"))).text == "You said: hi again"  # times=1 used up
    reply = r.respond(turn(user("Book 3 seats please")))
    assert reply.text == "Booking 3." and reply.tool_calls[0].arguments == {"seats": "3", "n": 1}
    follow = turn(user("Book 3 seats"), {"type": "function_call", "call_id": "c", "name": "book", "arguments": "{}"},
                  {"type": "function_call_output", "call_id": "c", "output": "ok"})
    assert r.respond(follow).text == "Done: ok"
    assert r.respond(turn(user("a custom one"))).text == "CUSTOM"


def test_tool_call_json() -> None:
    assert ToolCall("f", {"a": 1}).arguments_json() == '{"a":1}'
    assert ToolCall("f", '{"raw": true}').arguments_json() == '{"raw": true}'
