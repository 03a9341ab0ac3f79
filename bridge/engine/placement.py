"""Say what runs where: device, dtype and why, in one line; and, when an NVIDIA GPU and torch do
not fit together, one line saying what to run.

Used by set-up's last line (``python -m bridge.engine.placement``) and the daemon's ready line
(:func:`placement_line`). The decisions are pure functions of plain values (``explain``,
``gpu_advice``), tested with simulated inputs; ``placement_line`` only gathers those values.
"""

from __future__ import annotations

import shutil
import subprocess
import sys


def explain(device: str, dtype: str, requested_device: str = "auto", requested_dtype: str = "auto",
            gpu_name: str | None = None, cpu_bf16: bool = False) -> str:
    """``"cuda (NVIDIA RTX 4090), fp16: ..."``: where the model runs, in what dtype, and why."""
    where = f"{device} ({gpu_name})" if gpu_name else device
    if requested_device != "auto":
        why_device = f"--device {requested_device} asked for"
    elif device == "cuda":
        why_device = "torch sees a CUDA GPU"
    elif device == "mps":
        why_device = "torch sees the Apple GPU (MPS)"
    else:
        why_device = "no GPU that torch can use"
    if requested_dtype != "auto":
        why_dtype = f"--dtype {requested_dtype} asked for"
    elif dtype == "fp16":
        why_dtype = "half precision on the GPU"
    elif dtype == "bf16":
        why_dtype = "this CPU computes bf16 natively"
    elif device == "cpu":
        why_dtype = "this CPU has no native bf16" if not cpu_bf16 else "fp32 chosen"
    else:
        why_dtype = "fp32 is what MPS runs reliably"
    return f"{where}, {dtype}: {why_device}; {why_dtype}"


def gpu_advice(nvidia_driver: str | None, torch_version: str, torch_cuda: str | None, cuda_available: bool,
               python: str = "python", setup_command: str = "bash scripts/serve.sh") -> str | None:
    """One line saying what to run when the NVIDIA GPU and torch do not fit together, else None.

    ``nvidia_driver``: the driver nvidia-smi reports (None: no NVIDIA GPU); ``torch_cuda``:
    ``torch.version.cuda`` (None for CPU and MPS builds); ``cuda_available``:
    ``torch.cuda.is_available()``.
    """
    if nvidia_driver and not torch_cuda:
        return (f"an NVIDIA GPU (driver {nvidia_driver}) is present but torch {torch_version} is a CPU build: "
                f"run \"{python}\" -m pip uninstall -y torch, then {setup_command} (set-up installs the CUDA "
                "build for this driver)")
    if nvidia_driver and torch_cuda and not cuda_available:
        return (f"torch {torch_version} is built for CUDA {torch_cuda} but cannot use the NVIDIA GPU (driver "
                f"{nvidia_driver}): update the NVIDIA driver, or run \"{python}\" -m pip uninstall -y torch, then "
                f"{setup_command} (set-up picks the build this driver supports)")
    if torch_cuda and not nvidia_driver and not cuda_available:
        return (f"torch {torch_version} is a CUDA build but no NVIDIA GPU was found: it runs on the CPU "
                f"(fine; the CPU build is smaller: \"{python}\" -m pip uninstall -y torch, then {setup_command})")
    return None


def nvidia_driver_version() -> str | None:
    """The NVIDIA driver version from nvidia-smi, or None (no nvidia-smi, or it fails)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def setup_command() -> str:
    return "scripts\\serve.cmd" if sys.platform == "win32" else "bash scripts/serve.sh"


def placement_line(device: str, dtype, requested_device: str = "auto", requested_dtype: str = "auto") -> str:
    """The one line for the daemon's ready line and set-up's end: where it runs and why, plus
    the GPU/torch advice when they do not fit. ``dtype`` may be a torch dtype or a name."""
    import torch

    from .specs import cpu_has_fast_bf16

    name = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}.get(str(dtype), str(dtype))
    gpu_name = None
    if device == "cuda":
        try:
            gpu_name = torch.cuda.get_device_name(0)
        except Exception:  # pragma: no cover - needs a GPU
            gpu_name = None
    line = explain(device, name, requested_device, requested_dtype, gpu_name,
                   cpu_bf16=device == "cpu" and cpu_has_fast_bf16())
    advice = gpu_advice(nvidia_driver_version(), torch.__version__, torch.version.cuda, torch.cuda.is_available(),
                        python=sys.executable, setup_command=setup_command())
    return f"{line}. {advice}" if advice else line


def main() -> int:
    """Print where a model would run with ``--device auto --dtype auto`` (set-up's last line)."""
    from .specs import pick_device, pick_dtype

    device = pick_device("auto")
    print(f"runs on {placement_line(device, pick_dtype(device, 'auto'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
