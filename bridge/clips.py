"""Writing finished clips where a DAW looks: safe names, atomic writes, JSON sidecars.

A clip is encoded in memory, written as ``.<name>.<pid>.partial`` in its final folder and then
hard-linked to its final name, which is chosen so that it never replaces an existing file. A DAW
scanning the folder therefore sees either nothing or a complete file. Its sidecar ``<clip>.json``
(DAWs ignore .json files) is published right after the clip, from a hidden claim file
``.<clip>.json.claim`` written before the clip: when the daemon is killed between the two, the
re-run of the job finds its claim and finishes the sidecar instead of writing a second copy. A
write that fails (a full disk, a file in use) removes every file it made.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from pathlib import Path

import numpy as np

from . import fsops
from .audio import FORMATS, encode_audio, write_audio

#: Previews (``preview 1``) live in this subfolder of the output folder while a job runs.
PREVIEW_DIR = "previews"
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
PARTIAL_SUFFIX = ".partial"
#: A clip's sidecar-to-be while the clip is published (see the module docstring).
CLAIM_SUFFIX = ".claim"


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
    try:
        _write_json(tmp, data)
        fsops.replace(tmp, path)
    finally:
        fsops.unlink_quietly(tmp)
    return path


def write_clip(out_dir: Path, base: str, audio: np.ndarray, sr: int, fmt: str, sidecar: dict,
               owner: tuple[str, int] | None = None) -> Path:
    """Write one clip and then its sidecar, each atomically; returns the clip's final path.

    ``owner`` = (job id, variation) makes the write idempotent across a crash: when the sidecar
    or the claim of the same owner already holds the name (the daemon was killed while or after
    writing), that name is reused and finished instead of making a second copy. An existing file
    of anyone else is never replaced: ``-2``, ``-3``, ... are appended. Raises ``OSError`` (e.g.
    no space left) with no file of this clip left behind.
    """
    ext = FORMATS[fmt][2]
    data = encode_audio(audio, sr, fmt)
    n = 1
    while True:
        name = base if n == 1 else f"{base}-{n}"
        clip = out_dir / f"{name}.{ext}"
        side = out_dir / f"{name}.{ext}.json"
        claim = _claim_path(side)
        meta = dict(sidecar, file=clip.name)
        if owner is not None:
            meta["owner"] = {"id": owner[0], "variation": owner[1]}
        if clip.exists() or side.exists():
            if owner is not None and (_owned_by(side, owner) or _owned_by(claim, owner)):
                _finish(clip, side, claim, data)  # the same job, run again after a crash
                return clip
            n += 1
            continue
        if not _write_claim(claim, meta, owner):
            n += 1  # another writer is publishing this name right now
            continue
        published = False
        try:
            published = _link_new(clip, data)
            if published:
                fsops.replace(claim, side)
        except BaseException:
            if published:
                fsops.unlink_quietly(clip)
            raise
        finally:
            fsops.unlink_quietly(claim)
        if published:
            return clip
        n += 1


def _claim_path(side: Path) -> Path:
    return side.with_name(f".{side.name}{CLAIM_SUFFIX}")


def _write_claim(claim: Path, meta: dict, owner) -> bool:
    """Create the claim (the sidecar-to-be); False when another writer's claim holds the name."""
    try:
        fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if owner is None or not _owned_by(claim, owner):
            return False
        fd = os.open(claim, os.O_WRONLY | os.O_TRUNC)  # ours, left by a crash before the clip
    os.close(fd)
    try:
        _write_json(claim, meta)
    except BaseException:
        fsops.unlink_quietly(claim)
        raise
    return True


def _link_new(final: Path, data: bytes) -> bool:
    """Publish ``data`` as ``final`` unless that name exists; True when published."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        fsops.write_bytes_durably(tmp, data)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (FAT, some network shares): rename, never over a file
            if final.exists():
                return False
            fsops.replace(tmp, final)
        return True
    finally:
        fsops.unlink_quietly(tmp)


def _finish(clip: Path, side: Path, claim: Path, data: bytes) -> None:
    """Complete a clip of the same owner found after a crash: its audio, then its sidecar."""
    if not clip.exists():
        _link_new(clip, data)
    if claim.exists():
        if side.exists():
            fsops.unlink_quietly(claim)
        else:
            fsops.replace(claim, side)


def _owned_by(side: Path, owner: tuple[str, int]) -> bool:
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    o = meta.get("owner") or {}
    return o.get("id") == owner[0] and o.get("variation") == owner[1]


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    fsops.write_bytes_durably(path, text.encode("utf-8"))


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
    try:
        write_audio(tmp, audio, sr, "wav")
        fsops.replace(tmp, path)
    finally:
        fsops.unlink_quietly(tmp)
    return path


def remove_preview(out_dir: str | os.PathLike, job_id: str) -> None:
    fsops.unlink_quietly(preview_path(out_dir, job_id))


def remove_clip(path: Path) -> None:
    """Delete a published clip and its sidecar (used when a job is cancelled after writing)."""
    for p in (path, path.with_name(path.name + ".json")):
        fsops.unlink_quietly(p)


def clean_partials(out_dir: Path) -> int:
    """Remove what killed writers left in ``out_dir`` and its previews folder: ``*.partial`` files,
    and claims whose clip was never published; returns how many files were removed."""
    n = 0
    try:
        leftovers = [*out_dir.glob(f".*{PARTIAL_SUFFIX}"), *(out_dir / PREVIEW_DIR).glob(f".*{PARTIAL_SUFFIX}")]
        for claim in out_dir.glob(f".*.json{CLAIM_SUFFIX}"):
            clip = claim.with_name(claim.name[1:-len(".json" + CLAIM_SUFFIX)])
            if not clip.exists():
                leftovers.append(claim)
    except OSError:
        return 0
    for p in leftovers:
        n += fsops.unlink_quietly(p)
    return n


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
