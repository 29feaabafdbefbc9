"""Exit codes and the CLI's own error type."""

from __future__ import annotations

__all__ = ["EXIT_CONNECTION", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CLIError"]

EXIT_OK = 0
EXIT_ERROR = 1
"""Any other failure (a failed response, an API error, a bad file)."""
EXIT_USAGE = 2
"""Bad command line (argparse's own code) or arguments the library refused."""
EXIT_CONNECTION = 3
"""The connection could not be opened or was lost, or the credential was refused."""
EXIT_INTERRUPTED = 130
"""A one-shot command stopped with Ctrl-C."""


class CLIError(Exception):
    """A failure reported as one line ``openai-realtime-ws: error: <message>`` and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
