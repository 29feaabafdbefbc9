"""``openai-realtime-ws chat``: one message (or one recording) and its streamed reply, or an
interactive text session.

Built on the blocking client (:class:`~openai_realtime_ws.OpenAIRealtimeWS`): its loop runs on a
private thread, so the main thread can sit in ``input()`` (readline, Ctrl-C, Ctrl-D) while the
socket stays serviced. Events are read by iterating the client in the main thread; an ``"error"``
handler is registered so that API ``error`` events arrive in that iteration, in order, instead of
being raised. No protocol logic here beyond choosing which documented events to send.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Any

from .. import ConnectionClosed, OpenAIRealtimeError, OpenAIRealtimeWS, RealtimeAPIError
from ..audio import BYTES_PER_SECOND, read_wav_pcm16_24k, write_wav_pcm16_24k
from ..types import (
    AnyServerEvent,
    ErrorEvent,
    ErrorEventError,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseOutputAudioDeltaEvent,
    ResponseOutputAudioTranscriptDeltaEvent,
    ResponseOutputTextDeltaEvent,
)
from ._errors import EXIT_CONNECTION, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CLIError
from ._target import (
    VOICES,
    Target,
    check_writable,
    connect_kwargs,
    connection_failure,
    describe_api_error,
    emulator_kwargs,
    local_emulator_notice,
    redact,
    resolve_target,
    voice_value,
)

__all__ = ["add_chat_parser", "run_chat"]

PCM_24K = {"type": "audio/pcm", "rate": 24000}
AUDIO_CHUNK_BYTES = BYTES_PER_SECOND // 10  # 100 ms per input_audio_buffer.append


def add_chat_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "chat", parents=parents, help="send a message and stream the reply, or chat interactively",
        description="Send MESSAGE (or a WAV recording) and stream the reply to stdout; without "
                    "MESSAGE, start an interactive text session (Ctrl-C cancels a reply, Ctrl-D "
                    "or Ctrl-C at the prompt quits). After each reply one line of figures goes "
                    "to stderr.")
    p.add_argument("message", nargs="?", metavar="MESSAGE",
                   help="the user message; '-' reads it from stdin")
    p.add_argument("--audio-in", metavar="FILE.wav",
                   help="send this recording instead of a text message (any rate, channels, "
                        "8/16/24/32-bit PCM; converted to 24 kHz mono PCM16)")
    p.add_argument("--audio-out", metavar="FILE.wav",
                   help="save the spoken reply as a 24 kHz mono PCM16 WAV (checked before "
                        "connecting; not with --text-only)")
    p.add_argument("--text-only", action="store_true",
                   help="ask for a text reply (output_modalities ['text'])")
    p.add_argument("--instructions", metavar="TEXT", help="session instructions")
    p.add_argument("--voice", metavar="VOICE", type=voice_value,
                   help=f"output voice: {', '.join(VOICES)}, or a custom voice id (voice_...)")
    p.add_argument("-q", "--quiet", action="store_true", help="no figures line on stderr")
    from ._voice import add_voice_io_options  # chat --voice-io (voice helper's module)

    add_voice_io_options(p)
    return p


# --------------------------------------------------------------------------- figures


@dataclass
class TurnFigures:
    """What one response measured (times from sending response.create)."""

    started: float = field(default_factory=time.monotonic)
    first_text: float | None = None
    first_audio: float | None = None
    audio_bytes: int = 0
    tokens: int | None = None
    status: str | None = None
    reason: str | None = None

    def line(self, bytes_per_second: int) -> str:
        def ms(t: float | None) -> str:
            return "n/a" if t is None else f"{(t - self.started) * 1000:.0f} ms"

        parts = []
        if self.status and self.status != "completed":
            parts.append(self.status + (f" ({self.reason})" if self.reason else ""))
        parts += [f"first text {ms(self.first_text)}", f"first audio {ms(self.first_audio)}",
                  f"audio {self.audio_bytes / bytes_per_second:.2f} s",
                  f"tokens {'n/a' if self.tokens is None else self.tokens}"]
        return "[" + " · ".join(parts) + "]"


class TurnFailed(Exception):
    """The server refused one of this turn's events or the response failed."""


# --------------------------------------------------------------------------- the session


class ChatSession:
    """One connected session and the turn loop shared by one-shot and interactive use."""

    def __init__(self, rt: OpenAIRealtimeWS, args: argparse.Namespace, interactive: bool) -> None:
        self.rt = rt
        self.args = args
        self.interactive = interactive
        self.on_terminal = interactive and sys.stdin.isatty()
        """A person is typing: prompts, the `ai> ` prefix and a [cancelled] marker on stdout."""
        self.audio = bytearray()
        self.last_error: ErrorEventError | None = None
        self._events: Iterator[AnyServerEvent] = iter(rt)
        self._ids = 0
        rt.on("error", self._on_error)

    # errors that are not API error events (malformed frames, ...) never reach iteration
    def _on_error(self, error: OpenAIRealtimeError) -> None:
        if not isinstance(error, RealtimeAPIError):
            sys.stderr.write(f"openai-realtime-ws: warning: {redact(error.message)}\n")
            sys.stderr.flush()

    def _next_id(self, what: str) -> str:
        self._ids += 1
        return f"cli_{what}_{self._ids}"

    def next_event(self) -> AnyServerEvent:
        try:
            return next(self._events)
        except StopIteration:
            raise CLIError("the server closed the connection", EXIT_CONNECTION) from None
        except ConnectionClosed as exc:  # OK or not: the session is gone
            raise connection_failure(self.last_error, exc) from None

    @property
    def bytes_per_second(self) -> int:
        fmt = _path(self.rt.session, "audio", "output", "format", "type")
        return 8000 if fmt in ("audio/pcmu", "audio/pcma") else BYTES_PER_SECOND

    def configure(self) -> None:
        """session.update with what the options ask for (nothing when nothing is asked)."""
        args = self.args
        session: dict[str, Any] = {}
        audio_in: dict[str, Any] = {}
        audio_out: dict[str, Any] = {}
        if args.instructions is not None:
            session["instructions"] = args.instructions
        if args.voice:
            audio_out["voice"] = {"id": args.voice} if args.voice.startswith("voice_") else args.voice
        if args.audio_out:
            audio_out["format"] = PCM_24K
        if args.audio_in:
            # push-to-talk: the CLI commits and asks for the response itself
            audio_in.update(format=PCM_24K, turn_detection=None)
        audio = {k: v for k, v in (("input", audio_in), ("output", audio_out)) if v}
        if audio:
            session["audio"] = audio
        if session:
            self.rt.send({"type": "session.update", "event_id": "cli_session",
                          "session": {"type": "realtime", **session}})

    def response_create(self) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "response.create", "event_id": self._next_id("response")}
        if self.args.text_only:
            event["response"] = {"output_modalities": ["text"]}
        return event

    def send_text(self, text: str) -> list[str]:
        item_id = self._next_id("item")
        self.rt.send({"type": "conversation.item.create", "event_id": item_id,
                      "item": {"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": text}]}})
        create = self.response_create()
        self.rt.send(create)
        return [item_id, create["event_id"]]

    def send_recording(self, pcm: bytes) -> list[str]:
        for i in range(0, len(pcm), AUDIO_CHUNK_BYTES):
            self.rt.send_audio(pcm[i : i + AUDIO_CHUNK_BYTES])
        commit = self._next_id("commit")
        self.rt.send({"type": "input_audio_buffer.commit", "event_id": commit})
        create = self.response_create()
        self.rt.send(create)
        return [commit, create["event_id"]]

    def wait_ready(self) -> None:
        """Until session.created; the server's reason (bad key, …) when it closes instead."""
        try:
            self.rt.wait_for("session.created", timeout=self.args.timeout)
        except TimeoutError:
            raise CLIError(f"no session.created within {self.args.timeout:g} s",
                           EXIT_CONNECTION) from None
        except ConnectionClosed as exc:  # OK or not: the session is gone
            self._drain_errors()
            raise connection_failure(self.last_error, exc) from None

    def _drain_errors(self) -> None:
        """After a close: the API error that explains it is still in the iteration buffer."""
        try:
            while True:
                event = next(self._events)
                if isinstance(event, ErrorEvent):
                    self.last_error = event.error
        except (StopIteration, OpenAIRealtimeError):
            pass

    def turn(self, send: Callable[[], list[str]]) -> TurnFigures:
        """Send one turn and stream its reply; Ctrl-C sends response.cancel."""
        out = sys.stdout
        figures = TurnFigures()
        ours: set[str] = set()
        response_id: str | None = None
        cancel_sent = False

        def send_cancel(event_id: str) -> None:
            try:
                self.rt.send({"type": "response.cancel", "event_id": event_id})
            except OpenAIRealtimeError:
                pass  # the session is gone: the next event step says so

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            nonlocal cancel_sent
            if cancel_sent:
                raise KeyboardInterrupt
            cancel_sent = True
            # Not rt.send() here: the handler runs in the main thread between two bytecodes,
            # possibly inside the client's own locked section (its loop-thread handoff), and a
            # send takes that lock again: Ctrl-C then hung the command. A thread sends it.
            threading.Thread(target=send_cancel, args=(self._next_id("cancel"),),
                             name="openai-realtime-ws-cancel", daemon=True).start()

        previous = signal.signal(signal.SIGINT, on_sigint)
        wrote = False
        try:
            ours.update(send())
            if self.on_terminal:
                out.write("ai> ")
                out.flush()
                wrote = True
            while True:
                event = self.next_event()
                if isinstance(event, ResponseCreatedEvent):
                    if response_id is None:
                        response_id = event.response.id
                elif isinstance(event, ResponseOutputTextDeltaEvent
                                | ResponseOutputAudioTranscriptDeltaEvent):
                    if event.response_id != response_id:
                        continue
                    if figures.first_text is None:
                        figures.first_text = time.monotonic()
                    out.write(event.delta)
                    out.flush()
                    wrote = True
                elif isinstance(event, ResponseOutputAudioDeltaEvent):
                    if event.response_id != response_id:
                        continue
                    if figures.first_audio is None:
                        figures.first_audio = time.monotonic()
                    chunk = event.audio
                    figures.audio_bytes += len(chunk)
                    if self.args.audio_out:
                        self.audio += chunk
                elif isinstance(event, ResponseDoneEvent):
                    response = event.response
                    if response_id is None or response.id != response_id:
                        continue
                    figures.status = response.status
                    details = response.status_details
                    figures.reason = details.reason if details is not None else None
                    usage = response.usage
                    figures.tokens = usage.total_tokens if usage is not None else None
                    if figures.status == "failed":
                        err = details.error if details is not None else None
                        message = getattr(err, "message", None) or "the response failed"
                        raise TurnFailed(redact(str(message)))
                    return figures
                elif isinstance(event, ErrorEvent):
                    self._on_error_event(event, ours, cancel_sent)
        finally:
            signal.signal(signal.SIGINT, previous)
            if wrote:
                out.write("\n")
                out.flush()

    def _on_error_event(self, event: ErrorEvent, ours: set[str], cancel_sent: bool) -> None:
        error = event.error
        self.last_error = error
        if cancel_sent and error is not None and error.code == "response_cancel_not_active":
            return  # the reply finished before the cancel arrived
        if error is not None and (error.event_id in ours or error.event_id == "cli_session"):
            raise TurnFailed(describe_api_error(error))
        if error is not None and error.code in ("invalid_api_key", "session_expired"):
            return  # the close that follows ends the turn with exit 3
        sys.stderr.write(f"openai-realtime-ws: server error: {describe_api_error(error)}\n")
        sys.stderr.flush()

    def report(self, figures: TurnFigures) -> None:
        if figures.status == "cancelled" and (self.on_terminal or self.args.quiet):
            # part of the conversation on a terminal; the figures line says it otherwise
            stream = sys.stdout if self.on_terminal else sys.stderr
            stream.write("[cancelled]\n")
            stream.flush()
        if not self.args.quiet:
            sys.stderr.write(figures.line(self.bytes_per_second) + "\n")
            sys.stderr.flush()


def _path(obj: object, *names: str) -> Any:
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


# --------------------------------------------------------------------------- entry point


def run_chat(args: argparse.Namespace) -> int:
    if getattr(args, "voice_io", False):
        from ._voice import run_voice_io

        return run_voice_io(args)
    if args.audio_in and args.message is not None:
        raise CLIError("give either MESSAGE or --audio-in, not both", EXIT_USAGE)
    if args.audio_out and args.text_only:
        raise CLIError("--audio-out needs an audio reply: it cannot be combined with --text-only",
                       EXIT_USAGE)
    if args.audio_out:
        check_writable(args.audio_out, "--audio-out")
    message: str | None = args.message
    if message == "-":
        message = sys.stdin.read().strip()
        if not message:
            raise CLIError("no message on stdin", EXIT_USAGE)
        args.message = message
    pcm = read_wav_pcm16_24k(args.audio_in) if args.audio_in else None
    interactive = message is None and pcm is None
    target = resolve_target(args)
    with ExitStack() as stack:
        rt = _open(stack, target)  # Ctrl-C while connecting: KeyboardInterrupt, exit 130 at once
        chat = ChatSession(rt, args, interactive)
        try:
            chat.wait_ready()
            chat.configure()
            if interactive:
                return _interactive(chat)
            try:
                figures = chat.turn(partial(chat.send_recording, pcm) if pcm is not None
                                    else partial(chat.send_text, message or ""))
            except TurnFailed as exc:
                raise CLIError(str(exc), EXIT_ERROR) from None
            chat.report(figures)
            return EXIT_INTERRUPTED if figures.status == "cancelled" else EXIT_OK
        finally:
            if args.audio_out:
                write_wav_pcm16_24k(args.audio_out, bytes(chat.audio))


@contextmanager
def _sigint_stays_on_this_thread() -> Iterator[None]:
    """Threads started in this block (the emulator's) block SIGINT, so that the kernel always
    delivers Ctrl-C to the main thread, which may be asleep in ``input()`` or in a lock: a signal
    caught by another thread would not wake it. (The client's loop thread blocks it itself.)
    Only thread starts belong in here: the main thread blocks SIGINT too while inside, so a wait
    in here would not see Ctrl-C until it ends."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None:  # pragma: no cover - not POSIX
        yield
        return
    old = block(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        block(signal.SIG_SETMASK, old)


def _open(stack: ExitStack, target: Target) -> OpenAIRealtimeWS:
    base_url = None
    if target.is_local:
        from ..emulator import EmulatorThread

        with _sigint_stays_on_this_thread():
            emu = stack.enter_context(EmulatorThread(**emulator_kwargs(target)))
        base_url = emu.base_url
        local_emulator_notice(base_url)
    factory, kwargs = connect_kwargs(target, base_url)
    rt = getattr(OpenAIRealtimeWS, factory)(**kwargs)
    assert isinstance(rt, OpenAIRealtimeWS)

    def close() -> None:
        try:
            rt.close()
        except OpenAIRealtimeError:
            pass

    stack.callback(close)
    return rt


def _interactive(chat: ChatSession) -> int:
    tty = sys.stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401  (line editing and in-session history for input())
        except ImportError:  # pragma: no cover - platforms without readline
            pass
        sys.stderr.write("interactive session: type a message; Ctrl-C cancels a reply, "
                         "Ctrl-D quits\n")
        sys.stderr.flush()
    while True:
        try:
            line = input("you> " if tty else "")
        except EOFError:
            if tty:
                sys.stdout.write("\n")
            return EXIT_OK
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            return EXIT_OK
        text = line.strip()
        if not text:
            continue
        try:
            figures = chat.turn(partial(chat.send_text, text))
        except TurnFailed as exc:
            sys.stderr.write(f"openai-realtime-ws: error: {exc}\n")
            sys.stderr.flush()
            continue
        chat.report(figures)
