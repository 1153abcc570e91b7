"""The window's writes never copy the write-ahead log into the database inside a commit on
the GUI thread (SQLite's automatic checkpoint held the window 0.4 s at 20,000 patients):
its connection leaves that to a worker (ui/checkpoint.py), which checkpoints the log once it
passes its limit and empties it, and a last time when the window closes, so the log never
grows without bound and no large log is left beside the database. Every other connection
keeps SQLite's own checkpoint."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from itbconsole.model import Role, User
from itbconsole.services.accounts import AccountService
from itbconsole.store import Store
from itbconsole.store import db as store_db
from itbconsole.store.db import (
    WINDOW_AUTOCHECKPOINT_PAGES,
    CheckpointResult,
    checkpoints_elsewhere,
    wal_size,
)
from tests.ui.conftest import Console
from ui.checkpoint import Checkpointer, install_checkpoints, page_size

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
NURSE = User("Nia Nurse", Role.NURSE)


@pytest.fixture
def window_store(tmp_path: Path) -> Iterator[Store]:
    """The database as the window opens it."""
    with checkpoints_elsewhere():
        store = Store.open(tmp_path / "clinic.sqlite")
    with store:
        yield store


def log_pages(path: Path) -> float:
    return wal_size(path) / page_size(path)


def write_in_the_window(store: Store, count: int) -> None:
    """What sign-ins, locks and sign-outs write, on the window's connection."""
    accounts = AccountService(store, hasher=CHEAP)
    for _ in range(count):
        accounts.record_lock(NURSE, "by the user")


def test_the_window_connection_never_checkpoints_inside_a_commit(
    window_store: Store, tmp_path: Path
) -> None:
    db = window_store.db
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WINDOW_AUTOCHECKPOINT_PAGES
    # Every other connection (the command line, background saves, the sync) keeps SQLite's.
    with Store.open(window_store.path) as other:
        assert other.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    path = window_store.path
    assert path is not None
    size = path.stat().st_size
    db.execute("CREATE TABLE scratch (b BLOB)")
    for _ in range(30):  # 1,500 pages of writes, well past SQLite's 1,000, in 30 commits
        db.conn.execute("BEGIN IMMEDIATE")
        db.conn.executemany("INSERT INTO scratch VALUES (?)", [(os.urandom(4000),)] * 50)
        db.conn.execute("COMMIT")
    assert log_pages(path) > 1_500
    assert path.stat().st_size - size < 1_000_000  # nothing was copied into the database


def test_the_worker_checkpoints_the_log_once_past_its_limit(
    qtbot: QtBot, window_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = window_store.path
    assert path is not None
    window = QWidget()
    qtbot.addWidget(window)
    checkpointer = install_checkpoints(window, path, every_ms=20, after_pages=400)
    assert checkpointer is not None
    assert install_checkpoints(window, path) is checkpointer  # one per window
    threads: list[threading.Thread] = []
    results: list[object] = []
    real = store_db.checkpoint_wal

    def noted(*args: object, **kwargs: object) -> CheckpointResult:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    checkpointer.checkpointed.connect(results.append)
    monkeypatch.setattr("ui.checkpoint.checkpoint_wal", noted)
    write_in_the_window(window_store, 20)
    assert 0 < log_pages(path) < 400  # under the limit: left alone
    qtbot.wait(100)  # several polls: nothing to do yet
    assert not threads
    write_in_the_window(window_store, 200)
    assert log_pages(path) > 400
    qtbot.waitUntil(lambda: wal_size(path) == 0, timeout=10_000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    qtbot.waitUntil(lambda: bool(results))
    result = results[0]
    assert isinstance(result, CheckpointResult) and not result.busy
    assert result.checkpointed_pages == result.log_pages > 400
    # The records are in the database itself now: a new connection reads them with no log.
    assert len(AccountService(window_store).events(None, "locked")) == 220
    write_in_the_window(window_store, 1)  # the window goes on writing after it
    assert wal_size(path) > 0


def test_closing_the_window_leaves_no_large_log(qtbot: QtBot, window_store: Store) -> None:
    path = window_store.path
    assert path is not None
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    checkpointer = install_checkpoints(window, path, every_ms=3_600_000)  # never polls here
    assert isinstance(checkpointer, Checkpointer)
    write_in_the_window(window_store, 200)
    assert wal_size(path) > 100_000
    window.close()
    assert wal_size(path) == 0  # the last checkpoint ran before the window was gone
    assert not checkpointer.timer.isActive()


def test_the_main_window_is_checkpointed_and_closes_with_an_empty_log(console: Console) -> None:
    path = Path(console.clinic.database_path)
    checkpointer = install_checkpoints(console.window, path, every_ms=20, after_pages=50)
    assert checkpointer is not None
    console.clinic.store.db.execute("PRAGMA wal_autocheckpoint = 0")  # as opened for it
    write_in_the_window(console.clinic.store, 100)
    console.qtbot.waitUntil(lambda: wal_size(path) == 0, timeout=10_000)
    write_in_the_window(console.clinic.store, 20)
    assert wal_size(path) > 0
    console.window.close()
    assert wal_size(path) == 0


def test_an_in_memory_database_has_no_log_to_checkpoint(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    assert install_checkpoints(window, ":memory:") is None
