"""Configuration: defaults, the TOML file, and command-line flags (flags win).

```toml
model = "small"            # any --flag of `serve`, with - or _ : host, osc_port, output_dir, ...
stems_model = "htdemucs"   # separation model for requests with `stems 1` (docs/stems.md)
host = "127.0.0.1"
osc_port = 9000
output_dir = "~/Music/MusicGen"
queue_size = 16
roots = ["~/Music", "~/Documents/REAPER Media"]   # request file paths must lie under these
models_dir = "~/Music/MusicGen Models"  # fine-tunes and local models, listed by /musicgen/models
switch_models = false      # true: a request's `model` may name another model (docs/engine.md)
cpu_int8 = false           # true: x86 CPUs read int8 copies of the decoder's weights (docs/performance.md)
engine = ["http://gpu-box:9310"]  # generate on remote workers instead of here (docs/remote.md)
engine_token = "..."       # the workers' --token

[defaults]                 # request keys applied to every request
duration = 8.0
top_k = 250

[presets.spark]            # request keys, chosen with `preset spark`
prompt = "punchy breakbeat"
bars = 2

[reaper]                   # optional nudge to REAPER's OSC control surface
osc = "127.0.0.1:8000"
import_action = "_RSabc123..."

[midi]                     # see docs/midi.md
```
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore


class ConfigError(ValueError):
    """A config problem; the message is one line and names the file and key."""


def default_state_dir() -> Path:
    """Per-user state folder: XDG state dir on Linux, Application Support on macOS, LOCALAPPDATA on Windows."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "musicgen-bridge"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "musicgen-bridge"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "musicgen-bridge"


def store_python_redirect(base_prefix: str, localappdata: str) -> Path | None:
    """Where Microsoft Store Python really keeps files it writes under ``%LOCALAPPDATA%``, or None
    for any other Python.

    Store apps get a private copy of AppData: ``%LOCALAPPDATA%\\Packages\\<family>\\LocalCache\\Local``,
    where ``<family>`` is the package name and publisher id read from the install folder
    (``...\\WindowsApps\\PythonSoftwareFoundation.Python.3.12_3.12.752.0_x64__qbz5n2kfra8p0``).
    Other programs (REAPER) looking at ``%LOCALAPPDATA%`` do not see those files.
    """
    folder = base_prefix.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1]
    if "\\windowsapps\\" not in base_prefix.replace("/", "\\").lower() or "__" not in folder:
        return None
    name, publisher = folder.split("_", 1)[0], folder.rsplit("__", 1)[1]
    return Path(localappdata) / "Packages" / f"{name}_{publisher}" / "LocalCache" / "Local"


def default_output_dir() -> Path:
    return Path.home() / "Music" / "MusicGen"


def default_paths() -> dict[str, Path]:
    state = default_state_dir()
    return {"state_dir": state, "inbox_dir": state / "inbox", "journal": state / "journal.sqlite3",
            "output_dir": default_output_dir()}


@dataclass
class ServeConfig:
    """Everything `serve` needs, merged from defaults, the config file and flags."""

    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    decoder: str = "auto"
    host: str = "127.0.0.1"
    osc_port: int = 9000
    output_dir: Path = field(default_factory=default_output_dir)
    state_dir: Path = field(default_factory=default_state_dir)
    inbox_dir: Path | None = None
    token: str | None = None
    queue_size: int = 16
    verbose: bool = False
    stems_model: str = "htdemucs"
    engine: list[str] = field(default_factory=list)   # remote worker URLs; empty: the model loads here
    engine_token: str | None = None
    engine_ca: Path | None = None                      # CA/self-signed certificate for https workers
    roots: list[Path] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)
    presets: dict[str, dict] = field(default_factory=dict)
    reaper: dict = field(default_factory=dict)
    midi: dict = field(default_factory=dict)
    midi_flags: dict = field(default_factory=dict)
    inbox_poll_s: float = 0.25
    models_dir: Path = field(default_factory=lambda: Path.home() / "Music" / "MusicGen Models")
    switch_models: bool = False   # a request's ``model`` may name another model (loaded when its turn comes)
    cpu_int8: bool = False        # the C step reads int8 copies of the decoder's weights (opt-in)

    @property
    def inbox(self) -> Path:
        return self.inbox_dir or (self.state_dir / "inbox")


_SCALARS = {"model": str, "device": str, "dtype": str, "decoder": str, "host": str, "osc_port": int,
            "output_dir": Path, "state_dir": Path, "inbox_dir": Path, "token": str, "queue_size": int,
            "verbose": bool, "inbox_poll_s": float, "stems_model": str, "models_dir": Path,
            "switch_models": bool, "engine_token": str, "engine_ca": Path, "cpu_int8": bool}
_TABLES = ("defaults", "presets", "reaper", "midi")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(os.path.expanduser(str(path)))
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None


def build_serve_config(flags: dict[str, Any], file_data: dict[str, Any] | None = None) -> ServeConfig:
    """Merge config-file values and flags (flags that are not None win)."""
    cfg = ServeConfig()
    data = dict(file_data or {})
    for key, value in data.items():
        k = key.replace("-", "_")
        if k in _SCALARS:
            try:
                setattr(cfg, k, _coerce(_SCALARS[k], value))
            except (TypeError, ValueError):
                raise ConfigError(f"config key {key!r} must be {_SCALARS[k].__name__}, got {value!r}") from None
        elif k == "engine":
            cfg.engine = _engine_urls(value)
        elif k == "roots":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError("config key 'roots' must be a list of folder paths")
            cfg.roots = [Path(os.path.expanduser(v)).resolve() for v in value]
        elif k in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {key!r} must be a table")
            setattr(cfg, k, value)
        else:
            raise ConfigError(f"unknown config key {key!r}")
    for name, preset in cfg.presets.items():
        if not isinstance(preset, dict):
            raise ConfigError(f"preset {name!r} must be a table of request keys")
    for key, value in flags.items():
        if value is None:
            continue
        if key == "engine":
            cfg.engine = _engine_urls(value)
        elif key in _SCALARS:
            setattr(cfg, key, _coerce(_SCALARS[key], value))
    cfg.output_dir = Path(os.path.expanduser(str(cfg.output_dir)))
    cfg.state_dir = Path(os.path.expanduser(str(cfg.state_dir)))
    cfg.models_dir = Path(os.path.expanduser(str(cfg.models_dir)))
    if cfg.inbox_dir is not None:
        cfg.inbox_dir = Path(os.path.expanduser(str(cfg.inbox_dir)))
    if not 1 <= cfg.osc_port <= 65535:
        raise ConfigError(f"osc_port must be 1-65535, got {cfg.osc_port}")
    if cfg.queue_size < 1:
        raise ConfigError(f"queue_size must be >= 1, got {cfg.queue_size}")
    from .stems import check_stem_model

    try:
        cfg.stems_model = check_stem_model(cfg.stems_model)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return cfg


def _engine_urls(value) -> list[str]:
    """``engine``: a URL, ``"URL,URL"`` or a list of URLs."""
    from .remote.client import parse_engine_urls

    if not isinstance(value, (str, list)) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
        raise ConfigError("engine must be a URL or a list of URLs (http://HOST:PORT)")
    try:
        return parse_engine_urls(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _coerce(kind, value):
    if kind is Path:
        return Path(os.path.expanduser(str(value)))
    if kind is bool:  # TOML true/false only: bool("false") would be True
        if not isinstance(value, bool):
            raise TypeError(f"not a boolean: {value!r}")
        return value
    return kind(value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (then the daemon may run without a token)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def trust_defaults(roots: list[Path], *, host: str, output_dir: Path, home: Path, is_root: bool
                   ) -> tuple[list[Path], list[str]]:
    """The folders requests may name, and warnings for the log, for a daemon listening on ``host``.

    Configured ``roots`` are kept. Without any, a daemon on loopback serves the user at this machine
    (any path); a daemon reachable from the network limits paths to the output folder and the
    user's home. Running as root off loopback is warned about loudly: root's home holds the system.
    """
    warnings = []
    if not roots and not is_loopback(host):
        roots = [Path(output_dir).expanduser().resolve(), Path(home).resolve()]
        warnings.append(f"listening on {host}: requests may only name files and folders under "
                        f"{roots[0]} and {roots[1]} (set `roots` in the config file to change that)")
    if is_root and not is_loopback(host):
        warnings.append("RUNNING AS ROOT while listening on the network: any client with the token can make the "
                        "daemon write files as root; run it as a normal user")
    return roots, warnings
