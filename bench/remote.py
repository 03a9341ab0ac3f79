"""The remote hop's cost per job: a local engine against a `musicgen-bridge worker` on loopback.

    python bench/remote.py [--model DIR] [--seconds 2,30] [--runs 3] [--variations 1] [--decoder D]

Starts one worker subprocess (same model, device cpu) on 127.0.0.1 and, in this process, the
same model as a local :class:`bridge.engine.Engine` and a :class:`bridge.remote.RemoteEngine`
pointed at the worker. For each clip length it runs the same job (same seed) both ways, one after
the other, ``--runs`` times, and prints the medians of:

- ``first``: request to the first progress call (the hook), seconds;
- ``tail``: the last progress call (100 %) to the audio in hand, seconds (writing the clip is
  the same code both ways and not timed);
- ``added``: remote minus local for each, in milliseconds: the hop's overhead;
- bytes sent and received by the remote job (JSON, base64 float32 audio, SSE framing).

Without ``--model`` it builds the tiny test model (random weights, nothing downloaded): the
overhead does not depend on the model, only the audio's size does. Both engines share this
machine's CPU cores with the worker, so the generation itself is slower than alone; the overhead
is what to read. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def start_worker(model: str, decoder: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "worker", "--model", model, "--device", "cpu",
                             "--decoder", decoder, "--port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    end = time.monotonic() + 300
    while time.monotonic() < end:
        m = re.search(r"worker ready: .* (http://\S+)/v1", log_path.read_text())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"worker exited: {log_path.read_text()}")
        time.sleep(0.1)
    raise SystemExit("worker not ready in 300 s")


def one_job(engine, seconds: float, variations: int, seed: int) -> dict:
    """One generation in its own thread, as the daemon's and the worker's job threads run it (torch's
    thread pool behaves differently in the main thread: a fair comparison runs both alike)."""
    import threading

    box: dict = {}
    t = threading.Thread(target=lambda: box.update(_job(engine, seconds, variations, seed)))
    t.start()
    t.join()
    return box


def _job(engine, seconds: float, variations: int, seed: int) -> dict:
    from bridge.engine import Conditioning, Sampling

    marks: dict = {}

    def hook(fraction: float) -> None:
        now = time.perf_counter()
        if fraction > 0 and "first" not in marks:
            marks["first"] = now
        if fraction >= 1.0 and "last" not in marks:
            marks["last"] = now

    t0 = time.perf_counter()
    out = engine.generate(Conditioning(prompt="bench"), seconds, Sampling(), seed=seed, variations=variations,
                          hook=hook)
    t_end = time.perf_counter()
    return {"first": marks["first"] - t0, "tail": t_end - marks["last"], "total": t_end - t0, "audio": out.audio}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder (default: build the tiny test model)")
    ap.add_argument("--seconds", default="2,30", help="clip lengths, comma-separated (default 2,30)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variations", type=int, default=1)
    ap.add_argument("--decoder", default="auto")
    args = ap.parse_args()

    import numpy as np

    from bridge.engine import build_engine
    from bridge.remote.client import RemoteEngine

    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    model = args.model
    if not model:
        from bridge.engine.test_model import make_test_model

        model = str(tmp / "tiny")
        make_test_model(model)
    proc, url = start_worker(model, args.decoder, tmp / "worker.log")
    try:
        local = build_engine(model, device="cpu", decoder=args.decoder)
        remote = RemoteEngine([url]).connect()
        print(f"model {model}; worker {url}; decoder {local.decoder}; dtype {local.describe()['dtype']}; "
              f"{os.cpu_count()} CPUs; runs {args.runs}")
        one_job(local, 0.5, 1, 0)  # warm both (first-call costs are not the hop's)
        one_job(remote, 0.5, 1, 0)
        for seconds in [float(s) for s in args.seconds.split(",")]:
            rows = {"local": [], "remote": []}
            sent = received = 0
            for run in range(args.runs):
                rows["local"].append(one_job(local, seconds, args.variations, 100 + run))
                r = one_job(remote, seconds, args.variations, 100 + run)
                rows["remote"].append(r)
                sent, received = remote.last_job_bytes["sent"], remote.last_job_bytes["received"]
                assert np.array_equal(r["audio"], rows["local"][-1]["audio"]), "remote audio differs from local"
            med = {k: {m: statistics.median(x[m] for x in v) for m in ("first", "tail", "total")} for k, v in rows.items()}
            audio_bytes = rows["remote"][0]["audio"].nbytes
            print(f"{seconds:g} s x{args.variations}: first progress local {med['local']['first'] * 1000:.1f} ms, "
                  f"remote {med['remote']['first'] * 1000:.1f} ms (added {1000 * (med['remote']['first'] - med['local']['first']):+.1f} ms); "
                  f"last step to audio local {med['local']['tail'] * 1000:.1f} ms, remote {med['remote']['tail'] * 1000:.1f} ms "
                  f"(added {1000 * (med['remote']['tail'] - med['local']['tail']):+.1f} ms); "
                  f"total local {med['local']['total']:.2f} s, remote {med['remote']['total']:.2f} s; "
                  f"bytes sent {sent}, received {received} (audio {audio_bytes} as float32)")
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
