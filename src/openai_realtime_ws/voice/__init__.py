"""Voice agents: a live spoken conversation on a Realtime client in a few lines.

    async with VoiceSession(rt, source=Microphone(), sink=Speaker()) as voice:
        async for event in voice:
            print(event.type, event.text)

:class:`VoiceSession` pumps 20 ms microphone frames, plays assistant audio, barges in when the
user speaks (stop, drop, cancel, truncate at what was heard), keeps one in-band response at a
time and reports transcripts and per-turn latency as :class:`VoiceEvent`s.
"""

from ..core.playback import PlaybackStop
from ..core.responses import ResponseSequencer, is_benign_error
from .session import TurnLatency, VoiceEvent, VoiceSession

__all__ = [
    "PlaybackStop",
    "ResponseSequencer",
    "TurnLatency",
    "VoiceEvent",
    "VoiceSession",
    "is_benign_error",
]
