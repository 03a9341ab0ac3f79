"""What runs where (device, dtype, why, GPU/torch advice) and the first download's progress
bars: pure decisions with simulated inputs, and the hub library's real progress-bar switch."""

from __future__ import annotations

import io
import subprocess
import sys

from conftest import ROOT

from bridge.engine.loading import download_note, download_progress, quiet_transformers
from bridge.engine.placement import explain, gpu_advice


def test_explain_names_device_dtype_and_why():
    assert explain("cuda", "fp16", gpu_name="NVIDIA GeForce RTX 4090") == \
        "cuda (NVIDIA GeForce RTX 4090), fp16: torch sees a CUDA GPU; half precision on the GPU"
    assert explain("mps", "fp32") == "mps, fp32: torch sees the Apple GPU (MPS); fp32 is what MPS runs reliably"
    assert explain("cpu", "bf16", cpu_bf16=True) == \
        "cpu, bf16: no GPU that torch can use; this CPU computes bf16 natively"
    assert explain("cpu", "fp32") == "cpu, fp32: no GPU that torch can use; this CPU has no native bf16"
    assert explain("cpu", "fp32", "cpu", "fp32") == "cpu, fp32: --device cpu asked for; --dtype fp32 asked for"


def test_gpu_advice_for_each_mismatch():
    # NVIDIA GPU, CPU torch: what to run
    line = gpu_advice("560.94", "2.13.0+cpu", None, False, python="C:\\mgb\\.venv\\Scripts\\python.exe",
                      setup_command="scripts\\serve.cmd")
    assert "is a CPU build" in line and '"C:\\mgb\\.venv\\Scripts\\python.exe" -m pip uninstall -y torch' in line
    assert "scripts\\serve.cmd" in line
    # CUDA torch the driver cannot run
    assert "update the NVIDIA driver" in gpu_advice("470.256.02", "2.13.0+cu130", "13.0", False)
    # CUDA torch, no NVIDIA GPU
    assert "no NVIDIA GPU was found" in gpu_advice(None, "2.13.0", "13.0", False)
    # everything fits: nothing to say
    assert gpu_advice("580.95.05", "2.13.0+cu130", "13.0", True) is None
    assert gpu_advice(None, "2.13.0+cpu", None, False) is None
    assert gpu_advice(None, "2.13.0", None, False) is None          # macOS (MPS build)


def test_placement_module_prints_one_line_for_this_machine():
    out = subprocess.run([sys.executable, "-m", "bridge.engine.placement"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("runs on cpu, ")   # no GPU on these machines


def test_first_download_turns_the_hub_progress_bars_on_and_off_again():
    from huggingface_hub.utils import are_progress_bars_disabled

    quiet_transformers()
    assert are_progress_bars_disabled()
    stream = io.StringIO()
    with download_progress("small", "facebook/musicgen-small", stream=stream):
        assert not are_progress_bars_disabled()
    assert are_progress_bars_disabled()
    note = stream.getvalue()
    assert note == download_note("small", "facebook/musicgen-small") + "\n"
    assert "facebook/musicgen-small" in note and "about 2.4 GB" in note and "only this once" in note
