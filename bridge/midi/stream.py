"""Raw MIDI bytes -> mido messages, the way a wire (or a sloppy driver) delivers them.

mido's own tokenizer does not know running status and resets on a realtime byte in the middle of
a message, and mido's rtmidi input takes exactly one message per driver event. Ports can hand us
several messages in one event (CoreMIDI packets), messages without their status byte (running
status), clock bytes inside a note message or a sysex, and sysex split over several events. This
parser handles all of these, per port, and drops what it cannot make sense of.
"""

from __future__ import annotations

from typing import Iterable

import mido

# Data bytes that follow each status (upper nibble for channel messages).
_CHANNEL_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_COMMON_DATA_LEN = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_REALTIME = {0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF}   # 0xF9 and 0xFD are undefined
_SYSEX_START, _SYSEX_END = 0xF0, 0xF7

MAX_SYSEX_BYTES = 65536  # longer sysex is dropped (we never need it; a runaway stream must not grow)


class MidiStreamParser:
    """Feed raw bytes, get complete :class:`mido.Message` objects back.

    - running status: data bytes after a complete channel message reuse its status;
    - realtime bytes (clock, start, stop, ...) are returned where they occur, also inside another
      message or a sysex, without disturbing it;
    - system common messages and sysex cancel running status; a status byte inside a sysex ends it
      (the unterminated sysex is dropped);
    - stray data bytes (no status yet) and undefined status bytes are dropped.
    """

    def __init__(self) -> None:
        self._status = 0            # current (running) status, 0 = none
        self._data: list[int] = []
        self._need = 0              # data bytes the current status takes
        self._sysex: list[int] | None = None

    def reset(self) -> None:
        self.__init__()

    def feed(self, data: Iterable[int]) -> list[mido.Message]:
        out: list[mido.Message] = []
        for byte in data:
            if not 0 <= byte <= 0xFF:
                continue
            if byte >= 0xF8:
                if byte in _REALTIME:
                    out.append(mido.Message.from_bytes([byte]))
                continue
            if byte == _SYSEX_START:
                self._status, self._data, self._sysex = 0, [], []
                continue
            if byte == _SYSEX_END:
                if self._sysex is not None:
                    out.append(mido.Message("sysex", data=self._sysex))
                self._sysex = None
                self._status = 0
                continue
            if byte >= 0x80:
                self._sysex = None
                self._data = []
                if byte < 0xF0:
                    self._status, self._need = byte, _CHANNEL_DATA_LEN[byte & 0xF0]
                elif byte in _COMMON_DATA_LEN:
                    self._status, self._need = byte, _COMMON_DATA_LEN[byte]
                    if self._need == 0:
                        out.append(mido.Message.from_bytes([byte]))
                        self._status = 0
                else:  # 0xF4, 0xF5: undefined
                    self._status = 0
                continue
            # data byte
            if self._sysex is not None:
                if len(self._sysex) < MAX_SYSEX_BYTES:
                    self._sysex.append(byte)
                else:
                    self._sysex = None
                continue
            if not self._status:
                continue  # stray data byte
            self._data.append(byte)
            if len(self._data) == self._need:
                out.append(mido.Message.from_bytes([self._status, *self._data]))
                self._data = []
                if self._status >= 0xF0:
                    self._status = 0  # system common: no running status
        return out
