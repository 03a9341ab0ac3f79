"""A Ray Serve farm (the [farm] extra): two replicas of the tiny model on this machine behind Ray's
HTTP proxy on loopback, one daemon with `--engine` at the proxy, four jobs on both replicas."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from daemon_helpers import DaemonProc, OscClient
from remote_helpers import ROOT, free_tcp_port

if not os.environ.get("CI"):  # CI installs the extra: there a missing Ray fails
    pytest.importorskip("ray.serve", reason="the [farm] extra is not installed (pip install -e '.[farm]')")


@pytest.fixture
def ray_farm(tiny_model, tmp_path):
    port = free_tcp_port()
    config = tmp_path / "farm.yaml"
    config.write_text(f"""\
proxy_location: HeadOnly
http_options:
  host: 127.0.0.1
  port: {port}
applications:
  - name: musicgen
    route_prefix: /
    import_path: bridge.remote.farm:build
    args:
      model: {json.dumps(str(tiny_model))}
      device: cpu
      num_replicas: 2
      num_cpus: 0.5
      num_gpus: 0
""")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "ray.log"
    serve_cli = Path(sys.executable).with_name("serve")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(serve_cli), "run", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=tmp_path, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 240
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/v1/info", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < end, "Ray Serve not ready: " + log_path.read_text()[-3000:]
            time.sleep(1.0)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # `serve run` shuts the application and its local Ray down
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ray_serve_two_replicas(ray_farm, tiny_model, tmp_path):
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--engine", ray_farm).start()
    c = OscClient(d.port)
    try:
        for i in range(4):
            c.send("/musicgen/generate", f"f{i}", "farm", "duration", 0.5, "seed", 30 + i)
        done = [c.wait_for("/musicgen/done", f"f{i}", timeout=240) for i in range(4)]
        c.drain(1.0)
        assert all(len(c.messages("/musicgen/done", f"f{i}")) == 1 for i in range(4))
    finally:
        c.close()
        assert d.stop() == 0, d.log()[-3000:]
    workers = set()
    for args in done:
        meta = json.loads(Path(args[1] + ".json").read_text())
        assert meta["engine"]["url"] == ray_farm
        workers.add(meta["engine"]["worker"])
    assert len(workers) == 2, f"all four jobs ran on {workers}"
