"""REAPER: result files in ``<out_dir>/results/`` and an optional OSC nudge.

Lua inside REAPER has no sockets, so a deferred ReaScript polls ``<out_dir>/results/`` for
``<id>.json`` and moves each to ``results/imported/`` once it has imported the clips. When the
config names REAPER's OSC control surface and the import script's command id, the daemon also
sends ``/action/str <command id>`` so the import runs at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..clips import write_json_atomic

log = logging.getLogger("bridge.daw.reaper")

RESULTS_DIR = "results"
IMPORTED_DIR = "imported"


def result_path(out_dir: str | Path, job_id: str) -> Path:
    return Path(out_dir) / RESULTS_DIR / f"{job_id}.json"


def already_imported(out_dir: str | Path, job_id: str) -> bool:
    return (Path(out_dir) / RESULTS_DIR / IMPORTED_DIR / f"{job_id}.json").exists()


def write_result(out_dir: str | Path, job_id: str, result: dict) -> Path | None:
    """Write ``<out_dir>/results/<id>.json`` atomically, unless REAPER already imported it."""
    if already_imported(out_dir, job_id):
        log.info("result %s was already imported; not written again", job_id)
        return None
    path = result_path(out_dir, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, result)


def nudge(send, reaper_cfg: dict) -> None:
    """Ask REAPER's OSC control surface to run the import action (when configured)."""
    target = reaper_cfg.get("osc")
    action = reaper_cfg.get("import_action")
    if not target or not action:
        return
    try:
        host, port = str(target).rsplit(":", 1)
        send((host, int(port)), "/action/str", [str(action)])
    except (ValueError, OSError) as exc:
        log.warning("cannot nudge REAPER at %s: %s", target, exc)
