"""Jam lead over time: does a jam keep ahead of playback on this machine? (issue 19)

    python bench/jam_lead.py --arch tiny|small [--segments 16] [--bpm 93.5] [--beats-per-bar 3.5]
                             [--bars 2] [--device auto|cpu|cuda] [--decoder auto|fast|transformers]

Runs the real daemon in this process (OSC over UDP on 127.0.0.1, journal, files in a temporary
folder) with ``--arch``'s weights: ``tiny`` is the test model, ``small`` musicgen-small's
architecture with random weights (bench/decode.py; nothing is downloaded; speed does not depend on
the weights' values, but the text tokenizer is replaced by random token ids). It starts one jam of
``--segments`` segments with ``ahead`` at its maximum (so the lead shows raw speed, not the
daemon's waiting) and says ``launched`` as segment 0 is done, as the device does when playback
starts.

Per segment it prints the wall time since the start, the seconds of music made per second spent
on that segment, and the lead reported in ``jam_segment`` (bars of music ready beyond playback).
The jam keeps up when the lead never falls below 0: generation at least as fast as playback. The
last line is ``keeps_up: yes|no, mean speed X.XX``. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class RandomTokenizer:
    """Stands in for T5's tokenizer with the random-weights architecture: a fixed 12-token prompt."""

    def __call__(self, texts, padding=True, return_tensors="pt"):
        import torch

        ids = torch.randint(2, 32000, (len(texts), 12), generator=torch.Generator().manual_seed(1))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def engine_for(arch: str, device: str, decoder: str):
    from bridge.engine.generation import DECODERS, Engine

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if arch == "tiny":
        from bridge.engine import build_engine
        from bridge.engine.test_model import make_test_model

        path = Path(tempfile.gettempdir()) / "musicgen-bridge-bench-tiny"
        if not (path / "config.json").exists():
            make_test_model(path)
        return build_engine(str(path), device=device, decoder=decoder)
    from decode import build_small, loaded_for

    from bridge.engine.specs import pick_dtype

    lm = loaded_for(build_small(), "small (random weights)", device)
    lm.dtype = pick_dtype(device, "auto")  # as the daemon loads small (bf16 on a CPU with AVX512-BF16)
    lm.model.to(lm.dtype)
    lm.tokenizer = RandomTokenizer()
    if decoder == "auto":
        decoder = "fast" if "fast" in DECODERS else "transformers"
    return Engine(lm, decoder=decoder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=("tiny", "small"), default="tiny")
    ap.add_argument("--segments", type=int, default=16)
    ap.add_argument("--bpm", type=float, default=93.5)
    ap.add_argument("--beats-per-bar", type=float, default=3.5)
    ap.add_argument("--bars", type=float, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--decoder", default="auto")
    args = ap.parse_args()

    from bridge.config import ServeConfig
    from bridge.daemon import Daemon
    from bridge.osc import build_message, parse_packet

    engine = engine_for(args.arch, args.device, args.decoder)
    d = engine.describe()
    print(f"model {d['model']} on {d['device']} ({d['dtype']}, decoder {d['decoder']}); "
          f"{args.segments} segments of {args.bars:g} bars of {args.beats_per_bar:g} beats at {args.bpm:g} bpm")
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = ServeConfig(osc_port=port, output_dir=Path(tmp) / "out", state_dir=Path(tmp) / "state")
        daemon = Daemon(cfg, engine)
        daemon.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(600)

        def send(*a):
            sock.sendto(build_message("/musicgen/jam", list(a)), ("127.0.0.1", port))

        t0 = time.monotonic()
        send("bench", "start", "prompt", "dusty soul groove with rhodes", "bpm", args.bpm, "beats_per_bar",
             args.beats_per_bar, "bars", args.bars, "segments", args.segments, "ahead", 64,
             "reply_port", sock.getsockname()[1])
        last_t, speeds, leads = t0, [], []
        print(f"{'segment':>7} {'t_s':>8} {'speed':>7} {'lead_bars':>10}")
        try:
            while True:
                data, _ = sock.recvfrom(65536)
                for address, a in parse_packet(data):
                    if address == "/musicgen/error":
                        print("error:", a)
                        return 1
                    if address == "/musicgen/jam_segment":
                        now = time.monotonic()
                        if a[1] == 0:
                            send("bench", "launched", "reply_port", sock.getsockname()[1])
                        speed = a[4] / (now - last_t)
                        last_t = now
                        speeds.append(speed)
                        leads.append(a[5])
                        print(f"{a[1]:>7} {now - t0:>8.2f} {speed:>7.2f} {a[5]:>10.2f}")
                    if address == "/musicgen/jam_ended":
                        keeps = min(leads[1:] or leads) >= 0
                        print(f"ended: {a[1]} after {a[2]} segments")
                        print(f"keeps_up: {'yes' if keeps else 'no'}, mean speed {sum(speeds) / len(speeds):.2f}")
                        return 0
        finally:
            daemon.stop()
            sock.close()


if __name__ == "__main__":
    sys.exit(main())
