"""Shared fixtures: tiny random-weight MusicGen models built locally (never downloaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "bridge"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def _make(models_dir: Path, name: str, **kw) -> Path:
    from bridge.engine.tiny_model import make_test_model

    path = models_dir / name
    if not (path / "config.json").exists():
        make_test_model(path, **kw)
    return path


@pytest.fixture(scope="session")
def tiny_model(models_dir) -> Path:
    return _make(models_dir, "tiny")


@pytest.fixture(scope="session")
def tiny_melody_model(models_dir) -> Path:
    return _make(models_dir, "tiny-melody", melody=True)


@pytest.fixture(scope="session")
def tiny_stereo_model(models_dir) -> Path:
    return _make(models_dir, "tiny-stereo", stereo=True)


@pytest.fixture(scope="session")
def engine(tiny_model):
    from bridge.engine import build_engine

    return build_engine(str(tiny_model), device="cpu", decoder="transformers")


@pytest.fixture(scope="session")
def melody_engine(tiny_melody_model):
    from bridge.engine import build_engine

    return build_engine(str(tiny_melody_model), device="cpu", decoder="transformers")


def write_tone(path: Path, *, sr: int = 44100, seconds: float = 3.0, freq: float = 440.0,
               channels: int = 2, subtype: str = "PCM_16") -> Path:
    """A real audio file: a sine tone with a little noise."""
    import soundfile as sf

    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(0).standard_normal(t.shape)
    data = np.stack([x] * channels, axis=1).astype(np.float32)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def run_cli(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=kw.get("cwd"))


@pytest.fixture
def tone_file(tmp_path) -> Path:
    return write_tone(tmp_path / "tone.wav")


def pytest_sessionfinish(session, exitstatus):
    # exit code 5 (no tests collected) must fail CI, never pass silently
    if exitstatus == 5:
        session.exitstatus = 1


__all__ = ["write_tone", "run_cli", "CLI", "ROOT", "shutil"]
