"""The models list, name resolution, the switch's memory plan and the journal's model column."""

from __future__ import annotations

import sqlite3

from bridge.jobs import Journal
from bridge.models import ModelEntry, catalogue, folder_entries, reply_args, resolve_name, write_models_file
from bridge.switching import BESIDE, REPLACE, plan, with_step_copies
from tests.finetune_helpers import make_audiocraft_checkpoint


def test_folder_entries_and_resolution(tmp_path, tiny_model, tiny_melody_model):
    import shutil

    folder = tmp_path / "Models ü"
    folder.mkdir()
    shutil.copytree(tiny_melody_model, folder / "mel")
    make_audiocraft_checkpoint(tiny_model, folder / "ft")
    (folder / "notes.txt").write_text("not a model")
    (folder / "empty").mkdir()
    entries = {e.name: e for e in folder_entries(folder)}
    assert set(entries) == {"mel", "ft"}
    assert entries["mel"].melody and entries["mel"].kind == "folder" and entries["mel"].size_mb > 0
    assert entries["ft"].kind == "finetune" and not entries["ft"].melody
    assert resolve_name("mel", folder) == str(folder / "mel")
    assert resolve_name("ft", folder) == str(folder / "ft")
    assert resolve_name("small", folder) == "small"
    assert resolve_name("facebook/musicgen-small", folder) == "facebook/musicgen-small"
    assert resolve_name("mel", None) == "mel"
    listed = catalogue(folder)
    assert [e.name for e in listed][:3] == ["small", "medium", "large"]
    assert {"mel", "ft"} <= {e.name for e in listed}
    path = write_models_file(tmp_path / "inbox", listed)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and "mel\t1\t0\t" in "\n".join(lines)
    assert not list((tmp_path / "inbox").glob(".*tmp"))


def test_reply_fits_one_datagram():
    entries = [ModelEntry(name=f"model-{i:03d}-" + "x" * 80, spec="", kind="folder", melody=False,
                          stereo=False, size_mb=1.0) for i in range(200)]
    args = reply_args(entries)
    count = args[0]
    assert 0 < count < 200 and len(args) == 1 + 5 * count
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/musicgen/models")
    for a in args:
        b.add_arg(a)
    assert len(b.build().dgram) < 8000


def test_memory_plan():
    gb = 1_000_000_000
    assert plan(2 * gb, 10 * gb) == BESIDE
    assert plan(8 * gb, 10 * gb) == REPLACE      # 8 GB x 1.2 does not fit in 90 % of 10 GB
    assert plan(None, 10 * gb) == REPLACE        # size unknown
    assert plan(2 * gb, None) == REPLACE         # free memory unknown


def test_memory_plan_counts_the_cpu_steps_copies():
    """The packed bf16 copies (AVX512-BF16 CPUs but Intel's) double the bf16 weights; int8 copies
    add half; a model that fits alone may not fit with its copies."""
    gb = 1_000_000_000
    assert with_step_copies(3 * gb, packed=False, int8=False) == 3 * gb
    assert with_step_copies(3 * gb, packed=True, int8=False) == 6 * gb
    assert with_step_copies(3 * gb, packed=False, int8=True) == int(4.5 * gb)
    assert with_step_copies(None, packed=True, int8=False) is None
    assert plan(3 * gb, 5 * gb) == BESIDE
    assert plan(with_step_copies(3 * gb, packed=True, int8=False), 5 * gb) == REPLACE


def test_journal_from_before_models_gets_the_column(tmp_path):
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                  state TEXT NOT NULL, source TEXT NOT NULL, request TEXT NOT NULL, reply_host TEXT,
                  reply_port INTEGER, out_dir TEXT NOT NULL, result TEXT, delivered INTEGER NOT NULL DEFAULT 0,
                  created REAL NOT NULL, updated REAL NOT NULL)""")
    db.execute("INSERT INTO jobs(id, state, source, request, out_dir, created, updated) VALUES "
               "('old', 'queued', 'osc', '{\"id\": \"old\", \"prompt\": \"x\"}', '/tmp', 1, 1)")
    db.commit()
    db.close()
    journal = Journal(path)
    (job,) = journal.unfinished()
    assert job.id == "old" and job.model == ""
    journal.set_model(job, "tiny-melody")
    assert journal.unfinished()[0].model == "tiny-melody"
    journal.close()
