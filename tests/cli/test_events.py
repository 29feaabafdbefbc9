"""`events`, `--record` and `replay`: a session recorded on the embedded emulator replays offline
with the same server events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .helpers import run_cli

USER_ITEM = json.dumps({"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "ping"}]}})
TEXT_RESPONSE = json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}})


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_events_record_and_replay_round_trip(tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl"
    res = run_cli("events", "--emulator-speed", "0", "--send", USER_ITEM, "--send",
                  TEXT_RESPONSE, "--until", "response.done", "--record", str(record))
    assert res.returncode == 0, res.stderr
    printed = _lines(res.stdout)
    types = [e["type"] for e in printed]
    assert types[0] == "session.created"
    assert types[-1] == "response.done"
    assert "response.output_text.delta" in types
    text = "".join(e["delta"] for e in printed if e["type"] == "response.output_text.delta")
    assert text == "You said: ping"

    entries = _lines(record.read_text())
    assert entries[0]["direction"] == "meta"
    assert all(set(e) == {"direction", "t", "event"} for e in entries)
    assert [e["event"]["type"] for e in entries if e["direction"] == "client"] == [
        "conversation.item.create", "response.create"]
    recorded = [e["event"]["type"] for e in entries if e["direction"] == "server"]
    assert recorded == types
    offsets = [e["t"] for e in entries[1:]]
    assert offsets == sorted(offsets)

    replay_record = tmp_path / "replay.jsonl"
    again = run_cli("replay", str(record), "--emulator-speed", "0", "--record", str(replay_record))
    assert again.returncode == 0, again.stderr
    assert [e["type"] for e in _lines(again.stdout)] == types
    replayed = _lines(replay_record.read_text())
    assert [e["event"] for e in replayed if e["direction"] == "client"] == [
        e["event"] for e in entries if e["direction"] == "client"]

    only = run_cli("replay", str(record), "--emulator-speed", "0", "--type",
                   "response.output_text.*")
    assert only.returncode == 0, only.stderr
    assert {e["type"] for e in _lines(only.stdout)} == {
        "response.output_text.delta", "response.output_text.done"}


def test_replay_reports_divergence(tmp_path: Path) -> None:
    record = tmp_path / "diverging.jsonl"
    lines = [
        {"direction": "server", "t": 0.0, "event": {"type": "session.created"}},
        {"direction": "client", "t": 0.1, "event": json.loads(USER_ITEM)},
        # the recording claims a response arrived without any response.create
        {"direction": "server", "t": 0.2, "event": {"type": "response.done"}},
    ]
    record.write_text("".join(json.dumps(line) + "\n" for line in lines))
    res = run_cli("replay", str(record), "--wait", "0.5", "--emulator-speed", "0")
    assert res.returncode == 1
    assert "the 1st response.done" in res.stderr
    assert "diverged" in res.stderr


def test_events_count_and_type_filter() -> None:
    res = run_cli("events", "--count", "1")
    assert res.returncode == 0, res.stderr
    assert [e["type"] for e in _lines(res.stdout)] == ["session.created"]
    filtered = run_cli("events", "--emulator-speed", "0", "--send", USER_ITEM, "--type",
                       "conversation.*", "--exclude", "*.done", "--until", "conversation.item.done")
    assert filtered.returncode == 0, filtered.stderr
    assert [e["type"] for e in _lines(filtered.stdout)] == ["conversation.item.added"]


def test_events_invalid_event_is_refused_before_sending() -> None:
    bad = json.dumps({"type": "session.update", "session": {"modalities": ["text"]}})
    res = run_cli("events", "--send", bad)
    assert res.returncode == 2
    assert "--send event 1" in res.stderr


def test_replay_of_a_bad_file_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    res = run_cli("replay", str(bad))
    assert res.returncode == 1
    assert res.stderr.startswith("openai-realtime-ws: error: ")
    assert res.stderr.count("\n") == 1


def test_events_prints_the_servers_exact_json() -> None:
    # the real API (and the emulator) send nulls such as status_details; a re-encoded typed
    # event would drop them: `events` prints what the server sent
    proc = run_cli("events", "--send", '{"type":"response.create","response":{"output_modalities":["text"]}}',
                   "--until", "response.done", "--type", "response.done")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["type"] for e in lines] == ["response.done"]
    assert "status_details" in lines[0]["response"] and lines[0]["response"]["status_details"] is None
