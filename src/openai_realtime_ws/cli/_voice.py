"""``chat --voice-io``: a live spoken conversation from the terminal.

The microphone streams to the session (20 ms frames, server VAD), the reply plays on the speaker,
talking over the assistant interrupts it (playback stops, the item is truncated at what was
heard), and transcripts print as they arrive: ``you> …`` for the user, ``ai> …`` for the
assistant. After each reply one figures line goes to stderr with the turn's latency from the end
of the user's speech to the first audio. Ctrl-C ends the conversation.

Everything here is wiring of :class:`~openai_realtime_ws.voice.VoiceSession` with
:class:`~openai_realtime_ws.audio.Microphone` and :class:`~openai_realtime_ws.audio.Speaker`
(the ``audio`` extra) on the asyncio client; the server is chosen like every other command.

Without a sound card (servers, CI): ``--mic-wav FILE`` replaces the microphone, and
``--audio-out FILE`` or ``--no-speaker`` the speaker, with a virtual real-time sound card
(:class:`~openai_realtime_ws.audio.PacedSink`): barge-in still cuts the reply at what was
"heard", and ``--audio-out`` saves exactly that. No sound device is opened then.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from ..aio.client import AsyncOpenAIRealtimeWS
from ..audio import (
    AudioDeviceError,
    AudioSink,
    Microphone,
    PacedSink,
    Speaker,
    wav_frames,
    write_wav_pcm16_24k,
)
from ..voice import VoiceEvent, VoiceSession
from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CLIError
from ._target import Target, check_writable, open_async, resolve_target

__all__ = ["add_voice_io_options", "run_voice_io"]

_T = TypeVar("_T")


def _device(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def add_voice_io_options(p: argparse.ArgumentParser) -> None:
    """The ``chat`` options of the live voice mode."""
    g = p.add_argument_group("live voice (--voice-io; needs the audio extra)")
    g.add_argument("--voice-io", action="store_true",
                   help="talk with the model: microphone in, speaker out, interrupt it by "
                        "speaking; transcripts and per-turn latency are printed")
    g.add_argument("--input-device", metavar="DEVICE", type=_device,
                   help="microphone (index or name; default: the system's)")
    g.add_argument("--output-device", metavar="DEVICE", type=_device,
                   help="speaker (index or name; default: the system's)")
    g.add_argument("--mic-wav", metavar="FILE.wav",
                   help="play this recording as the microphone (in real time), e.g. for a demo "
                        "without a microphone")
    g.add_argument("--no-speaker", action="store_true",
                   help="no sound card needed: the reply plays into a virtual real-time sound "
                        "card instead of the speaker (for servers and CI); --audio-out FILE.wav "
                        "does the same and saves what was played")
    g.add_argument("--max-turns", metavar="N", type=int,
                   help="end after N replies (default: until Ctrl-C)")


class _Printer:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.in_reply = False
        self.replies = 0
        self.latency_ms: float | None = None
        self.replied = asyncio.Event()

    def __call__(self, ev: VoiceEvent) -> None:
        out = sys.stdout
        if ev.type == "user_transcript" and ev.text:
            self._end_reply()
            out.write(f"you> {ev.text}\n")
        elif ev.type == "assistant_transcript_delta":
            if not self.in_reply:
                out.write("ai> ")
                self.in_reply = True
            out.write(ev.text)
        elif ev.type == "assistant_transcript":
            self._end_reply()
        elif ev.type == "interrupted" and ev.stop is not None:
            self._end_reply(" [interrupted]")
            if not self.quiet:
                sys.stderr.write(f"[barge-in: heard {ev.stop.heard_ms} of {ev.stop.received_ms} ms, "
                                 f"dropped {ev.stop.dropped_ms:.0f} ms]\n")
        elif ev.type == "turn":
            self.latency_ms = ev.latency_ms
        elif ev.type == "response_done":
            self._end_reply()
            self.replies += 1
            if not self.quiet:
                lat = "n/a" if self.latency_ms is None else f"{self.latency_ms:.0f} ms"
                sys.stderr.write(f"[{ev.text or 'done'} · speech end → first audio {lat}]\n")
            self.latency_ms = None
            self.replied.set()
        elif ev.type == "error":
            self._end_reply()
            sys.stderr.write(f"[error: {ev.text} ({ev.code})]\n")
        out.flush()
        sys.stderr.flush()

    def _end_reply(self, suffix: str = "") -> None:
        if self.in_reply:
            sys.stdout.write(suffix + "\n")
            self.in_reply = False


def run_voice_io(args: argparse.Namespace) -> int:
    if getattr(args, "message", None) is not None or getattr(args, "audio_in", None):
        raise CLIError("--voice-io talks through the microphone: no MESSAGE or --audio-in", EXIT_USAGE)
    if getattr(args, "text_only", False):
        raise CLIError("--voice-io needs spoken replies: it cannot be combined with --text-only",
                       EXIT_USAGE)
    if args.max_turns is not None and args.max_turns < 1:
        raise CLIError("--max-turns must be at least 1", EXIT_USAGE)
    if getattr(args, "audio_out", None):
        check_writable(args.audio_out, "--audio-out")
    target = resolve_target(args)
    return asyncio.run(_converse(args, target))


async def _connect(stack: AsyncExitStack, target: Target) -> AsyncOpenAIRealtimeWS:
    rt = await open_async(stack, target)
    stack.push_async_callback(rt.close)
    return rt


class _Interrupted(Exception):
    """Ctrl-C: end the conversation (devices and session closed on the way out)."""


async def _or_stop(aw: Awaitable[_T], stop: asyncio.Event) -> _T:
    """Await ``aw`` unless Ctrl-C comes first (then it is cancelled and _Interrupted raised)."""
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        raise _Interrupted
    return task.result()


async def _converse(args: argparse.Namespace, target: Target) -> int:
    # Ctrl-C sets an event (instead of cancelling the main task, which an await in progress
    # could absorb): every wait below races it, and the exit stack closes everything on the way out
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - no signal handlers (Windows)
        pass
    try:
        return await _talk(args, target, stop)
    except _Interrupted:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError):  # pragma: no cover
            pass


async def _talk(args: argparse.Namespace, target: Target, stop: asyncio.Event) -> int:
    printer = _Printer(bool(args.quiet))
    async with AsyncExitStack() as stack:
        source: Any
        if args.mic_wav:
            try:
                source = wav_frames(args.mic_wav, realtime=True)
            except (OSError, ValueError) as exc:
                raise CLIError(f"--mic-wav {args.mic_wav}: {exc}", EXIT_USAGE) from None
        else:
            source = Microphone(args.input_device)
        audio_out = getattr(args, "audio_out", None)
        speaker: AudioSink
        if audio_out or args.no_speaker:  # a virtual sound card: no device at all
            speaker = paced = PacedSink(record=bool(audio_out))
            if audio_out:  # (runs after the sink stopped, Ctrl-C included)
                stack.callback(lambda: write_wav_pcm16_24k(audio_out, bytes(paced.played_audio)))
        else:
            speaker = Speaker(args.output_device)
        if isinstance(source, Microphone):
            try:
                await stack.enter_async_context(source)
            except AudioDeviceError as exc:
                raise CLIError(f"{exc} (no microphone? --mic-wav FILE.wav plays a recording "
                               "instead)", EXIT_ERROR) from None
        try:
            await stack.enter_async_context(speaker)
        except AudioDeviceError as exc:
            raise CLIError(f"{exc} (no sound card? --audio-out FILE.wav or --no-speaker play "
                           "the reply into a virtual one)", EXIT_ERROR) from None
        rt = await _or_stop(_connect(stack, target), stop)
        voice = VoiceSession(rt, source=source, sink=speaker, on_event=printer,
                             instructions=args.instructions, voice=args.voice)
        await stack.enter_async_context(voice)
        if sys.stdin.isatty() and not args.quiet:
            sys.stderr.write("listening: speak to the model; talk over it to interrupt; "
                             "Ctrl-C ends\n")
        while args.max_turns is None or printer.replies < args.max_turns:
            printer.replied.clear()
            try:
                await _or_stop(asyncio.wait_for(printer.replied.wait(), 1.0), stop)
            except TimeoutError:
                if rt.closed:
                    raise CLIError("the connection closed", EXIT_ERROR) from None
        # let the last reply finish playing before the devices close
        await _or_stop(speaker.drain(), stop)
    return EXIT_OK
