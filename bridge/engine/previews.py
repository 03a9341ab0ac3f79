"""Streaming previews: the audio of finished frames, decoded in chunks while decoding goes on.

A frame is finished when every codebook has its code (:mod:`.delay_pattern`). Every
:data:`PREVIEW_EVERY_FRAMES` newly finished frames, they are EnCodec-decoded with
:data:`PREVIEW_CONTEXT_FRAMES` already-sent frames before them (decoded, then thrown away, so
EnCodec's LSTM and convolutions start warm) and handed on. A preview chunk is close to, not
exactly, the final audio, which is always decoded whole; frames left when decoding ends come
with the final audio only. The prompt's frames are never handed on.
"""

from __future__ import annotations

from typing import Callable

from . import delay_pattern
from .codec import codes_to_audio
from .loading import LoadedModel

#: New frames between two preview chunks (50 frames = 1 s of audio).
PREVIEW_EVERY_FRAMES = 50
#: Frames decoded before each preview chunk and thrown away, so EnCodec's LSTM and convolutions
#: start each chunk warmed up (a preview chunk is close to, not exactly, the final audio).
PREVIEW_CONTEXT_FRAMES = 25

PreviewChunk = Callable[["object"], None]  # np.ndarray (batch, channels, samples)


class Previewer:
    """Decodes finished frames in chunks while generation goes on and hands them on."""

    def __init__(self, lm: LoadedModel, callback: PreviewChunk, first: int, length: int,
                 every_frames: int = PREVIEW_EVERY_FRAMES, context_frames: int = PREVIEW_CONTEXT_FRAMES):
        """``first``: the sequence positions given before decoding (the start token, then the
        prompt's frames); ``length``: the whole sequence's."""
        self.lm = lm
        self.callback = callback
        self.delays = delay_pattern.codebook_delays(lm.num_codebooks, lm.channels)
        self.total_frames = delay_pattern.finished_frames(length - 1, self.delays)  # prompt included
        self.every = max(1, int(every_frames))
        self.context = max(0, int(context_frames))
        self.sent = first - 1  # frames already handed on (the prompt's never are)
        self.hop = lm.sr // lm.frame_rate

    def after(self, seq, filled_to: int) -> None:
        """Positions ``0..filled_to`` of ``seq (batch, codebooks, length)`` are final."""
        finished = min(delay_pattern.finished_frames(filled_to, self.delays), self.total_frames)
        if finished - self.sent >= self.every:  # the rest comes with the final audio
            self._send(seq, finished)

    def _send(self, seq, finished: int) -> None:
        begin = max(0, self.sent - self.context)
        audio = codes_to_audio(self.lm, delay_pattern.frames_between(seq, self.delays, begin, finished))
        skip = (self.sent - begin) * self.hop
        chunk = audio[:, :, skip:(finished - begin) * self.hop]
        self.sent = finished
        self.callback(chunk.float().cpu().numpy())
