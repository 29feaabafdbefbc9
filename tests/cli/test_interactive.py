"""Interactive `chat` through a pseudo-terminal: a turn, a reply cancelled with Ctrl-C, Ctrl-D."""

from __future__ import annotations

import sys

import pexpect

from .helpers import child_env

LONG = "please tell me a very long story about the sea and the ships that sail on it at night"


def _spawn(*args: str) -> pexpect.spawn:
    # pacing 2x real time: a long reply lasts seconds, enough to interrupt it
    return pexpect.spawn(sys.executable, ["-m", "openai_realtime_ws", "chat",
                                          "--emulator-speed", "2", *args],
                         env=child_env(), encoding="utf-8", timeout=15)


def test_turn_then_cancel_then_ctrl_d() -> None:
    child = _spawn()
    try:
        child.expect("using the local emulator at http://127.0.0.1:")
        child.expect_exact("you> ")
        child.sendline("hi")
        child.expect_exact("ai> You said: hi")
        child.expect(r"\[first text \d+ ms · first audio \d+ ms · audio 0\.72 s · tokens \d+\]")
        child.expect_exact("you> ")

        child.sendline(LONG)
        child.expect_exact("ai> You")
        child.sendintr()
        child.expect_exact("[cancelled]")
        child.expect(r"\[cancelled \(client_cancelled\) · first text \d+ ms")
        child.expect_exact("you> ")

        # the session is still usable after the cancel
        child.sendline("again")
        child.expect_exact("ai> You said: again")
        child.expect_exact("you> ")

        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_ctrl_c_at_the_prompt_quits() -> None:
    child = _spawn()
    try:
        child.expect_exact("you> ")
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_one_shot_ctrl_c_cancels_and_exits_130() -> None:
    child = _spawn(LONG)
    try:
        child.expect_exact("You said:")
        child.sendintr()
        child.expect(r"\[cancelled \(client_cancelled\)")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
