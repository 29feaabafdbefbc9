"""ToolRouter and Tool (no event loop): schemas from signatures, which calls a response asks for,
argument conversion, and the answering events."""

from __future__ import annotations

import dataclasses
import socket
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest

from openai_realtime_ws.core.tools import Tool, ToolRouter, tool_schema
from openai_realtime_ws.types import ResponseDoneEvent


def done(status: str, *items: dict[str, object]) -> ResponseDoneEvent:
    return msgspec.json.decode(
        msgspec.json.encode({"type": "response.done", "event_id": "e", "response": {
            "id": "r", "object": "realtime.response", "status": status, "output": list(items),
            "output_modalities": ["text"]}}),
        type=ResponseDoneEvent,
    )


def call(name: str, args: str, call_id: str = "call_1") -> dict[str, object]:
    return {"type": "function_call", "id": "i", "name": name, "call_id": call_id, "arguments": args}


def test_calls_only_for_registered_tools_of_completed_responses() -> None:
    router = ToolRouter()
    router.register(Tool("a", handler=lambda x: None))
    ev = done("completed", call("a", '{"x": 1}'), call("unknown", "{}", "c2"),
              call("a", "not json", "c3"), call("a", "[1]", "c4"))
    got = router.calls(ev)
    assert [(c.call_id, c.arguments, c.error) for c in got] == [
        ("call_1", {"x": 1}, None),
        ("c3", {}, "arguments are not JSON"),
        ("c4", {}, "arguments are not a JSON object"),
    ]
    assert router.calls(done("cancelled", call("a", "{}"))) == []


def test_output_events_and_follow_up() -> None:
    router = ToolRouter()
    c = router.calls(done("completed", call("t", "{}")))  # not registered: nothing
    assert c == []
    router.register(Tool("t", handler=lambda: None, description="d"))
    (c0,) = router.calls(done("completed", call("t", "{}")))
    assert router.output_event(c0, "plain")["item"]["output"] == "plain"
    assert router.output_event(c0, {"k": [1]})["item"]["output"] == '{"k":[1]}'
    assert router.error_event(c0, "bad")["item"]["output"] == '{"error":"bad"}'
    assert router.follow_up(0) == []
    assert router.follow_up(1, ["text"]) == [
        {"type": "response.create", "response": {"output_modalities": ["text"]}}
    ]
    router.auto_respond = False
    assert router.follow_up(2) == []
    assert router.schemas() == [{"type": "function", "name": "t", "description": "d",
                                 "parameters": {"type": "object", "properties": {}}}]


class Place(TypedDict):
    lat: float
    lon: float


@dataclasses.dataclass
class Window:
    days: int


def forecast(
    city: str,
    days: int = 1,
    unit: Literal["c", "f"] = "c",
    near: Place | None = None,
    note: Annotated[str, msgspec.Meta(description="free text for the forecaster")] = "",
) -> str:
    """Weather forecast for a city.

    Days count from today.
    """
    return city


def test_schema_from_signature_and_docstring() -> None:
    tool = Tool("forecast", forecast)
    schema = tool.schema()
    assert schema["description"] == "Weather forecast for a city.\n\nDays count from today."
    params = schema["parameters"]
    assert params["type"] == "object" and params["required"] == ["city"]
    props = params["properties"]
    assert props["city"] == {"type": "string"}
    assert props["days"] == {"type": "integer", "default": 1}
    assert props["unit"] == {"enum": ["c", "f"], "default": "c"}
    assert props["note"]["description"] == "free text for the forecaster"
    assert props["near"]["anyOf"][0] == {"$ref": "#/$defs/Place"}
    assert params["$defs"]["Place"]["required"] == ["lat", "lon"]
    assert "title" not in params
    assert tool_schema(forecast) == params


def test_explicit_parameters_and_description_win() -> None:
    explicit = {"type": "object", "properties": {"q": {"type": "string"}}}
    tool = Tool("f", forecast, description="mine", parameters=explicit)
    assert tool.schema()["parameters"] == explicit and tool.schema()["description"] == "mine"
    # no conversion for a hand-written schema: arguments pass as they are
    assert tool.convert({"q": "x", "days": "4"}) == {"q": "x", "days": "4"}


def test_the_models_arguments_are_converted_to_the_hints() -> None:
    router = ToolRouter()
    router.register(Tool("forecast", forecast))
    (ok,) = router.calls(done("completed", call(
        "forecast", '{"city": "Paris", "days": "4", "near": {"lat": "1.5", "lon": 2}, "bogus": 1}')))
    assert ok.error is None
    assert ok.arguments == {"city": "Paris", "days": 4, "unit": "c",
                            "near": {"lat": 1.5, "lon": 2.0}, "note": ""}
    assert type(ok.arguments["days"]) is int


@pytest.mark.parametrize(("args", "message"), [
    ('{"days": 2}', "invalid arguments for forecast: missing required argument city"),
    ('{"city": "x", "days": "many"}', "invalid arguments for forecast: days: expected int, got str"),
    ('{"city": "x", "unit": "k"}', "invalid arguments for forecast: unit: invalid enum value 'k'"),
    ('{"city": "x", "near": {"lat": "n", "lon": 1}}',
     "invalid arguments for forecast: near.lat: expected float, got str"),
])
def test_arguments_that_do_not_fit_become_an_error_for_the_model(args: str, message: str) -> None:
    router = ToolRouter()
    router.register(Tool("forecast", forecast))
    (bad,) = router.calls(done("completed", call("forecast", args)))
    assert bad.error == message and bad.arguments == {}
    assert msgspec.json.decode(router.error_event(bad, bad.error)["item"]["output"]) == {
        "error": message}


def test_var_keyword_takes_extra_arguments_and_dataclasses_convert() -> None:
    def flexible(window: Window, **rest: Any) -> None:
        pass

    tool = Tool("flexible", flexible)
    params = tool.schema()["parameters"]
    assert params["additionalProperties"] is True
    kwargs = tool.convert({"window": {"days": "3"}, "extra": [1]})
    assert kwargs == {"window": Window(days=3), "extra": [1]}


def test_signatures_without_a_json_schema_are_refused_at_registration() -> None:
    def takes_socket(s: socket.socket) -> None:
        pass

    def positional(x: int, /) -> None:
        pass

    with pytest.raises(ValueError, match="tool 'takes_socket': a parameter's type has no JSON"):
        Tool("takes_socket", takes_socket)
    with pytest.raises(ValueError, match="positional-only parameter 'x'"):
        Tool("positional", positional)
    with pytest.raises(ValueError, match="non-empty name"):
        Tool("", forecast)
    # a hand-written schema needs no usable hints
    assert Tool("takes_socket", takes_socket, parameters={"type": "object"}).schema()
