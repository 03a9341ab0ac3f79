"""bridge/clips.py on its own: safe names, the output folder, and clips written into a real folder.

Only end states are checked (what a DAW scanning the folder finds afterwards), never the order in
which the sidecar and the audio are published.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.clips import (PARTIAL_SUFFIX, clean_partials, clip_basename, ensure_out_dir, remove_clip, slugify,
                          update_sidecar, write_clip, write_json_atomic)

SR = 32000
OWNER = ("job-1@1700000000.000000", 1)


def tone(freq=440.0, seconds=0.1, channels=1, amp=0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono * (1 - 0.25 * c) for c in range(channels)])


def read(path: Path) -> np.ndarray:
    data, sr = sf.read(path, always_2d=True, dtype="float32")
    assert sr == SR
    return data.T


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def no_partials(folder: Path) -> bool:
    return not any(p.name.endswith(PARTIAL_SUFFIX) for p in folder.iterdir())


def sidecar_of(clip: Path) -> dict:
    return json.loads(clip.with_name(clip.name + ".json").read_text(encoding="utf-8"))


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,slug", [
    ("Warm Pads", "warm-pads"),
    ("  dub  techno!!  ", "dub-techno"),
    ("Café del Mar", "cafe-del-mar"),
    ("Ünïcödé straße", "unicode-strae"),
    ("日本語", "musicgen"),
    ("", "musicgen"),
    (None, "musicgen"),
    ("---", "musicgen"),
    ("con", "clip-con"),
    ("CON", "clip-con"),
    ("con.wav", "clip-con-wav"),
    ("nul", "clip-nul"),
    ("Aux", "clip-aux"),
    ("prn", "clip-prn"),
    ("com1", "clip-com1"),
    ("lpt9", "clip-lpt9"),
    ("lpt1-bassline", "clip-lpt1-bassline"),
    ("LPT1 bass line", "clip-lpt1-bass-line"),
    ("com¹", "clip-com1"),
    ("console", "console"),
    ("com10", "com10"),
    ("a/b\\c:d*e?f\"g<h>i|j", "a-b-c-d-e-f-g-h-i-j"),
])
def test_slugify(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text", ["x" * 200, "ab " * 40, "-" * 10 + "z" * 60, "é" * 100])
def test_slugify_is_short_safe_and_never_empty(text):
    s = slugify(text)
    assert 0 < len(s) <= 48 + len("clip-")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s), s
    assert len(slugify(text, max_len=10)) <= 10


def test_clip_basename_format():
    when = time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))
    assert clip_basename("Warm Pads", 42, None, when) == "warm-pads_20260102-030405_s42"
    assert clip_basename("Warm Pads", 42, 2, when) == "warm-pads_20260102-030405_s42_v2"
    assert clip_basename("", 0, 1, when) == "musicgen_20260102-030405_s0_v1"
    assert clip_basename("con", 7, None, when) == "clip-con_20260102-030405_s7"


def test_clip_basename_defaults_to_now():
    base = clip_basename("x", 1, None)
    assert re.fullmatch(r"x_\d{8}-\d{6}_s1", base)


# --- the output folder ----------------------------------------------------------------------------

def test_ensure_out_dir_creates_nested_folders(tmp_path):
    target = tmp_path / "My Project" / "Ünïcode clips" / "musicgen"
    got = ensure_out_dir(target)
    assert target.is_dir() and got == target.resolve()
    assert ensure_out_dir(str(target)) == got  # a second time: already there


def test_ensure_out_dir_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))  # what expanduser reads on Windows
    assert ensure_out_dir("~/clips") == (tmp_path / "clips").resolve()


@pytest.mark.parametrize("below", [False, True])
def test_ensure_out_dir_refuses_a_file(tmp_path, below):
    f = tmp_path / "song.wav"
    f.write_bytes(b"RIFF")
    target = f / "clips" if below else f
    with pytest.raises(OSError) as info:
        ensure_out_dir(target)
    msg = str(info.value)
    assert str(f) in msg and "\n" not in msg
    assert f.read_bytes() == b"RIFF"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: permission bits do not stop root from writing")
@pytest.mark.skipif(os.name == "nt", reason="Windows ignores the read-only bit on folders")
def test_ensure_out_dir_refuses_a_folder_it_cannot_write(tmp_path):
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OSError) as info:
            ensure_out_dir(ro)
        assert "not writable" in str(info.value) and str(ro) in str(info.value)
        with pytest.raises(OSError):
            ensure_out_dir(ro / "sub")
    finally:
        ro.chmod(0o755)


# --- write_clip -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,ext,channels,tol", [
    ("wav", "wav", 1, 2 / 32768),
    ("wav24", "wav", 2, 2 / 2**23),
    ("wavf", "wav", 2, 0.0),
    ("flac", "flac", 1, 2 / 2**23),
])
def test_write_clip_publishes_a_complete_file_and_its_sidecar(tmp_path, fmt, ext, channels, tol):
    out = tmp_path / "Project folder ü"
    out.mkdir()
    audio = tone(channels=channels)
    clip = write_clip(out, "warm-pads_20260102-030405_s42", audio, SR, fmt, {"prompt": "warm pads", "seed": 42},
                      owner=OWNER)
    assert clip == out / f"warm-pads_20260102-030405_s42.{ext}"
    assert listing(out) == {clip.name, clip.name + ".json"}
    got = read(clip)
    assert got.shape == audio.shape
    np.testing.assert_allclose(got, audio, atol=tol, rtol=0)
    meta = sidecar_of(clip)
    assert meta["prompt"] == "warm pads" and meta["seed"] == 42
    assert meta["file"] == clip.name
    assert meta["owner"] == {"id": OWNER[0], "variation": OWNER[1]}


def test_write_clip_without_owner_records_none(tmp_path):
    clip = write_clip(tmp_path, "x", tone(), SR, "wav", {"prompt": "p"})
    assert "owner" not in sidecar_of(clip)
    assert no_partials(tmp_path)


@pytest.mark.parametrize("existing", ["clip", "sidecar", "both", "other-owner", "unreadable-sidecar"])
def test_write_clip_never_replaces_someone_elses_file(tmp_path, existing):
    base = "beat_20260102-030405_s1"
    clip0, side0 = tmp_path / f"{base}.wav", tmp_path / f"{base}.wav.json"
    if existing in ("clip", "both", "other-owner", "unreadable-sidecar"):
        clip0.write_bytes(b"the user's own recording")
    if existing in ("sidecar", "both"):
        side0.write_text('{"note": "not ours"}\n')
    if existing == "other-owner":
        side0.write_text(json.dumps({"owner": {"id": "someone-else", "variation": 1}}))
    if existing == "unreadable-sidecar":
        side0.write_text("{not json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    clip = write_clip(tmp_path, base, tone(), SR, "wav", {"prompt": "p"}, owner=OWNER)
    assert clip == tmp_path / f"{base}-2.wav"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before
    assert read(clip).shape == (1, int(SR * 0.1))
    assert sidecar_of(clip)["file"] == clip.name
    assert no_partials(tmp_path)


def test_suffixes_count_up(tmp_path):
    audio = tone()
    paths = [write_clip(tmp_path, "take", audio, SR, "wav", {"n": i}, owner=(f"job-{i}", 1)) for i in range(3)]
    paths.append(write_clip(tmp_path, "take", audio, SR, "wav", {"n": 3}))
    paths.append(write_clip(tmp_path, "take", audio, SR, "wav", {"n": 4}))
    assert [p.name for p in paths] == ["take.wav", "take-2.wav", "take-3.wav", "take-4.wav", "take-5.wav"]
    assert [sidecar_of(p)["n"] for p in paths] == [0, 1, 2, 3, 4]
    assert len(listing(tmp_path)) == 10 and no_partials(tmp_path)


def test_same_variation_of_another_job_is_someone_else(tmp_path):
    a = write_clip(tmp_path, "take", tone(), SR, "wav", {}, owner=("job-1", 1))
    b = write_clip(tmp_path, "take", tone(), SR, "wav", {}, owner=("job-1", 2))
    c = write_clip(tmp_path, "take", tone(), SR, "wav", {}, owner=("job-2", 1))
    assert [a.name, b.name, c.name] == ["take.wav", "take-2.wav", "take-3.wav"]


def test_owner_rerun_after_a_crash_reuses_the_name(tmp_path):
    first = tone(440)
    clip = write_clip(tmp_path, "take", first, SR, "wav", {"run": 1}, owner=OWNER)
    # the daemon was killed after writing and runs the job again from the journal
    again = write_clip(tmp_path, "take", tone(660), SR, "wav", {"run": 2}, owner=OWNER)
    assert again == clip
    assert listing(tmp_path) == {"take.wav", "take.wav.json"}
    np.testing.assert_allclose(read(clip), first, atol=2 / 32768, rtol=0)
    assert sidecar_of(clip)["owner"] == {"id": OWNER[0], "variation": OWNER[1]}


def test_owner_rerun_when_the_sidecar_is_there_but_the_audio_is_not(tmp_path):
    clip = write_clip(tmp_path, "take", tone(440), SR, "wav", {"run": 1}, owner=OWNER)
    clip.unlink()                                   # killed between the two files
    (tmp_path / f".take.wav.{os.getpid() + 1}{PARTIAL_SUFFIX}").write_bytes(b"half a wav")  # the dead one's leftover
    second = tone(660)
    again = write_clip(tmp_path, "take", second, SR, "wav", {"run": 2}, owner=OWNER)
    assert again == clip
    assert {n for n in listing(tmp_path) if not n.endswith(PARTIAL_SUFFIX)} == {"take.wav", "take.wav.json"}
    np.testing.assert_allclose(read(clip), second, atol=2 / 32768, rtol=0)
    assert sidecar_of(clip)["file"] == "take.wav"


def test_owner_rerun_when_killed_between_the_audio_and_its_sidecar(tmp_path):
    """The audio is published first: a kill right after it leaves the clip and the hidden claim
    (the sidecar-to-be). The re-run finishes that sidecar; no second copy is made."""
    clip = write_clip(tmp_path, "take", tone(440), SR, "wav", {"run": 1}, owner=OWNER)
    side = tmp_path / "take.wav.json"
    side.rename(tmp_path / ".take.wav.json.claim")  # the state a kill between the two files leaves
    assert clean_partials(tmp_path) == 0            # the restart keeps a claim whose clip exists
    again = write_clip(tmp_path, "take", tone(660), SR, "wav", {"run": 2}, owner=OWNER)
    assert again == clip and listing(tmp_path) == {"take.wav", "take.wav.json"}
    assert sidecar_of(clip)["run"] == 1 and sidecar_of(clip)["owner"]["id"] == OWNER[0]


def test_a_claim_without_its_clip_is_swept_at_start(tmp_path):
    (tmp_path / ".take.wav.json.claim").write_text("{}")  # killed before the audio was published
    assert clean_partials(tmp_path) == 1 and listing(tmp_path) == set()


def test_write_clip_into_a_missing_folder_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        write_clip(tmp_path / "gone", "take", tone(), SR, "wav", {})
    assert listing(tmp_path) == set()


# --- sidecars, removal, leftovers -------------------------------------------------------------

def test_update_sidecar(tmp_path):
    clip = write_clip(tmp_path, "take", tone(), SR, "wav", {"prompt": "p"}, owner=OWNER)
    side = tmp_path / "take.wav.json"
    update_sidecar(clip, {"stems": {"drums": "take.drums.wav"}, "prompt": "p2"})
    meta = sidecar_of(clip)
    assert meta["stems"] == {"drums": "take.drums.wav"} and meta["prompt"] == "p2"
    assert meta["file"] == "take.wav" and meta["owner"]["id"] == OWNER[0]
    inode = side.stat().st_ino
    update_sidecar(clip, {"prompt": "p2"})          # holds already: the file is left alone
    assert side.stat().st_ino == inode
    assert no_partials(tmp_path)


def test_update_sidecar_of_a_clip_without_one(tmp_path):
    clip = tmp_path / "lonely.wav"
    clip.write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        update_sidecar(clip, {"a": 1})


def test_remove_clip(tmp_path):
    keep = write_clip(tmp_path, "keep", tone(), SR, "wav", {})
    gone = write_clip(tmp_path, "gone", tone(), SR, "wav", {})
    remove_clip(gone)
    assert listing(tmp_path) == {"keep.wav", "keep.wav.json"}
    remove_clip(gone)                                # already gone: no error
    (tmp_path / "half.wav.json").write_text("{}")
    remove_clip(tmp_path / "half.wav")               # only the sidecar left
    assert listing(tmp_path) == {"keep.wav", "keep.wav.json"}
    assert read(keep).shape == (1, int(SR * 0.1))


def test_clean_partials(tmp_path):
    leftovers = [f".take.wav.123{PARTIAL_SUFFIX}", f".take.wav.json.123{PARTIAL_SUFFIX}",
                 f".result.json.99{PARTIAL_SUFFIX}"]
    kept = ["take.wav", "take.wav.json", "notes.partial", ".hidden", f"song{PARTIAL_SUFFIX}.wav"]
    for name in leftovers + kept:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".a-folder{PARTIAL_SUFFIX}").mkdir()
    assert clean_partials(tmp_path) == 3
    assert listing(tmp_path) == set(kept) | {f".a-folder{PARTIAL_SUFFIX}"}
    assert clean_partials(tmp_path) == 0
    assert clean_partials(tmp_path / "missing") == 0


def test_write_json_atomic(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"old": true}')
    data = {"id": "job-1", "paths": [tmp_path / "a b.wav"], "seed": np.int64(7), "gain": np.float32(0.5),
            "name": "Ünïcode ✓"}
    assert write_json_atomic(path, data) == path
    text = path.read_text(encoding="utf-8")
    assert "Ünïcode ✓" in text and text.endswith("\n")
    assert json.loads(text) == {"id": "job-1", "paths": [str(tmp_path / "a b.wav")], "seed": 7, "gain": 0.5,
                                "name": "Ünïcode ✓"}
    assert listing(tmp_path) == {"result.json"}


def test_write_json_atomic_failure_leaves_the_old_file(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"old": true}')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"old": True}


def test_write_json_atomic_failure_leaves_no_partial(tmp_path):
    path = tmp_path / "result.json"
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert listing(tmp_path) == set()
