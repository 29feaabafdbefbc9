"""What a type checker sees: mypy --strict and pyright on small programs (one run of each).

* the generated overloads: each handler gets its event class, ``wait_for`` returns it;
* narrowing: ``if event.type == "response.done": event.response`` type-checks with no
  ``isinstance`` on a union of event classes (each declares ``type`` as a ``Literal`` class
  attribute), and a wrong attribute after narrowing is reported. Iteration (``async for event
  in rt``, ``for event in brt``) is typed over the known events (``ServerEvent``), so it narrows
  with no guard under both checkers (issue 20 part 3: mypy --strict 172 errors and pyright
  strict 11 on good_iteration.py's loops before, 0 and 0 after); events the library cannot type
  take their own path (handlers, ``wait_for``, ``rt.all_events()``). On ``AnyServerEvent`` (what
  ``all_events()`` and ``"event"`` handlers get: the known events plus
  :class:`UnknownServerEvent`, whose ``type`` is any ``str``) pyright narrows to
  ``ResponseDoneEvent | UnknownServerEvent``; mypy narrows only a union whose every ``type`` is
  a literal, so there the unknown event is set aside first (``isinstance``) or a ``match`` on the
  class is used (snippets ``pyright_*`` are checked by pyright alone);
* the error handler: ``.code``/``.param`` after ``isinstance(err, RealtimeAPIError)``;
* the typed resources (``rt.session.update(session=…)``…): field names, required fields and
  literal values of the TypedDict parameters are checked;
* mistakes are reported on the lines that make them.

Each checker runs once, as a subprocess, over a folder of snippets; every snippet says on which
lines it expects an error (``# E``), so a checker that stopped seeing a mistake fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SNIPPETS: dict[str, str] = {
    "good_handlers.py": """
        from openai_realtime_ws import (
            AsyncOpenAIRealtimeWS, OpenAIRealtimeError, OpenAIRealtimeWS, RealtimeAPIError,
        )
        from openai_realtime_ws.types import ResponseDoneEvent, ResponseOutputTextDeltaEvent

        async def main(rt: AsyncOpenAIRealtimeWS, brt: OpenAIRealtimeWS) -> None:
            def on_delta(event: ResponseOutputTextDeltaEvent) -> None:
                print(event.delta.upper())

            rt.on("response.output_text.delta", on_delta)
            rt.once("response.output_text.delta", lambda e: print(e.delta.upper()))
            brt.on("response.output_text.delta", lambda e: print(e.delta.upper()))

            @rt.on("response.done")
            async def done(event: ResponseDoneEvent) -> None:
                print(event.response.status)

            def on_error(err: OpenAIRealtimeError) -> None:
                if isinstance(err, RealtimeAPIError):
                    print(err.code, err.param, err.type, err.event_id, err.message)

            rt.on("error", on_error)
            rt.on("some.future.event", lambda e: print(e.raw))
            event = await rt.wait_for("response.done")
            reveal_type(event)  # R ResponseDoneEvent
            reveal_type(brt.wait_for("response.output_text.delta"))  # R ResponseOutputTextDeltaEvent
            reveal_type(await rt.wait_for("error"))  # R ErrorEvent
    """,
    "good_narrowing.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS
        from openai_realtime_ws.types import (
            AnyServerEvent, Response, ResponseDoneEvent, ServerEvent, ServerEventBase,
            UnknownServerEvent,
        )

        def response_of(event: ServerEvent) -> Response | None:
            if event.type == "response.done":
                reveal_type(event)  # R ResponseDoneEvent
                return event.response
            if event.type == "response.output_text.delta":
                print(event.delta.upper())
            elif event.type == "session.created":
                print(event.session)
            return None

        async def consume(rt: AsyncOpenAIRealtimeWS) -> None:
            async for event in rt.all_events():
                if isinstance(event, UnknownServerEvent):
                    continue  # an event this library does not know (or could not type)
                if event.type == "response.done":
                    print(event.response.id)

        def consume_blocking(rt: OpenAIRealtimeWS) -> None:
            for event in rt.all_events():
                if not isinstance(event, UnknownServerEvent) and event.type == "error":
                    print(event.error.message)

        def on_any(event: AnyServerEvent, base: ServerEventBase) -> str:
            return event.type + base.type

        def by_class(event: AnyServerEvent) -> None:
            match event:
                case ResponseDoneEvent(response=response):
                    print(response.id)
    """,
    "good_iteration.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS

        async def main(rt: AsyncOpenAIRealtimeWS) -> None:
            async for event in rt:
                if event.type == "response.done":
                    reveal_type(event)  # R ResponseDoneEvent
                    print(event.response.usage)
                elif event.type == "response.output_text.delta":
                    print(event.delta.upper())
                elif event.type == "error":
                    print(event.error.message)
                print(event.transcript)  # E  (not narrowed: most events have no transcript)

        def blocking(brt: OpenAIRealtimeWS) -> None:
            for event in brt:
                if event.type == "response.done":
                    print(event.response.usage)
                if event.type == "response.output_audio_transcript.delta":
                    print(event.delta, event.response)  # E  (a transcript delta has no response)
    """,
    "pyright_any_event.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS
        from openai_realtime_ws.types import Response

        async def consume(rt: AsyncOpenAIRealtimeWS) -> None:
            async for event in rt.all_events():
                if event.type == "response.done":
                    reveal_type(event)  # R ResponseDoneEvent | UnknownServerEvent
                    response: Response = event.response
                    print(response.id)
    """,
    "bad_handler.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS
        from openai_realtime_ws.types import ResponseOutputTextDeltaEvent

        def on_delta(event: ResponseOutputTextDeltaEvent) -> None: ...

        def main(rt: AsyncOpenAIRealtimeWS) -> None:
            rt.on("response.done", on_delta)  # E
            rt.once("session.created", on_delta)  # E
    """,
    "bad_attribute.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS
        from openai_realtime_ws.types import ServerEvent

        async def main(rt: AsyncOpenAIRealtimeWS) -> None:
            event = await rt.wait_for("response.output_text.delta")
            print(event.transcript)  # E  (text deltas have no transcript)

        def narrowed(event: ServerEvent) -> None:
            if event.type == "response.output_text.delta":
                print(event.response)  # E  (narrowed: a text delta has no response)
            print(event.response)  # E  (not narrowed: most events have no response)
    """,
    "good_resources.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS

        def main(rt: AsyncOpenAIRealtimeWS, brt: OpenAIRealtimeWS) -> None:
            rt.session.update(session={"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]})
            rt.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
            rt.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})
            rt.conversation.item.truncate(item_id="item_1", content_index=0, audio_end_ms=100)
            rt.conversation.item.delete(item_id="item_1")
            rt.conversation.item.retrieve(item_id="item_1", event_id="ev_1")
            rt.response.create(response={"output_modalities": ["audio"], "instructions": "Shout."})
            rt.response.create()
            rt.response.cancel(response_id="resp_1")
            rt.input_audio_buffer.append(audio="AAAA")
            rt.input_audio_buffer.commit()
            rt.input_audio_buffer.clear()
            rt.output_audio_buffer.clear()
            brt.session.update(session={"type": "transcription"})
            brt.conversation.item.create(item={"type": "function_call_output", "call_id": "c", "output": "{}"})
            print(rt.session.instructions, len(rt.conversation), rt.conversation.active_response_id)
            for item in brt.conversation:
                print(item.id)
    """,
    "bad_resources.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS, OpenAIRealtimeWS

        def main(rt: AsyncOpenAIRealtimeWS, brt: OpenAIRealtimeWS) -> None:
            rt.session.update(session={"type": "realtime", "instructons": "typo"})  # E
            rt.session.update(session={"instructions": "no type"})  # E
            rt.response.create(response={"output_modalities": ["txt"]})  # E
            rt.conversation.item.create(item={"type": "mesage", "role": "user"})  # E
            rt.conversation.item.truncate(item_id="item_1", content_index=0)  # E
            rt.input_audio_buffer.append(audio=b"raw")  # E  (base64 text; raw bytes: send_audio)
            brt.response.cancel(response="resp_1")  # E
            rt.update_tools(instructions="fine", tool_choice="auto")
            rt.update_tools(instructons="typo")  # E
            brt.update_tools(output_modalities=["txt"])  # E
    """,
    "bad_unawaited.py": """
        from openai_realtime_ws import AsyncOpenAIRealtimeWS

        async def main() -> None:
            rt = AsyncOpenAIRealtimeWS.create(model="gpt-realtime")
            rt.send({"type": "response.create"})  # E  (create() must be awaited)
            ok = await AsyncOpenAIRealtimeWS.create(model="gpt-realtime")
            reveal_type(ok)  # R AsyncOpenAIRealtimeWS
    """,
    "bad_error_code.py": """
        from openai_realtime_ws import OpenAIRealtimeError

        def on_error(err: OpenAIRealtimeError) -> None:
            print(err.code)  # E  (.code means one thing per class: narrow first)
    """,
}

R_MARK = re.compile(r"#\s*R\s+(\w.*?)\s*$")

#: docs/recipes.md's first python block ("Typed handlers under mypy --strict") is checked too,
#: so the documented pattern cannot rot.
RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"


def _recipe() -> str:
    match = re.search(r"```python\n(.*?)```", RECIPES.read_text(encoding="utf-8"), re.S)
    assert match, f"no python block in {RECIPES}"
    return match.group(1)


def _write(tmp_path: Path) -> Path:
    folder = tmp_path / "snippets"
    folder.mkdir()
    for name, source in SNIPPETS.items():
        (folder / name).write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    (folder / "doc_recipes.py").write_text(_recipe(), encoding="utf-8")
    return folder


def _marks(folder: Path) -> tuple[dict[str, set[int]], dict[tuple[str, int], str]]:
    errors: dict[str, set[int]] = {}
    reveals: dict[tuple[str, int], str] = {}
    for path in sorted(folder.glob("*.py")):
        errors[path.name] = set()
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"#\s*E\b", line):
                errors[path.name].add(lineno)
            m = R_MARK.search(line)
            if m:
                reveals[(path.name, lineno)] = m.group(1)
    return errors, reveals


def _check(
    folder: Path, found_errors: dict[str, set[int]], found_reveals: dict[tuple[str, int], str], out: str
) -> None:
    want_errors, want_reveals = _marks(folder)
    for name, lines in want_errors.items():
        assert found_errors.get(name, set()) == lines, f"{name}: errors on {found_errors.get(name)}, want {lines}\n{out}"
    for key, cls in want_reveals.items():
        assert key in found_reveals, f"no reveal_type at {key}\n{out}"
        # exactly the expected classes (module paths aside): no other member, no Any
        assert re.sub(r"\b(\w+\.)+", "", found_reveals[key]) == cls, f"{key}: {found_reveals[key]}"


def test_mypy_strict(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    for path in folder.glob("pyright_*.py"):
        path.unlink()
    proc = subprocess.run(
        # the project's ignored .mypy_cache: the library's analysis is reused between runs
        [sys.executable, "-m", "mypy", "--strict", "--show-column-numbers",
         "--cache-dir", str(RECIPES.parent.parent / ".mypy_cache" / "test_typing"),
         "--python-version", "3.11", str(folder)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    errors: dict[str, set[int]] = {}
    reveals: dict[tuple[str, int], str] = {}
    for line in out.splitlines():
        m = re.match(r"(?:.*/)?(\w+\.py):(\d+):\d+: (error|note): (.*)", line)
        if not m:
            continue
        name, lineno, kind, text = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if kind == "error":
            errors.setdefault(name, set()).add(lineno)
        elif text.startswith("Revealed type is"):
            reveals[(name, lineno)] = text.split('"')[1]
    _check(folder, errors, reveals, out)


def _pyright() -> list[str]:
    exe = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("pyright is not installed (it is in the `test` extra)")
    return [exe]


def test_pyright(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (folder / "pyrightconfig.json").write_text(
        json.dumps({"pythonVersion": "3.11", "typeCheckingMode": "standard"}), encoding="utf-8"
    )
    proc = subprocess.run(
        [*_pyright(), "--outputjson", "--pythonpath", sys.executable, "--project", str(folder)],
        capture_output=True, text=True, check=False, cwd=folder, timeout=240,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright did not run: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    errors: dict[str, set[int]] = {}
    reveals: dict[tuple[str, int], str] = {}
    for d in report["generalDiagnostics"]:
        name = Path(d["file"]).name
        lineno = d["range"]["start"]["line"] + 1
        if d["severity"] == "error":
            errors.setdefault(name, set()).add(lineno)
        elif d["message"].startswith("Type of "):
            reveals[(name, lineno)] = d["message"].rsplit(" is ", 1)[1].strip('"')
    _check(folder, errors, reveals, proc.stdout[-4000:])
