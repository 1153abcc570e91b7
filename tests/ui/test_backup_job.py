"""File > Back up database runs on a worker thread: the window keeps responding, Cancel
leaves nothing behind, and the safety rules of the store's backup still hold (issue 14)."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import QPushButton

from itbconsole.store import audit
from itbconsole.store import backup as store_backup
from itbconsole.store.backup import CHECKING, COPYING, BackupSteps
from tests.ui.conftest import Console
from ui import backup_job

#: The GUI thread's budget is 50 ms; the margin is for a loaded CI machine.
WORST_GAP_MS = 150


def _make_big(console: Console, rows: int = 300_000) -> None:
    """Grow the clinic's database (~110 MB) so its backup takes a few hundred milliseconds."""
    conn = console.clinic.store.db.conn
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE bulk_test (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute("CREATE INDEX bulk_test_note ON bulk_test (note)")
    conn.executemany(
        "INSERT INTO bulk_test (note) VALUES (?)",
        ((f"{i:08d} " + "x" * 150,) for i in range(rows)),
    )
    conn.execute("COMMIT")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


class Heartbeat:
    """A 5 ms timer on the GUI thread; its worst gap is how long the thread was blocked."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.worst_ms = 0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.elapsed()
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.worst_ms = max(self.worst_ms, now - self.last)
        self.last = now

    def stop(self) -> None:
        self.timer.stop()


def test_the_window_keeps_responding_during_a_large_backup(
    console: Console, tmp_path: Path
) -> None:
    _make_big(console)
    target = tmp_path / "out" / "backup.sqlite"
    target.parent.mkdir()
    beat = Heartbeat()
    beat.start()
    started = time.monotonic()
    run = console.window.start_backup(str(target))
    assert run.dialog.isVisible()
    console.qtbot.waitUntil(lambda: not run.running, timeout=60_000)
    took_s = time.monotonic() - started
    beat.stop()

    assert console.prompts.errors == []
    assert took_s * 1000 > WORST_GAP_MS, "the database must be big enough to take a while"
    assert beat.worst_ms < WORST_GAP_MS, f"GUI thread blocked for {beat.worst_ms} ms"
    assert not run.dialog.isVisible()
    assert "Backup written to" in console.window.statusBar().currentMessage()
    # The copy is whole and checked, and its key file anchors the copy's own audit head.
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT COUNT(*) FROM bulk_test").fetchone()[0] == 300_000
        head = copy.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    sidecar = json.loads((tmp_path / "out" / "backup.sqlite.audit-keys").read_text())
    assert (sidecar["head"]["seq"], sidecar["head"]["hash"]) == tuple(head)
    assert audit.head(console.clinic.store.db) == tuple(head)
    assert target.stat().st_mode & 0o077 == 0
    assert _leftovers(target.parent) == []


def test_cancel_stops_between_steps_and_leaves_no_partial_copy_and_no_backup(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_big(console)
    # Small steps, so the copy is surely still under way when Cancel arrives.
    monkeypatch.setattr(backup_job, "BackupSteps", functools.partial(BackupSteps, pages=16))
    target = tmp_path / "out" / "backup.sqlite"
    target.parent.mkdir()
    run = console.window.start_backup(str(target))
    seen: list[tuple[str, int, int]] = []

    def cancel_once_copying(stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))
        if stage == COPYING and len(seen) == 1:
            button = run.dialog.findChild(QPushButton)
            assert button is not None and button.text() == "Cancel"
            button.click()

    run.job.progress.connect(cancel_once_copying)
    console.qtbot.waitUntil(lambda: not run.running, timeout=60_000)

    assert console.prompts.errors == []
    assert seen and seen[0][0] == COPYING
    stage, done, total = seen[-1]
    assert stage == COPYING and done < total, "Cancel stops the copy between steps"
    assert "Backup cancelled" in console.window.statusBar().currentMessage()
    assert not run.dialog.isVisible()
    assert list(target.parent.iterdir()) == []  # no backup, no key file, no partial copy


def test_cancel_during_the_integrity_check_takes_effect_when_it_ends(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancelled = threading.Event()

    class CheckAfterCancel(sqlite3.Connection):
        """Holds the integrity check until Cancel has been pressed, so Cancel surely
        arrives while the check runs."""

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if "integrity_check" in sql:
                assert cancelled.wait(30)
            return super().execute(sql, *args)

    monkeypatch.setattr(
        store_backup, "open_copy", lambda path: sqlite3.connect(path, factory=CheckAfterCancel)
    )
    target = tmp_path / "backup.sqlite"
    target.write_bytes(b"yesterday's backup")
    run = console.window.start_backup(str(target))
    texts: list[str] = []

    def cancel_when_checking(stage: str, _done: int, _total: int) -> None:
        if stage == CHECKING:
            texts.append(run.dialog.labelText())
            run.cancel()
            texts.append(run.dialog.labelText())
            cancelled.set()

    run.job.progress.connect(cancel_when_checking)
    console.qtbot.waitUntil(lambda: not run.running, timeout=60_000)

    assert len(texts) == 2
    assert "cannot be interrupted" in texts[0]
    assert "cannot be interrupted" in texts[1] and "Cancelling" in texts[1]
    assert "Backup cancelled" in console.window.statusBar().currentMessage()
    assert target.read_bytes() == b"yesterday's backup", "the old backup is kept"
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "backup.sqlite.audit-keys").exists()


def test_a_backup_onto_the_live_database_is_refused_on_the_worker_too(
    console: Console,
) -> None:
    live = console.clinic.database_path
    before = Path(live).read_bytes()[:100]
    run = console.window.start_backup(live)
    console.qtbot.waitUntil(lambda: not run.running, timeout=10_000)
    assert console.prompts.errors and console.prompts.errors[-1][0] == "Backup failed"
    assert "database in use" in console.prompts.errors[-1][1]
    assert Path(live).read_bytes()[:100] == before
