"""Crash safety: a writer killed at random points leaves each record whole or absent.

The writer (crash_writer.py) saves multi-row batches and reports each commit on stdout.
This test kills it with SIGKILL many times at random moments, then checks that SQLite's
integrity check passes, the audit chain verifies, every reported commit is there, and no
batch is partial.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from itbconsole.store import Store

WRITER = Path(__file__).with_name("crash_writer.py")
EVENTS_PER_BATCH = 20
KILLS = 40


def start_writer(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def read_commits(proc: subprocess.Popen[str], n: int) -> list[tuple[int, int]]:
    assert proc.stdout is not None
    commits = []
    for _ in range(n):
        line = proc.stdout.readline().split()
        assert line[0] == "committed", line
        commits.append((int(line[1]), int(line[2])))
    return commits


def kill(proc: subprocess.Popen[str]) -> list[tuple[int, int]]:
    """SIGKILL, then collect any commit lines already in the pipe."""
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    rest = proc.stdout.read().split("\n")
    proc.wait()
    return [(int(p[1]), int(p[2])) for p in (line.split() for line in rest) if p]


def check_whole_batches(store: Store) -> set[int]:
    """Every batch present has its refill, reading and all its events; returns batches."""
    refills = {
        int(r["note"].split()[1]): r["id"] for r in store.db.query("SELECT id, note FROM refills")
    }
    readings = [
        json.loads(r["alarms_json"])[0] for r in store.db.query("SELECT alarms_json FROM readings")
    ]
    events: dict[int, int] = {}
    for r in store.db.query("SELECT detail_json FROM pump_events"):
        batch = json.loads(r["detail_json"])["batch"]
        events[batch] = events.get(batch, 0) + 1
    assert sorted(readings) == sorted(f"batch {b}" for b in refills)
    assert events == dict.fromkeys(refills, EVENTS_PER_BATCH)
    assert sorted(refills) == list(range(len(refills)))  # no batch lost in the middle
    return set(refills)


@pytest.mark.slow
def test_killed_writer_leaves_whole_records(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    rng = random.Random(20260302)
    reported: list[tuple[int, int]] = []
    for _ in range(KILLS):
        proc = start_writer(db)
        reported += read_commits(proc, rng.randint(0, 3))
        # Not a wait: a random pause of up to about two batches (a batch takes ~1.5 ms)
        # spreads the kill over every step of the next save, commit included.
        time.sleep(rng.uniform(0, 0.003))
        reported += kill(proc)
    with Store.open(db) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        report = store.verify()
        assert report.ok, report.summary()
        batches = check_whole_batches(store)
        stored_ids = {r["id"] for r in store.db.query("SELECT id FROM refills")}
    assert {b for b, _ in reported} <= batches
    assert {i for _, i in reported} <= stored_ids
    assert len(reported) >= KILLS  # the loop really committed between kills


@pytest.mark.slow
def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite"
    proc = start_writer(db)
    try:
        before = read_commits(proc, 10)
        with Store.open(db) as store:
            result = store.backup(tmp_path / "copy.sqlite")
        after = read_commits(proc, 5)  # the writer kept going
    finally:
        after += kill(proc)
    assert result.integrity == "ok"
    with Store.open(result.path) as copy:
        assert copy.verify().ok
        batches = check_whole_batches(copy)
    # The copy holds a consistent snapshot: at least what was committed before the backup
    # began, at most what was ever committed (one commit may be unreported at the kill).
    assert len(before) <= len(batches) <= len(before) + len(after) + 1
    assert not list(tmp_path.glob(".copy.sqlite.partial-*"))
