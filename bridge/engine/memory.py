"""How much memory a generation needs, how much the device has free, and cleaning up after an
out-of-memory error.

The weights are already loaded when a job is admitted, so what a job adds is what grows with it:
the decoder's key/value cache (rows x positions x layers x 2 x hidden x bytes; rows are the
variations, doubled for classifier-free guidance), the cross-attention cache, the logits of a
step, and EnCodec's activations when the codes become audio. :func:`job_bytes` is a pure function
of those sizes, so it is tested without a GPU; ``bench/gpu_check.py`` compares it with the peak
measured on a real GPU.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass

#: Audio frames per second of the codec (32 kHz / hop 640).
FRAME_RATE = 50
#: Decoder positions of one window (30 s + the delay pattern), at most max_position_embeddings.
WINDOW_S = 30.0
#: T5 tokens per prompt character, rounded up (English text runs about 4 characters a token).
TOKENS_PER_CHAR = 1 / 3
#: Melody models put this many chroma frames before the decoder input.
CHROMA_FRAMES = 235
#: EnCodec's decoder holds about this many float32 values per output sample at its peak (its last
#: upsampling blocks run 32-64 channels at the full rate; two buffers live at once).
ENCODEC_VALUES_PER_SAMPLE = 64
#: A job is refused when its estimate exceeds this share of the free memory.
HEADROOM = 0.9


@dataclass(frozen=True)
class DecoderSize:
    """What the estimate needs to know about a model's decoder."""

    layers: int
    hidden: int
    codebooks: int
    vocab: int
    max_positions: int
    bytes_per_value: int  # 4 fp32, 2 fp16/bf16
    sr: int = 32000
    channels: int = 1
    is_melody: bool = False

    @classmethod
    def of(cls, lm) -> "DecoderSize":
        """From a :class:`~bridge.engine.loading.LoadedModel`."""
        dec = lm.model.config.decoder
        itemsize = getattr(lm.dtype, "itemsize", None) or 4
        return cls(layers=dec.num_hidden_layers, hidden=dec.hidden_size, codebooks=dec.num_codebooks,
                   vocab=dec.vocab_size, max_positions=dec.max_position_embeddings, bytes_per_value=itemsize,
                   sr=lm.sr, channels=lm.channels, is_melody=lm.is_melody)


def job_bytes(size: DecoderSize, *, duration_s: float, variations: int, guidance: bool,
              prompt_s: float = 0.0, prompt_chars: int = 0) -> int:
    """Bytes a generation adds on top of the loaded weights (an estimate, high rather than low)."""
    rows = variations * (2 if guidance else 1)
    window_s = min(duration_s + prompt_s, WINDOW_S)
    positions = int(window_s * FRAME_RATE) + size.codebooks + (CHROMA_FRAMES if size.is_melody else 0)
    positions = min(positions, size.max_positions)
    kv = 2 * size.layers * rows * positions * size.hidden * size.bytes_per_value
    text_tokens = int(prompt_chars * TOKENS_PER_CHAR) + 8
    cross = 2 * size.layers * rows * text_tokens * size.hidden * size.bytes_per_value
    logits = rows * size.codebooks * size.vocab * 4 * 4  # fp32 logits, softmax and sampling copies
    samples = int((duration_s + prompt_s) * size.sr) * size.channels
    codec = variations * samples * ENCODEC_VALUES_PER_SAMPLE * 4
    return kv + cross + logits + codec


def free_bytes(device: str) -> int | None:
    """Memory the device can still give this process, or None when it cannot be known here."""
    try:
        if device.startswith("cuda"):
            import torch

            free, _total = torch.cuda.mem_get_info(torch.device(device))
            return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
        if device == "mps":
            import torch

            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        return _free_system_bytes()
    except Exception:  # an API this torch lacks, a driver error: no check rather than a wrong one
        return None


def _free_system_bytes() -> int | None:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            return None
    if os.name == "nt":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total_phys", ctypes.c_ulonglong),
                        ("avail_phys", ctypes.c_ulonglong), ("total_page", ctypes.c_ulonglong),
                        ("avail_page", ctypes.c_ulonglong), ("total_virtual", ctypes.c_ulonglong),
                        ("avail_virtual", ctypes.c_ulonglong), ("avail_ext", ctypes.c_ulonglong)]

        status = MemoryStatus(length=ctypes.sizeof(MemoryStatus))
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.avail_phys)
    return None  # macOS CPU: unified memory, no cheap reliable figure; no check


def fits(needed: int, free: int | None) -> bool:
    """Whether a job needing ``needed`` bytes may start with ``free`` bytes free (unknown: yes)."""
    return free is None or needed <= free * HEADROOM


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (CUDA, MPS or CPU)."""
    oom = getattr(sys.modules.get("torch"), "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    text = str(exc).lower()
    return isinstance(exc, (MemoryError, RuntimeError)) and ("out of memory" in text or "failed to allocate" in text
                                                              or "mps backend out of memory" in text)


def release(device: str) -> None:
    """Give memory held by a failed job back (Python objects, then the device's cached blocks)."""
    gc.collect()
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
        elif device == "mps":
            torch.mps.empty_cache()
    except Exception:
        pass


def gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"
