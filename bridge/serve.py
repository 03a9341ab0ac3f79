"""``musicgen-bridge serve``: read the config, load the model, run the daemon until Ctrl-C or SIGTERM.

Also what only the serving process needs: the state-dir lock (two daemons never share a journal),
the ``announce`` targets and the MIDI side's factory.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .clips import clean_partials
from .config import (ConfigError, ServeConfig, build_serve_config, is_loopback, load_config_file,
                     store_python_redirect, trust_defaults)
from .daemon import Daemon
from .errors import CliError

log = logging.getLogger("bridge.serve")


def _lock_state_dir(state_dir: Path):
    """Hold an exclusive lock on the state dir so two daemons never share a journal."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fh = open(state_dir / "daemon.lock", "a+")
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows: msvcrt
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            raise RuntimeError(f"another daemon is using the state dir {state_dir}") from None
    except OSError:
        raise RuntimeError(f"another daemon is using the state dir {state_dir}") from None
    return fh


def serve_main(args) -> int:
    """Entry point of `musicgen-bridge serve` (args from argparse)."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        logging.getLogger("bridge.midi").setLevel(logging.INFO)
    try:
        file_data = load_config_file(args.config) if args.config else {}
        announce_raw = file_data.pop("announce", [])
        flags = {"model": args.model, "device": args.device, "dtype": args.dtype, "decoder": args.decoder,
                 "host": args.host, "osc_port": args.osc_port, "output_dir": args.output_dir,
                 "state_dir": args.state_dir, "inbox_dir": args.inbox_dir, "token": args.token,
                 "queue_size": args.queue_size, "verbose": args.verbose or None,
                 "stems_model": getattr(args, "stems_model", None),
                 "models_dir": getattr(args, "models_dir", None),
                 "switch_models": getattr(args, "switch_models", None) or None, "engine": getattr(args, "engine", None),
                 "engine_token": getattr(args, "engine_token", None), "engine_ca": getattr(args, "engine_ca", None),
                 "cpu_int8": getattr(args, "cpu_int8", None)}
        cfg = build_serve_config(flags, file_data)
        announce = _parse_targets(announce_raw)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not is_loopback(cfg.host) and not cfg.token:
        raise CliError(f"refusing to listen on {cfg.host} without --token: anyone on the network could "
                       "generate and write files; set --token SECRET (and send `token SECRET` with every request)")
    cfg.roots, warnings = trust_defaults(cfg.roots, host=cfg.host, output_dir=cfg.output_dir, home=Path.home(),
                                         is_root=hasattr(os, "geteuid") and os.geteuid() == 0)
    for line in warnings:
        log.warning("%s", line)
    if os.name == "nt" and os.environ.get("LOCALAPPDATA") and not args.state_dir:
        private = store_python_redirect(sys.base_prefix, os.environ["LOCALAPPDATA"])
        if private is not None:
            log.warning("Microsoft Store Python keeps files under %%LOCALAPPDATA%% in a private folder: the inbox is "
                        "really %s; in REAPER set 'Daemon inbox folder' (MusicGen - Settings) to it, or install "
                        "Python from python.org", private / "musicgen-bridge" / "inbox")
    midi_factory = _midi_factory(cfg, args)
    try:
        lock = _lock_state_dir(cfg.state_dir)
    except (RuntimeError, OSError) as exc:
        raise CliError(str(exc)) from None
    engine, separator = _build_engine(cfg, model_flag=args.model)
    daemon = Daemon(cfg, engine, midi_factory=midi_factory, separator=separator)
    daemon.announce = announce
    for folder in {cfg.output_dir}:
        if folder.is_dir():
            clean_partials(folder)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        daemon.start()
    except OSError as exc:
        raise CliError(str(exc)) from None
    if cfg.engine:  # where the workers run it; this machine's GPU advice does not apply
        where = f"{engine.loaded.dtype} via {engine.describe()['engine']}"
    else:
        from .engine.int8_switch import status
        from .engine.placement import placement_line

        where = placement_line(engine.loaded.device, engine.loaded.dtype, cfg.device, cfg.dtype)
        if engine.cpu_int8_isa:
            where += f"; {status(engine.cpu_int8_isa)}"
    print(f"musicgen-bridge {__version__} ready: model {engine.loaded.spec} on {engine.loaded.device}, "
          f"OSC {daemon.osc.address[0]}:{daemon.osc.address[1]} ({where})", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        daemon.stop()
        lock.close()
    log.info("stopped")
    # Everything is journaled and closed: skip the interpreter's teardown of torch and
    # transformers (about a second), so SIGTERM ends the process within the promised bound.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _build_engine(cfg: ServeConfig, *, model_flag: str | None):
    """The engine (local, or remote with ``engine`` URLs) and the stem separator (None: the daemon's)."""
    if not cfg.engine:
        from .engine import build_engine
        from .engine.loading import ModelLoadError

        try:
            return build_engine(cfg.model, device=cfg.device, dtype=cfg.dtype, decoder=cfg.decoder,
                                cpu_int8=cfg.cpu_int8), None
        except (ModelLoadError, ValueError) as exc:
            raise CliError(str(exc)) from None
    from .engine.specs import pick_device
    from .remote.client import RemoteEngine, RemoteEngineError
    from .stems import StemSeparator

    try:
        engine = RemoteEngine(cfg.engine, token=cfg.engine_token,
                              ca_file=str(cfg.engine_ca) if cfg.engine_ca else None).connect()
    except (RemoteEngineError, OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if model_flag and not engine.loaded.is_named(model_flag):
        raise CliError(f"--model {model_flag} but the engine workers run {engine.loaded.spec}; "
                       "drop --model or start the workers with it")
    # stems are split here, next to the clips: the audio is already on this machine
    return engine, StemSeparator(cfg.stems_model, device=pick_device("auto"))


def _parse_targets(raw) -> list[tuple[str, int]]:
    """The config's ``announce`` list (``"host:port"`` strings) as addresses."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError("announce must be a list of \"host:port\" strings")
    out = []
    for item in raw:
        try:
            host, port = str(item).rsplit(":", 1)
            out.append((host, int(port)))
        except ValueError:
            raise ConfigError(f"announce entry {item!r} must be \"host:port\"") from None
    return out


def midi_config(cfg: ServeConfig, args):
    """The MIDI side's config from the ``[midi]`` table and the ``--midi-*`` flags, or None when MIDI
    is not asked for. Raises :class:`CliError` (one line) for a set-up this machine cannot serve."""
    overrides = {"in_name": getattr(args, "midi_in", None), "connect": getattr(args, "midi_connect", None),
                 "out_name": getattr(args, "midi_out", None), "out_connect": getattr(args, "midi_out_connect", None),
                 "api": getattr(args, "midi_api", None)}
    if not cfg.midi and not any(v is not None for v in overrides.values()):
        return None
    from .midi import MidiConfig, MidiConfigError
    from .midi.ports import check_virtual_ports

    try:
        midi_cfg = MidiConfig.from_dict(cfg.midi, cli_overrides=overrides, presets=list(cfg.presets))
        if midi_cfg.enabled:
            check_virtual_ports(midi_cfg)
    except (MidiConfigError, OSError) as exc:
        raise CliError(str(exc)) from None
    return midi_cfg


def _midi_factory(cfg: ServeConfig, args):
    """A function building the MIDI side, or None when MIDI is not asked for."""
    midi_cfg = midi_config(cfg, args)
    if midi_cfg is None:
        return None
    from .midi import MidiSide

    return lambda on_action: MidiSide(midi_cfg, on_action=on_action, log=logging.getLogger("bridge.midi"))
