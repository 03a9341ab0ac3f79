"""A GPU farm: the worker app as a Ray Serve deployment (the ``[farm]`` extra, docs/remote.md).

Each replica loads the model once and serves the same worker API (:mod:`bridge.remote.app`)
through Ray Serve's HTTP proxy, so a daemon's ``--engine http://HEAD:8000`` needs nothing else.
Ray places replicas (``num_gpus: 1`` each by default on CUDA machines) and routes each request to
a replica; one job is one HTTP request, so a job never needs a second replica. Scheduling,
placement and scaling are Ray's; nothing here schedules.

Run it with Ray's own CLI::

    serve run bridge.remote.farm:build model=small num_replicas=2 num_gpus=1 token=SECRET

or deploy ``docs/remote.md``'s config file with ``serve deploy``.
"""

from __future__ import annotations

import os

from ray import serve
from ray.serve.config import RequestRouterConfig
from ray.serve.request_router import FIFOMixin, RequestRouter

from .app import build_app
from .jobs import JobRunner
from .wire import MAX_BODY_BYTES

TOKEN_ENV = "MUSICGEN_BRIDGE_WORKER_TOKEN"


class SpreadRouter(FIFOMixin, RequestRouter):
    """Ray's routing with one change for long jobs: among replicas with equally few requests in
    flight, take them in turn (Ray's default picks two at random, so four jobs in a row may all
    land on one of two idle GPUs). Ray still picks the least busy replica and skips full ones."""

    def initialize_state(self, **kwargs):
        self._turn = 0

    async def choose_replicas(self, candidate_replicas, pending_request=None):
        if not candidate_replicas:
            return []
        ordered = sorted(candidate_replicas, key=lambda r: r.replica_id.unique_id)
        start = self._turn % len(ordered)
        self._turn += 1
        return [ordered[start:] + ordered[:start]]  # one rank: the least busy wins, ties in this order


@serve.ingress()
class FarmWorker:
    """One replica: a loaded model, its job runner and the worker app."""

    def __init__(self, model: str | None = None, device: str = "auto", dtype: str = "auto", decoder: str = "auto",
                 token: str | None = None, queue_size: int = 2, max_upload_mb: float = MAX_BODY_BYTES / 2**20,
                 cpu_int8: bool = False):
        from ..engine import build_engine

        engine = build_engine(model, device=device, dtype=dtype, decoder=decoder, cpu_int8=cpu_int8)
        self.runner = JobRunner(engine, queue_size=int(queue_size))
        self.worker_app = build_app(self.runner, token=token or os.environ.get(TOKEN_ENV) or None,
                             max_body_bytes=int(float(max_upload_mb) * 2**20))

    def __serve_build_asgi_app__(self):
        return self.worker_app


def _number(args: dict, key: str, kind, default):
    value = args.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"farm argument {key} must be a number, got {value!r}") from None


def _switch(args: dict, key: str) -> bool:
    """A true/false farm argument (``key=true``, ``key=0``, ...; absent: false)."""
    value = args.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"farm argument {key} must be true or false, got {value!r}")


def build(args: dict):
    """Ray Serve application builder (``serve run bridge.remote.farm:build key=value ...``).

    Keys: ``model``, ``device``, ``dtype``, ``decoder``, ``token``, ``queue_size``,
    ``max_upload_mb``, ``num_replicas`` (default 1), ``num_gpus`` per replica (default 1 when
    ``device`` is cuda or auto on a machine with CUDA, else 0), ``num_cpus`` per replica,
    ``cpu_int8`` (true: CPU replicas read int8 copies of the decoder's weights, as ``--cpu-int8``).
    """
    args = dict(args or {})
    queue_size = _number(args, "queue_size", int, 2)
    cpu_int8 = _switch(args, "cpu_int8")
    device = str(args.get("device", "auto"))
    default_gpus = 1.0 if device == "cuda" else 0.0
    if device == "auto":
        try:
            import torch

            default_gpus = 1.0 if torch.cuda.is_available() else 0.0
        except ImportError:  # pragma: no cover
            default_gpus = 0.0
    actor = {"num_gpus": _number(args, "num_gpus", float, default_gpus)}
    if "num_cpus" in args:
        actor["num_cpus"] = _number(args, "num_cpus", float, 1)
    deployment = serve.deployment(
        FarmWorker, name="musicgen", num_replicas=_number(args, "num_replicas", int, 1),
        ray_actor_options=actor,
        # a job is one long request; a replica takes its running job, its waiting room and a
        # few /v1/info calls; beyond that Ray keeps requests queued at its proxy
        max_ongoing_requests=queue_size + 3,
        request_router_config=RequestRouterConfig(request_router_class=SpreadRouter))
    return deployment.bind(model=args.get("model"), device=device, dtype=str(args.get("dtype", "auto")),
                           decoder=str(args.get("decoder", "auto")), token=args.get("token"),
                           queue_size=queue_size,
                           max_upload_mb=_number(args, "max_upload_mb", float, MAX_BODY_BYTES / 2**20),
                           cpu_int8=cpu_int8)
