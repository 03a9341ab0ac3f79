"""One request through the engine and into files: inputs -> conditioning -> audio -> clips.

This is the single place where a validated :class:`~bridge.request.GenerationRequest` becomes
clips on disk. The command line and the daemon's worker both call :func:`render`.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from . import jam_join
from .admission import check_melody_model, check_model, draw_seed
from .audio import AudioError, fit_channels, make_loop, normalize, read_audio, resample
from .clips import clip_basename, ensure_out_dir, remove_clip, update_sidecar, write_clip
from .engine.generation import Conditioning, Engine, Sampling
from .melody import MelodyError, chroma_from_file, chroma_from_notes, notes_from_beats
from .errors import BAD_AUDIO, BAD_MELODY, RequestError
from .request import GenerationRequest

#: Audio generated past the loop end, crossfaded into the loop start.
LOOP_TAIL_S = 0.05
DEFAULT_NOTES_BPM = 120.0
#: With stems, the share of the progress (0..1) that generation takes; separation has the rest.
STEMS_GENERATION_SHARE = 0.8


@dataclass
class RenderResult:
    paths: list[Path]
    seed: int
    duration_s: float
    sr: int
    timings: dict = field(default_factory=dict)
    #: With stems: one ``{stem name: path}`` per variation (in ``paths`` order), else empty.
    stems: list[dict[str, Path]] = field(default_factory=list)


def prepare_inputs(engine: Engine, req: GenerationRequest, *, clock_bpm: float | None = None
                   ) -> Conditioning:
    """Read and check every input file of a request; returns the conditioning.

    Raises :class:`RequestError` (``bad_audio``, ``bad_melody``, ``bad_request``) for bad inputs, so
    callers can refuse a request before it is queued.
    """
    cond = Conditioning(prompt=req.prompt)
    if req.melody or req.melody_notes:
        check_melody_model(engine.loaded, req)
        try:
            if req.melody:
                cond.chroma = chroma_from_file(req.melody)
            else:
                if isinstance(req.melody_notes, str):
                    raise RequestError(BAD_MELODY, f"no notes were sent under id {req.melody_notes!r}")
                bpm = req.bpm or clock_bpm or DEFAULT_NOTES_BPM
                cond.chroma = chroma_from_notes(notes_from_beats(req.melody_notes, bpm))
        except MelodyError as exc:
            raise RequestError(BAD_MELODY, str(exc)) from None
    if req.action == "continue":
        try:
            audio, sr = read_audio(req.audio_path, start_s=req.start_s, end_s=req.end_s)
        except AudioError as exc:
            raise RequestError(BAD_AUDIO, str(exc)) from None
        prompt_audio = fit_channels(resample(audio, sr, engine.sr), engine.channels)
        hop = engine.sr // engine.loaded.frame_rate
        if prompt_audio.shape[1] < hop:
            raise RequestError(BAD_AUDIO, "the region to continue is too short (under 20 ms)")
        cond.prompt_audio = prompt_audio
    return cond


def render(engine: Engine, req: GenerationRequest, out_dir: str | os.PathLike, *, hook=None,
           clock_bpm: float | None = None, cond: Conditioning | None = None, owner: str | None = None,
           when: float | None = None, preview=None, separator=None) -> RenderResult:
    """Generate the clips of ``req`` and write them (with sidecars) to ``out_dir``.

    ``hook(fraction)`` is called with progress in 0..1 and may raise ``Cancelled``; then no file
    is left behind. ``owner`` (a unique job key) and ``when`` (the time used in file names) make a
    re-run after a crash reuse the clips it already wrote instead of writing them twice.
    ``preview(audio, sr)`` receives the new audio made so far while generating (decoders that
    stream only), ``(variations, channels, samples)``. Raises :class:`RequestError` for bad inputs and ``OSError`` for an unwritable
    output folder.

    With ``req.stems``, each clip is then split by ``separator`` (a :class:`bridge.stems.StemSeparator`,
    made once by the caller) and every stem is written next to its mix as ``<mix>.<stem>.<ext>``
    (same atomic/idempotent rules, own sidecar); the mix's sidecar lists them under ``stems``.
    Progress then runs 0..0.8 for generation and 0.8..1 for separation; the hook may cancel both.
    """
    t0 = time.perf_counter()
    check_model(engine.loaded, req)  # a job journaled by a daemon that ran another model
    if cond is None:
        cond = prepare_inputs(engine, req, clock_bpm=clock_bpm)
    folder = ensure_out_dir(out_dir)
    seed = req.seed if req.seed is not None else draw_seed()
    length_s = req.length_s()
    jam = (req.extra or {}).get("jam")  # a jam segment (bridge/jam.py): made longer, joined, tail kept
    gen_s = length_s + (LOOP_TAIL_S if req.loop else 0.0) + (jam_join.TAIL_S if jam else 0.0)
    sampling = Sampling(top_k=req.top_k, top_p=req.top_p, temperature=req.temperature, cfg=req.cfg)
    t_in = time.perf_counter()
    if req.stems:
        separator = _check_separator(separator)
    gen_hook = hook
    if req.stems and hook is not None:
        def gen_hook(fraction: float) -> None:
            hook(fraction * STEMS_GENERATION_SHARE)
    on_audio = (lambda audio: preview(audio, engine.sr)) if preview is not None else None
    out = engine.generate(cond, gen_s, sampling, seed=seed, variations=req.variations, hook=gen_hook,
                          preview=on_audio)
    t_gen = time.perf_counter()
    sr = out.sr
    length_samples = int(round(length_s * sr))
    when = when if when is not None else time.time()
    written: list[Path] = []
    stems_written: list[dict[str, Path]] = []
    sep_s = 0.0
    try:
        n_var = out.audio.shape[0]
        for v in range(n_var):
            audio = out.audio[v]
            if jam:
                audio, jam_side = _jam_segment(audio, sr, length_samples, jam, req)
            else:
                if req.loop:
                    audio = make_loop(audio, sr, length_samples)
                else:
                    audio = audio[:, :length_samples]
                if req.keep_prompt and cond.prompt_audio is not None:
                    audio = np.concatenate([cond.prompt_audio, audio], axis=1)
                audio = normalize(audio, sr, req.normalize)
            base = clip_basename(req.name or req.prompt or ("continuation" if req.action == "continue" else "melody"),
                                 seed, v + 1 if req.variations > 1 else None, when)
            sidecar = _sidecar(engine, req, seed, v, audio, sr, length_s, out, t0, t_in, t_gen)
            if jam:
                sidecar["jam"] = jam_side
            stems = None
            if req.stems:
                t_sep = time.perf_counter()
                stems = _separate(separator, audio, sr, hook, v, n_var)
                sep_s += time.perf_counter() - t_sep
                sidecar["separation"] = {"model": separator.model_name, "device": separator.device,
                                         "sr": separator.samplerate,
                                         "separate_s": round(time.perf_counter() - t_sep, 3)}
                sidecar["stems"] = {}
            mix = write_clip(folder, base, audio, sr, req.format, sidecar, owner=(owner, v + 1) if owner else None)
            written.append(mix)
            if stems is not None:
                stems_written.append(_write_stems(folder, mix, stems, sr, req.format, sidecar, owner, v))
    except BaseException:
        for p in written:
            remove_clip(p)
        for group in stems_written:
            for p in group.values():
                remove_clip(p)
        raise
    timings = {"inputs_s": round(t_in - t0, 3), "generate_s": round(t_gen - t_in, 3)}
    if req.stems:
        timings["separate_s"] = round(sep_s, 3)
    timings.update({"write_s": round(time.perf_counter() - t_gen - sep_s, 3),
                    "total_s": round(time.perf_counter() - t0, 3)})
    return RenderResult(paths=written, seed=seed, duration_s=length_s, sr=sr, timings=timings, stems=stems_written)


def _jam_segment(audio, sr: int, length_samples: int, jam: dict, req: GenerationRequest):
    """A jam segment's audio (joined to the previous segment's tail) and its sidecar entry."""
    prev_tail = jam_join.read_tail(req.audio_path) if jam.get("join") and req.audio_path else None
    first = req.action == "generate"  # only a segment made from text sets the jam's level
    audio, tail = jam_join.shape_segment(audio, sr, length_samples, prev_tail=prev_tail,
                                          normalize_fn=(lambda a: normalize(a, sr, req.normalize)) if first else None)
    side = {k: jam.get(k) for k in ("id", "index", "bars", "start_sample")}
    side.update({"samples": int(audio.shape[1]), "joined": prev_tail is not None,
                 "tail": jam_join.encode_tail(tail)})
    return audio, side


def _check_separator(separator):
    """The separator to use for a request with stems (raises ``stems_unavailable`` when there is none)."""
    from .stems import MISSING_EXTRA, StemsUnavailable, demucs_available

    if not demucs_available():
        raise RequestError(StemsUnavailable.code, MISSING_EXTRA)
    if separator is None:
        raise RequestError(StemsUnavailable.code, "stems were asked for but no stem separator was given")
    return separator


def _separate(separator, audio, sr, hook, v: int, n_var: int) -> dict:
    """Split variation ``v`` of ``n_var``; progress maps into the separation share of the job."""
    from .stems import StemsUnavailable

    def sep_hook(fraction: float) -> None:
        if hook is not None:
            share = 1.0 - STEMS_GENERATION_SHARE
            hook(STEMS_GENERATION_SHARE + share * (v + min(1.0, max(0.0, fraction))) / n_var)

    try:
        return separator.separate(audio, sr, hook=sep_hook)
    except StemsUnavailable as exc:
        raise RequestError(exc.code, str(exc)) from None


def _write_stems(folder: Path, mix: Path, stems: dict, sr: int, fmt: str, mix_sidecar: dict, owner, v: int
                 ) -> dict[str, Path]:
    """Write each stem as ``<mix name>.<stem>.<ext>`` next to the mix and list them in its sidecar."""
    ext = mix.suffix
    mix_base = mix.name[: -len(ext)] if ext else mix.name
    paths: dict[str, Path] = {}
    try:
        for name, audio in stems.items():
            meta = {k: val for k, val in mix_sidecar.items() if k != "stems"}
            meta.update({"stem": name, "mix": mix.name, "channels": int(audio.shape[0]),
                         "duration_s": round(audio.shape[1] / sr, 6)})
            paths[name] = write_clip(folder, f"{mix_base}.{name}", audio, sr, fmt, meta,
                                     owner=(f"{owner}#{name}", v + 1) if owner else None)
        update_sidecar(mix, {"stems": {name: p.name for name, p in paths.items()}})
    except BaseException:
        for p in paths.values():
            remove_clip(p)
        raise
    return paths


def _sidecar(engine, req, seed, v, audio, sr, length_s, out, t0, t_in, t_gen) -> dict:
    import torch
    import transformers

    params = req.to_dict()
    for key in ("reply_host", "reply_port", "extra"):
        params.pop(key, None)
    meta = {
        "musicgen_bridge": __version__,
        "id": req.id,
        "action": req.action,
        "prompt": req.prompt,
        "seed": seed,
        "variation": v + 1,
        "variations": req.variations,
        "model": engine.loaded.spec,
        "model_source": engine.loaded.source,
        "device": engine.loaded.device,
        "decoder": engine.decoder,
        "sr": sr,
        "channels": int(audio.shape[0]),
        "duration_s": round(audio.shape[1] / sr, 6),
        "generated_s": round(length_s, 6),
        "bpm": req.bpm,
        "bars": req.bars,
        "beats_per_bar": req.beats_per_bar,
        "loop": req.loop,
        "source": ({"audio_path": str(req.audio_path), "start_s": req.start_s, "end_s": req.end_s,
                    "prompt_samples_used": out.prompt_samples} if req.action == "continue" else None),
        "melody": req.melody or (req.melody_notes if isinstance(req.melody_notes, str) else
                                 (f"{len(req.melody_notes)} notes" if req.melody_notes else None)),
        "parameters": params,
        "timings": {"inputs_s": round(t_in - t0, 3), "generate_s": round(t_gen - t_in, 3),
                    "realtime_factor": out.timings.get("realtime_factor"), "windows": out.windows},
        "versions": {"musicgen_bridge": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if getattr(out, "engine", None):  # a remote engine says where the job ran (bridge/remote)
        meta["engine"] = out.engine
    return meta
