"""Melody capture: played notes with their timing -> a phrase of notes in beats, quantized.

Two sources for the phrase a ``melody`` trigger uses:

- a *take*: ``arm_capture`` starts one (everything played from then on), pressing it again ends
  it; the take stays the melody until the next arm (arming and disarming without playing clears
  it). A ``melody`` trigger while armed ends the take and uses it.
- the *rolling buffer*: with no take, the notes that started in the last ``capture_beats`` beats
  before the trigger (``[midi] capture_bars`` bars).

Times come in as seconds (``time.monotonic()`` when the bytes arrived); beats are computed at
phrase time with the tempo then known (MIDI clock, else 120), from the phrase's first note.
Notes still held when the phrase ends (stuck notes, a lost note-off) end there. A note-on for a
pitch that is already sounding ends the sounding note and starts a new one; the pitch stops at
the note-off that balances the last note-on (so overlapping same-pitch notes from two hands or a
sequencer never leave a stuck note or a negative length).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

Note = tuple[int, float, float, int]   # (pitch, start_beats, length_beats, velocity)

SLOWEST_BPM = 20.0      # the rolling buffer keeps what the longest window could need at this tempo
MAX_NOTES = 4096        # per take and in the rolling buffer


@dataclass
class _Held:
    start_s: float
    velocity: int
    depth: int = 1      # note-ons not yet balanced by a note-off


@dataclass(frozen=True)
class _Played:
    start_s: float
    end_s: float
    pitch: int
    velocity: int


class PhraseCapture:
    """Record note-on/off with times; hand out the phrase for a melody trigger."""

    def __init__(self, rolling_beats: float = 16.0, max_notes: int = MAX_NOTES) -> None:
        self.rolling_beats = rolling_beats
        self.max_notes = max_notes
        self._held: dict[tuple[int, int], _Held] = {}       # (channel, pitch) -> sounding note
        self._rolling: deque[_Played] = deque(maxlen=max_notes)
        self._arm_s: float | None = None                    # armed since (None = not armed)
        self._take: list[_Played] | None = None             # None = no take

    # --- state ---------------------------------------------------------------------------------

    @property
    def armed(self) -> bool:
        return self._arm_s is not None

    @property
    def has_take(self) -> bool:
        return bool(self._take) or self.armed

    # --- input ---------------------------------------------------------------------------------

    def note_on(self, t_s: float, channel: int, pitch: int, velocity: int) -> None:
        """A note-on; velocity 0 is a note-off."""
        if velocity == 0:
            self.note_off(t_s, channel, pitch)
            return
        key = (channel, pitch)
        held = self._held.get(key)
        if held is not None:
            self._close(held, t_s, pitch)
            self._held[key] = _Held(start_s=t_s, velocity=velocity, depth=held.depth + 1)
        else:
            self._held[key] = _Held(start_s=t_s, velocity=velocity)
        self._prune(t_s)

    def note_off(self, t_s: float, channel: int, pitch: int) -> None:
        key = (channel, pitch)
        held = self._held.get(key)
        if held is None:
            return  # stray note-off (note started before we listened, or already balanced)
        held.depth -= 1
        if held.depth <= 0:
            del self._held[key]
            self._close(held, t_s, pitch)

    def all_notes_off(self, t_s: float) -> None:
        """End every sounding note now (CC 123 / 120, or a port that went away)."""
        for (channel, pitch), held in list(self._held.items()):
            self._close(held, t_s, pitch)
        self._held.clear()

    def toggle_arm(self, t_s: float) -> bool:
        """Start or end a take; returns True when now armed."""
        if self._arm_s is None:
            self._arm_s = t_s
            self._take = []
            return True
        take = list(self._take or [])
        for (_, pitch), held in self._held.items():
            take.append(_Played(max(held.start_s, self._arm_s), t_s, pitch, held.velocity))
        self._take = take[: self.max_notes] or None
        self._arm_s = None
        return False

    # --- output --------------------------------------------------------------------------------

    def phrase(self, t_s: float, bpm: float, quantize_beats: float) -> list[Note]:
        """The phrase to use as melody at time ``t_s``, in beats at ``bpm``, quantized.

        Ends a running take. Empty when nothing was played.
        """
        if self._arm_s is not None:
            self.toggle_arm(t_s)
        if self._take:
            played = list(self._take)
        elif self.rolling_beats > 0:
            window_start_s = t_s - self.rolling_beats * 60.0 / bpm
            played = [p for p in self._rolling if p.start_s >= window_start_s]
            played += [_Played(h.start_s, t_s, pitch, h.velocity)
                       for (_, pitch), h in self._held.items() if h.start_s >= window_start_s]
        else:
            played = []
        return to_beats(played, bpm, quantize_beats)

    # --- internals -----------------------------------------------------------------------------

    def _close(self, held: _Held, t_s: float, pitch: int) -> None:
        end_s = max(t_s, held.start_s)
        if self.rolling_beats > 0:
            self._rolling.append(_Played(held.start_s, end_s, pitch, held.velocity))
        if self._arm_s is not None and self._take is not None and len(self._take) < self.max_notes:
            self._take.append(_Played(max(held.start_s, self._arm_s), end_s, pitch, held.velocity))

    def _prune(self, now_s: float) -> None:
        """Forget what no rolling window can reach any more (also held notes that never ended)."""
        horizon_s = now_s - max(self.rolling_beats, 1.0) * 60.0 / SLOWEST_BPM
        while self._rolling and self._rolling[0].start_s < horizon_s:
            self._rolling.popleft()
        if self._arm_s is None:
            for key in [k for k, h in self._held.items() if h.start_s < horizon_s]:
                del self._held[key]


def to_beats(played: list[_Played], bpm: float, quantize_beats: float) -> list[Note]:
    """Seconds -> beats from the first note's start, snapped to the grid (0 = no quantization).

    Lengths are at least one grid step; two notes of one pitch that land on the same grid start
    become one (the longer).
    """
    if not played:
        return []
    origin_s = min(p.start_s for p in played)
    beats_per_s = bpm / 60.0
    q = quantize_beats
    notes: dict[tuple[int, float], Note] = {}
    for p in played:
        start_b = (p.start_s - origin_s) * beats_per_s
        end_b = (p.end_s - origin_s) * beats_per_s
        if q > 0:
            start_b = round(start_b / q) * q
            end_b = max(round(end_b / q) * q, start_b + q)
        start_b = round(start_b, 6)
        length_b = round(max(end_b - start_b, 0.0), 6)
        key = (p.pitch, start_b)
        if key not in notes or notes[key][2] < length_b:
            notes[key] = (p.pitch, start_b, length_b, p.velocity)
    return sorted(notes.values(), key=lambda n: (n[1], n[0]))
