"""``python -m openai_realtime_ws``: the ``openai-realtime-ws`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
