"""``musicgen-bridge worker``: load the model once and serve the worker API with uvicorn.

Prints ``musicgen-bridge <version> worker ready: model ... on <device>, http(s)://HOST:PORT/v1``
once it listens (with ``--port 0`` the port the system chose). Refuses to listen off loopback
without a token, and takes TLS from ``--tls-cert``/``--tls-key`` (uvicorn's own TLS).
"""

from __future__ import annotations

import logging
import os
import socket
import sys

from .. import __version__
from ..config import is_loopback
from ..errors import CliError
from .wire import MAX_BODY_BYTES, PREFIX

log = logging.getLogger("bridge.remote")

DEFAULT_PORT = 9310
TOKEN_ENV = "MUSICGEN_BRIDGE_WORKER_TOKEN"


def add_worker_parser(sub) -> None:
    w = sub.add_parser("worker", help="serve generation over HTTP for daemons on other machines (docs/remote.md)")
    w.add_argument("--model", help="short name, hub id or local folder (default: $MUSICGEN_BRIDGE_MODEL or small)")
    w.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    w.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    w.add_argument("--decoder", default="auto", help="transformers (reference) or fast when available")
    from ..cli import add_cpu_int8_flag

    add_cpu_int8_flag(w)
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)")
    w.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free)")
    w.add_argument("--token", help=f"secret every request must carry (required off loopback; or ${TOKEN_ENV})")
    w.add_argument("--tls-cert", help="PEM certificate: serve HTTPS")
    w.add_argument("--tls-key", help="PEM private key of --tls-cert")
    w.add_argument("--queue-size", type=int, default=2, help="jobs that may wait behind the running one (default 2)")
    w.add_argument("--max-upload-mb", type=float, default=MAX_BODY_BYTES / 2**20,
                   help=f"largest request body in MiB (default {MAX_BODY_BYTES // 2**20})")
    w.add_argument("--verbose", "-v", action="store_true")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def worker_main(args) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and not token:
        raise CliError(f"refusing to listen on {args.host} without --token: anyone on the network could use "
                       "this GPU; set --token SECRET (and --engine-token SECRET on the daemon)")
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be 0-65535, got {args.port}")
    if args.queue_size < 0:
        raise CliError(f"--queue-size must be >= 0, got {args.queue_size}")
    if not args.max_upload_mb > 0:
        raise CliError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path and not os.path.isfile(path):
            raise CliError(f"TLS file not found: {path}")
    try:
        import sse_starlette  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CliError("the worker needs the [worker] extra: pip install 'musicgen-bridge[worker]'") from None
    from ..engine import ModelLoadError, build_engine
    from .app import build_app
    from .jobs import JobRunner

    sock = _bind(args.host, args.port)
    try:
        engine = build_engine(args.model, device=args.device, dtype=args.dtype, decoder=args.decoder,
                              cpu_int8=bool(args.cpu_int8))
    except (ModelLoadError, ValueError) as exc:
        sock.close()
        raise CliError(str(exc)) from None
    runner = JobRunner(engine, queue_size=args.queue_size)
    app = build_app(runner, token=token, max_body_bytes=int(args.max_upload_mb * 2**20))
    return _serve(app, runner, sock, args, engine)


def _serve(app, runner, sock: socket.socket, args, engine) -> int:
    import uvicorn

    config = uvicorn.Config(app, log_level="debug" if args.verbose else "warning", access_log=bool(args.verbose),
                            ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key, timeout_graceful_shutdown=1,
                            lifespan="off")
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    scheme = "https" if args.tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host

    original_startup = server.startup

    async def startup(sockets=None):
        await original_startup(sockets=sockets)
        from ..engine.int8_switch import status

        d = engine.describe()
        int8 = f", {status(engine.cpu_int8_isa)}" if engine.cpu_int8_isa else ""
        print(f"musicgen-bridge {__version__} worker ready: model {d['model']} on {d['device']} "
              f"({d['dtype']}, {d['decoder']}{int8}), {scheme}://{shown}:{port}{PREFIX}", file=sys.stderr, flush=True)

    server.startup = startup
    try:
        server.run(sockets=[sock])
    finally:
        runner.stop()
    log.info("worker stopped")
    return 0
