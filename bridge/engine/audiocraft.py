"""Fine-tunes in audiocraft's format: detection, conversion to the transformers layout, cache.

Most community MusicGen fine-tunes are published as audiocraft saves them: ``state_dict.bin``,
a ``torch.save`` of ``{"best_state": <language model weights>, "xp.cfg": <YAML config>, ...}``,
often next to ``compression_state_dict.bin`` (which usually only names the official EnCodec).
transformers cannot load that. Conversion here: the fine-tune's language model replaces the
decoder (and the text/chroma projections) of the matching official checkpoint, whose T5 text
encoder, EnCodec, tokenizer and feature-extractor files come from the hub cache (or a local folder)
like any model; the result is saved in the hub layout.

Written by hand because no installed library does it: transformers' own conversion script
(``convert_musicgen_transformers.py``) needs audiocraft installed and handles only the official
sizes. The key mapping below follows the facts that script documents; the code is ours.

Key mapping, audiocraft -> transformers (``L`` = ``decoder.model.decoder.layers.<i>``)::

    emb.<k>.weight                          decoder.model.decoder.embed_tokens.<k>.weight
    transformer.layers.<i>.self_attn.in_proj_weight        L.self_attn.{q,k,v}_proj.weight (split in 3)
    transformer.layers.<i>.self_attn.out_proj.weight       L.self_attn.out_proj.weight
    transformer.layers.<i>.cross_attention.in_proj_weight  L.encoder_attn.{q,k,v}_proj.weight
    transformer.layers.<i>.cross_attention.out_proj.weight L.encoder_attn.out_proj.weight
    transformer.layers.<i>.linear1/linear2.weight          L.fc1/fc2.weight
    transformer.layers.<i>.norm1/norm_cross/norm2.*        L.self_attn_layer_norm/encoder_attn_layer_norm/final_layer_norm.*
    out_norm.*                              decoder.model.decoder.layer_norm.*
    linears.<k>.weight                      decoder.lm_heads.<k>.weight
    condition_provider.conditioners.description.output_proj.*   enc_to_dec_proj.*
    condition_provider.conditioners.self_wav.output_proj.*      audio_enc_to_dec_proj.*  (melody)
    condition_provider.conditioners.self_wav.chroma.*           dropped (the chroma filter bank)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable

LM_FILE = "state_dict.bin"
COMPRESSION_FILE = "compression_state_dict.bin"
MARKER = "musicgen_bridge_converted.json"
CACHE_ENV = "MUSICGEN_BRIDGE_CACHE_DIR"
PRETRAINED = "//pretrained/"

#: audiocraft -> transformers, inside one decoder layer (fused q/k/v handled apart)
_LAYER = {
    "self_attn.out_proj.weight": "self_attn.out_proj.weight",
    "cross_attention.out_proj.weight": "encoder_attn.out_proj.weight",
    "linear1.weight": "fc1.weight",
    "linear2.weight": "fc2.weight",
    "norm1.weight": "self_attn_layer_norm.weight",
    "norm1.bias": "self_attn_layer_norm.bias",
    "norm_cross.weight": "encoder_attn_layer_norm.weight",
    "norm_cross.bias": "encoder_attn_layer_norm.bias",
    "norm2.weight": "final_layer_norm.weight",
    "norm2.bias": "final_layer_norm.bias",
}
_FUSED = {"self_attn.in_proj_weight": "self_attn", "cross_attention.in_proj_weight": "encoder_attn"}
_TOP = {
    "out_norm.weight": "decoder.model.decoder.layer_norm.weight",
    "out_norm.bias": "decoder.model.decoder.layer_norm.bias",
}
_PROJ = {
    "condition_provider.conditioners.description.output_proj.": "enc_to_dec_proj.",
    "condition_provider.conditioners.self_wav.output_proj.": "audio_enc_to_dec_proj.",
}
_DROPPED = ("condition_provider.conditioners.self_wav.chroma.",)
_LAYER_RE = re.compile(r"^transformer\.layers\.(\d+)\.(.+)$")
_INDEXED_RE = re.compile(r"^(emb|linears)\.(\d+)\.weight$")
_LAYERS_PREFIX = "decoder.model.decoder.layers."

#: official checkpoints by (decoder width, melody, stereo), for fine-tunes whose config names none
_OFFICIAL = {
    (1024, False, False): "facebook/musicgen-small", (1536, False, False): "facebook/musicgen-medium",
    (2048, False, False): "facebook/musicgen-large", (1536, True, False): "facebook/musicgen-melody",
    (2048, True, False): "facebook/musicgen-melody-large",
    (1024, False, True): "facebook/musicgen-stereo-small", (1536, False, True): "facebook/musicgen-stereo-medium",
    (2048, False, True): "facebook/musicgen-stereo-large", (1536, True, True): "facebook/musicgen-stereo-melody",
    (2048, True, True): "facebook/musicgen-stereo-melody-large",
}


class ConversionError(RuntimeError):
    """The checkpoint cannot be converted; the one-line message says what is missing."""


# ---------------------------------------------------------------- detection


def find_checkpoint(spec: str) -> Path | None:
    """The audiocraft ``state_dict.bin`` that ``spec`` names (the file, or a folder holding it and
    no transformers ``config.json``), or None when ``spec`` is something else."""
    p = Path(os.path.expanduser((spec or "").strip()))
    try:
        if p.is_dir():
            if (p / LM_FILE).is_file() and not (p / "config.json").is_file():
                return (p / LM_FILE).resolve()
            return None
        if p.is_file() and p.suffix.lower() in (".bin", ".th", ".pt", ".pth"):
            return p.resolve()
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- mapping


def lm_to_transformers(lm_state: dict) -> dict:
    """Rename an audiocraft language model's weights to ``Musicgen*ForConditionalGeneration`` keys.

    Raises :class:`ConversionError` naming the first keys it does not know."""
    out: dict = {}
    unknown: list[str] = []
    for key, value in lm_state.items():
        if key.startswith(_DROPPED):
            continue
        m = _INDEXED_RE.match(key)
        if m:
            where = "decoder.model.decoder.embed_tokens" if m.group(1) == "emb" else "decoder.lm_heads"
            out[f"{where}.{m.group(2)}.weight"] = value
            continue
        m = _LAYER_RE.match(key)
        if m:
            layer, rest = m.groups()
            prefix = f"{_LAYERS_PREFIX}{layer}."
            if rest in _FUSED:
                if value.shape[0] % 3:
                    raise ConversionError(f"{key} has shape {tuple(value.shape)}, not three stacked projections")
                q, k, v = value.chunk(3, dim=0)
                for name, part in zip("qkv", (q, k, v)):
                    out[f"{prefix}{_FUSED[rest]}.{name}_proj.weight"] = part.clone()
                continue
            if rest in _LAYER:
                out[prefix + _LAYER[rest]] = value
                continue
        elif key in _TOP:
            out[_TOP[key]] = value
            continue
        else:
            proj = next((p for p in _PROJ if key.startswith(p)), None)
            if proj is not None:
                out[_PROJ[proj] + key[len(proj):]] = value
                continue
        unknown.append(key)
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise ConversionError(f"unknown weights {', '.join(unknown[:3])}{more}: not a MusicGen language "
                              "model as audiocraft saves it")
    return out


def transformers_to_lm(model_state: dict) -> dict:
    """The reverse of :func:`lm_to_transformers`: a transformers MusicGen's decoder and projections
    as audiocraft names them (the text encoder and EnCodec are left out, as audiocraft does).
    Used by the tests to make audiocraft-format checkpoints from the offline test model."""
    layer_back = {v: k for k, v in _LAYER.items()}
    top_back = {v: k for k, v in _TOP.items()}
    fused: dict[tuple[str, str], dict[str, object]] = {}
    out: dict = {}
    for key, value in model_state.items():
        if key.startswith(("text_encoder.", "audio_encoder.")) or key.endswith("embed_positions.weights"):
            continue
        if key.startswith("decoder.model.decoder.embed_tokens."):
            out["emb." + key.split(".")[-2] + ".weight"] = value
        elif key.startswith("decoder.lm_heads."):
            out["linears." + key.split(".")[-2] + ".weight"] = value
        elif key in top_back:
            out[top_back[key]] = value
        elif key.startswith(_LAYERS_PREFIX):
            layer, rest = key[len(_LAYERS_PREFIX):].split(".", 1)
            m = re.match(r"^(self_attn|encoder_attn)\.([qkv])_proj\.weight$", rest)
            if m:
                fused.setdefault((layer, m.group(1)), {})[m.group(2)] = value
            elif rest in layer_back:
                out[f"transformer.layers.{layer}.{layer_back[rest]}"] = value
            else:
                raise ConversionError(f"no audiocraft name for {key}")
        else:
            proj = next((p for p, t in _PROJ.items() if key.startswith(t)), None)
            if proj is None:
                raise ConversionError(f"no audiocraft name for {key}")
            out[proj + key[len(_PROJ[proj]):]] = value
    import torch

    fused_back = {v: k for k, v in _FUSED.items()}
    for (layer, attn), parts in fused.items():
        out[f"transformer.layers.{layer}.{fused_back[attn]}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


# ---------------------------------------------------------------- reading


def _torch_load(path: Path):
    """``torch.load`` without running pickled code; memory-mapped when the file allows it."""
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
        return torch.load(str(path), map_location="cpu", weights_only=True)


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """``(lm weights, config)`` from an audiocraft ``state_dict.bin``; one-line errors otherwise.

    Read with ``weights_only=True``: a checkpoint from the internet never runs Python code here."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConversionError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        pkg = _torch_load(path)
    except Exception as exc:  # truncated zip, foreign pickle, not a torch file at all
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ConversionError(f"{path} ({size} bytes) is truncated or not a PyTorch checkpoint "
                              f"that can be read safely ({reason})") from None
    if not isinstance(pkg, dict) or "best_state" not in pkg:
        raise ConversionError(f"{path} is not an audiocraft checkpoint: it has no 'best_state' "
                              "(audiocraft saves the language model's weights there)")
    state = pkg["best_state"]
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint rather than an exported one
    if not isinstance(state, dict) or not any(k.startswith("transformer.layers.") for k in state):
        raise ConversionError(f"{path} holds no MusicGen language model (no 'transformer.layers.' weights)")
    cfg: dict = {}
    raw = pkg.get("xp.cfg")
    if isinstance(raw, str):
        import yaml

        try:
            cfg = yaml.safe_load(raw) or {}
        except yaml.YAMLError:
            raise ConversionError(f"{path}: its config ('xp.cfg') is not valid YAML") from None
    elif isinstance(raw, dict):
        cfg = raw
    return state, cfg


def check_compression(folder: Path) -> str | None:
    """The EnCodec a ``compression_state_dict.bin`` names (None when there is none); a fine-tune
    bringing its own trained EnCodec weights is refused (not converted yet)."""
    path = folder / COMPRESSION_FILE
    if not path.is_file():
        return None
    try:
        pkg = _torch_load(path)
    except Exception:
        raise ConversionError(f"{path} is truncated or not a PyTorch checkpoint") from None
    if isinstance(pkg, dict) and isinstance(pkg.get("pretrained"), str):
        return pkg["pretrained"]
    raise ConversionError(f"{path} holds a fine-tuned EnCodec of its own; only fine-tunes using the "
                          "official EnCodec (facebook/encodec_32khz) can be converted")


def base_for(lm_state: dict, cfg: dict, override: str | None = None) -> str:
    """The official checkpoint (hub id or folder) that supplies text encoder, EnCodec and tokenizer:
    ``override``, else the ``continue_from: //pretrained/<name>`` the fine-tune started from, else
    the official model of the same width, melody and channel count."""
    if override:
        return override
    start = cfg.get("continue_from")
    if isinstance(start, str) and start.startswith(PRETRAINED):
        return start[len(PRETRAINED):]
    width = int(lm_state["out_norm.weight"].shape[0]) if "out_norm.weight" in lm_state else 0
    melody = any(k.startswith("condition_provider.conditioners.self_wav.") for k in lm_state)
    n_q = sum(1 for k in lm_state if _INDEXED_RE.match(k) and k.startswith("emb."))
    key = (width, melody, n_q == 8)
    if key not in _OFFICIAL:
        raise ConversionError(f"cannot tell which official MusicGen this fine-tune extends (width {width}, "
                              f"{n_q} codebooks, melody {melody}); name it with --base")
    return _OFFICIAL[key]


# ---------------------------------------------------------------- converting


def _base_folder(base: str) -> Path:
    """A local folder in the hub layout for ``base`` (a folder, or a hub id from the cache; the hub
    is asked only when online and it is not cached)."""
    p = Path(os.path.expanduser(base))
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ConversionError(f"base model folder {p} has no config.json (not in the hub layout)")
        return p
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
    try:
        return Path(snapshot_download(base, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    from .loading import _hub_reachable, _offline, download_progress

    if _offline() or not _hub_reachable():
        raise ConversionError(f"base model {base} (text encoder, EnCodec, tokenizer) is not in the "
                              "Hugging Face cache and the hub cannot be reached; load it once online")
    try:
        with download_progress(base, base):
            return Path(snapshot_download(base, allow_patterns=patterns))
    except Exception as exc:
        raise ConversionError(f"cannot download base model {base}: {str(exc).splitlines()[0][:120]}") from None


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, base: str | None = None,
            progress: Callable[[str], None] | None = None) -> Path:
    """Convert the audiocraft checkpoint ``src`` (file or folder) into the hub layout at ``dst``.

    ``dst`` appears complete or not at all (written next to it, then renamed)."""
    say = progress or (lambda _msg: None)
    ckpt = find_checkpoint(str(src))
    if ckpt is None:
        raise ConversionError(f"{src} is not an audiocraft checkpoint (no {LM_FILE}, or a folder that "
                              "already holds a transformers config.json)")
    dst = Path(os.path.expanduser(str(dst))).resolve()
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ConversionError(f"{dst} exists and is not empty")
    say(f"reading {ckpt}")
    lm_state, cfg = read_checkpoint(ckpt)
    check_compression(ckpt.parent)
    base = base_for(lm_state, cfg, base)
    folder = _base_folder(base)
    mapped = lm_to_transformers(lm_state)
    say(f"combining with {base}")

    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder))
    if config.model_type == "musicgen_melody":
        from transformers import MusicgenMelodyForConditionalGeneration as cls
    elif config.model_type == "musicgen":
        from transformers import MusicgenForConditionalGeneration as cls
    else:
        raise ConversionError(f"base model {base} is not a MusicGen checkpoint")
    model = cls.from_pretrained(str(folder), dtype=torch.float32)
    target = model.state_dict()
    expected = {k for k in target if not k.startswith(("text_encoder.", "audio_encoder."))
                and not k.endswith("embed_positions.weights")}
    missing = sorted(expected - set(mapped))
    extra = sorted(set(mapped) - expected)
    if missing or extra:
        what = (f"missing {', '.join(missing[:3])}" + (f" (+{len(missing) - 3})" if len(missing) > 3 else "")
                if missing else f"no place in {base} for {', '.join(extra[:3])}")
        raise ConversionError(f"{ckpt} does not fit base model {base}: {what}")
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ConversionError(f"{ckpt} does not fit base model {base}: {key} has shape "
                                  f"{tuple(value.shape)}, {base} has {tuple(target[key].shape)}")
    with torch.no_grad():
        for key, value in mapped.items():
            target[key].copy_(value.to(torch.float32))
    tmp = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    say(f"writing {dst}")
    try:
        model.save_pretrained(str(tmp))
        for f in folder.iterdir():  # tokenizer, feature extractor, processor, generation config
            if f.is_file() and f.suffix in (".json", ".model", ".txt") and not (tmp / f.name).exists():
                shutil.copyfile(f, tmp / f.name)
        (tmp / MARKER).write_text(json.dumps({
            "source": str(ckpt), "base": base, "converted": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }, indent=2))
        if dst.is_dir():
            dst.rmdir()
        os.replace(tmp, dst)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(f"cannot write {dst}: {exc.strerror or exc}") from None
    return dst


# ---------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Where converted fine-tunes are kept: ``$MUSICGEN_BRIDGE_CACHE_DIR`` or ``<state dir>/converted``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(os.path.expanduser(env))
    from ..config import default_state_dir

    return default_state_dir() / "converted"


def file_sha256(path: Path) -> str:
    """The checkpoint's SHA-256, remembered per (path, size, mtime) so a reload does not re-read
    gigabytes."""
    st = path.stat()
    index_path = cache_dir() / "hashes.json"
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    index[key] = h.hexdigest()
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_name(f".hashes.json.{os.getpid()}")
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, index_path)
    except OSError:
        pass
    return index[key]


def ensure_converted(spec: str, *, base: str | None = None,
                     progress: Callable[[str], None] | None = None) -> Path:
    """The converted folder for the audiocraft checkpoint ``spec``: from the cache when this exact
    checkpoint (by hash) was converted before, else converted now into the cache."""
    ckpt = find_checkpoint(spec)
    if ckpt is None:
        raise ConversionError(f"{spec} is not an audiocraft checkpoint")
    digest = file_sha256(ckpt)
    if base:
        digest = hashlib.sha256(f"{digest}\0{base}".encode()).hexdigest()
    dst = cache_dir() / digest[:24]
    if (dst / MARKER).is_file():
        return dst
    return convert(ckpt, dst, base=base, progress=progress)
