"""What differs on macOS, Windows and GPUs, decided by pure functions or exercised here for real
(issue 14): OSC on both loopback families, Windows file-in-use retries (tests/test_faults.py)."""

from __future__ import annotations

import socket

import pytest

from bridge.osc import bind_addresses, build_message, parse_packet
from daemon_helpers import start_inproc_daemon


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_loopback_hosts_listen_on_both_families():
    assert bind_addresses("127.0.0.1") == ["127.0.0.1", "::1"]
    assert bind_addresses("localhost") == ["127.0.0.1", "::1"]
    assert bind_addresses("::1") == ["127.0.0.1", "::1"]
    assert bind_addresses("0.0.0.0") == ["0.0.0.0"]
    assert bind_addresses("192.168.1.20") == ["192.168.1.20"]


@pytest.fixture
def daemon_default_host(engine, tmp_path):
    d = start_inproc_daemon(engine, tmp_path)
    assert d.cfg.host == "127.0.0.1"  # the default
    yield d
    d.stop()


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("family,host", [(socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")])
def test_ping_on_either_loopback_is_answered_on_the_same_family(daemon_default_host, family, host):
    """macOS sends to ::1 for `localhost`: the default daemon must hear it and answer from ::1."""
    port = daemon_default_host.osc.address[1]
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.bind((host, 0))
        client.settimeout(10)
        client.sendto(build_message("/musicgen/ping", []), (host, port))
        data, sender = client.recvfrom(65536)
    assert parse_packet(data)[0][0] == "/musicgen/pong"
    assert sender[0] == host and sender[1] == port  # from the socket the request came in on


# --- memory: admission by estimate, and an out-of-memory that still happens ----------------------

def test_memory_estimate_grows_with_rows_and_length():
    from bridge.engine.memory import DecoderSize, job_bytes

    small_fp16 = DecoderSize(layers=24, hidden=1024, codebooks=4, vocab=2048, max_positions=2048, bytes_per_value=2)
    one = job_bytes(small_fp16, duration_s=30, variations=1, guidance=True)
    eight = job_bytes(small_fp16, duration_s=30, variations=8, guidance=True)
    kv_eight = 2 * 24 * 16 * (1500 + 4) * 1024 * 2  # the static cache of 8 variations with guidance
    assert eight > kv_eight > 2.3e9 and eight - kv_eight < 3e9
    assert 7.5 < eight / one < 8.5
    assert job_bytes(small_fp16, duration_s=2, variations=1, guidance=True) < one / 5
    fp32 = DecoderSize(layers=24, hidden=1024, codebooks=4, vocab=2048, max_positions=2048, bytes_per_value=4)
    assert job_bytes(fp32, duration_s=30, variations=8, guidance=True) > eight
    # 300 s: the cache holds one 30 s window, the codec the whole clip
    assert job_bytes(small_fp16, duration_s=300, variations=1, guidance=True) < 10 * one


def test_fits_and_out_of_memory_recognised():
    import torch

    from bridge.engine.memory import fits, is_out_of_memory

    assert fits(10, None) and fits(90, 100) and not fits(95, 100)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_a_job_that_cannot_fit_is_refused_and_not_queued(daemon_default_host, monkeypatch):
    from bridge.engine import memory
    from daemon_helpers import OscClient

    d = daemon_default_host
    monkeypatch.setattr(memory, "free_bytes", lambda device: 50_000_000)  # a device with 50 MB free
    c = OscClient(d.osc.address[1])
    try:
        c.send("/musicgen/generate", "big", "x", "duration", 30.0, "variations", 8)
        err = c.wait_for("/musicgen/error", "big", timeout=10)
        assert err[1] == "out_of_memory" and "GB" in err[2]
        assert d.journal.latest_state("big") is None and len(d.queue) == 0
        c.send("/musicgen/generate", "small", "x", "duration", 0.1)  # a small one still fits
        c.wait_for("/musicgen/done", "small", timeout=60)
    finally:
        c.close()


def test_out_of_memory_mid_job_fails_only_that_job(daemon_default_host, monkeypatch):
    import torch

    from daemon_helpers import OscClient

    d = daemon_default_host
    real_generate = d.engine.generate

    def generate_then_oom(cond, duration_s, sampling, **kw):
        if cond.prompt == "too big":
            kw["hook"](0.3)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.50 GiB")
        return real_generate(cond, duration_s, sampling, **kw)

    monkeypatch.setattr(d.engine, "generate", generate_then_oom)
    c = OscClient(d.osc.address[1])
    try:
        c.send("/musicgen/generate", "oom", "too big", "duration", 0.2)
        err = c.wait_for("/musicgen/error", "oom", timeout=30)
        assert err[1] == "out_of_memory"
        c.send("/musicgen/generate", "after", "fine", "duration", 0.1)
        c.wait_for("/musicgen/done", "after", timeout=60)
    finally:
        c.close()


def test_microsoft_store_python_is_recognised():
    from pathlib import Path

    from bridge.config import store_python_redirect

    store = r"C:\Program Files\WindowsApps\PythonSoftwareFoundation.Python.3.12_3.12.752.0_x64__qbz5n2kfra8p0"
    local = r"C:\Users\Zoë Müller\AppData\Local"
    assert store_python_redirect(store, local) == (
        Path(local) / "Packages" / "PythonSoftwareFoundation.Python.3.12_qbz5n2kfra8p0" / "LocalCache" / "Local")
    assert store_python_redirect(r"C:\Users\me\AppData\Local\Programs\Python\Python312", local) is None
    assert store_python_redirect("/usr/local", "/tmp") is None


# --- MIDI per OS ------------------------------------------------------------------------------

class _WinMMOnlyRtmidi:
    """A stand-in python-rtmidi as on Windows: only the WinMM API, which cannot make virtual ports
    (rtmidi raises "Virtual ports are not supported by the Windows MultiMedia API")."""

    API_UNSPECIFIED, API_MACOSX_CORE, API_LINUX_ALSA, API_UNIX_JACK, API_WINDOWS_MM, API_RTMIDI_DUMMY = range(6)

    @staticmethod
    def get_compiled_api():
        return [_WinMMOnlyRtmidi.API_WINDOWS_MM]

    class MidiIn:
        def __init__(self, *a, **kw):
            pass

        def open_virtual_port(self, name):
            raise NotImplementedError("Virtual ports are not supported by the Windows MultiMedia API.")

    MidiOut = MidiIn


def test_virtual_ports_on_winmm_are_refused_in_one_line():
    from bridge.midi.ports import virtual_port_problem

    line = virtual_port_problem(["winmm"], virtual_in=True, virtual_out=False)
    assert "loopMIDI" in line and "--midi-connect" in line and "\n" not in line
    assert virtual_port_problem(["winmm"], virtual_in=False, virtual_out=False) is None  # connect mode works
    assert "--midi-out" in virtual_port_problem(["winmm"], virtual_in=False, virtual_out=True)
    assert virtual_port_problem(["jack", "alsa"], virtual_in=True, virtual_out=True) is None
    assert virtual_port_problem(["coremidi"], virtual_in=True, virtual_out=True) is None


def test_serve_midi_in_on_winmm_stops_with_one_line(monkeypatch, capsys, tiny_model, tmp_path):
    """No retry loop: `serve --midi-in` on a WinMM-only rtmidi ends at once with the loopMIDI line."""
    import sys

    from bridge import cli
    from bridge.midi import ports

    monkeypatch.setitem(sys.modules, "rtmidi", _WinMMOnlyRtmidi)
    monkeypatch.setattr(ports, "rtmidi", _WinMMOnlyRtmidi)
    rc = cli.main(["serve", "--model", str(tiny_model), "--state-dir", str(tmp_path / "s"), "--midi-in"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "loopMIDI" in err[0] and err[0].startswith("musicgen-bridge: error:")
    rc = cli.main(["serve", "--model", str(tiny_model), "--state-dir", str(tmp_path / "s"),
                   "--midi-connect", "MusicGen Bridge", "--midi-out", "Feedback"])
    assert rc == 1 and "--midi-out" in capsys.readouterr().err


def test_midi_out_connect_flag_reaches_the_midi_config(tmp_path):
    pytest.importorskip("rtmidi", reason="python-rtmidi (the [midi] extra) is not installed")
    from bridge.cli import build_parser
    from bridge.config import build_serve_config
    from bridge.serve import midi_config

    args = build_parser().parse_args(["serve", "--midi-api", "jack", "--midi-connect", "Pads",
                                      "--midi-out-connect", "Pad Lights"])
    midi = midi_config(build_serve_config({}), args)
    assert (midi.connect, midi.out_connect, midi.out_name) == ("Pads", "Pad Lights", None)


# --- Apple MPS and CUDA decisions, with stand-ins (no Mac or GPU here) -----------------------------

def test_a_draw_never_returns_a_code_of_probability_zero(monkeypatch):
    """Stand-in for torch 2.13's multinomial on MPS (pytorch#192577): it returns an index whose
    probability is zero; the guard replaces it by the row's one possible code."""
    import torch

    from bridge.engine import sampling
    from bridge.engine.generation import Sampling

    scores = torch.full((3, 2048), -float("inf"))
    for row, code in enumerate((5, 700, 2047)):
        scores[row, code] = 0.0  # after top-k masking only one code is possible in each row
    monkeypatch.setattr(torch, "multinomial", lambda probs, num_samples: torch.zeros((probs.shape[0], 1),
                                                                                      dtype=torch.long))
    tokens = sampling.choose_tokens(scores, Sampling(top_k=1))
    assert tokens.tolist() == [5, 700, 2047]
    assert "mps" in sampling.DRAW_ON_CPU and "cuda" not in sampling.DRAW_ON_CPU


def test_half_precision_and_codec_on_the_cpu_for_mps(tiny_model):
    import dataclasses

    import torch

    from bridge.engine import place_codec
    from bridge.engine.codec import codec_on_cpu
    from bridge.engine.loading import load_model
    from bridge.engine.specs import pick_dtype

    assert pick_dtype("mps") == torch.float16 and pick_dtype("cuda") == torch.float16
    assert pick_dtype("mps", "fp32") == torch.float32
    assert codec_on_cpu("mps") and not codec_on_cpu("cuda") and not codec_on_cpu("cpu")
    lm = load_model(str(tiny_model), device="cpu", dtype="bf16")
    as_if_mps = dataclasses.replace(lm, device="mps")  # the same record, as the MPS path sees it
    place_codec(as_if_mps, "transformers")
    assert next(lm.model.audio_encoder.parameters()).dtype == torch.bfloat16  # transformers decodes in place
    place_codec(as_if_mps, "fast")
    param = next(lm.model.audio_encoder.parameters())
    assert param.device.type == "cpu" and param.dtype == torch.float32
    assert next(lm.model.decoder.parameters()).dtype == torch.bfloat16  # the decoder is left alone


@pytest.mark.parametrize("message,needle", [
    ("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)", "not enough memory"),
    ("CUDA error: no kernel image is available for execution on the device", "not supported by the installed torch"),
    ("The NVIDIA driver on your system is too old (found version 11040)", "NVIDIA driver"),
    ("", "cannot put model"),
])
def test_gpu_load_failures_are_one_line(message, needle):
    from bridge.engine.loading import device_error_line

    line = device_error_line(RuntimeError(message), "small", "cuda")
    assert needle in line and "\n" not in line and "--device cpu" in line


def test_gpu_check_without_a_gpu_says_so_in_one_line():
    import subprocess
    import sys
    from pathlib import Path

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: bench/gpu_check.py would run for minutes")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "bench" / "gpu_check.py"), "--device", "cuda"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.count("\n") == 1 and "nothing to check" in r.stdout, r.stdout + r.stderr
