"""Options checked before anything connects: bad values, impossible combinations and unwritable
output files are one-line usage errors (exit 2) that name what the user typed; help texts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from openai_realtime_ws.cli._app import build_parser
from openai_realtime_ws.emulator.__main__ import build_parser as build_emulator_parser
from openai_realtime_ws.relay.__main__ import _parser as build_relay_parser

from .helpers import EMULATOR_NOTICE, run_cli


def assert_usage_error(res: object, *needles: str) -> None:
    code, err = getattr(res, "returncode"), getattr(res, "stderr")  # noqa: B009
    assert code == 2, err
    assert "Traceback" not in err, err
    last = err.rstrip("\n").splitlines()[-1]  # argparse prints its usage lines first
    assert last.startswith("openai-realtime-ws") and "error: " in last, err
    assert not EMULATOR_NOTICE.search(err), "refused after the emulator was started"
    for needle in needles:
        assert needle in err, err


def test_audio_out_in_a_missing_directory_is_refused_before_connecting(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "x.wav"
    res = run_cli("chat", "--audio-out", str(target), "hi")
    assert_usage_error(res, f"--audio-out {target}: the directory", "does not exist")
    assert not target.parent.exists()


def test_audio_out_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    assert_usage_error(run_cli("chat", "--audio-out", str(tmp_path), "hi"), "is a directory")


def test_text_only_with_audio_out_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "t.wav"
    res = run_cli("chat", "--text-only", "--audio-out", str(out), "hi")
    assert_usage_error(res, "--audio-out", "--text-only")
    assert not out.exists()  # no empty WAV left behind


@pytest.mark.parametrize(("argv", "needles"), [
    (["chat", "--voice", "nobody", "hi"], ["--voice", "'nobody'", "marin"]),
    (["chat", "--model", "bogus", "hi"], ["--model 'bogus'", "gpt-realtime"]),
    (["events", "--model", "gpt-4o", "--count", "1"], ["--model 'gpt-4o'"]),
    (["chat", "--emulator-speed", "-1", "hi"], ["--emulator-speed", "'-1'"]),
    (["chat", "--emulator-speed", "nan", "hi"], ["--emulator-speed"]),
    (["chat", "--timeout", "0", "hi"], ["--timeout", "'0'"]),
    (["chat", "--base-url", "http://example.invalid/v1", "--api-key", "sk-x", "hi"],
     ["--base-url http://example.invalid/v1: plain http://", "https://example.invalid/v1"]),
    (["chat", "--base-url", "ftp://example.com/v1", "--api-key", "sk-x", "hi"],
     ["--base-url ftp://example.com/v1: expected a https:// URL"]),
    (["chat", "--url", "ws://example.com/v1/realtime", "--api-key", "sk-x", "hi"],
     ["--url ws://example.com/v1/realtime: plain ws://", "wss://example.com/v1/realtime"]),
    (["mint-key", "--base-url", "http://example.com/v1", "--api-key", "sk-x"],
     ["--base-url http://example.com/v1: plain http://"]),
])
def test_bad_values_are_refused_naming_what_was_typed(argv: list[str], needles: list[str]) -> None:
    res = run_cli(*argv)
    assert_usage_error(res, *needles)
    assert "sk-x" not in res.stderr


def test_openai_base_url_from_the_environment_is_named() -> None:
    from .helpers import child_env

    res = run_cli("chat", "hi", env=child_env(OPENAI_BASE_URL="http://example.invalid/v1",
                                                OPENAI_API_KEY="sk-x"))
    assert_usage_error(res, "OPENAI_BASE_URL http://example.invalid/v1: plain http://")


@pytest.mark.parametrize("argv", [
    ["chat", "--voice", "marin", "--text-only", "--quiet", "hi"],
    ["chat", "--voice", "voice_1234", "--text-only", "--quiet", "hi"],
    ["chat", "--model", "gpt-realtime-2099-01-01", "--text-only", "--quiet", "hi"],
    ["chat", "--emulator-speed", "0", "--text-only", "--quiet", "hi"],
])
def test_good_values_pass(argv: list[str]) -> None:
    res = run_cli(*argv)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: hi\n"


def test_azure_deployment_names_are_not_model_names() -> None:
    # --model is the deployment name on Azure: any name is fine (the check is for OpenAI models)
    res = run_cli("chat", "--azure-endpoint", "http://example.invalid", "--model", "my-deployment",
                  "--api-key", "k", "hi")
    assert_usage_error(res, "--azure-endpoint http://example.invalid: plain http://")
    assert "--model" not in res.stderr


def test_emulator_help_names_this_command() -> None:
    res = run_cli("emulator", "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: openai-realtime-ws emulator")
    assert "python -m" not in res.stdout


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    subs: dict[str, argparse.ArgumentParser] = parser.parse_args(["chat"])._subparsers
    out = [("openai-realtime-ws", parser)]
    out += [(name, p) for name, p in subs.items() if name != "emulator"]
    out.append(("emulator", build_emulator_parser()))
    out.append(("relay", build_relay_parser()))
    return out


@pytest.mark.parametrize(("name", "parser"), _all_parsers(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_has_a_help_text(name: str, parser: argparse.ArgumentParser) -> None:
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert not missing, f"{name}: options without help: {missing}"


@pytest.mark.parametrize("missing", ["aiohttp", "trustme"])
def test_without_the_emulator_extra_the_error_says_what_to_install(missing: str) -> None:
    # as on a fresh `pip install openai-realtime-ws`: the embedded emulator's imports fail
    saved = {n: m for n, m in sys.modules.items() if n.startswith("openai_realtime_ws.emulator")}
    previous = sys.modules.get(missing)
    for name in saved:
        del sys.modules[name]
    sys.modules[missing] = None  # type: ignore[assignment]  # `import missing` now fails
    try:
        res = run_cli("chat", "hi")
    finally:
        for name in [n for n in sys.modules if n.startswith("openai_realtime_ws.emulator")]:
            del sys.modules[name]
        sys.modules.update(saved)
        if previous is None:
            del sys.modules[missing]
        else:
            sys.modules[missing] = previous
    assert res.returncode == 2, res.stderr
    assert res.stderr == (
        f"openai-realtime-ws: error: the local emulator needs the `emulator` extra ({missing} is "
        "not installed): pip install 'openai-realtime-ws[emulator]'\n")


def test_version() -> None:
    from openai_realtime_ws import __version__

    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout == f"openai-realtime-ws {__version__}\n"
