# Responders decide what the emulated assistant says or does in each response (no I/O).
# `EchoResponder` (the default) repeats the user's last text or audio transcript;
# `ScriptedResponder` follows rules "user turn matches regex → reply with text / call tools,
# then answer with the tool output". The contract (`Reply`, `ToolCall`, `TurnContext`,
# `Responder`) lives in `core.turn` and is re-exported here.
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .core.turn import Reply, Responder, ToolCall, ToolResult, TurnContext

__all__ = [
    "EchoResponder",
    "Reply",
    "Responder",
    "Rule",
    "ScriptedResponder",
    "ToolCall",
    "ToolResult",
    "TurnContext",
]


class EchoResponder:
    """`You said: <last user text>`; after tool outputs: `<name> returned <output>`;
    with no user message yet: `Hello! How can I help you today?`."""

    def __init__(self, prefix: str = "You said: ", greeting: str = "Hello! How can I help you today?") -> None:
        self.prefix = prefix
        self.greeting = greeting

    def respond(self, turn: TurnContext) -> Reply:
        """The echo, the tool-results sentence, or the greeting (see the class)."""
        results = turn.tool_results
        if results:
            return Reply(text="; ".join(f"{r.name or 'The tool'} returned {r.output}" for r in results) + ".")
        text = turn.last_user_text
        if not text:
            return Reply(text=self.greeting)
        return Reply(text=f"{self.prefix}{text}")


ReplyFactory = Callable[[re.Match[str], TurnContext], Reply]
ThenFactory = Callable[[Sequence[ToolResult], TurnContext], Reply | str]


@dataclass(slots=True)
class Rule:
    """One scripted behaviour. See `ScriptedResponder.on`."""

    pattern: re.Pattern[str]
    text: str | None = None
    tools: Sequence[ToolCall] = ()
    then: str | ThenFactory | None = None
    reply: ReplyFactory | None = None
    times: int | None = None
    used: int = 0

    def build(self, match: re.Match[str], turn: TurnContext) -> Reply:
        if self.reply is not None:
            return self.reply(match, turn)
        text = match.expand(self.text) if self.text is not None else None
        calls = [ToolCall(c.name, _expand_args(c.arguments, match), c.call_id) for c in self.tools]
        return Reply(text=text, tool_calls=calls)

    def follow_up(self, results: Sequence[ToolResult], turn: TurnContext) -> Reply:
        outputs = "; ".join(r.output for r in results)
        if callable(self.then):
            out = self.then(results, turn)
            return Reply(text=out) if isinstance(out, str) else out
        template = self.then if self.then is not None else "{name} returned {output}."
        return Reply(text=template.format(output=outputs, name=results[0].name if results else "",
                                          arguments=results[0].arguments if results else ""))


def _expand_args(args: Mapping[str, Any] | str, match: re.Match[str]) -> Mapping[str, Any] | str:
    """Regex groups in string argument values: `{"city": r"\\1"}` takes group 1."""
    if isinstance(args, str):
        return match.expand(args)
    return {k: match.expand(v) if isinstance(v, str) else v for k, v in args.items()}


class ScriptedResponder:
    """Rules tried in order against the last user text (or audio transcript), case-insensitive
    `re.search`. The first match wins; nothing matches → `fallback` (EchoResponder by default).

    >>> r = ScriptedResponder()
    >>> _ = r.on(r"weather in (\\w+)", tools=[ToolCall("get_weather", {"city": r"\\1"})],
    ...          then="It is {output} there.")
    >>> _ = r.on(r"^hi", text="Hello there!")

    When a response is created after the client sent `function_call_output` items, the rule that
    issued those calls answers with `then` (`{output}`, `{name}`, `{arguments}` are filled in; a
    callable gets the ToolResults and returns text or a Reply).
    """

    def __init__(self, fallback: Responder | None = None) -> None:
        self.rules: list[Rule] = []
        self.fallback: Responder = fallback or EchoResponder()
        self._issued: dict[str, Rule] = {}  # tool name -> rule that called it last

    def on(
        self,
        pattern: str | re.Pattern[str],
        *,
        text: str | None = None,
        tools: Sequence[ToolCall] = (),
        then: str | ThenFactory | None = None,
        reply: ReplyFactory | None = None,
        times: int | None = None,
    ) -> ScriptedResponder:
        """Add a rule. `text` may use regex back-references (`\\1`); `tools` are called after the
        text (if any); `times` limits how often the rule fires. Returns self for chaining."""
        compiled = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        self.rules.append(Rule(compiled, text=text, tools=tuple(tools), then=then, reply=reply, times=times))
        return self

    def respond(self, turn: TurnContext) -> Reply:
        """The first matching rule's reply (or its `then` after tool results), else the fallback's."""
        results = turn.tool_results
        if results:
            rule = self._issued.get(results[-1].name)
            if rule is not None:
                return rule.follow_up(results, turn)
            return self.fallback.respond(turn)
        text = turn.last_user_text or ""
        for rule in self.rules:
            if rule.times is not None and rule.used >= rule.times:
                continue
            match = rule.pattern.search(text)
            if match is None:
                continue
            rule.used += 1
            reply = rule.build(match, turn)
            for call in reply.tool_calls:
                self._issued[call.name] = rule
            return reply
        return self.fallback.respond(turn)
