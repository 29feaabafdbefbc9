"""Frameworks on their own transport and on this library's: one long spoken answer, end to end.

    .venv/bin/python bench/frameworks.py            # 3 rounds, 150 words: ~760 response events
    .venv/bin/python bench/frameworks.py --quick    # 1 round

The emulator runs in its own process (``python -m openai_realtime_ws.emulator --speed 0``: no
pacing), so its CPU is not the client's. Each case opens a session, sends one user message of
``--words`` words (the emulator echoes it as speech: ``You said: …``, one transcript delta and
several 100 ms audio deltas per word), and stops the clock when the framework reports the end of
the answer:

* ``openai-agents: websockets`` ``RealtimeRunner(agent)`` (openai-agents' own transport), from
  ``send_message`` (after ``session.updated``) until ``agent_end``;
* ``openai-agents: RealtimeWSModel`` the same runner with ``model=RealtimeWSModel()``;
* ``pipecat: websockets`` ``OpenAIRealtimeLLMService`` in a pipeline, from
  ``LLMFullResponseStartFrame`` (the answer's first frame; the connection and the pipeline's
  start are not timed) to ``LLMFullResponseEndFrame``;
* ``pipecat: OpenAIRealtimeWSLLMService`` the same pipeline on this library.

Reported per case: the median wall time of the answer and the client process's CPU time during
it (the frameworks' own per-event work, pydantic validation included, is most of it: this
measures what switching the transport changes for a framework user, not the transport alone).
Cases alternate within each round so that machine load hits them alike.

Measured (the project's 2-core machine, load average 5-6 from other work, ``--words 400 --rounds
5``: 2,016 response events of which 1,606 audio deltas): openai-agents 372 ms wall / 115 ms CPU on
websockets, 397 / 122 on RealtimeWSModel; pipecat 1,468 / 415 on websockets, 1,550 / 411 on
OpenAIRealtimeWSLLMService. Within the noise of the machine: the frameworks' per-event work
(pydantic models, frames) is the cost; switching the transport neither adds nor saves a
measurable amount per answer. What the switch brings is reconnection with restore, keepalive and
bounded memory, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

KEY = "sk-bench-frameworks"


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, "-m", "openai_realtime_ws.emulator", "--port", "0",
                             "--speed", "0"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().decode().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise RuntimeError("the emulator did not start")
    return proc, base_url


async def agents_case(base_url: str, text: str, ours: bool) -> tuple[float, float]:
    from agents.realtime import RealtimeAgent, RealtimeRunner

    from openai_realtime_ws.agents import RealtimeWSModel

    agent: RealtimeAgent[Any] = RealtimeAgent(name="Assistant", instructions="Answer.")
    ws_url = base_url.replace("http", "ws", 1) + "/realtime"
    if ours:
        runner = RealtimeRunner(agent, model=RealtimeWSModel(base_url=base_url, api_key=KEY))
        session = await runner.run()
    else:
        runner = RealtimeRunner(agent)
        session = await runner.run(model_config={"url": f"{ws_url}?model=gpt-realtime", "api_key": KEY})
    async with session:
        events = session.__aiter__()
        async for ev in events:  # wait for the configuration to be applied
            data: Any = getattr(ev, "data", None)
            if ev.type == "raw_model_event" and getattr(data, "type", None) == "raw_server_event" \
                    and data.data.get("type") == "session.updated":
                break
        wall, cpu = time.perf_counter(), time.process_time()
        await session.send_message(text)
        async for ev in events:
            if ev.type == "agent_end":
                break
        return time.perf_counter() - wall, time.process_time() - cpu


async def pipecat_case(base_url: str, text: str, ours: bool) -> tuple[float, float]:
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMRunFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
    from pipecat.workers.runner import WorkerRunner

    from openai_realtime_ws.pipecat import OpenAIRealtimeWSLLMService

    done = asyncio.Event()
    started: list[float] = []

    class Stop(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, LLMFullResponseStartFrame) and not started:
                started.extend((time.perf_counter(), time.process_time()))
            elif isinstance(frame, LLMFullResponseEndFrame):
                done.set()
            await self.push_frame(frame, direction)

    ws_url = base_url.replace("http", "ws", 1) + "/realtime"
    cls: Callable[..., Any] = OpenAIRealtimeWSLLMService if ours else OpenAIRealtimeLLMService
    llm = cls(api_key=KEY, base_url=ws_url)
    pair = LLMContextAggregatorPair(LLMContext([{"role": "user", "content": text}]),
                                    realtime_service_mode=True)
    worker = PipelineWorker(Pipeline([pair.user(), llm, Stop(), pair.assistant()]),
                            params=PipelineParams(), cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.ensure_future(runner.run())
    await worker.queue_frames([LLMRunFrame()])
    await asyncio.wait_for(done.wait(), 120)
    result = time.perf_counter() - started[0], time.process_time() - started[1]
    await worker.queue_frame(EndFrame())
    await run
    return result


CASES: dict[str, Callable[[str, str], Coroutine[Any, Any, tuple[float, float]]]] = {
    "openai-agents: websockets": lambda u, t: agents_case(u, t, ours=False),
    "openai-agents: RealtimeWSModel": lambda u, t: agents_case(u, t, ours=True),
    "pipecat: websockets": lambda u, t: pipecat_case(u, t, ours=False),
    "pipecat: OpenAIRealtimeWSLLMService": lambda u, t: pipecat_case(u, t, ours=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    text = " ".join(f"word{i % 10}" for i in range(args.words))
    proc, base_url = start_emulator()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    try:
        for _ in range(rounds):
            for name, case in CASES.items():
                results[name].append(asyncio.run(case(base_url, text)))
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"one spoken answer of {args.words} words (emulator in its own process, no pacing); "
          f"median of {rounds}")
    print(f"{'case':40} {'wall ms':>10} {'client CPU ms':>14}")
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples) * 1000
        cpu = statistics.median(s[1] for s in samples) * 1000
        print(f"{name:40} {wall:10.1f} {cpu:14.1f}")


if __name__ == "__main__":
    main()
