"""Telephony: join phone calls to Realtime sessions.

:class:`TwilioBridge` is an ASGI app (``pip install 'openai-realtime-ws[telephony]'``) and a
standalone server for Twilio Media Streams that serves only requests signed by Twilio
(``X-Twilio-Signature``): caller audio in, assistant audio out, both G.711 μ-law 8 kHz passed
through without conversion (``audio/pcmu``), barge-in driven by Twilio's ``mark`` echoes and
``clear``.
The protocol rules are Sans-I/O in :mod:`openai_realtime_ws.core.twilio`; the turn rules in
:mod:`openai_realtime_ws.core.voice_turn`. :class:`SipApp` answers OpenAI's SIP calls (the
``realtime.call.incoming`` webhook) and steers them over a sideband session.
"""

from ..core.twilio import TwilioDtmf, TwilioProtocolError, TwilioStart, TwilioStream
from .sip import SipApp, SipCall
from .twilio import TwilioBridge, TwilioCall, TwilioRefused, twiml_connect_stream

__all__ = [
    "SipApp",
    "SipCall",
    "TwilioBridge",
    "TwilioCall",
    "TwilioDtmf",
    "TwilioProtocolError",
    "TwilioRefused",
    "TwilioStart",
    "TwilioStream",
    "twiml_connect_stream",
]
