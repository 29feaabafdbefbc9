# The asyncio side that every shell over core/voice_turn.py shares (VoiceSession, the Twilio
# bridge's TwilioCall, SIP's SipCall): the named timers VoiceTurn asks for (ArmTimer /
# CancelTimer, fired back into turn.timer_fired) and the application's respond()/say(). What
# "play", "stop playback" and "send" mean differs per shell: each carries out those actions in
# its own _do(), and hands timer actions to _timer().
from __future__ import annotations

import asyncio
from typing import Any

from .core.voice_turn import Action, ArmTimer, CancelTimer, VoiceTurn, _get, turn_detection_of

__all__ = ["TurnShell"]

# the server events VoiceTurn reads the session's turn_detection with
_SPEECH_EVENTS = frozenset(("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"))


class TurnShell:
    """Mixin: the shell sets ``turn`` (a :class:`VoiceTurn`) and ``_timers = {}`` and defines
    ``_do(actions)``."""

    turn: VoiceTurn
    _timers: dict[str, asyncio.TimerHandle]

    def _do(self, actions: list[Action]) -> None:  # pragma: no cover - every shell defines it
        raise NotImplementedError

    def _feed_turn(self, event: Any, *, playing: bool, rt: Any) -> None:
        """One server event through the turn rules, its actions carried out; ``rt.session``'s
        turn_detection is read only for the speech events (not per audio delta)."""
        td = turn_detection_of(rt.session) if _get(event, "type") in _SPEECH_EVENTS else None
        self._do(self.turn.on_event(event, playing=playing, turn_detection=td))

    def respond(self, **response: Any) -> bool:
        """Ask for a response (``response.create`` parameters as keywords), through the
        one-active-response sequencer: sent now, or after the active response ends
        (out-of-band ones, ``conversation="none"``, always now). Returns whether it was sent now."""
        actions = self.turn.respond(response or None)
        self._do(actions)
        return bool(actions)

    def say(self, text: str, **response: Any) -> bool:
        """Add a user text message (a typed line, a DTMF choice, a note from your backend) and ask
        for a reply (as :meth:`respond`). Returns whether the reply was asked for now."""
        actions = self.turn.say(text, response or None)
        self._do(actions)
        return len(actions) > 1

    def _timer(self, action: ArmTimer | CancelTimer) -> None:
        """Carry out a timer action on the running loop."""
        handle = self._timers.pop(action.name, None)
        if handle is not None:
            handle.cancel()
        if isinstance(action, ArmTimer):
            self._timers[action.name] = asyncio.get_running_loop().call_later(
                action.seconds, self._timer_fired, action.name)

    def _timer_fired(self, name: str) -> None:
        self._timers.pop(name, None)
        self._do(self.turn.timer_fired(name))

    def _cancel_timers(self) -> None:
        """The shell is closing: no timer fires after this."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
