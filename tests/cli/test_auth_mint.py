"""Against `openai-realtime-ws emulator --api-key sk-right` in a subprocess: a refused key exits 3
with the server's message, and a minted ek_ secret opens a session."""

from __future__ import annotations

import json
import re

from .helpers import EMULATOR_NOTICE, run_cli


def test_wrong_key_exits_3_with_the_server_message(emulator_url: str) -> None:
    res = run_cli("chat", "--base-url", emulator_url, "--api-key", "sk-wrong", "hi")
    assert res.returncode == 3, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("openai-realtime-ws: error: Incorrect API key provided")
    assert "invalid_api_key" in lines[0]
    assert "3000" in lines[0]
    assert "sk-wrong" not in res.stderr


def test_events_wrong_key_exits_3(emulator_url: str) -> None:
    res = run_cli("events", "--base-url", emulator_url, "--api-key", "sk-wrong")
    assert res.returncode == 3
    assert json.loads(res.stdout.splitlines()[0])["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in res.stdout + res.stderr


def test_mint_key_then_connect_with_it(emulator_url: str) -> None:
    minted = run_cli("mint-key", "--base-url", emulator_url, "--api-key", "sk-right",
                     "--ttl", "60", "--instructions", "Be brief.")
    assert minted.returncode == 0, minted.stderr
    secret = minted.stdout.strip()
    assert re.fullmatch(r"ek_[0-9a-f]{32}", secret), minted.stdout
    assert "sk-right" not in minted.stdout + minted.stderr
    res = run_cli("chat", "--base-url", emulator_url, "--api-key", secret, "--text-only", "hi")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: hi\n"


def test_mint_key_json(emulator_url: str) -> None:
    res = run_cli("mint-key", "--json", "--base-url", emulator_url, "--api-key", "sk-right",
                  "--model", "gpt-realtime-mini")
    assert res.returncode == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["value"].startswith("ek_")
    assert isinstance(body["expires_at"], int)
    assert body["session"]["model"] == "gpt-realtime-mini"


def test_mint_key_wrong_key_exits_3(emulator_url: str) -> None:
    res = run_cli("mint-key", "--base-url", emulator_url, "--api-key", "sk-wrong")
    assert res.returncode == 3
    assert "HTTP 401" in res.stderr and "invalid_api_key" in res.stderr
    assert "sk-wrong" not in res.stdout + res.stderr


def test_mint_key_on_the_embedded_emulator() -> None:
    res = run_cli("mint-key")
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"ek_[0-9a-f]{32}\n", res.stdout)
    assert len(EMULATOR_NOTICE.findall(res.stderr)) == 1


def test_openai_base_url_without_key_is_used(emulator_url: str) -> None:
    # OPENAI_BASE_URL alone picks that server (no embedded emulator); it requires a key
    from .helpers import child_env

    env = child_env(OPENAI_BASE_URL=emulator_url, OPENAI_API_KEY="sk-right")
    res = run_cli("chat", "--text-only", "hi", env=env)
    assert res.returncode == 0, res.stderr
    assert EMULATOR_NOTICE.search(res.stderr) is None
    assert "sk-right" not in res.stdout + res.stderr


def test_exact_url_and_azure_endpoint(emulator_url: str) -> None:
    origin = emulator_url.removesuffix("/v1")
    ws_url = "ws" + origin.removeprefix("http") + "/v1/realtime?model=gpt-realtime"
    res = run_cli("chat", "--url", ws_url, "--api-key", "sk-right", "--text-only", "hi")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: hi\n"
    azure = run_cli("chat", "--azure-endpoint", origin, "--deployment", "gpt-realtime",
                    "--api-key", "sk-right", "--text-only", "hi")
    assert azure.returncode == 0, azure.stderr
    assert azure.stdout == "You said: hi\n"
    refused = run_cli("chat", "--azure-endpoint", origin, "--api-key", "sk-wrong", "hi")
    assert refused.returncode == 3
    assert "HTTP 401" in refused.stderr and "sk-wrong" not in refused.stderr


def test_lines_from_a_pipe_are_turns(emulator_url: str) -> None:
    res = run_cli("chat", "--base-url", emulator_url, "--api-key", "sk-right", "--text-only",
                  stdin="one\n\ntwo\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "You said: one\nYou said: two\n"
    assert res.stderr.count("[first text") == 2
