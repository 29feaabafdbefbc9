"""DNS rebinding in headless Chromium: a host-resolver rule makes `rebind.test` (a name the
relay does not own) and `console.test` (one it was told to answer to) resolve to 127.0.0.1. A
page served under the foreign name gets nothing from the relay: not the console, not a client
secret, not a session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openai_realtime_ws.emulator import EmulatorConfig, EmulatorThread

from .conftest import launch, relay_process

KEY = "sk-" + "rebindtest-0123456789"

_PROBE = """async () => {
    const secret = await fetch("/client_secrets", {method: "POST", body: "{}",
                                                   headers: {"content-type": "application/json"}});
    const ws = new WebSocket(`ws://${location.host}/realtime`);
    const opened = await new Promise((resolve) => {
        ws.onmessage = (e) => resolve(JSON.parse(e.data).type);
        ws.onclose = (e) => resolve(`closed ${e.code}`);
    });
    ws.close();
    return {secret: secret.status, secretBody: await secret.text(), opened};
}"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(api_key=KEY, config=EmulatorConfig(speed=0)) as emu:
        yield emu


def test_a_rebound_name_gets_nothing_and_the_configured_one_works(
        emulator: EmulatorThread) -> None:
    rules = "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP console.test 127.0.0.1"
    with relay_process(emulator.base_url, "--allowed-host", "console.test",
                       "--allowed-host", "127.0.0.1", api_key=KEY) as url, launch(rules) as browser:
        port = url.rstrip("/").rsplit(":", 1)[1]
        page: Any = browser.new_page()
        response = page.goto(f"http://rebind.test:{port}/")
        assert response.status == 403
        assert "does not answer to this Host" in page.content()
        probe = page.evaluate(_PROBE)
        assert probe["secret"] == 403 and "ek_" not in probe["secretBody"]
        assert probe["opened"] == "closed 1006"  # the upgrade was refused
        assert len(emulator.connections) == 0  # no upstream session, no secret minted

        response = page.goto(f"http://console.test:{port}/")
        assert response.status == 200
        assert "<title>" in page.content()
        probe = page.evaluate(_PROBE)
        assert probe["secret"] == 200 and probe["secretBody"].startswith('{"value":"ek_')
        assert probe["opened"] == "session.created"
