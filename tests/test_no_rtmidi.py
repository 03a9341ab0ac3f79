"""Without python-rtmidi (the [midi] extra): the daemon and `generate` work, and asking for MIDI
(`--midi-in`, a [midi] table) is a one-line error naming the command that installs it.

The interpreter here has python-rtmidi; each run blocks it the way Python documents
(``sys.modules["rtmidi"] = None`` makes ``import rtmidi`` raise ImportError) before the real CLI runs.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT
from daemon_helpers import free_udp_port

BLOCKED = ("import sys; sys.modules['rtmidi'] = None; from bridge.cli import main; "
           "sys.exit(main(sys.argv[1:]))")


def run_without_rtmidi(*args, timeout=300):
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-c", BLOCKED, *[str(a) for a in args]], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_midi_in_without_rtmidi_is_a_one_line_error(tiny_model, tmp_path):
    out = run_without_rtmidi("serve", "--midi-in", "--model", tiny_model, "--osc-port", free_udp_port(),
                             "--output-dir", tmp_path / "clips", "--state-dir", tmp_path / "state")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "MIDI needs python-rtmidi" in lines[0]
    assert f'"{sys.executable}" -m pip install "python-rtmidi>=1.5"' in lines[0]


def test_midi_table_without_rtmidi_is_the_same_error(tiny_model, tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_text('[midi]\nin = "Pads"\n')
    out = run_without_rtmidi("serve", "--config", config, "--model", tiny_model, "--osc-port", free_udp_port(),
                             "--output-dir", tmp_path / "clips", "--state-dir", tmp_path / "state")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and "MIDI needs python-rtmidi" in out.stderr


def test_generate_works_without_rtmidi(tiny_model, tmp_path):
    out = run_without_rtmidi("generate", "warm rhodes", "--model", tiny_model, "--duration", "0.5",
                             "--out", tmp_path / "clips", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "clips").glob("*.wav"))


def test_bridge_midi_imports_without_rtmidi():
    code = ("import sys; sys.modules['rtmidi'] = None; import bridge.midi, bridge.midi.ports; "
            "from bridge.midi import MidiConfig; print(MidiConfig.from_dict({'enabled': False}).enabled)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
