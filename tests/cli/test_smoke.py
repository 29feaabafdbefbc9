"""The few CLI tests that need a real process: the `emulator` command serving until SIGINT, a
`chat` process talking to it, and Ctrl-C while connecting. (The rest of tests/cli/ drives the
same entry point, `main(argv)`, in-process; the interactive terminal is test_interactive.py.)"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

from .helpers import CLI, child_env, run_cli_subprocess


def test_emulator_command_with_debug_serves_a_chat_process_and_stops_on_sigint() -> None:
    # `--debug` after the command is accepted (docs/cli.md: before or after it)
    proc = subprocess.Popen([*CLI, "emulator", "--debug", "--api-key", "sk-right", "--speed", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    assert proc.stdout is not None
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(15)
    try:
        assert first and first[0].startswith("http://127.0.0.1:"), (first, proc.poll())
        base_url = first[0].strip()
        res = run_cli_subprocess("chat", "--base-url", base_url, "--api-key", "sk-right",
                                 "--text-only", "hello process")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "You said: hello process\n"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_ctrl_c_while_connecting_exits_130_at_once() -> None:
    # a server that accepts the TCP connection and never answers the WebSocket upgrade
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        proc = subprocess.Popen(
            [*CLI, "chat", "--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", "sk-x",
             "--timeout", "60", "hi"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        server.settimeout(20)
        conn, _ = server.accept()  # the CLI is now inside the handshake
        with conn:
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=10)
            finally:
                proc.kill()
            elapsed = time.monotonic() - started
    assert proc.returncode == 130, err
    assert elapsed < 5, f"exited {elapsed:.1f} s after Ctrl-C"
    assert "Traceback" not in err and "Task was destroyed" not in err, err
