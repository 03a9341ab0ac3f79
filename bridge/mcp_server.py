"""An MCP server (Model Context Protocol) that lets AI assistants generate clips through the daemon.

``musicgen-bridge mcp`` runs it over stdio (what desktop assistants launch) or, with
``--http-port``, streamable HTTP on 127.0.0.1. It is only a client of the running daemon
(bridge/daemon_client.py, OSC on loopback): it never loads a model. Built on the official ``mcp``
SDK (``MCPServer``: tool schemas come from the annotated signatures below, progress goes out as
MCP progress notifications, and a daemon error comes back as a tool result with ``isError`` whose text is
``<code>: <message>``, the daemon's own).

Tools: ``generate``, ``continue_clip``, ``status``, ``cancel``, ``recent_clips``. Parameter
names are the request keys of docs/protocol.md, so the contract stays in one place.
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from .config import ConfigError, ServeConfig, default_output_dir, load_config_file
from .daemon_client import DaemonClient, DaemonError, DaemonUnreachable, JobCancelled
from .request import MAX_DURATION_S, MAX_PROMPT_CHARS, MAX_VARIATIONS

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.types import CallToolResult, TextContent
except ImportError:  # the [mcp] extra is not installed; build_server says so
    MCPServer = None  # type: ignore[assignment,misc]
    Context = Any  # type: ignore[assignment,misc]

MISSING_EXTRA = "the MCP server needs the optional extra: pip install 'musicgen-bridge[mcp]'"
RECENT_MAX = 100

INSTRUCTIONS = """\
musicgen-bridge makes audio clips with MusicGen on this machine, through a daemon the producer runs
(`musicgen-bridge serve`). Clips are written as files (WAV by default) into an output folder; for
REAPER, pass daw="reaper", out_dir="<project folder>/MusicGen", position (seconds) and track and
REAPER's MusicGen importer places the clip. For tempo-locked clips give bpm and bars instead of a
duration, and loop=true for a seamless loop. Generation takes seconds to minutes; progress is
reported. Use recent_clips to find earlier clips, status to see the queue, cancel to stop a job."""


# --- settings ------------------------------------------------------------------------------------

def resolve_settings(*, host: str | None = None, osc_port: int | None = None, token: str | None = None,
                     output_dir: str | None = None, config: str | None = None) -> dict[str, Any]:
    """Where the daemon is: flags win over the daemon's config file, which wins over its defaults.

    Returns ``host``, ``osc_port``, ``token`` and ``output_dir`` (the daemon's default clip folder,
    where ``recent_clips`` looks). Raises :class:`ConfigError` for a bad file or value.
    """
    base = ServeConfig()
    values: dict[str, Any] = {"host": base.host, "osc_port": base.osc_port, "token": base.token,
                              "output_dir": str(default_output_dir())}
    if config:
        data = load_config_file(config)
        for key, value in data.items():
            k = key.replace("-", "_")
            if k in values and value is not None:
                values[k] = value
    for key, value in (("host", host), ("osc_port", osc_port), ("token", token), ("output_dir", output_dir)):
        if value is not None:
            values[key] = value
    try:
        values["osc_port"] = int(values["osc_port"])
    except (TypeError, ValueError):
        raise ConfigError(f"osc_port must be a port number, got {values['osc_port']!r}") from None
    if not 1 <= values["osc_port"] <= 65535:
        raise ConfigError(f"osc_port must be 1-65535, got {values['osc_port']}")
    values["host"] = str(values["host"])
    values["token"] = str(values["token"]) if values["token"] else None
    values["output_dir"] = str(Path(os.path.expanduser(str(values["output_dir"]))))
    return values


# --- results -------------------------------------------------------------------------------------

def new_job_id() -> str:
    """``mcp-<YYYYmmdd-HHMMSS>-<6 hex>``: valid for the protocol (``A-Za-z0-9._-``, <= 64)."""
    return f"mcp-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def read_sidecar(clip: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON sidecar ``<clip>.json`` of a clip, or None when missing or unreadable."""
    try:
        with open(f"{os.fspath(clip)}.json", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clip_summary(clip: Path, side: dict[str, Any]) -> dict[str, Any]:
    """What an assistant needs to know of one clip, from its sidecar."""
    params = side.get("parameters") if isinstance(side.get("parameters"), dict) else {}
    stems = side.get("stems") if isinstance(side.get("stems"), dict) else {}
    out = {"path": str(clip), "prompt": side.get("prompt"), "seed": side.get("seed"),
           "duration_s": side.get("duration_s"), "sr": side.get("sr"), "model": side.get("model"),
           "action": side.get("action"), "variation": side.get("variation"), "created": side.get("created"),
           "bpm": side.get("bpm"), "bars": side.get("bars"), "loop": side.get("loop"),
           "daw": params.get("daw"), "position": params.get("position"), "track": params.get("track"),
           "job_id": side.get("id")}
    if stems:
        out["stems"] = {str(k): str(clip.parent / str(v)) for k, v in stems.items()}
    return out


def recent_clip_list(folders: list[str], limit: int) -> list[dict[str, Any]]:
    """The newest clips (not stems) of ``folders`` that exist, newest first, from their sidecars."""
    found: list[tuple[float, dict[str, Any]]] = []
    seen: set[str] = set()
    for folder in folders:
        base = Path(os.path.expanduser(folder))
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".json") or not entry.is_file():
                continue
            clip = base / name[:-len(".json")]
            if not clip.suffix or str(clip) in seen:
                continue
            side = read_sidecar(clip)
            if not side or "musicgen_bridge" not in side or "stem" in side or not clip.is_file():
                continue  # not a clip's sidecar, a stem's, or the clip is not (or no longer) there
            seen.add(str(clip))
            try:
                mtime = entry.stat().st_mtime
            except OSError:
                continue
            found.append((mtime, clip_summary(clip, side)))
    found.sort(key=lambda item: item[0], reverse=True)
    return [summary for _, summary in found[:limit]]


def placement_note(daw: str | None, position: float | None, track: str | None, out_dir: str, job_id: str) -> str:
    """Where the DAW will place the clips (docs/mcp.md, "Where clips land")."""
    where = []
    if position is not None:
        where.append(f"at {position:g} {'beats' if daw == 'ableton' else 's'}")
    if track:
        where.append(f"on track {track!r}")
    at = (" " + " ".join(where)) if where else ""
    if daw == "reaper":
        return (f"REAPER's MusicGen importer places it{at} (default: at the edit cursor on a new track) when the "
                f"project whose MusicGen folder is {out_dir} is open; result file "
                f"{os.path.join(out_dir, 'results', job_id + '.json')}")
    if daw == "ableton":
        return (f"Not imported by itself: the Max for Live device imports only the jobs it sends. Drag the file "
                f"into Live{at}, or hand the path to a Live-controlling MCP server")
    return f"Not placed in a DAW: the files are in {out_dir}"


# --- tools ---------------------------------------------------------------------------------------

Prompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description=(
    "Text description of the music: genre, instruments, mood, texture (e.g. 'dusty boom bap drums, vinyl "
    f"crackle'). 1-{MAX_PROMPT_CHARS} characters."))]
Duration = Annotated[float | None, Field(gt=0, le=MAX_DURATION_S, description=(
    f"Seconds of new audio (0-{MAX_DURATION_S:g}; daemon default 8). Ignored when bpm and bars are given."))]
Bpm = Annotated[float | None, Field(ge=20, le=400, description=(
    "Tempo in beats per minute (20-400). With bars, the length is exactly bars * beats_per_bar * 60 / bpm "
    "seconds: use the DAW project's tempo for clips that fit the grid."))]
Bars = Annotated[float | None, Field(gt=0, le=1000, description="Length in bars (needs bpm).")]
BeatsPerBar = Annotated[float | None, Field(ge=0.5, le=32, description=(
    "Beats in a bar (default 4; 3 for 3/4; fractional allowed: 7/8 in quarter notes is 3.5)."))]
Loop = Annotated[bool | None, Field(description=(
    "Loop-ready: trimmed to the exact bar length with a short crossfade at the seam (use with bpm and bars)."))]
Variations = Annotated[int | None, Field(ge=1, le=MAX_VARIATIONS, description=(
    f"Number of clips from one batched generation (1-{MAX_VARIATIONS}; they share the seed)."))]
Seed = Annotated[int | None, Field(ge=0, le=2**31 - 1, description=(
    "Random seed (0-2147483647) to repeat a result; drawn at random when absent and reported back."))]
Model = Annotated[str | None, Field(description=(
    "Model check: must name the model the daemon has loaded (e.g. 'small', 'facebook/musicgen-small'); "
    "else the call fails with unknown_model. Leave out to use the loaded one (see status)."))]
Temperature = Annotated[float | None, Field(gt=0, le=100, description="Sampling temperature (default 1.0).")]
TopK = Annotated[int | None, Field(ge=0, description="Top-k sampling (default 250; 0 = off).")]
TopP = Annotated[float | None, Field(ge=0, le=1, description="Top-p sampling (default 0 = off).")]
Cfg = Annotated[float | None, Field(ge=0, le=100, description=(
    "Classifier-free guidance scale (default 3.0; higher follows the prompt more closely)."))]
Format = Annotated[Literal["wav", "wav24", "wavf", "flac", "mp3"] | None, Field(description=(
    "File format: wav (16-bit, default), wav24, wavf (32-bit float), flac, mp3."))]
Normalize = Annotated[Literal["loudness", "peak", "rms", "clip", "none"] | None, Field(description=(
    "Level: loudness (-14 LUFS, default), peak, rms, clip, none."))]
Name = Annotated[str | None, Field(max_length=200, description="Base of the file name (default: from the prompt).")]
OutDir = Annotated[str | None, Field(description=(
    "Folder for the clips, typically '<DAW project folder>/MusicGen' (created if missing; must lie under the "
    "daemon's allowed roots). Default: the daemon's output folder."))]
Daw = Annotated[Literal["ableton", "reaper", "none"] | None, Field(description=(
    "Who imports the result: 'reaper' (REAPER's MusicGen importer places it; give out_dir = the project's "
    "MusicGen folder), 'ableton' (file only: see the result's placement), 'none' (default)."))]
Position = Annotated[float | None, Field(description=(
    "Where the DAW should place the clip: seconds on the timeline for REAPER, beats for Ableton's arrangement."))]
Track = Annotated[str | None, Field(max_length=200, description=(
    "Which track: for REAPER a track number (1 = first), a track name, or 'new' (default: a new track)."))]
Stems = Annotated[bool | None, Field(description=(
    "Also split each clip into stems (drums, bass, other, vocals); needs the daemon's [stems] extra."))]
Preset = Annotated[str | None, Field(description="Name of a preset from the daemon's config file.")]
Wait = Annotated[bool, Field(description=(
    "true (default): return when the clips are written, with progress along the way. false: return as soon "
    "as the daemon has queued the job (use status, cancel and recent_clips with its id)."))]


def error_result_parts(exc: Exception) -> tuple[str, str, str]:
    """A tool error's code, message and text (``<daemon code>: <daemon message>``, or the not-running sentence)."""
    if isinstance(exc, DaemonError):
        return exc.code, exc.message, f"{exc.code}: {exc.message}"
    if isinstance(exc, JobCancelled):
        return "cancelled", str(exc), f"cancelled: {exc}"
    return "daemon_unreachable", str(exc), str(exc)


def _fail(exc: Exception) -> CallToolResult:
    """A tool result with ``isError`` (returned, not raised: the SDK would prefix a raised error's text)."""
    code, message, text = error_result_parts(exc)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True,
                          structured_content={"error": {"code": code, "message": message}})


def build_server(settings: dict[str, Any]) -> MCPServer:
    """The MCP server for a daemon at ``settings`` (from :func:`resolve_settings`)."""
    if MCPServer is None:
        raise RuntimeError(MISSING_EXTRA)
    from . import __version__

    client = DaemonClient(settings["host"], settings["osc_port"], settings["token"])
    used_dirs: list[str] = [settings["output_dir"]]
    server = MCPServer("musicgen-bridge", version=__version__, instructions=INSTRUCTIONS)

    def tool(title: str):
        def register(fn):
            server.add_tool(fn, title=title, description=inspect.cleandoc(fn.__doc__ or ""))
            return fn
        return register

    async def run_job(ctx: Context, verb: str, first: str, params: dict[str, Any], wait: bool) -> dict[str, Any]:
        job_id = new_job_id()

        reported: list[float] = []

        async def on_progress(fraction: float, message: str) -> None:
            if reported and fraction <= reported[-1]:
                return  # MCP: each progress notification must be higher than the one before
            reported.append(fraction)
            if params.get("stems") and fraction > 0.8:
                message = "separating stems"
            await ctx.report_progress(fraction, 1.0, message)

        try:
            outcome = await client.submit(verb, job_id, first, params, wait=wait, on_progress=on_progress)
        except (DaemonError, DaemonUnreachable, JobCancelled) as exc:
            return _fail(exc)
        out_dir = params.get("out_dir") or settings["output_dir"]
        if params.get("out_dir") and params["out_dir"] not in used_dirs:
            used_dirs.append(params["out_dir"])
        if outcome.status != "done":
            return {"id": job_id, "status": "accepted", "queue_position": outcome.queue_position,
                    "note": "Queued at the daemon: status shows what runs, cancel stops it, recent_clips lists "
                            "the clips once written."}
        clips = []
        for v, path in enumerate(outcome.paths):
            side = read_sidecar(path) or {}
            clip = {"path": path, "exists": os.path.isfile(path), "duration_s": side.get("duration_s"),
                    "sr": side.get("sr"), "seed": side.get("seed")}
            if v < len(outcome.stems) and outcome.stems[v]:
                clip["stems"] = outcome.stems[v]
            clips.append(clip)
        if outcome.paths:
            out_dir = str(Path(outcome.paths[0]).parent)
        seeds = [c["seed"] for c in clips if c["seed"] is not None]
        return {"id": job_id, "status": "done", "clips": clips, "seed": seeds[0] if seeds else params.get("seed"),
                "out_dir": out_dir,
                "placement": {"daw": params.get("daw") or "none", "position": params.get("position"),
                              "track": params.get("track"),
                              "note": placement_note(params.get("daw"), params.get("position"), params.get("track"),
                                                     out_dir, job_id)}}

    @tool("Generate a clip")
    async def generate(ctx: Context, prompt: Prompt, duration: Duration = None, bpm: Bpm = None, bars: Bars = None,
                       beats_per_bar: BeatsPerBar = None, loop: Loop = None, variations: Variations = None,
                       seed: Seed = None, model: Model = None, temperature: Temperature = None, top_k: TopK = None,
                       top_p: TopP = None, cfg: Cfg = None, format: Format = None, normalize: Normalize = None,
                       name: Name = None, out_dir: OutDir = None, daw: Daw = None, position: Position = None,
                       track: Track = None, stems: Stems = None, preset: Preset = None,
                       wait: Wait = True) -> dict[str, Any]:
        """Generate new music from a text prompt with the daemon's MusicGen model and write it as audio files.

        Returns the clip files (absolute paths, durations, the seed) and where the DAW will place them.
        Long jobs report progress. Errors carry the daemon's code (bad_request, unknown_model, forbidden, ...).
        """
        params = {"duration": duration, "bpm": bpm, "bars": bars, "beats_per_bar": beats_per_bar, "loop": loop,
                  "variations": variations, "seed": seed, "model": model, "temperature": temperature,
                  "top_k": top_k, "top_p": top_p, "cfg": cfg, "format": format, "normalize": normalize, "name": name,
                  "out_dir": out_dir, "daw": daw, "position": position, "track": track, "stems": stems,
                  "preset": preset}
        return await run_job(ctx, "generate", prompt, params, wait)

    @tool("Continue an audio clip")
    async def continue_clip(ctx: Context,
                            audio_path: Annotated[str, Field(description=(
                                "Absolute path of the audio file to continue (wav, flac, aiff, ogg, mp3), e.g. a "
                                "clip from recent_clips or a file of the DAW project."))],
                            start: Annotated[float | None, Field(ge=0, description=(
                                "Start of the region of audio_path to continue from, seconds (default 0)."))] = None,
                            end: Annotated[float | None, Field(ge=0, description=(
                                "End of the region, seconds (default: end of the file). The new audio follows "
                                "this point."))] = None,
                            prompt: Annotated[str, Field(max_length=MAX_PROMPT_CHARS, description=(
                                "Optional text to steer the continuation."))] = "",
                            duration: Duration = None, bpm: Bpm = None, bars: Bars = None,
                            beats_per_bar: BeatsPerBar = None,
                            keep_prompt: Annotated[bool | None, Field(description=(
                                "Also keep the region itself at the start of the new clip."))] = None,
                            variations: Variations = None, seed: Seed = None, model: Model = None,
                            format: Format = None, normalize: Normalize = None, name: Name = None,
                            out_dir: OutDir = None, daw: Daw = None, position: Position = None, track: Track = None,
                            stems: Stems = None, wait: Wait = True) -> dict[str, Any]:
        """Continue an existing audio file: MusicGen listens to a region of it and writes what comes next.

        Typical use: continue a selected clip and place the result right after it (position = the region's
        end on the timeline). Returns the new clip files and where the DAW will place them.
        """
        params = {"prompt": prompt or None, "start": start, "end": end, "duration": duration, "bpm": bpm,
                  "bars": bars, "beats_per_bar": beats_per_bar, "keep_prompt": keep_prompt,
                  "variations": variations, "seed": seed, "model": model, "format": format,
                  "normalize": normalize, "name": name, "out_dir": out_dir, "daw": daw, "position": position,
                  "track": track, "stems": stems}
        return await run_job(ctx, "continue", audio_path, params, wait)

    @tool("Daemon status")
    async def status() -> dict[str, Any]:
        """What the daemon is doing: jobs waiting in the queue, the running job's id ('' when idle), the loaded
        model, the device (cuda, mps, cpu), the stems model, and the tempo it follows from MIDI clock."""
        try:
            info = await client.status()
        except DaemonUnreachable as exc:
            return _fail(exc)
        info["daemon"] = f"{client.host}:{client.port}"
        info["output_dir"] = settings["output_dir"]
        return info

    @tool("Cancel a job")
    async def cancel(job_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description=(
            "Id of a queued or running job (as returned by generate or continue_clip, or 'running' of status)."))]
            ) -> dict[str, Any]:
        """Cancel a queued or running job; no files of it remain. Fails with not_found for an unknown or finished id."""
        try:
            return await client.cancel(job_id)
        except (DaemonError, DaemonUnreachable) as exc:
            return _fail(exc)

    @tool("Recent clips")
    async def recent_clips(
            limit: Annotated[int, Field(ge=1, le=RECENT_MAX, description="How many clips, newest first.")] = 10,
            folder: Annotated[str | None, Field(description=(
                "Folder to look in (e.g. '<project>/MusicGen'). Default: the daemon's output folder and the "
                "folders used in this session."))] = None) -> dict[str, Any]:
        """List recently generated clips, newest first, from the sidecar files next to them: path, prompt, seed,
        duration, model, tempo, DAW placement and stems. Use a path with continue_clip, or a seed to repeat."""
        folders = [folder] if folder else list(used_dirs)
        return {"folders": folders, "clips": recent_clip_list(folders, limit)}

    return server


def mcp_main(args) -> int:
    """Entry point of `musicgen-bridge mcp` (args from argparse)."""
    import sys

    from .cli import CliError

    try:
        settings = resolve_settings(host=args.host, osc_port=args.osc_port, token=args.token,
                                    output_dir=args.output_dir, config=args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.http_port is not None and not 1 <= args.http_port <= 65535:
        raise CliError(f"--http-port must be 1-65535, got {args.http_port}")
    try:
        server = build_server(settings)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    if args.http_port:
        print(f"musicgen-bridge mcp: streamable HTTP on http://127.0.0.1:{args.http_port}/mcp, daemon at "
              f"{settings['host']}:{settings['osc_port']}", file=sys.stderr, flush=True)
        server.run("streamable-http", host="127.0.0.1", port=args.http_port)
    else:
        server.run("stdio")
    return 0
