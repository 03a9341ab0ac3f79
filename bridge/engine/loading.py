"""Loading a MusicGen checkpoint once, with one-line errors when it cannot be had."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from .specs import APPROX_PARAMS_B, SHORT_NAMES, pick_device, pick_dtype, resolve_model_spec

log = logging.getLogger("bridge.engine")


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names it and says what to do."""


@dataclass
class LoadedModel:
    """A loaded model and what the rest of the engine needs to know about it."""

    spec: str            # what the user asked for (short name, hub id or folder)
    source: str          # hub id or absolute folder
    model: Any           # MusicgenForConditionalGeneration | MusicgenMelodyForConditionalGeneration
    tokenizer: Any
    device: str
    dtype: Any
    is_melody: bool
    sr: int              # output sample rate (32000)
    channels: int        # 1 or 2
    frame_rate: int      # codec frames per second (50)
    num_codebooks: int   # decoder codebooks (4 mono, 8 stereo)
    max_positions: int   # decoder max_position_embeddings (2048)

    def is_named(self, spec: str) -> bool:
        """Whether ``spec`` names this model (its short name, hub id or folder all count)."""
        if spec in (self.spec, self.source):
            return True
        try:
            return resolve_model_spec(spec)[0] == self.source
        except (KeyError, ValueError, FileNotFoundError):
            return False


def quiet_transformers() -> None:
    """Keep transformers' warnings and progress bars out of the user's terminal and logs (a
    first download turns the hub's progress bars back on: :func:`download_progress`).

    Through the libraries' functions, not ``HF_HUB_DISABLE_PROGRESS_BARS``: that variable would
    forbid turning them on again for the download."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
        from huggingface_hub.utils import disable_progress_bars
        from huggingface_hub.utils import logging as hlog

        hlog.set_verbosity_error()
        disable_progress_bars()
    except Exception:  # pragma: no cover - older releases
        pass


def download_note(spec: str, source: str) -> str:
    """The line printed before a first download: what, from where, how big, into which folder."""
    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except Exception:  # pragma: no cover - older releases
        cache = "the Hugging Face cache"
    params_b = APPROX_PARAMS_B.get(spec)
    size = f" (about {params_b * 4:.1f} GB)" if params_b else ""
    return (f"downloading {source} from the Hugging Face hub{size} into {cache}; only this once, "
            "later runs load it from there")


@contextlib.contextmanager
def download_progress(spec: str, source: str, stream=None):
    """Show the hub's progress bars (size, rate, time left) while the first download runs."""
    print(download_note(spec, source), file=stream or sys.stderr, flush=True)
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
        from transformers.utils import logging as tlog

        was_disabled = are_progress_bars_disabled()
        enable_progress_bars()
        tlog.enable_progress_bar()
    except Exception:  # pragma: no cover - older releases
        yield
        return
    try:
        yield
    finally:
        if was_disabled:
            quiet_transformers()


def load_model(spec: str, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """Load ``spec`` (short name, hub id or local folder in the hub layout) onto a device."""
    quiet_transformers()
    hint = ("pass --model PATH to a local copy in the hub layout, or build an offline test model "
            "with `musicgen-bridge make-test-model DIR`")
    try:
        source, is_local = resolve_model_spec(spec)
    except KeyError:
        raise ModelLoadError(f"unknown model {spec!r}: use one of {', '.join(SHORT_NAMES)}, "
                             f"a hub id like facebook/musicgen-small, or a folder; {hint}") from None
    except (FileNotFoundError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model {spec!r}: {exc}; {hint}") from None
    try:
        device = pick_device(device)
        torch_dtype = pick_dtype(device, dtype)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None

    import torch
    from transformers import AutoConfig, AutoTokenizer

    # Hub ids: the local cache first (no network needed once downloaded), then the hub, but only
    # when it answers at all (otherwise the hub client retries for half a minute).
    kwargs = {} if is_local else {"local_files_only": True}
    try:
        config = AutoConfig.from_pretrained(source, **kwargs)
    except Exception as exc:
        if is_local or _offline():
            raise ModelLoadError(_fetch_failed(spec, source, exc, hint)) from None
        if not _hub_reachable():
            raise ModelLoadError(f"cannot load model {spec!r} ({source}): not in the local cache and "
                                 f"the Hugging Face hub is unreachable; {hint}") from None
        kwargs = {}
        try:
            config = AutoConfig.from_pretrained(source)
        except Exception as exc2:
            raise ModelLoadError(_fetch_failed(spec, source, exc2, hint)) from None
    # not in the cache: the weights come from the hub now, with progress bars
    downloading = download_progress(spec, source) if kwargs == {} and not is_local else contextlib.nullcontext()
    model_type = getattr(config, "model_type", "")
    if model_type not in ("musicgen", "musicgen_melody"):
        raise ModelLoadError(f"{spec!r} is not a MusicGen checkpoint (model_type {model_type!r})")
    is_melody = model_type == "musicgen_melody"
    if is_melody:
        from transformers import MusicgenMelodyForConditionalGeneration as cls
    else:
        from transformers import MusicgenForConditionalGeneration as cls
    try:
        with downloading:
            model = cls.from_pretrained(source, dtype=torch_dtype, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except Exception as exc:
        raise ModelLoadError(_fetch_failed(spec, source, exc, hint)) from None
    try:
        model.to(device)
    except Exception as exc:  # out of memory, a GPU this torch has no kernels for, a driver error
        del model
        from .memory import release

        release(device)
        raise ModelLoadError(device_error_line(exc, spec, device)) from None
    model.eval()
    dec = model.config.decoder
    audio_cfg = model.config.audio_encoder
    loaded = LoadedModel(
        spec=spec, source=source, model=model, tokenizer=tokenizer, device=device, dtype=torch_dtype,
        is_melody=is_melody, sr=int(audio_cfg.sampling_rate), channels=int(dec.audio_channels),
        frame_rate=int(round(audio_cfg.frame_rate)), num_codebooks=int(dec.num_codebooks),
        max_positions=int(dec.max_position_embeddings),
    )
    log.info("model %s loaded from %s on %s (%s)", spec, source, device, str(torch_dtype).replace("torch.", ""))
    return loaded


def device_error_line(exc: BaseException, spec: str, device: str) -> str:
    """One line for a failure to put the model on ``device``, saying what to do."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if "out of memory" in low or type(exc).__name__ == "OutOfMemoryError":
        return (f"not enough memory on {device} to load {spec!r}: use a smaller model, --dtype fp16 "
                f"(or bf16), close what else uses the GPU, or --device cpu")
    if "no kernel image" in low or "not compatible with the current pytorch" in low or "sm_" in low:
        return (f"this GPU is not supported by the installed torch build ({text[:120]}): install the CUDA "
                "build that supports it (docs/install.md, GPU), or use --device cpu")
    if "driver" in low:
        return (f"the NVIDIA driver cannot run this torch build ({text[:120]}): update the driver or install "
                "the torch build for your driver (docs/install.md, GPU), or use --device cpu")
    return f"cannot put model {spec!r} on {device}: {text[:200] or type(exc).__name__}; try --device cpu"


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the hub endpoint accepts a TCP connection within ``timeout_s``."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "0") not in ("0", "", "false")


def _fetch_failed(spec: str, source: str, exc: Exception, hint: str) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return (f"cannot load model {spec!r} ({source}): weights not found locally and not downloadable "
            f"({reason}); {hint}")
