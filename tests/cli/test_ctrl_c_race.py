"""Ctrl-C during a reply while the main thread is inside the blocking client's locked section.

The SIGINT handler of `chat` used to call `rt.send(response.cancel)` itself. A Python signal
handler runs in the main thread between two bytecodes, so it could run while that thread held
the client's loop-thread lock (taking the next event), and the send took the same lock again:
the command hung after `^C` (seen once in a pexpect test on a loaded machine). Here the signal is
raised exactly there, every time: the reply must end cancelled, exit 130, promptly.

(The test reaches into the client's private lock, the only way to place the signal there.)"""

from __future__ import annotations

import io
import signal
import sys
import threading
from typing import Any

import pytest

from openai_realtime_ws import OpenAIRealtimeWS
from openai_realtime_ws.cli import main

from .helpers import _logging_restored

LONG = "please tell me a very long story about the sea and the ships that sail on it at night"


class _Terminal(io.StringIO):
    """stdout that presses Ctrl-C at the first delta, while holding the client's lock."""

    def __init__(self, clients: list[OpenAIRealtimeWS]) -> None:
        super().__init__()
        self.clients = clients
        self.pressed = False

    def write(self, text: str) -> int:
        n = super().write(text)
        if not self.pressed and "You said" in self.getvalue() and self.clients:
            self.pressed = True
            lock: Any = self.clients[0]._runner._lock  # (private: see the module docstring)
            with lock:
                signal.raise_signal(signal.SIGINT)  # the handler runs here, lock held
        return n


def test_ctrl_c_while_the_client_holds_its_lock_cancels_the_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    assert threading.current_thread() is threading.main_thread()
    clients: list[OpenAIRealtimeWS] = []
    create = OpenAIRealtimeWS.create

    def spy(*args: Any, **kwargs: Any) -> OpenAIRealtimeWS:
        rt = create(*args, **kwargs)
        clients.append(rt)
        return rt

    monkeypatch.setattr(OpenAIRealtimeWS, "create", spy)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    out, err = _Terminal(clients), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with _logging_restored():  # (the CLI quiets the library's loggers)
        code = main(["chat", "--emulator-speed", "2", LONG])
    assert out.pressed, out.getvalue()
    assert code == 130, err.getvalue()
    assert "cancelled (client_cancelled)" in err.getvalue()
