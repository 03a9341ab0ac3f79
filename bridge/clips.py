"""Writing finished clips where a DAW looks: safe names, atomic writes, JSON sidecars.

A clip is written as ``.<name>.partial`` in its final folder and then linked/renamed to its
final name, which is chosen so that it never replaces an existing file. A DAW scanning the folder
therefore sees either nothing or a complete file. The sidecar ``<clip>.json`` is written the same
way, just before the clip (DAWs ignore .json files).
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from pathlib import Path

import numpy as np

from .audio import FORMATS, write_audio

#: Previews (``preview 1``) live in this subfolder of the output folder while a job runs.
PREVIEW_DIR = "previews"
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
PARTIAL_SUFFIX = ".partial"


def slugify(text: str, max_len: int = 48) -> str:
    """A file-name-safe slug: ASCII letters, digits and ``-``; never empty, never a reserved name."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:max_len].strip("-")
    if not slug:
        slug = "musicgen"
    if slug.split("-")[0] in _WINDOWS_RESERVED or slug in _WINDOWS_RESERVED:
        slug = "clip-" + slug
    return slug


def clip_basename(name_or_prompt: str, seed: int, variation: int | None, when: float | None = None) -> str:
    """``<slug>_<YYYYmmdd-HHMMSS>_s<seed>[_v<n>]`` (no extension)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when if when is not None else time.time()))
    base = f"{slugify(name_or_prompt)}_{stamp}_s{seed}"
    if variation is not None:
        base += f"_v{variation}"
    return base


def ensure_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and check it is writable (raises OSError with a clear message)."""
    p = Path(os.path.expanduser(str(out_dir)))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output folder {p}: {exc.strerror or exc}") from None
    if not p.is_dir():
        raise OSError(f"output path is not a folder: {p}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise OSError(f"output folder is not writable: {p}")
    return p.resolve()


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write JSON via a temporary file in the same folder, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    _write_json(tmp, data)
    os.replace(tmp, path)
    return path


def write_clip(out_dir: Path, base: str, audio: np.ndarray, sr: int, fmt: str, sidecar: dict,
               owner: tuple[str, int] | None = None) -> Path:
    """Write one clip and its sidecar atomically; returns the clip's final path.

    The sidecar ``<clip>.json`` is published first, then the clip. ``owner`` = (job id, variation)
    makes the write idempotent across a crash: when a sidecar of the same owner already holds the
    name (the daemon was killed after writing), that name is reused instead of making a second
    copy. An existing file of anyone else is never replaced: ``-2``, ``-3``, ... are appended.
    """
    ext = FORMATS[fmt][2]
    tag = f"{os.getpid()}{PARTIAL_SUFFIX}"
    n = 1
    while True:
        name = base if n == 1 else f"{base}-{n}"
        clip = out_dir / f"{name}.{ext}"
        side = out_dir / f"{name}.{ext}.json"
        if side.exists() or clip.exists():
            if owner is not None and _owned_by(side, owner):
                if not clip.exists():
                    _publish_audio(out_dir / f".{name}.{ext}.{tag}", clip, audio, sr, fmt)
                return clip
            n += 1
            continue
        meta = dict(sidecar)
        meta["file"] = clip.name
        if owner is not None:
            meta["owner"] = {"id": owner[0], "variation": owner[1]}
        tmp_side = out_dir / f".{name}.{ext}.json.{tag}"
        _write_json(tmp_side, meta)
        try:
            os.link(tmp_side, side)
        except FileExistsError:
            tmp_side.unlink(missing_ok=True)
            n += 1
            continue
        except OSError:
            if side.exists():
                tmp_side.unlink(missing_ok=True)
                n += 1
                continue
            os.replace(tmp_side, side)
        else:
            tmp_side.unlink(missing_ok=True)
        _publish_audio(out_dir / f".{name}.{ext}.{tag}", clip, audio, sr, fmt)
        return clip


def _publish_audio(tmp: Path, final: Path, audio: np.ndarray, sr: int, fmt: str) -> None:
    try:
        write_audio(tmp, audio, sr, fmt)
        try:
            os.link(tmp, final)
        except OSError:
            if final.exists():
                raise
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _owned_by(side: Path, owner: tuple[str, int]) -> bool:
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    o = meta.get("owner") or {}
    return o.get("id") == owner[0] and o.get("variation") == owner[1]


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=_json_default)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def update_sidecar(clip: Path, fields: dict) -> None:
    """Set ``fields`` in the sidecar of a published clip, atomically (no-op when they hold already)."""
    side = clip.with_name(clip.name + ".json")
    meta = json.loads(side.read_text(encoding="utf-8"))
    if all(meta.get(k) == v for k, v in fields.items()):
        return
    meta.update(fields)
    write_json_atomic(side, meta)


def preview_path(out_dir: str | os.PathLike, job_id: str) -> Path:
    """``<out_dir>/previews/<id>.wav``: the audio of a running job so far (docs/protocol.md)."""
    return Path(out_dir) / PREVIEW_DIR / f"{job_id}.wav"


def write_preview(out_dir: str | os.PathLike, job_id: str, audio: np.ndarray, sr: int) -> Path:
    """Rewrite the preview of ``job_id`` atomically (always a complete file); ``audio``: (channels, samples)."""
    path = preview_path(out_dir, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    write_audio(tmp, audio, sr, "wav")
    os.replace(tmp, path)
    return path


def remove_preview(out_dir: str | os.PathLike, job_id: str) -> None:
    try:
        preview_path(out_dir, job_id).unlink()
    except OSError:
        pass


def remove_clip(path: Path) -> None:
    """Delete a published clip and its sidecar (used when a job is cancelled after writing)."""
    for p in (path, path.with_name(path.name + ".json")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def clean_partials(out_dir: Path) -> int:
    """Remove leftover ``*.partial`` files (from a killed process); returns how many."""
    n = 0
    try:
        for p in out_dir.glob(f".*{PARTIAL_SUFFIX}"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
