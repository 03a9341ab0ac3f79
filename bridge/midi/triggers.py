"""Which incoming MIDI messages fire which configured trigger.

- note: a note-on with velocity > 0 (a note-on with velocity 0 is a note-off and never fires);
- cc: the controller's value crossing up to >= 64 (rising edge: a held button that repeats its
  value, or a knob turned further up, fires once);
- program: every program change with that number;
- a trigger with a channel only sees that channel; without one, any channel.
"""

from __future__ import annotations

from typing import Sequence

import mido

from .config import Trigger

CC_ON_THRESHOLD = 64


class TriggerMatcher:
    """Match messages against the triggers of the config; keeps the CC edge state."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self.triggers = tuple(triggers)
        self._cc_values: dict[tuple[int, int], int] = {}   # (channel, control) -> last value
        self._note_triggers = [t for t in self.triggers if t.kind == "note"]

    def match(self, msg: mido.Message) -> list[Trigger]:
        """The triggers ``msg`` fires, in config order (several may share one pad)."""
        if msg.type == "note_on":
            if msg.velocity == 0:
                return []
            return [t for t in self._note_triggers
                    if t.number == msg.note and _channel_ok(t, msg.channel)]
        if msg.type == "control_change":
            key = (msg.channel, msg.control)
            before = self._cc_values.get(key, 0)
            self._cc_values[key] = msg.value
            if not (msg.value >= CC_ON_THRESHOLD > before):
                return []
            return [t for t in self.triggers if t.kind == "cc" and t.number == msg.control
                    and _channel_ok(t, msg.channel)]
        if msg.type == "program_change":
            return [t for t in self.triggers if t.kind == "program" and t.number == msg.program
                    and _channel_ok(t, msg.channel)]
        return []

    def is_trigger_note(self, channel: int, note: int) -> bool:
        """True when (channel, note) belongs to a note trigger: such notes are not melody."""
        return any(t.number == note and _channel_ok(t, channel) for t in self._note_triggers)


def _channel_ok(trigger: Trigger, channel: int) -> bool:
    return trigger.channel is None or trigger.channel == channel
