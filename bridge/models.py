"""The models a daemon can load: short names, cached hub models, the models folder, fine-tunes.

``/musicgen/models`` answers with :func:`catalogue`; ``/musicgen/load <name>`` and a request's
``model`` key go through :func:`resolve_name`, so a name from the list always loads. The models
folder (config ``models_dir``) holds one entry per model: a folder in the hub layout (``config.json``
...) or an audiocraft fine-tune (a folder with ``state_dict.bin``); its name is the entry's name.
Reading what a model is (melody, stereo, size) uses its files only, never loads weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .engine.audiocraft import LM_FILE, find_checkpoint
from .engine.specs import SHORT_NAMES

#: Bytes of one ``/musicgen/models`` reply at most (docs/protocol.md: datagrams under 8 kB).
REPLY_MAX_BYTES = 7000


@dataclass
class ModelEntry:
    name: str           # what /musicgen/load takes
    spec: str           # what load_model takes (short name, hub id or path)
    kind: str           # short | hub | folder | finetune
    melody: bool
    stereo: bool
    size_mb: float      # weights on disk (0 when not downloaded yet)
    loaded: bool = False


def default_models_dir() -> Path:
    return Path.home() / "Music" / "MusicGen Models"


def _flags_from_name(name: str) -> tuple[bool, bool]:
    return "melody" in name, "stereo" in name


def _folder_size_mb(folder: Path, patterns=("*.safetensors", "*.bin")) -> float:
    total = 0
    for pattern in patterns:
        for f in folder.glob(pattern):
            try:
                total += f.stat().st_size
            except OSError:
                pass
    return round(total / 1e6, 1)


def _hub_layout_entry(name: str, folder: Path, kind: str) -> ModelEntry | None:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if cfg.get("model_type") not in ("musicgen", "musicgen_melody"):
        return None
    channels = (cfg.get("decoder") or {}).get("audio_channels", 1)
    return ModelEntry(name=name, spec=str(folder), kind=kind, melody=cfg["model_type"] == "musicgen_melody",
                      stereo=channels == 2, size_mb=_folder_size_mb(folder))


def _finetune_entry(name: str, ckpt: Path) -> ModelEntry:
    melody, stereo = False, False
    try:  # the keys tell (memory-mapped: the weights are not read)
        import torch

        state = torch.load(str(ckpt), map_location="cpu", weights_only=True, mmap=True).get("best_state", {})
        melody = any(k.startswith("condition_provider.conditioners.self_wav.") for k in state)
        stereo = sum(1 for k in state if k.startswith("emb.")) == 8
    except Exception:
        pass  # listed all the same; loading it gives the one-line error
    try:
        size = round(ckpt.stat().st_size / 1e6, 1)
    except OSError:
        size = 0.0
    return ModelEntry(name=name, spec=str(ckpt.parent if ckpt.name == LM_FILE else ckpt), kind="finetune",
                      melody=melody, stereo=stereo, size_mb=size)


def folder_entries(models_dir: Path | None) -> list[ModelEntry]:
    """The models folder's entries, by name."""
    if models_dir is None or not Path(models_dir).is_dir():
        return []
    out = []
    for child in sorted(Path(models_dir).iterdir(), key=lambda p: p.name.lower()):
        if child.name.startswith("."):
            continue
        if child.is_dir() and (child / "config.json").is_file():
            entry = _hub_layout_entry(child.name, child, "folder")
        else:
            ckpt = find_checkpoint(str(child))
            entry = _finetune_entry(child.stem if child.is_file() else child.name, ckpt) if ckpt else None
        if entry is not None:
            out.append(entry)
    return out


def cached_hub_entries() -> list[ModelEntry]:
    """MusicGen repositories in the Hugging Face cache (no network)."""
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # no cache yet, or a cache this release cannot read
        return []
    out = []
    for repo in repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        rev = max(repo.revisions, key=lambda r: r.last_modified)
        entry = _hub_layout_entry(repo.repo_id, Path(rev.snapshot_path), "hub")
        if entry is not None:
            entry.spec = repo.repo_id
            out.append(entry)
    return out


def catalogue(models_dir: Path | None, loaded=None) -> list[ModelEntry]:
    """Everything loadable by name: short names (their cached size when downloaded), other cached
    hub models, the models folder, and the loaded model when it is none of these."""
    cached = {e.spec: e for e in cached_hub_entries()}
    entries: list[ModelEntry] = []
    for short, repo in SHORT_NAMES.items():
        melody, stereo = _flags_from_name(short)
        size = cached.pop(repo).size_mb if repo in cached else 0.0
        entries.append(ModelEntry(name=short, spec=short, kind="short", melody=melody, stereo=stereo, size_mb=size))
    entries += sorted(cached.values(), key=lambda e: e.name)
    entries += folder_entries(models_dir)
    if loaded is not None:
        hit = False
        for e in entries:
            if loaded.is_named(e.spec) or e.name == loaded.spec:
                e.loaded = hit = True
        if not hit:
            entries.append(ModelEntry(name=loaded.spec, spec=loaded.spec, kind="folder", melody=loaded.is_melody,
                                      stereo=loaded.channels == 2, size_mb=0.0, loaded=True))
    return entries


def resolve_name(name: str, models_dir: Path | None) -> str:
    """What ``load_model`` takes for ``name``: an entry of the models folder by its name, else the
    name itself (short name, hub id, folder or file)."""
    name = (name or "").strip()
    if models_dir is not None and name and os.sep not in name and "/" not in name and name not in SHORT_NAMES:
        for entry in folder_entries(models_dir):
            if entry.name == name:
                return entry.spec
    return name


def reply_args(entries: list[ModelEntry], max_bytes: int = REPLY_MAX_BYTES) -> list:
    """``/musicgen/models`` arguments: ``<count:i>`` then ``<name:s> <melody:i> <stereo:i>
    <size_mb:f> <loaded:i>`` per model, in list order, as many as fit in one datagram."""
    ordered = entries
    args: list = []
    used = 16
    count = 0
    for e in ordered:
        cost = len(e.name.encode("utf-8")) + 4 + 4 * 4 + 4
        if used + cost > max_bytes:
            break
        args += [e.name, int(e.melody), int(e.stereo), float(e.size_mb), int(e.loaded)]
        used += cost
        count += 1
    return [count, *args]


MODELS_FILE = "models.txt"


def write_models_file(folder: Path, entries: list[ModelEntry]) -> Path:
    """``<folder>/models.txt`` for clients without sockets (REAPER): a header line, then one line
    per model, ``name<TAB>melody<TAB>stereo<TAB>size_mb<TAB>loaded``; replaced atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# name\tmelody\tstereo\tsize_mb\tloaded (written by musicgen-bridge; /musicgen/models)"]
    for e in entries:
        name = e.name.replace("\t", " ").replace("\n", " ")
        lines.append(f"{name}\t{int(e.melody)}\t{int(e.stereo)}\t{e.size_mb:g}\t{int(e.loaded)}")
    target = folder / MODELS_FILE
    tmp = folder / f".{MODELS_FILE}.{os.getpid()}.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
