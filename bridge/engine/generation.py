"""Generation with a loaded MusicGen: text, melody (chroma) and continuation (audio prompt).

The :class:`Engine` turns one request's conditioning into audio arrays. It knows nothing of
files, OSC or DAWs. Long clips (beyond the 30 s the models were trained on) are made by windowed
continuation: each new window is conditioned on the last seconds of what came before, moving by
``extend_stride_s`` like audiocraft's ``extend_stride``.

Decoding (:mod:`.decoders`) reports each step; a progress hook that raises stops generation
within one decoding step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .codec import audio_to_codes
from .decoders import DECODERS
from .loading import LoadedModel

#: Longest window the models handle (their training length), in seconds.
WINDOW_S = 30.0
#: How far each extra window moves when a clip is longer than a window, in seconds.
EXTEND_STRIDE_S = 18.0
#: Longest clip the engine makes, in seconds.
MAX_DURATION_S = 300.0
MAX_VARIATIONS = 8


class Cancelled(Exception):
    """Raised by a progress hook to stop a generation; no output is produced."""


ProgressHook = Callable[[float], None]


@dataclass
class Sampling:
    """Sampling parameters, named as in the Replicate MusicGen API."""

    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg: float = 3.0  # classifier-free guidance scale (the protocol's name); <= 1: none
    greedy: bool = False  # argmax decoding (tests and decoder comparisons)


@dataclass
class Conditioning:
    """What a generation is conditioned on, already at the model's rate and channel layout."""

    prompt: str = ""
    chroma: np.ndarray | None = None        # (frames, 12) one-hot at 7.8125 fps, melody models only
    prompt_audio: np.ndarray | None = None  # (channels, samples) at the model's sr: continuation


@dataclass
class GenerationOutput:
    audio: np.ndarray          # (variations, channels, samples) float32, new audio only
    sr: int
    seed: int
    prompt_samples: int        # samples of prompt audio actually used (after frame alignment)
    windows: int
    timings: dict = field(default_factory=dict)


class Engine:
    """Keeps one loaded model and generates with it. Not thread-safe: one job at a time."""

    def __init__(self, lm: LoadedModel, decoder: str = "transformers", cpu_int8: bool = False):
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
        self.loaded = lm  # named "loaded" for the callers (render, cli, daemon)
        self.decoder = decoder
        self._decode = DECODERS[decoder]
        #: The C step reads int8 copies of the decoder's weights (:mod:`.int8_switch`; set by
        #: ``build_engine`` only where it runs, ``cpu_int8_isa`` then naming the step).
        self.cpu_int8 = cpu_int8
        self.cpu_int8_isa: str | None = None

    @property
    def sr(self) -> int:
        return self.loaded.sr

    @property
    def channels(self) -> int:
        return self.loaded.channels

    def describe(self) -> dict:
        lm = self.loaded
        return {"model": lm.spec, "model_source": lm.source, "device": lm.device,
                "dtype": str(lm.dtype).replace("torch.", ""), "melody": lm.is_melody,
                "sr": lm.sr, "channels": lm.channels, "decoder": self.decoder, "cpu_int8": bool(self.cpu_int8_isa)}

    def generate(self, cond: Conditioning, duration_s: float, sampling: Sampling, *, seed: int,
                 variations: int = 1, hook: ProgressHook | None = None,
                 preview: Callable[[np.ndarray], None] | None = None) -> GenerationOutput:
        """Generate ``duration_s`` seconds of new audio, ``variations`` clips in one batch.

        ``preview`` (decoders that stream, e.g. ``fast``; ignored by others) is called while
        generation goes on, about every second of finished frames, with all the new audio so far:
        ``(variations, channels, samples)`` float32, growing from call to call. Preview audio is
        decoded in chunks and can differ very slightly from the final clip at chunk joins.
        """
        import torch

        lm = self.loaded
        if not (math.isfinite(duration_s) and 0 < duration_s <= MAX_DURATION_S):
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration_s}")
        if not 1 <= variations <= MAX_VARIATIONS:
            raise ValueError(f"variations must be 1-{MAX_VARIATIONS}, got {variations}")
        if cond.chroma is not None and not lm.is_melody:
            raise ValueError(f"model {lm.spec!r} takes no melody; load a melody model (e.g. --model melody)")
        t_start = time.perf_counter()
        hop = lm.sr // lm.frame_rate
        total_frames = int(math.ceil(duration_s * lm.frame_rate))
        new_samples = int(round(duration_s * lm.sr))

        prompt = None
        if cond.prompt_audio is not None:
            prompt = _align_prompt(cond.prompt_audio.astype(np.float32), hop)
        prompt_samples = 0 if prompt is None else prompt.shape[1]
        # Audio so far per variation: the prompt, then each window's new audio.
        history = None if prompt is None else np.repeat(prompt[None], variations, axis=0)
        made = []
        done_frames = 0
        windows = 0
        torch.manual_seed(int(seed))
        while done_frames < total_frames:
            remaining = total_frames - done_frames
            window_frames = int(WINDOW_S * lm.frame_rate)
            have_ctx = history is not None and history.shape[2] > 0
            if have_ctx:
                stride_frames = int(EXTEND_STRIDE_S * lm.frame_rate)
                ctx_frames = min(history.shape[2] // hop, window_frames - min(remaining, stride_frames))
                step_frames = min(remaining, window_frames - ctx_frames)
            else:
                ctx_frames = 0
                step_frames = min(remaining, window_frames)
            inputs = self._inputs(cond, variations, history, ctx_frames * hop,
                                  offset_s=(done_frames - ctx_frames) / lm.frame_rate + 0.0)
            base = done_frames
            max_new = step_frames + lm.num_codebooks // lm.channels - 1

            def on_step(step: int, _base=base, _n=step_frames, _steps=max_new) -> None:
                if hook is not None:
                    hook(min(1.0, (_base + _n * min(step, _steps) / _steps) / total_frames))

            extra = {}
            if preview is not None and getattr(self._decode, "supports_preview", False):
                window_chunks: list = []

                def on_chunk(chunk: np.ndarray, _made=made, _chunks=window_chunks) -> None:
                    _chunks.append(chunk)
                    so_far = np.concatenate(_made + _chunks, axis=2)[:, :, :new_samples]
                    preview(np.ascontiguousarray(so_far, dtype=np.float32))

                extra["preview"] = on_chunk
            if getattr(self._decode, "supports_keep_going", False):
                extra["keep_going"] = lambda _on_step=on_step, _steps=max_new: _on_step(_steps)
            if self.cpu_int8 and getattr(self._decode, "supports_cpu_int8", False):
                extra["cpu_int8"] = True
            with torch.inference_mode():
                out = self._decode(lm, inputs, max_new, sampling, on_step, **extra)
            audio = out.float().cpu().numpy()
            ctx_samples = ctx_frames * hop
            new = audio[:, :, ctx_samples:ctx_samples + step_frames * hop]
            if new.shape[2] < step_frames * hop:  # codec edge: pad the last few samples
                new = np.pad(new, ((0, 0), (0, 0), (0, step_frames * hop - new.shape[2])))
            made.append(new)
            history = new if history is None else np.concatenate([history, new], axis=2)
            done_frames += step_frames
            windows += 1
        audio = np.concatenate(made, axis=2)[:, :, :new_samples]
        if hook is not None:
            hook(1.0)
        elapsed = time.perf_counter() - t_start
        return GenerationOutput(audio=np.ascontiguousarray(audio, dtype=np.float32), sr=lm.sr, seed=int(seed),
                                prompt_samples=prompt_samples, windows=windows,
                                timings={"generate_s": round(elapsed, 3),
                                         "realtime_factor": round(duration_s / elapsed, 3) if elapsed > 0 else None})

    def _inputs(self, cond: Conditioning, batch: int, history: np.ndarray | None, ctx_samples: int,
                offset_s: float) -> dict:
        """Model inputs for one window: text, chroma slice and audio context."""
        import torch

        lm = self.loaded
        tok = lm.tokenizer([cond.prompt] * batch, padding=True, return_tensors="pt")
        inputs = {"input_ids": tok["input_ids"].to(lm.device),
                  "attention_mask": tok["attention_mask"].to(lm.device)}
        if ctx_samples > 0 and history is not None:
            ctx = history[:, :, history.shape[2] - ctx_samples:]
            inputs["decoder_input_ids"] = audio_to_codes(lm, ctx)
        if cond.chroma is not None:
            from ..melody import CHROMA_FPS

            start = int(round(max(0.0, offset_s) * CHROMA_FPS))
            chroma = cond.chroma
            if start >= chroma.shape[0]:  # melody shorter than the clip: it loops, as the model does
                start %= chroma.shape[0]
            chroma = chroma[start:] if start else chroma
            feats = torch.from_numpy(np.ascontiguousarray(chroma[None].repeat(batch, axis=0)))
            inputs["input_features"] = feats.to(lm.device, lm.dtype)
        return inputs


def _align_prompt(prompt: np.ndarray, hop: int) -> np.ndarray:
    """Drop samples from the start so the prompt is a whole number of codec frames."""
    usable = (prompt.shape[1] // hop) * hop
    if usable <= 0:
        raise ValueError(f"the audio region is too short to continue (under {hop} samples)")
    return prompt[:, prompt.shape[1] - usable:]
