"""Audio in and out for Realtime sessions: sources, sinks, conversion.

* Sources (async iterators of 20 ms PCM16 24 kHz mono frames): :class:`Microphone`,
  :func:`wav_frames`, :func:`raw_frames`, :func:`pcm_frames` (any iterable of PCM at any rate).
* Sinks (assistant audio, with per-part playback tracking and ``interrupt()``): :class:`Speaker`,
  :class:`PacedSink` (a virtual real-time device), :class:`WavSink`.
* Conversion: :class:`Resampler` (streaming, state kept across chunks; soxr with the ``audio``
  extra, pure Python without), G.711 μ-law / A-law (:func:`pcm16_to_ulaw`, :func:`ulaw_to_pcm16`,
  :func:`pcm16_to_alaw`, :func:`alaw_to_pcm16`), WAV helpers.

The microphone and speaker need ``pip install 'openai-realtime-ws[audio]'`` (sounddevice); the
rest needs nothing beyond the client.
"""

from ..core.g711 import (
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from ..core.playback import PartPlayback, PlaybackQueue, PlaybackStop, barge_in_events
from ._devices import AudioDeviceError, Microphone, Speaker
from ._resample import Resampler, soxr_available
from ._sinks import AudioSink, PacedSink, WavSink
from ._sources import pcm_frames, raw_frames, wav_frames
from ._wav import (
    API_RATE,
    BYTES_PER_SECOND,
    downmix,
    read_wav_pcm16_24k,
    resample_linear,
    to_int16_samples,
    write_wav_pcm16_24k,
)

__all__ = [
    "API_RATE",
    "BYTES_PER_SECOND",
    "AudioDeviceError",
    "AudioSink",
    "Microphone",
    "PacedSink",
    "PartPlayback",
    "PlaybackQueue",
    "PlaybackStop",
    "Resampler",
    "Speaker",
    "WavSink",
    "alaw_to_pcm16",
    "barge_in_events",
    "downmix",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "pcm_frames",
    "raw_frames",
    "read_wav_pcm16_24k",
    "resample_linear",
    "soxr_available",
    "to_int16_samples",
    "ulaw_to_pcm16",
    "wav_frames",
    "write_wav_pcm16_24k",
]
