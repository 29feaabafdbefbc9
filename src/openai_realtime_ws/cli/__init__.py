"""The ``openai-realtime-ws`` command line (``python -m openai_realtime_ws``); see docs/cli.md."""

from ._app import main

__all__ = ["main"]
