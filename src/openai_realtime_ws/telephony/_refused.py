# The Twilio bridge's refusal: raised by its checks and by an `authenticate` hook, answered with an
# HTTP status by whichever server holds the socket (the ASGI app in twilio.py, the standalone
# picows server in _server.py). Its own module so that both import it and neither imports the other.
from __future__ import annotations

__all__ = ["TwilioRefused"]


class TwilioRefused(Exception):
    """Raise from an ``authenticate`` hook to refuse a request with an HTTP ``status`` and a
    ``message`` the caller may see."""

    def __init__(self, status: int = 403, message: str = "Refused.") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
