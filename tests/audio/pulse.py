"""A real sound server for device tests: a private PulseAudio daemon with a null sink
("speaker", recorded through its monitor) and a virtual microphone ("mic": the monitor of a null
sink "micfeed" that a WAV is played into with paplay). PortAudio reaches it through ALSA's pulse
plugin (PULSE_SERVER). Where it cannot run, the tests skip and say why."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Pulse:
    runtime: Path
    server: str
    env: dict[str, str]

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env=self.env, check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def play_into_mic(self, wav: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["paplay", "--device=micfeed", str(wav)], env=self.env)

    def record_speaker(self, path: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["parec", "--device=speaker.monitor", "--format=s16le", "--rate=24000", "--channels=1",
             "--latency-msec=10", "--file-format=wav", str(path)], env=self.env)


def _skip_reason() -> str | None:
    for tool in ("pulseaudio", "pactl", "paplay", "parec"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt: pulseaudio pulseaudio-utils)"
    if ctypes.util.find_library("portaudio") is None:
        return "PortAudio is not installed (apt: libportaudio2)"
    if importlib.util.find_spec("sounddevice") is None:
        return "sounddevice is not installed (the audio extra)"
    return None


def _rescan_devices() -> str | None:
    """PortAudio lists devices when it starts: (re)start it now that the server runs, until it
    sees a default input and output (a busy machine can make the ALSA pulse plugin miss one).
    Returns why not, if it never does."""
    sd = importlib.import_module("sounddevice")
    problem = None
    for _ in range(5):
        sd._terminate()
        sd._initialize()
        try:
            sd.query_devices(kind="input")
            sd.query_devices(kind="output")
            return None
        except Exception as exc:
            problem = str(exc)
    return f"PortAudio sees no default device on the test server: {problem}"


@pytest.fixture(scope="module")
def pulse() -> Iterator[Pulse]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    runtime = Path(tempfile.mkdtemp(prefix="pulse-"))
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime),
               PULSE_RUNTIME_PATH=str(runtime / "pulse"))
    socket_path = runtime / "native"
    server = f"unix:{socket_path}"
    # --daemonize=yes returns once the daemon is ready (or failed): no polling needed
    done = subprocess.run(
        ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit",
         "--use-pid-file=yes", "--system=no", "--log-target=stderr", "--no-cpu-limit",
         "--realtime=no", "--high-priority=no",
         f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket_path}",
         "--load=module-null-sink sink_name=speaker rate=24000 channels=1",
         "--load=module-null-sink sink_name=micfeed rate=24000 channels=1",
         "--load=module-remap-source master=micfeed.monitor source_name=mic channels=1"],
        env=env, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        shutil.rmtree(runtime, ignore_errors=True)
        pytest.skip(f"pulseaudio did not start: {done.stderr[-500:]}")
    env["PULSE_SERVER"] = server
    p = Pulse(runtime, server, env)
    p.pactl("set-default-sink", "speaker")
    p.pactl("set-default-source", "mic")
    saved = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = server  # for ALSA's pulse plugin inside PortAudio
    problem = _rescan_devices()
    if problem:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
        pytest.fail(problem)
    try:
        yield p
    finally:
        if saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved
        # the daemon of this runtime directory only (its pid file)
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)
