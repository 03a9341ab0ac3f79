"""bridge/jobs.py on its own: the SQLite journal (a real file, reopened as a restart would) and the
bounded job queue (real threads, bounded joins). No daemon, no model."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from bridge.jobs import ACTIVE_STATES, FINAL_STATES, Job, JobQueue, Journal, QueueFull
from bridge.request import parse_request

JOIN_S = 10.0  # generous bound for a thread that must end; a hang fails the test instead of the run


def make_job(job_id: str, created: float | None = None, **params) -> Job:
    p = {"prompt": f"prompt of {job_id}"}
    p.update(params)
    kw = {} if created is None else {"created": created}
    return Job(request=parse_request(p, req_id=job_id), out_dir="/music/out dir", **kw)


@pytest.fixture
def journal_path(tmp_path):
    return tmp_path / "state" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path):
    j = Journal(journal_path)
    yield j
    j.close()


def restart(journal: Journal) -> Journal:
    """Close the journal and open a second one on the same file, as a daemon restart does."""
    journal.close()
    return Journal(journal.path)


# --- Journal ------------------------------------------------------------------------------------

def test_journal_creates_its_folder(journal, journal_path):
    assert journal_path.is_file()
    with sqlite3.connect(journal_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_added_job_is_unfinished_with_everything_restored(journal):
    job = Job(request=parse_request({"prompt": "bells", "seed": 3, "bpm": 90, "bars": 2}, req_id="a1"),
              source="inbox", reply_host="127.0.0.1", reply_port=9001, out_dir="/music/Ünïcode out",
              created=1234.5)
    journal.add(job)
    [got] = journal.unfinished()
    assert got is not job
    assert (got.id, got.state, got.source, got.reply_host, got.reply_port, got.out_dir, got.created) == \
        ("a1", "queued", "inbox", "127.0.0.1", 9001, "/music/Ünïcode out", 1234.5)
    assert got.request == job.request
    assert got.result == {} and got.delivered is False
    assert journal.is_active("a1")


@pytest.mark.parametrize("final", FINAL_STATES)
def test_state_transitions_and_delivery(journal, final):
    job = make_job("j1")
    journal.add(job)
    journal.set_state(job, "running")
    assert job.state == "running" and journal.is_active("j1")
    assert [j.state for j in journal.unfinished()] == ["running"]
    result = {"paths": ["/music/a.wav"], "seed": 5} if final == "done" else \
        {"code": "bad_audio", "message": "x"} if final == "error" else None
    journal.set_state(job, final, result)
    assert job.state == final and not journal.is_active("j1")
    [got] = journal.unfinished()          # final but not yet delivered: still to be told
    assert got.state == final and got.delivered is False
    assert got.result == (result or {})
    journal.mark_delivered(job)
    assert job.delivered is True
    assert journal.unfinished() == []
    assert not journal.is_active("j1")


def test_set_state_keeps_the_result_when_none_is_given(journal):
    job = make_job("j1")
    journal.add(job)
    journal.set_state(job, "done", {"paths": ["x.wav"]})
    journal.set_state(job, "done")
    second = restart(journal)
    try:
        assert second.unfinished()[0].result == {"paths": ["x.wav"]}
    finally:
        second.close()


def test_is_active_of_an_unknown_id(journal):
    assert journal.is_active("never-seen") is False
    assert set(ACTIVE_STATES) == {"queued", "running"}


def test_restart_resumes_unfinished_jobs_oldest_first(journal):
    notes = [[60, 0, 1, 100], [64, 1, 0.5, 90]]
    jobs = {
        "queued-1": make_job("queued-1", created=100.0, melody_notes=notes),
        "done-delivered": make_job("done-delivered", created=101.0),
        "running-1": make_job("running-1", created=102.0, format="flac", loop=1),
        "error-undelivered": make_job("error-undelivered", created=103.0),
        "cancelled-delivered": make_job("cancelled-delivered", created=104.0),
        "queued-2": make_job("queued-2", created=105.0, melody_notes="riff"),
    }
    for job in jobs.values():
        journal.add(job)
    journal.set_state(jobs["done-delivered"], "done", {"paths": ["d.wav"]})
    journal.mark_delivered(jobs["done-delivered"])
    journal.set_state(jobs["running-1"], "running")
    journal.set_state(jobs["error-undelivered"], "error", {"code": "bad_audio", "message": "unreadable"})
    journal.set_state(jobs["cancelled-delivered"], "cancelled")
    journal.mark_delivered(jobs["cancelled-delivered"])

    second = restart(journal)
    try:
        resumed = second.unfinished()
        assert [j.id for j in resumed] == ["queued-1", "running-1", "error-undelivered", "queued-2"]
        by_id = {j.id: j for j in resumed}
        assert [j.state for j in resumed] == ["queued", "running", "error", "queued"]
        assert by_id["error-undelivered"].result == {"code": "bad_audio", "message": "unreadable"}
        for jid, job in by_id.items():
            assert job.request == jobs[jid].request, jid
            assert job.created == jobs[jid].created
        assert by_id["queued-1"].request.melody_notes == [(60, 0.0, 1.0, 100), (64, 1.0, 0.5, 90)]
        assert all(type(n) is tuple for n in by_id["queued-1"].request.melody_notes)
        assert by_id["queued-2"].request.melody_notes == "riff"
        assert second.is_active("running-1") and not second.is_active("done-delivered")
    finally:
        second.close()


def test_a_write_is_visible_to_a_second_connection_at_once(journal):
    # committed when add() returns: a daemon killed right after acknowledging loses nothing
    journal.add(make_job("j1"))
    other = Journal(journal.path)
    try:
        assert [j.id for j in other.unfinished()] == ["j1"]
    finally:
        other.close()


def test_same_id_reused_after_a_final_state(journal):
    first = make_job("take", prompt="first")
    journal.add(first)
    journal.set_state(first, "done", {"paths": ["first.wav"]})
    journal.mark_delivered(first)
    assert not journal.is_active("take")

    again = make_job("take", prompt="second")
    journal.add(again)
    assert journal.is_active("take")
    [got] = journal.unfinished()
    assert got.request.prompt == "second" and got.state == "queued" and got.result == {}

    journal.set_state(again, "running")
    second = restart(journal)
    try:
        [got] = second.unfinished()
        assert (got.request.prompt, got.state) == ("second", "running")
        second.set_state(got, "error", {"code": "generation_failed", "message": "boom"})
        assert not second.is_active("take")
        second.mark_delivered(got)
        assert second.unfinished() == []
    finally:
        second.close()


def test_delivery_of_an_old_job_after_its_id_was_reused(journal):
    old = make_job("take", prompt="first")
    journal.add(old)
    journal.set_state(old, "done", {"paths": ["first.wav"]})
    new = make_job("take", prompt="second")     # accepted: "take" is no longer active
    journal.add(new)
    journal.mark_delivered(old)                 # the worker finishes delivering the old job
    second = restart(journal)
    resumed = second.unfinished()
    second.close()
    assert [(j.request.prompt, j.state, j.delivered) for j in resumed] == [("second", "queued", False)]


def test_journal_is_shared_by_threads(journal):
    errors = []

    def add(n):
        try:
            for i in range(20):
                job = make_job(f"t{n}-{i}")
                journal.add(job)
                journal.set_state(job, "running")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_S)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert len(journal.unfinished()) == 80


# --- JobQueue -----------------------------------------------------------------------------------

def test_positions_without_a_running_job():
    q = JobQueue(max_queued=5)
    assert [q.put(make_job(f"j{i}")) for i in range(3)] == [0, 1, 2]
    assert len(q) == 3 and q.running is None


def test_positions_with_a_running_job():
    q = JobQueue(max_queued=5)
    q.put(make_job("first"))
    running = q.get(timeout=1)
    assert running.id == "first" and q.running is running and len(q) == 0
    assert [q.put(make_job(f"j{i}")) for i in range(3)] == [1, 2, 3]
    q.finish(running)
    assert q.running is None
    assert q.put(make_job("j3")) == 3  # three still waiting ahead of it, none running


def test_fifo_order():
    q = JobQueue(max_queued=5)
    for i in range(4):
        q.put(make_job(f"j{i}"))
    got = []
    while (job := q.get(timeout=0)) is not None:
        got.append(job.id)
        q.finish(job)
    assert got == ["j0", "j1", "j2", "j3"]


def test_check_room_refuses_at_max_queued_but_put_never_refuses():
    q = JobQueue(max_queued=2)
    q.check_room()
    q.put(make_job("a"))
    q.check_room()
    q.put(make_job("b"))
    with pytest.raises(QueueFull) as info:
        q.check_room()
    assert "2" in str(info.value) and "\n" not in str(info.value)
    # jobs resumed from the journal go in regardless of the bound
    assert q.put(make_job("resumed-1")) == 2
    assert q.put(make_job("resumed-2")) == 3
    assert len(q) == 4
    with pytest.raises(QueueFull):
        q.check_room()
    # a running job does not count against the bound
    q.get(timeout=0)
    q.get(timeout=0)
    q.get(timeout=0)
    assert len(q) == 1 and q.running is not None
    q.check_room()


def test_get_timeout_returns_none():
    q = JobQueue(max_queued=2)
    t0 = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04   # it did wait (not a speed check)
    assert q.get(timeout=0) is None
    assert q.running is None


def _get_in_thread(q: JobQueue, timeout=None):
    out = {}
    started = threading.Event()

    def run():
        started.set()
        out["job"] = q.get(timeout=timeout)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(JOIN_S)
    return t, out


def test_put_wakes_a_blocked_get():
    q = JobQueue(max_queued=2)
    t, out = _get_in_thread(q)
    time.sleep(0.05)
    job = make_job("wake")
    q.put(job)
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["job"] is job and q.running is job


def test_close_wakes_a_blocked_get():
    q = JobQueue(max_queued=2)
    t, out = _get_in_thread(q)            # no timeout: only close() can end it
    time.sleep(0.05)
    q.close()
    t.join(JOIN_S)
    assert not t.is_alive()
    assert out["job"] is None


def test_closed_queue_hands_out_nothing():
    q = JobQueue(max_queued=2)
    q.put(make_job("left"))
    q.close()
    assert q.get(timeout=1) is None
    assert q.running is None and len(q) == 1


def test_remove_takes_a_queued_job_but_not_the_running_one():
    q = JobQueue(max_queued=5)
    for jid in ("run", "a", "b", "c"):
        q.put(make_job(jid))
    running = q.get(timeout=0)
    removed = q.remove("b")
    assert removed is not None and removed.id == "b"
    assert q.remove("b") is None
    assert q.remove("run") is None and q.running is running
    assert q.remove("nope") is None
    assert len(q) == 2
    assert [q.get(timeout=0).id, q.get(timeout=0).id] == ["a", "c"]


def test_find_queued_running_and_unknown():
    q = JobQueue(max_queued=5)
    jobs = [make_job(jid) for jid in ("run", "a", "b")]
    for job in jobs:
        q.put(job)
    q.get(timeout=0)
    assert q.find("run") is jobs[0]
    assert q.find("b") is jobs[2]
    assert q.find("zzz") is None
    q.finish(jobs[0])
    assert q.find("run") is None


def test_finish_of_another_job_leaves_the_running_one():
    q = JobQueue(max_queued=5)
    q.put(make_job("run"))
    running = q.get(timeout=0)
    q.finish(make_job("run"))   # same id, a different job object
    assert q.running is running
    q.finish(running)
    assert q.running is None
