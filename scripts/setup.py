#!/usr/bin/env python3
"""One set-up for macOS, Windows and Linux: a suitable Python, a ``.venv``, the right torch for
this machine, the package with its extras; then, on request, the daemon or the test suite.

    python scripts/setup.py                 set up (idempotent)
    python scripts/setup.py --test          set up for the tests (test extras; Debian packages via apt)
    python scripts/setup.py serve [FLAGS]   set up, then run `musicgen-bridge serve FLAGS`
    python scripts/setup.py test [ARGS]     set up for the tests, then run pytest ARGS
    python scripts/setup.py --dry-run       print the plan as one JSON object; install nothing
    python scripts/setup.py --dry-run --simulate "os=windows arch=x86_64 python=3.13 nvidia_driver=560.94 torch=none"

The wrappers scripts/serve.sh, test.sh, setup.sh (macOS, Linux) and scripts\\serve.cmd, test.cmd,
serve.ps1, test.ps1 (Windows) only call this file. It runs on any Python 3.8+, only to find (or
refuse) an interpreter that the dependencies have wheels for (3.10-3.13); the venv gets that one.

The decisions are pure functions of a ``Machine`` (``plan_torch``, ``plan_extras``, ``make_plan``),
tested over simulated machines in tests/test_setup_plan.py; the rest runs them. Written by hand:
no installer library chooses a torch build by NVIDIA driver, and this file must run before any
dependency is installed. Facts (checked 2026-11, see docs/install.md "How the plan was checked"):

- torch 2.13.0 on PyTorch's own index: CUDA builds cu126 (Maxwell to Hopper, CUDA 12.6) and cu130
  (Turing and newer, CUDA 13.0), plus cpu. PyPI: the Linux x86_64 wheel is a CUDA 13 build of
  several GB, the Windows wheel is CPU-only, macOS arm64 needs macOS 14 (13 gets 2.11.0), Intel
  macOS stops at 2.2.2, Windows on Arm has none.
- Drivers: CUDA 13.x needs R580 (Linux 580.65.06); CUDA 12.x runs on 525.60.13+ (Linux) /
  527.41+ (Windows) through NVIDIA's minor-version compatibility; 12.6's own driver is 560.28.03 /
  560.76.
- python-rtmidi 1.5.8 (newest) has wheels for CPython 3.10-3.12 on win_amd64, macOS (arm64,
  x86_64) and manylinux (x86_64, aarch64); none for 3.13+.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
PREFERRED_PYTHONS = ((3, 12), (3, 11), (3, 13), (3, 10))   # 3.12 first: every dependency has wheels
TESTED_TORCH = "2.13.0"        # the torch release this project is tested with
MIN_TORCH = (2, 6)             # pyproject's torch>=2.6
TORCH_INDEX = "https://download.pytorch.org/whl/"

# Extras: add a new one to the list of the mode that needs it (e.g. "mcp" for the tests).
EXTRAS = {"serve": ["midi"], "test": ["test", "stems", "midi", "mcp", "worker", "farm"]}
RTMIDI_WHEEL_PYTHONS = ((3, 10), (3, 11), (3, 12))
RTMIDI_WHEEL_PLATFORMS = {("linux", "x86_64"), ("linux", "arm64"), ("macos", "x86_64"),
                          ("macos", "arm64"), ("windows", "x86_64")}
TEST_APT = (("jackd", "jackd2"), ("oscsend", "liblo-tools"), ("lua5.4", "lua5.4"),
            ("luac5.4", "lua5.4"), ("node", "nodejs"))


class CudaBuild:
    """One CUDA build of torch on PyTorch's index."""

    def __init__(self, tag, cuda, linux_driver, windows_driver, own_linux, own_windows, min_cc, max_cc=None):
        self.tag, self.cuda = tag, cuda
        self.min_driver = {"linux": linux_driver, "windows": windows_driver}
        self.own_driver = {"linux": own_linux, "windows": own_windows}   # the toolkit's own driver
        self.min_cc = min_cc


CUDA_BUILDS = (   # newest first
    CudaBuild("cu130", "13.0", (580, 65, 6), (580, 88), (580, 65, 6), (580, 88), (7, 5)),
    CudaBuild("cu126", "12.6", (525, 60, 13), (527, 41), (560, 28, 3), (560, 76), (5, 0)),
)


class NoPlan(Exception):
    """No plan is possible for this machine; the message is the one-line reason."""


class Machine:
    """What the plan depends on. ``python`` and ``nvidia_driver``/``gpu_cc`` are version tuples."""

    def __init__(self, os_name, arch, python, nvidia_driver=None, torch=None, gpu_cc=None):
        self.os, self.arch, self.python = os_name, arch, tuple(python)
        self.nvidia_driver = tuple(nvidia_driver) if nvidia_driver else None
        self.torch = torch or None
        self.gpu_cc = tuple(gpu_cc) if gpu_cc else None


def parse_version(text: str) -> tuple:
    """'560.94' -> (560, 94); '3.13' -> (3, 13); '2.13.0+cu126' -> (2, 13, 0)."""
    out = []
    for part in str(text).split("+")[0].split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    if not out:
        raise ValueError(f"not a version: {text!r}")
    return tuple(out)


def vstr(version) -> str:
    return ".".join(str(x) for x in version)


def parse_simulate(text: str) -> Machine:
    """``"os=windows arch=x86_64 python=3.13 nvidia_driver=560.94 torch=none"`` -> Machine.
    Keys: os (linux|windows|macos), arch (x86_64|arm64), python, nvidia_driver (or none), torch
    (installed version or none), gpu_cc (compute capability, optional)."""
    values = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or key not in ("os", "arch", "python", "nvidia_driver", "torch", "gpu_cc"):
            raise NoPlan(f"--simulate: bad item {item!r} (keys: os arch python nvidia_driver torch gpu_cc)")
        values[key] = value
    os_name = values.get("os", "")
    arch = {"amd64": "x86_64", "aarch64": "arm64"}.get(values.get("arch", "").lower(), values.get("arch", ""))
    if os_name not in ("linux", "windows", "macos"):
        raise NoPlan(f"--simulate: os must be linux, windows or macos, not {os_name!r}")
    if arch not in ("x86_64", "arm64"):
        raise NoPlan(f"--simulate: arch must be x86_64 or arm64, not {arch!r}")
    try:
        python = parse_version(values["python"])
        none = ("", "none", "None")
        driver = None if values.get("nvidia_driver", "none") in none else parse_version(values["nvidia_driver"])
        torch = None if values.get("torch", "none") in none else values["torch"]
        gpu_cc = None if values.get("gpu_cc", "none") in none else parse_version(values["gpu_cc"])
    except KeyError:
        raise NoPlan("--simulate: python=3.x is required") from None
    except ValueError as exc:
        raise NoPlan(f"--simulate: {exc}") from None
    return Machine(os_name, arch, python, driver, torch, gpu_cc)


# --- the decisions (pure) --------------------------------------------------------------------------

def check_python(python: tuple) -> None:
    """Raise NoPlan unless the venv can be made with this Python version."""
    if python[:2] in SUPPORTED_PYTHONS:
        return
    want = "3.10-3.13 (3.12 recommended)"
    if python[:2] < SUPPORTED_PYTHONS[0]:
        raise NoPlan(f"Python {vstr(python)} is too old: musicgen-bridge needs Python {want}; "
                     "install Python 3.12 (python.org, Homebrew, your package manager) and run this again")
    raise NoPlan(f"Python {vstr(python)} is newer than the dependencies have wheels for: musicgen-bridge "
                 f"needs Python {want}; install Python 3.12 and run this again")


def torch_build(machine: Machine, version: str) -> str:
    """What an installed torch was built for: 'cuda', 'cpu', 'mps' or 'unknown'."""
    if "+" in version:
        label = version.split("+", 1)[1]
        return "cuda" if label.startswith("cu") else ("cpu" if label.startswith("cpu") else "unknown")
    if machine.os == "macos":
        return "mps" if machine.arch == "arm64" else "cpu"
    if machine.os == "windows":
        return "cpu"                      # PyPI's Windows wheels are CPU-only
    if machine.os == "linux" and machine.arch == "x86_64":
        return "cuda"                     # PyPI's Linux x86_64 wheels are CUDA builds
    return "unknown"


def pick_cuda_build(machine: Machine):
    """(CudaBuild or None, warnings) for the NVIDIA driver and GPU of ``machine``."""
    driver, cc, os_name = machine.nvidia_driver, machine.gpu_cc, machine.os
    warnings = []
    for build in CUDA_BUILDS:
        if driver < build.min_driver[os_name]:
            continue
        if cc is not None and cc < build.min_cc:
            continue
        if driver < build.own_driver[os_name]:
            warnings.append(f"NVIDIA driver {vstr(driver)} is older than CUDA {build.cuda}'s own "
                            f"({vstr(build.own_driver[os_name])}): torch runs through CUDA minor-version "
                            "compatibility; update the driver if CUDA errors appear")
        return build, warnings
    oldest = CUDA_BUILDS[-1]
    if cc is not None and cc < oldest.min_cc:
        warnings.append(f"this GPU (compute capability {vstr(cc)}) is older than any CUDA build of torch "
                        f"{TESTED_TORCH} supports ({vstr(oldest.min_cc)}+): installing the CPU build")
    else:
        warnings.append(f"NVIDIA driver {vstr(driver)} is too old for any CUDA build of torch {TESTED_TORCH} "
                        f"(needs {vstr(oldest.min_driver[os_name])} or newer; {vstr(CUDA_BUILDS[0].min_driver[os_name])}+ "
                        "for CUDA 13): installing the CPU build; update the driver, then run set-up again "
                        "with the CPU torch removed (docs/install.md, 'Switching torch builds')")
    return None, warnings


def fresh_torch(machine: Machine) -> dict:
    """What to install when no (usable) torch is installed: {spec, index_url, reason, warnings}."""
    spec = f"torch=={TESTED_TORCH}"
    if machine.os == "macos":
        if machine.arch == "x86_64":
            raise NoPlan("Intel Macs: PyTorch's last macOS x86_64 build is torch 2.2.2 and musicgen-bridge "
                         "needs torch 2.6+: run the daemon on an Apple Silicon, Linux or Windows machine "
                         "(docs/install.md, 'Intel Macs')")
        return {"spec": f"torch>=2.6,<={TESTED_TORCH}", "index_url": None, "warnings": [],
                "reason": f"PyPI's macOS arm64 build (Apple GPU through MPS): torch {TESTED_TORCH} on "
                          "macOS 14+, 2.11.0 on macOS 13"}
    if machine.os == "windows" and machine.arch == "arm64":
        raise NoPlan("Windows on Arm: PyPI has no torch build for it: run the daemon on an x86_64 Windows, "
                     "Linux or Apple Silicon machine (docs/install.md, 'Windows on Arm')")
    if machine.nvidia_driver:
        build, warnings = pick_cuda_build(machine)
        if build is not None:
            if machine.os == "linux" and machine.arch == "arm64":
                warnings.append("Linux arm64 CUDA builds are for server GPUs (Grace Hopper, DGX Spark); "
                                "Jetson boards need NVIDIA's JetPack torch instead")
            return {"spec": spec, "index_url": TORCH_INDEX + build.tag, "warnings": warnings,
                    "reason": f"NVIDIA driver {vstr(machine.nvidia_driver)}: the CUDA {build.cuda} build "
                              f"({build.tag}) from PyTorch's index, the newest CUDA this driver"
                              f"{' and GPU' if machine.gpu_cc else ''} supports"}
    else:
        warnings = []
    if machine.os == "windows":
        return {"spec": spec, "index_url": None, "warnings": warnings,
                "reason": "no usable NVIDIA GPU: PyPI's Windows build (CPU)"}
    return {"spec": spec, "index_url": TORCH_INDEX + "cpu", "warnings": warnings,
            "reason": "no usable NVIDIA GPU: the CPU build from PyTorch's CPU index (PyPI's Linux torch "
                      "is a CUDA build of several GB)"}


def plan_torch(machine: Machine, venv_python: str = "python") -> dict:
    """What to do about torch on ``machine``: {spec, index_url, reason, warnings}. ``spec`` None
    keeps the installed torch. Raises NoPlan when no torch can run there."""
    if machine.torch:
        version = parse_version(machine.torch)
        if version[:2] >= MIN_TORCH:
            build = torch_build(machine, machine.torch)
            warnings = []
            try:
                wanted = fresh_torch(machine)
            except NoPlan:
                wanted = None
            wants_cuda = bool(wanted and wanted["index_url"] and "/cu" in wanted["index_url"])
            if wants_cuda and build in ("cpu", "unknown"):
                warnings.append(
                    f"an NVIDIA GPU is present but torch {machine.torch} is not a CUDA build: to use the GPU "
                    f"run: \"{venv_python}\" -m pip install --force-reinstall \"{wanted['spec']}\" "
                    f"--index-url {wanted['index_url']}")
            elif build == "cuda" and not machine.nvidia_driver:
                warnings.append(f"torch {machine.torch} is a CUDA build but no NVIDIA driver was found: it "
                                "runs on the CPU (the CPU build is smaller; docs/install.md, 'Switching torch builds')")
            return {"spec": None, "index_url": None, "warnings": warnings,
                    "reason": f"torch {machine.torch} is already installed: kept"}
        plan = fresh_torch(machine)
        plan["warnings"] = [f"torch {machine.torch} is older than {vstr(MIN_TORCH)}: replaced"] + plan["warnings"]
        return plan
    return fresh_torch(machine)


def plan_extras(machine: Machine, mode: str):
    """(extras to install, warnings) for ``mode`` ('serve' or 'test') on ``machine``."""
    extras, warnings = [], []
    for extra in EXTRAS[mode]:
        if extra == "midi" and not (machine.python[:2] in RTMIDI_WHEEL_PYTHONS
                                    and (machine.os, machine.arch) in RTMIDI_WHEEL_PLATFORMS):
            warnings.append(f"MIDI left out: python-rtmidi has no wheel for Python {vstr(machine.python[:2])} "
                            f"on {machine.os} {machine.arch}; the daemon runs without it (set up with "
                            "Python 3.12 for MIDI, docs/install.md 'MIDI')")
            continue
        extras.append(extra)
    return extras, warnings


def make_plan(machine: Machine, python_path: str, venv: str, mode: str = "serve", notes=()) -> dict:
    """The whole plan as the JSON object --dry-run prints. Raises NoPlan."""
    check_python(machine.python)
    venv_python = venv_python_path(Path(venv), machine.os)
    torch = plan_torch(machine, str(venv_python))
    extras, extra_warnings = plan_extras(machine, mode)
    return {"python": python_path, "python_version": vstr(machine.python), "venv": str(venv),
            "torch": {"spec": torch["spec"], "index_url": torch["index_url"], "reason": torch["reason"]},
            "extras": extras, "warnings": list(notes) + torch["warnings"] + extra_warnings}


def venv_python_path(venv: Path, os_name: str) -> Path:
    return venv / "Scripts" / "python.exe" if os_name == "windows" else venv / "bin" / "python"


# --- looking at this machine -------------------------------------------------------------------------

def this_os() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


def this_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def read_nvidia() -> tuple:
    """(driver version tuple or None, compute capability tuple or None) from nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, None
    for fields in ("driver_version,compute_cap", "driver_version"):
        try:
            out = subprocess.run([exe, f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None, None
        if out.returncode == 0 and out.stdout.strip():
            first = [x.strip() for x in out.stdout.strip().splitlines()[0].split(",")]
            try:
                driver = parse_version(first[0])
                cc = parse_version(first[1]) if len(first) > 1 else None
            except ValueError:
                continue
            return driver, cc
    return None, None


def probe_python(command) -> tuple:
    """(executable path, version tuple) of an interpreter command, or None."""
    code = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
    try:
        out = subprocess.run(list(command) + ["-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or len(lines) < 2:
        return None
    try:
        return lines[0], parse_version(lines[1])
    except ValueError:
        return None


def candidate_pythons() -> list:
    """Interpreter commands to try, best first (after the one running this file)."""
    found = []
    if this_os() == "windows" and shutil.which("py"):
        found += [["py", f"-{major}.{minor}"] for major, minor in PREFERRED_PYTHONS]
    for major, minor in PREFERRED_PYTHONS:
        exe = shutil.which(f"python{major}.{minor}")
        if exe:
            found.append([exe])
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for major, minor in PREFERRED_PYTHONS:
            for folder in sorted(versions.glob(f"{major}.{minor}.*"), reverse=True):
                for exe in (folder / "bin" / "python", folder / "python.exe"):
                    if exe.exists():
                        found.append([str(exe)])
    return found


def find_python() -> tuple:
    """(path, version) of the interpreter to make the venv with. Raises NoPlan."""
    forced = os.environ.get("MUSICGEN_BRIDGE_PYTHON")
    if forced:
        probed = probe_python([forced])
        if probed is None:
            raise NoPlan(f"MUSICGEN_BRIDGE_PYTHON={forced} does not run")
        check_python(probed[1])
        return probed
    here = (sys.executable, tuple(sys.version_info[:3]))
    if here[1][:2] in SUPPORTED_PYTHONS:
        return here
    for command in candidate_pythons():
        probed = probe_python(command)
        if probed and probed[1][:2] in SUPPORTED_PYTHONS:
            return probed
    raise NoPlan(f"no Python 3.10-3.13 found (this one is {vstr(here[1])} at {here[0]}; also looked for "
                 "py -3.x, python3.1x on PATH and pyenv): install Python 3.12 (python.org, Homebrew, "
                 "your package manager) and run this again")


def venv_state(venv: Path, os_name: str):
    """('missing'|'ok'|'unsuitable'|'broken'|'not-a-venv', version or None) of ``venv``."""
    if not venv.exists():
        return "missing", None
    if not (venv / "pyvenv.cfg").is_file():
        return "not-a-venv", None
    probed = probe_python([str(venv_python_path(venv, os_name))])
    if probed is None:
        return "broken", None
    return ("ok" if probed[1][:2] in SUPPORTED_PYTHONS else "unsuitable"), probed[1]


def ensure_venv(venv: Path, python: str, os_name: str, with_pip: bool = True) -> bool:
    """Make ``venv`` with ``python`` unless it holds a suitable one; rebuild an unsuitable or
    broken one. Returns whether it was (re)made. Raises NoPlan for a folder that is no venv."""
    state, version = venv_state(venv, os_name)
    if state == "ok":
        return False
    if state == "not-a-venv":
        raise NoPlan(f"{venv} exists but is not a virtual environment (no pyvenv.cfg): move it away")
    if state in ("unsuitable", "broken"):
        why = f"Python {vstr(version)}" if version else "an interpreter that no longer runs"
        say(f"rebuilding {venv}: it was made with {why}")
        shutil.rmtree(venv)
    say(f"creating {venv} with {python}")
    cmd = [python, "-m", "venv", str(venv)] + ([] if with_pip else ["--without-pip"])
    run(cmd)
    return True


def installed_torch(venv: Path, os_name: str):
    """The torch version installed in ``venv``, or None."""
    code = "import importlib.metadata as m; print(m.version('torch'))"
    try:
        out = subprocess.run([str(venv_python_path(venv, os_name)), "-c", code], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def this_machine_plan(venv: Path, mode: str) -> dict:
    """The plan for this machine (reads it; installs nothing)."""
    os_name = this_os()
    notes = []
    state, version = venv_state(venv, os_name)
    if state == "not-a-venv":
        raise NoPlan(f"{venv} exists but is not a virtual environment (no pyvenv.cfg): move it away")
    if state == "ok":
        python, python_version = str(venv_python_path(venv, os_name)), version
        torch = installed_torch(venv, os_name)
    else:
        python, python_version = find_python()
        torch = None
        if state in ("unsuitable", "broken"):
            why = f"Python {vstr(version)}" if version else "an interpreter that no longer runs"
            notes.append(f"{venv} was made with {why}: rebuilt with Python {vstr(python_version)}")
    driver, cc = read_nvidia()
    machine = Machine(os_name, this_arch(), python_version, driver, torch, cc)
    return make_plan(machine, python, str(venv), mode, notes)


# --- doing it ----------------------------------------------------------------------------------------

def say(line: str) -> None:
    print(f"setup: {line}", flush=True)


def warn(line: str) -> None:
    print(f"setup: warning: {line}", file=sys.stderr, flush=True)


def run(cmd, **kwargs) -> None:
    """Run a command with its output visible; a failure ends set-up with exit 1."""
    rc = subprocess.call([str(c) for c in cmd], **kwargs)
    if rc != 0:
        print(f"setup: failed (exit {rc}): {' '.join(str(c) for c in cmd)}", file=sys.stderr, flush=True)
        sys.exit(1)


def reachable(url: str, timeout_s: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout_s``."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def install_torch(vpy: Path, torch: dict) -> None:
    spec, index = torch["spec"], torch["index_url"]
    say(f"installing {spec}: {torch['reason']}")
    if index and not reachable(index):
        # Offline machines (CI here) keep working with a torch pip finds in its own configured
        # sources, but only the exact build the plan asked for (+cpu, +cu126, ...), never another.
        local = f"{spec}+{index.rstrip('/').rsplit('/', 1)[-1]}"
        say(f"{index} is unreachable: looking for {local} in pip's configured sources")
        run([vpy, "-m", "pip", "install", local])
        return
    run([vpy, "-m", "pip", "install", spec] + (["--index-url", index] if index else []))


def install_package(vpy: Path, extras: list) -> None:
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    say(f"installing musicgen-bridge (editable) with extras: {', '.join(extras) or 'none'}")
    cmd = [vpy, "-m", "pip", "install", "-e", target]
    if "midi" in extras:
        cmd += ["--only-binary", "python-rtmidi"]   # never compile it (needs a C++ compiler)
    run(cmd)


def install_test_tools() -> None:
    """Debian packages the test suite talks to (JACK dummy server, liblo tools, Lua 5.4, Node.js)."""
    need = sorted({pkg for cmd, pkg in TEST_APT if not shutil.which(cmd)})
    if not need:
        return
    if this_os() != "linux" or not shutil.which("apt-get"):
        warn(f"the DAW-side tests need {', '.join(need)} (Debian names); install them yourself here")
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say(f"installing with apt: {' '.join(need)}")
    run(sudo + ["apt-get", "update", "-qq"], env=env)
    if "jackd2" in need:   # jackd2 asks about realtime priority; answer it non-interactively
        subprocess.run(sudo + ["debconf-set-selections"], input="jackd2 jackd/tweak_rt_limits boolean false\n",
                       text=True, env=env)
    run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need, env=env)


def stamp_for(plan: dict) -> str:
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    import hashlib

    return json.dumps({"pyproject": hashlib.sha256(pyproject).hexdigest(), "extras": plan["extras"],
                       "python": plan["python_version"]})


def set_up(venv: Path, mode: str) -> Path:
    """Carry out this machine's plan; returns the venv's python."""
    os_name = this_os()
    plan = this_machine_plan(venv, mode)
    for line in plan["warnings"]:
        warn(line)
    ensure_venv(venv, plan["python"], os_name)
    vpy = venv_python_path(venv, os_name)
    stamp_path = venv / ".musicgen-bridge-setup"
    stamp = stamp_for(plan)
    if plan["torch"]["spec"]:
        install_torch(vpy, plan["torch"])
    else:
        say(plan["torch"]["reason"])
    if stamp_path.is_file() and stamp_path.read_text() == stamp:
        say(f"musicgen-bridge and extras ({', '.join(plan['extras']) or 'none'}) already installed")
    else:
        if subprocess.call([str(vpy), "-c", "import sys, pip; sys.exit(int(pip.__version__.split('.')[0]) < 23)"],
                           stderr=subprocess.DEVNULL) != 0:
            run([vpy, "-m", "pip", "install", "--upgrade", "pip"])   # editable installs need a recent pip
        install_package(vpy, plan["extras"])
        stamp_path.write_text(stamp)
    if mode == "test":
        install_test_tools()
    done = subprocess.run([str(vpy), "-m", "bridge.engine.placement"], capture_output=True, text=True)
    where = done.stdout.strip() or "(could not ask torch where it runs)"
    say(f"done: .venv with Python {plan['python_version']}; {where}")
    return vpy


def wait_through_ctrl_c(proc) -> int:
    """Wait for ``proc``; Ctrl-C reaches it too, so keep waiting while it shuts down cleanly
    (a daemon killed mid-shutdown could lose its journal's last write)."""
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = "setup", []
    if argv and argv[0] in ("serve", "test"):
        command, rest, argv = argv[0], argv[1:], []
    dry_run, simulate, mode = False, None, "serve"
    venv = ROOT / ".venv"
    while argv:
        arg = argv.pop(0)
        if arg == "--dry-run":
            dry_run = True
        elif arg == "--test":
            mode = "test"
        elif arg == "--simulate" and argv:
            simulate = argv.pop(0)
        elif arg == "--venv" and argv:
            venv = Path(argv.pop(0)).absolute()
        elif arg in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            print(f"setup: unknown option {arg} (see --help)", file=sys.stderr)
            return 2
    if command == "test":
        mode = "test"
    try:
        if dry_run or simulate:
            if simulate:
                machine = parse_simulate(simulate)
                name = f"py -{vstr(machine.python[:2])}" if machine.os == "windows" else f"python{vstr(machine.python[:2])}"
                plan = make_plan(machine, name, str(venv), mode)
            else:
                plan = this_machine_plan(venv, mode)
            print(json.dumps(plan))
            return 0
        vpy = set_up(venv, mode)
    except NoPlan as exc:
        print(f"setup: {exc}", file=sys.stderr, flush=True)
        return 2
    if command == "serve":
        cmd = [str(vpy), "-m", "bridge", "serve"] + rest
    elif command == "test":
        os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = [str(vpy), "-m", "pytest"] + rest
    else:
        return 0
    os.chdir(ROOT)
    if command == "serve" and os.name == "posix":
        os.execv(cmd[0], cmd)   # the daemon gets Ctrl-C and SIGTERM itself
    rc = wait_through_ctrl_c(subprocess.Popen(cmd))
    if command == "test" and rc == 5:
        print("setup: pytest ran no test (exit 5): counted as a failure", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
