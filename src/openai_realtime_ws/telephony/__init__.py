"""Telephony: join phone calls to Realtime sessions.

:class:`TwilioBridge` is an ASGI app (``pip install 'openai-realtime-ws[telephony]'``) for Twilio
Media Streams: caller audio in, assistant audio out, both G.711 μ-law 8 kHz passed through
without conversion (``audio/pcmu``), barge-in driven by Twilio's ``mark`` echoes and ``clear``.
The protocol rules are Sans-I/O in :mod:`openai_realtime_ws.core.twilio`.
"""

from ..core.twilio import TwilioProtocolError, TwilioStart, TwilioStream
from .twilio import TwilioBridge, twiml_connect_stream

__all__ = ["TwilioBridge", "TwilioProtocolError", "TwilioStart", "TwilioStream", "twiml_connect_stream"]
