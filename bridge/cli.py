"""Command line: ``musicgen-bridge generate|serve|worker|make-test-model|paths|mcp``.

Every failure a user can cause ends in one line on stderr (``musicgen-bridge: error: ...``) and a
non-zero exit code, never a stack trace.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .errors import CliError, RequestError

EXIT_USAGE = 2
EXIT_FAIL = 1


def _add_engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="short name (small, melody, stereo-small, ...), hub id or local folder "
                   "(default: $MUSICGEN_BRIDGE_MODEL or small)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"], help="default auto")
    p.add_argument("--dtype", default=None, choices=["auto", "fp32", "bf16", "fp16"],
                   help="weights dtype (default auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)")
    p.add_argument("--decoder", default=None, help="decoding loop: transformers (reference) or fast when available")
    add_cpu_int8_flag(p)


def add_cpu_int8_flag(p: argparse.ArgumentParser) -> None:
    """``--cpu-int8`` / ``--no-cpu-int8`` (default None: the config file's, else off)."""
    p.add_argument("--cpu-int8", default=None, action=argparse.BooleanOptionalAction,
                   help="x86 CPUs: the fast decoder reads int8 copies of the decoder's weights (per-row scales; "
                   "opt-in, off by default; docs/performance.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicgen-bridge", description="Local MusicGen for Ableton Live and REAPER.")
    parser.add_argument("--version", action="version", version=f"musicgen-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("generate", help="generate clips into a folder")
    g.add_argument("prompt", nargs="?", default="", help="text description")
    _add_engine_flags(g)
    g.add_argument("--duration", type=float, help="seconds of new audio (default 8)")
    g.add_argument("--seed", type=int)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--temperature", type=float)
    g.add_argument("--cfg", type=float, help="classifier-free guidance (default 3.0)")
    g.add_argument("--format", help="wav (16-bit), wav24, wavf (32-bit float), flac, mp3")
    g.add_argument("--normalize", help="loudness (default), peak, rms, clip, none")
    g.add_argument("--out", default=".", help="output folder (default: current folder)")
    g.add_argument("--name", help="file name base (default: from the prompt)")
    g.add_argument("--melody", help="audio or .mid file to take the melody from (melody models)")
    g.add_argument("--continue", dest="continue_path", metavar="FILE", help="audio file to continue")
    g.add_argument("--start", type=float, help="region start in FILE, seconds (default 0)")
    g.add_argument("--end", type=float, help="region end in FILE, seconds (default: file end)")
    g.add_argument("--keep-prompt", action="store_true", help="continuation: include the prompt audio")
    g.add_argument("--bpm", type=float)
    g.add_argument("--bars", type=float)
    g.add_argument("--beats-per-bar", type=float, help="beats in a bar (default 4)")
    g.add_argument("--variations", type=int)
    g.add_argument("--loop", action="store_true", help="exact bar length with a crossfaded loop seam")
    g.add_argument("--stems", action="store_true",
                   help="also split each clip into stems (<clip>.drums.wav, ...; needs the [stems] extra)")
    g.add_argument("--stems-model", help="separation model: htdemucs (default), htdemucs_ft, htdemucs_6s or a folder")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    s = sub.add_parser("serve", help="run the daemon (OSC, inbox, MIDI)")
    _add_engine_flags(s)
    s.add_argument("--host")
    s.add_argument("--osc-port", type=int)
    s.add_argument("--output-dir")
    s.add_argument("--state-dir")
    s.add_argument("--inbox-dir")
    s.add_argument("--config")
    s.add_argument("--token")
    s.add_argument("--queue-size", type=int)
    s.add_argument("--stems-model", help="separation model for `stems 1`: htdemucs (default), htdemucs_ft, "
                   "htdemucs_6s or a folder")
    s.add_argument("--midi-in", nargs="?", const="MusicGen Bridge", default=None,
                   help="open a virtual MIDI input port (default name 'MusicGen Bridge')")
    s.add_argument("--midi-connect", help="connect to existing MIDI inputs whose name matches")
    s.add_argument("--midi-out", help="open a MIDI output port for feedback")
    s.add_argument("--midi-out-connect", metavar="NAME",
                   help="send feedback to existing MIDI outputs whose name matches (Windows: a loopMIDI port)")
    s.add_argument("--midi-api", choices=["auto", "alsa", "jack", "coremidi", "winmm"])
    s.add_argument("--models-dir", help="folder of fine-tunes and local models, listed by /musicgen/models "
                   "(default ~/Music/MusicGen Models)")
    s.add_argument("--switch-models", action="store_true",
                   help="a request's `model` may name another model: it loads when the job's turn comes")
    s.add_argument("--engine", help="generate on remote workers instead of loading a model here: "
                   "URL[,URL...] of `musicgen-bridge worker`s or a Ray Serve farm (docs/remote.md)")
    s.add_argument("--engine-token", help="the workers' --token (or $MUSICGEN_BRIDGE_ENGINE_TOKEN)")
    s.add_argument("--engine-ca", help="certificate file to trust for https:// workers (a self-signed one)")
    s.add_argument("--verbose", "-v", action="store_true")

    from .remote.worker_main import add_worker_parser

    add_worker_parser(sub)

    m = sub.add_parser("make-test-model", help="write a tiny random-weight MusicGen for offline tests")
    m.add_argument("dir")
    m.add_argument("--melody", action="store_true", help="a MusicGen-Melody model")
    m.add_argument("--stereo", action="store_true", help="a stereo model")

    sub.add_parser("paths", help="print the default state, inbox and output folders")

    cv = sub.add_parser("convert", help="convert an audiocraft-format fine-tune to the transformers layout")
    cv.add_argument("src", help="the fine-tune: its folder (state_dict.bin ...) or its state_dict.bin")
    cv.add_argument("dst", help="a new (or empty) folder for the converted model")
    cv.add_argument("--base", help="the official model it extends (short name, hub id or folder); "
                    "default: named in its config, else the official model of its size")

    mc = sub.add_parser("mcp", help="MCP server for AI assistants (stdio), a client of the running daemon")
    mc.add_argument("--host", help="the daemon's host (default: from --config, else 127.0.0.1)")
    mc.add_argument("--osc-port", type=int, help="the daemon's OSC port (default: from --config, else 9000)")
    mc.add_argument("--token", help="the daemon's --token, when it has one")
    mc.add_argument("--config", help="the daemon's config file (host, osc_port, token, output_dir)")
    mc.add_argument("--output-dir", help="the daemon's output folder, where recent_clips looks")
    mc.add_argument("--http-port", type=int, help="serve streamable HTTP on 127.0.0.1:PORT instead of stdio")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "generate":
            return cmd_generate(args)
        if args.command == "make-test-model":
            return cmd_make_test_model(args)
        if args.command == "convert":
            return cmd_convert(args)
        if args.command == "serve":
            from .serve import serve_main

            return serve_main(args)
        if args.command == "worker":
            from .remote.worker_main import worker_main

            return worker_main(args)
        if args.command == "mcp":
            from .mcp_server import mcp_main

            return mcp_main(args)
        if args.command == "paths":
            from .config import default_paths

            for k, v in default_paths().items():
                print(f"{k}: {v}")
            return 0
    except CliError as exc:
        print(f"musicgen-bridge: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("musicgen-bridge: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


def cmd_convert(args) -> int:
    from .engine.audiocraft import ConversionError, convert
    from .engine.loading import quiet_transformers
    from .engine.specs import SHORT_NAMES

    quiet_transformers()
    base = SHORT_NAMES.get(args.base, args.base) if args.base else None
    try:
        out = convert(args.src, args.dst, base=base, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except ConversionError as exc:
        raise CliError(str(exc)) from None
    print(out)
    return 0


def cmd_make_test_model(args) -> int:
    from .engine.tiny_model import make_test_model

    try:
        path = make_test_model(args.dir, melody=args.melody, stereo=args.stereo)
    except OSError as exc:
        raise CliError(f"cannot write test model to {args.dir}: {exc.strerror or exc}") from None
    print(path)
    return 0


def cmd_generate(args) -> int:
    from .admission import Admission

    params: dict = {"prompt": args.prompt or ""}
    for key, attr in [("duration", "duration"), ("seed", "seed"), ("top_k", "top_k"), ("top_p", "top_p"),
                      ("temperature", "temperature"), ("cfg", "cfg"), ("format", "format"),
                      ("normalize", "normalize"), ("name", "name"), ("melody", "melody"),
                      ("start", "start"), ("end", "end"), ("bpm", "bpm"), ("bars", "bars"),
                      ("beats_per_bar", "beats_per_bar"), ("variations", "variations")]:
        value = getattr(args, attr)
        if value is not None:
            params[key] = value
    if args.loop:
        params["loop"] = True
    if args.keep_prompt:
        params["keep_prompt"] = True
    if args.stems:
        params["stems"] = True
    action = "generate"
    if args.continue_path:
        action = "continue"
        params["audio_path"] = args.continue_path
    elif args.start is not None or args.end is not None or args.keep_prompt:
        raise CliError("--start, --end and --keep-prompt need --continue FILE")
    if args.stems_model and not args.stems:
        raise CliError("--stems-model needs --stems")
    try:  # the daemon's admission, with the command line's folder; model checks once it is loaded
        req, out_dir = Admission(output_dir=Path(args.out)).admit(params, action=action, req_id="cli")
    except RequestError as exc:
        raise CliError(exc.message) from None
    stems_model = None
    if req.stems:
        from .stems import check_stem_model

        try:
            stems_model = check_stem_model(args.stems_model)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    engine = _load_engine(args)
    separator = None
    if stems_model is not None:
        from .stems import StemSeparator

        separator = StemSeparator(stems_model, device=engine.loaded.device)
    from .render import prepare_inputs, render

    try:
        cond = prepare_inputs(engine, req)  # also checks the model takes a melody, if there is one
    except RequestError as exc:
        raise CliError(exc.message) from None
    bar = None if args.quiet else _ProgressBar(sys.stderr)
    if bar is not None and req.stems:
        from .render import STEMS_GENERATION_SHARE

        bar.separating_from = STEMS_GENERATION_SHARE
    try:
        result = render(engine, req, out_dir, hook=bar, cond=cond, separator=separator)
    except RequestError as exc:
        raise CliError(exc.message) from None
    except OSError as exc:
        raise CliError(f"cannot write clips to {out_dir}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()
    for v, p in enumerate(result.paths):
        print(p)
        for stem in (result.stems[v].values() if v < len(result.stems) else ()):
            print(stem)  # <clip>.<stem>.<ext>, right after its mix
    return 0


def _load_engine(args):
    from .engine import build_engine
    from .engine.loading import ModelLoadError

    try:
        return build_engine(args.model, device=args.device or "auto", dtype=args.dtype or "auto",
                            decoder=args.decoder or "auto", cpu_int8=bool(args.cpu_int8))
    except (ModelLoadError, ValueError) as exc:
        raise CliError(str(exc)) from None


class _ProgressBar:
    """A one-line progress bar on a terminal stream (plain lines when not a TTY)."""

    def __init__(self, stream, width: int = 30):
        self.stream = stream
        self.width = width
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1
        self.t0 = time.perf_counter()
        self.separating_from: float | None = None  # with stems: progress above this is separation

    def __call__(self, fraction: float) -> None:
        pct = int(fraction * 100)
        if pct == self.last or (not self.tty and pct % 10 and pct != 100):
            return
        self.last = pct
        filled = int(self.width * fraction)
        label = "separating" if self.separating_from is not None and fraction > self.separating_from else "generating"
        line = f"{label} [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% {time.perf_counter() - self.t0:5.1f}s"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last >= 0:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
