"""scripts/setup.py's plan: the torch/extras decision over simulated machines (through the real
``--dry-run --simulate`` command line), interpreter refusal and venv rebuild with real pyenv
interpreters, and the Windows wrappers naming the same entry points as the .sh ones.

The expected plans follow what PyPI and PyTorch's index serve (checked 2026-11; docs/install.md,
"How the plan was checked"). Nothing is installed: the venv tests make venvs without pip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "setup.py"
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
CPU = "https://download.pytorch.org/whl/cpu"
CU126 = "https://download.pytorch.org/whl/cu126"
CU130 = "https://download.pytorch.org/whl/cu130"
PIN = "torch==2.13.0"
MAC = "torch>=2.6,<=2.13.0"


def load_setup():
    spec = importlib.util.spec_from_file_location("mgb_setup", SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dry_run(*args, python=sys.executable, env=None):
    return subprocess.run([python, str(SETUP), "--dry-run", *args], capture_output=True, text=True,
                          timeout=120, env=env)


# (simulate, mode, torch spec, index_url, extras, a word each warning must contain)
MACHINES = [
    # Linux x86_64: no GPU -> CPU index (PyPI's Linux torch is CUDA 13); drivers old to current
    ("os=linux arch=x86_64 python=3.11 nvidia_driver=none torch=none", "test", PIN, CPU,
     ["test", "stems", "midi", "mcp", "worker", "farm"], []),
    ("os=linux arch=x86_64 python=3.12 nvidia_driver=580.95.05 torch=none", "serve", PIN, CU130, ["midi"], []),
    ("os=linux arch=x86_64 python=3.12 nvidia_driver=570.133.07 torch=none", "serve", PIN, CU126, ["midi"], []),
    ("os=linux arch=x86_64 python=3.10 nvidia_driver=535.183.01 torch=none", "serve", PIN, CU126, ["midi"],
     ["minor-version"]),
    ("os=linux arch=x86_64 python=3.12 nvidia_driver=470.256.02 torch=none", "serve", PIN, CPU, ["midi"],
     ["too old"]),
    ("os=linux arch=x86_64 python=3.12 nvidia_driver=590.44 gpu_cc=6.1 torch=none", "serve", PIN, CU126,
     ["midi"], []),                               # Pascal: CUDA 13 dropped it, cu126 still has it
    ("os=linux arch=x86_64 python=3.12 nvidia_driver=590.44 gpu_cc=3.7 torch=none", "serve", PIN, CPU,
     ["midi"], ["compute capability"]),           # Kepler: no CUDA build of torch 2.13 has it
    ("os=linux arch=x86_64 python=3.13 nvidia_driver=none torch=none", "test", PIN, CPU, ["test", "stems", "mcp", "worker", "farm"],
     ["MIDI"]),                                   # python-rtmidi has no cp313 wheel
    ("os=linux arch=arm64 python=3.12 nvidia_driver=none torch=none", "serve", PIN, CPU, ["midi"], []),
    ("os=linux arch=arm64 python=3.12 nvidia_driver=580.82 torch=none", "serve", PIN, CU130, ["midi"],
     ["Jetson"]),
    # Linux: an installed torch is kept; a CPU torch next to an NVIDIA GPU says what to run
    ("os=linux arch=x86_64 python=3.11 nvidia_driver=none torch=2.13.0+cpu", "test", None, None,
     ["test", "stems", "midi", "mcp", "worker", "farm"], []),
    ("os=linux arch=x86_64 python=3.11 nvidia_driver=575.64 torch=2.13.0+cpu", "serve", None, None, ["midi"],
     ["--index-url " + CU126]),
    ("os=linux arch=x86_64 python=3.11 nvidia_driver=none torch=2.13.0", "serve", None, None, ["midi"],
     ["CUDA build"]),                             # PyPI's Linux wheel: CUDA, no GPU here
    ("os=linux arch=x86_64 python=3.11 nvidia_driver=none torch=2.4.1", "serve", PIN, CPU, ["midi"],
     ["older than 2.6"]),
    # Windows: PyPI is CPU-only; CUDA from PyTorch's index; minor-version floor differs from Linux
    ("os=windows arch=x86_64 python=3.12 nvidia_driver=none torch=none", "serve", PIN, None, ["midi"], []),
    ("os=windows arch=x86_64 python=3.13 nvidia_driver=560.94 torch=none", "serve", PIN, CU126, [], ["MIDI"]),
    ("os=windows arch=x86_64 python=3.12 nvidia_driver=581.57 torch=none", "serve", PIN, CU130, ["midi"], []),
    ("os=windows arch=x86_64 python=3.11 nvidia_driver=526.98 torch=none", "serve", PIN, None, ["midi"],
     ["too old"]),
    ("os=windows arch=x86_64 python=3.12 nvidia_driver=566.36 torch=2.13.0", "serve", None, None, ["midi"],
     ["--index-url " + CU126]),                   # PyPI's Windows torch: CPU build
    # macOS: Apple Silicon from PyPI (MPS)
    ("os=macos arch=arm64 python=3.12 nvidia_driver=none torch=none", "serve", MAC, None, ["midi"], []),
    ("os=macos arch=arm64 python=3.13 nvidia_driver=none torch=none", "test", MAC, None, ["test", "stems", "mcp", "worker", "farm"],
     ["MIDI"]),
    ("os=macos arch=arm64 python=3.10 nvidia_driver=none torch=2.11.0", "serve", None, None, ["midi"], []),
]

REFUSED = [
    ("os=macos arch=x86_64 python=3.12 nvidia_driver=none torch=none", "Intel Macs"),
    ("os=macos arch=arm64 python=3.9 nvidia_driver=none torch=none", "Python 3.9 is too old"),
    ("os=linux arch=x86_64 python=3.14 nvidia_driver=580.95.05 torch=none", "Python 3.14 is newer"),
    ("os=windows arch=arm64 python=3.12 nvidia_driver=none torch=none", "Windows on Arm"),
    ("os=linux arch=x86_64 python=3.9 nvidia_driver=none torch=none", "too old"),
]


def test_plans_for_simulated_machines():
    """Each simulated machine gets the expected torch build, index and extras (in-process, fast)."""
    setup = load_setup()
    assert len(MACHINES) + len(REFUSED) >= 16
    for simulate, mode, spec, index, extras, warn_words in MACHINES:
        machine = setup.parse_simulate(simulate)
        plan = setup.make_plan(machine, "python3", "/x/.venv", mode)
        assert plan["torch"]["spec"] == spec, simulate
        assert plan["torch"]["index_url"] == index, simulate
        assert plan["extras"] == extras, simulate
        assert plan["torch"]["reason"], simulate
        for word in warn_words:
            assert any(word in w for w in plan["warnings"]), (simulate, word, plan["warnings"])
        if not warn_words:
            assert plan["warnings"] == [], (simulate, plan["warnings"])
    for simulate, words in REFUSED:
        with pytest.raises(setup.NoPlan, match=words):
            setup.make_plan(setup.parse_simulate(simulate), "python3", "/x/.venv")


def test_dry_run_command_line_prints_one_json_object():
    out = dry_run("--simulate", "os=windows arch=x86_64 python=3.13 nvidia_driver=560.94")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert set(plan) == {"python", "python_version", "venv", "torch", "extras", "warnings"}
    assert plan["torch"] == {"spec": PIN, "index_url": CU126, "reason": plan["torch"]["reason"]}
    assert plan["python_version"] == "3.13"
    refused = dry_run("--simulate", "os=macos arch=x86_64 python=3.12")
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "Intel Macs" in refused.stderr
    bad = dry_run("--simulate", "os=beos arch=x86_64 python=3.12")
    assert bad.returncode == 2 and "os must be" in bad.stderr


def test_dry_run_on_this_machine(tmp_path):
    """This machine (Linux, no NVIDIA GPU): the CPU build from the CPU index, for a new venv."""
    out = dry_run("--venv", str(tmp_path / "venv"), "--test")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["python_version"].startswith(("3.10", "3.11", "3.12", "3.13"))
    assert plan["venv"] == str(tmp_path / "venv")
    assert plan["extras"][:2] == ["test", "stems"]
    assert not (tmp_path / "venv").exists()        # a dry run makes nothing


def pyenv_python(version: str) -> Path:
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"no pyenv Python {version} under {PYENV}")
    return found[-1]


def test_only_python_39_exits_2_with_one_line(tmp_path):
    """A machine whose only Python is 3.9: exit 2 and one line saying what to install."""
    py39 = pyenv_python("3.9")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.9").symlink_to(py39)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    out = dry_run("--venv", str(tmp_path / "venv"), python=str(py39), env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "no Python 3.10-3.13 found" in lines[0] and "3.9" in lines[0] and "install Python 3.12" in lines[0]


def test_venv_made_with_python_39_is_detected_and_rebuilt(tmp_path):
    """A .venv made by 3.9 (real interpreter, no pip: fast) is seen as unsuitable, rebuilt with
    the running Python, and a good venv is then kept."""
    py39 = pyenv_python("3.9")
    setup = load_setup()
    venv = tmp_path / "venv"
    subprocess.run([str(py39), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    state, version = setup.venv_state(venv, setup.this_os())
    assert state == "unsuitable" and version[:2] == (3, 9)
    plan = json.loads(dry_run("--venv", str(venv)).stdout)
    assert any("made with Python 3.9" in w and "rebuilt" in w for w in plan["warnings"]), plan["warnings"]
    assert plan["python_version"].startswith(("3.10", "3.11", "3.12", "3.13"))
    assert setup.ensure_venv(venv, sys.executable, setup.this_os(), with_pip=False) is True
    state, version = setup.venv_state(venv, setup.this_os())
    assert state == "ok" and version[:2] == sys.version_info[:2]
    assert setup.ensure_venv(venv, sys.executable, setup.this_os(), with_pip=False) is False
    not_a_venv = tmp_path / "plain"
    not_a_venv.mkdir()
    with pytest.raises(setup.NoPlan, match="not a virtual environment"):
        setup.ensure_venv(not_a_venv, sys.executable, setup.this_os(), with_pip=False)
    assert not_a_venv.is_dir()                     # never deleted


def test_setup_runs_on_python_38(tmp_path):
    """The set-up file itself runs on 3.8 (it only has to find or refuse an interpreter there)."""
    py38 = sorted(PYENV.glob("3.8.*/bin/python3.8"))
    if not py38:
        pytest.skip(f"no pyenv Python 3.8 under {PYENV}")
    out = dry_run("--simulate", "os=linux arch=x86_64 python=3.12 nvidia_driver=580.95.05", python=str(py38[-1]))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["torch"]["index_url"] == CU130


def entry(text: str) -> set:
    """The set-up entry points a wrapper calls: 'setup.py serve', 'setup.py test', ..."""
    return set(re.findall(r"scripts[/\\]setup\.py\s+(serve|test)\b", text))


@pytest.mark.parametrize("name", ["serve", "test"])
def test_windows_wrappers_call_the_same_entry_point_as_the_sh_ones(name):
    sh = (ROOT / "scripts" / f"{name}.sh").read_text()
    cmd = (ROOT / "scripts" / f"{name}.cmd").read_bytes().decode()
    ps1 = (ROOT / "scripts" / f"{name}.ps1").read_bytes().decode()
    assert entry(sh) == entry(cmd) == entry(ps1) == {name}
    # thin: one call into setup.py per way of finding Python, and nothing else that installs
    for text in (cmd, ps1):
        assert "pip" not in text and "venv" not in text
        assert "\r\n" in text and "\n" not in text.replace("\r\n", "")   # CRLF, as .gitattributes keeps it
    assert "%*" in cmd and "@args" in ps1                                 # flags pass through
    assert "\r" not in sh


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci
    assert "scripts\\test.cmd" in readme
    assert (ROOT / "docs" / "install.md").is_file() and "docs/install.md" in readme
