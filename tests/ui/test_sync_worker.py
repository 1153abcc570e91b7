"""Background sync: passes run on their own thread, the status bar says how it went, and a
server that is down never holds up the window."""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMainWindow
from pytestqt.qtbot import QtBot

from itbconsole.sync import server
from itbconsole.sync.conflicts import open_conflict_count
from itbconsole.sync.engine import sync_once
from tests.itbconsole.sync.chains import rewrite_and_rehash
from tests.itbconsole.sync.conftest import pg_cluster, pg_dsn  # noqa: F401  (fixtures)
from tests.itbconsole.sync.rooms import add_patient_with_pump, content, open_room
from ui.sync_worker import SyncLabel, SyncStatus, clock_text, install_sync_status

#: A port nothing listens on: the connection is refused.
DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room"
HOUR = 3_600_000


@pytest.fixture
def room_db(tmp_path: Path) -> Path:
    path = tmp_path / "room.db"
    with open_room(path) as store:
        add_patient_with_pump(store, 1)
    return path


@pytest.fixture
def silent_dsn() -> Iterator[str]:
    """A server that takes the connection and never answers: the attempt waits for its
    whole timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"host=127.0.0.1 port={port} dbname=clinic user=itbconsole_room"


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[QMainWindow]:
    win = QMainWindow()
    qtbot.addWidget(win)
    yield win


def _started(status: SyncStatus | None) -> SyncStatus:
    assert status is not None
    return status


def test_a_pass_runs_off_the_gui_thread_and_the_status_bar_says_when(
    qtbot: QtBot,
    window: QMainWindow,
    room_db: Path,
    pg_dsn: str,  # noqa: F811
) -> None:
    server.init_server(pg_dsn)
    status = _started(install_sync_status(window, room_db, pg_dsn, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        text = shown.args[0]
        assert re.fullmatch(r"Last sync \d\d:\d\d, 0 waiting", text)
        assert status.label.text() == text
        assert status.label in window.statusBar().findChildren(type(status.label))
        assert status.worker.last_pass_thread not in (None, threading.get_ident())

        with open_room(room_db) as store:  # a new record in this room, then Sync now
            before = store.counts()["audit_log"]
            add_patient_with_pump(store, 2)
            added = store.counts()["audit_log"] - before
        with qtbot.waitSignal(status.changed, timeout=20_000) as again:
            status.sync_now()
        assert re.fullmatch(r"Last sync \d\d:\d\d, 0 waiting", again.args[0])
        assert status.label.toolTip().startswith(f"Uploaded {added}, downloaded 0")
    finally:
        status.shutdown()


def test_a_server_that_is_down_shows_unreachable_with_the_waiting_count(
    qtbot: QtBot, window: QMainWindow, room_db: Path
) -> None:
    status = _started(install_sync_status(window, room_db, DOWN_DSN, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        first = shown.args[0]
        assert re.fullmatch(r"Server unreachable since \d\d:\d\d, \d+ waiting", first)
        assert int(first.split(", ")[1].split()[0]) > 0  # the patient and pump wait
        assert "cannot be reached" in status.label.toolTip()
        with qtbot.waitSignal(status.changed, timeout=20_000) as again:
            status.sync_now()
        assert again.args[0].split(",")[0] == first.split(",")[0]  # since the first failure
    finally:
        status.shutdown()


def test_a_silent_server_never_blocks_the_window(
    qtbot: QtBot, window: QMainWindow, room_db: Path, silent_dsn: str
) -> None:
    """The GUI thread keeps answering (a 20 ms timer keeps ticking) while a pass waits for
    a server that does not answer."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    started = time.monotonic()
    status = SyncStatus(lambda: open_room(room_db), silent_dsn, interval_ms=HOUR, timeout_s=2)
    assert time.monotonic() - started < 0.5
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        assert shown.args[0].startswith("Server unreachable since")
        assert time.monotonic() - started >= 2  # the pass waited out the connect timeout
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) > 10 and max(gaps) < 0.5
    finally:
        timer.stop()
        status.shutdown()


def test_no_server_configured_adds_nothing(
    window: QMainWindow, room_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITBCONSOLE_SYNC_DSN", raising=False)
    assert install_sync_status(window, room_db) is None
    assert window.statusBar().findChildren(type(window.statusBar())) == []


def test_records_from_another_room_ask_the_window_to_refresh(
    qtbot: QtBot,
    window: QMainWindow,
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
) -> None:
    server.init_server(pg_dsn)
    with open_room(tmp_path / "other-room.db") as other:
        add_patient_with_pump(other, 7)
        sync_once(other, pg_dsn)
    here = tmp_path / "this-room.db"
    open_room(here).close()
    status = _started(install_sync_status(window, here, pg_dsn, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.records_arrived, timeout=20_000) as arrived:
            pass
        assert arrived.args[0] > 0
        with open_room(here) as store:
            assert "H000007" in content(store)["patients"]
    finally:
        status.shutdown()


def test_a_click_on_the_label_syncs_now(qtbot: QtBot, window: QMainWindow, room_db: Path) -> None:
    status = _started(install_sync_status(window, room_db, DOWN_DSN, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000):
            pass  # the first pass, at start-up
        assert isinstance(status.label, SyncLabel)
        window.show()
        qtbot.waitExposed(window)
        with qtbot.waitSignal(status.changed, timeout=20_000):
            qtbot.mouseClick(status.label, Qt.MouseButton.LeftButton)
        assert "Click to sync now" in status.label.toolTip()
    finally:
        status.shutdown()


def test_times_are_the_clinics_and_an_outage_of_days_says_the_day() -> None:
    london = ZoneInfo("Europe/London")
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert clock_text(datetime(2026, 7, 1, 8, 5, tzinfo=UTC), now, london) == "09:05"
    assert clock_text(datetime(2026, 6, 28, 12, 40, tzinfo=UTC), now, london) == "28 Jun 13:40"


def _room_with_a_clash(tmp_path: Path, dsn: str) -> Path:
    """This room registered patient 1's hospital number for someone else: the other room's
    patient 1 (and her pump) wait here as conflicts after one pass."""
    with open_room(tmp_path / "other-room.db") as other:
        add_patient_with_pump(other, 1)
        sync_once(other, dsn)
    here = tmp_path / "this-room.db"
    with open_room(here) as store:
        add_patient_with_pump(store, 1)
        assert sync_once(store, dsn).conflicts > 0
    return here


def test_conflicts_waiting_from_an_earlier_pass_stay_in_the_status_bar(
    qtbot: QtBot,
    window: QMainWindow,
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
) -> None:
    server.init_server(pg_dsn)
    here = _room_with_a_clash(tmp_path, pg_dsn)
    with open_room(here) as store:
        waiting = open_conflict_count(store.db)
    status = _started(install_sync_status(window, here, pg_dsn, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass  # a pass that finds nothing new
        assert re.fullmatch(rf"Last sync \d\d:\d\d, 0 waiting, {waiting} to review", shown.args[0])
        assert "wait for an administrator" in status.label.toolTip()
    finally:
        status.shutdown()


def test_conflicts_to_review_are_shown_while_the_server_is_down(
    qtbot: QtBot,
    window: QMainWindow,
    tmp_path: Path,
    pg_dsn: str,  # noqa: F811
) -> None:
    server.init_server(pg_dsn)
    here = _room_with_a_clash(tmp_path, pg_dsn)
    status = _started(install_sync_status(window, here, DOWN_DSN, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        assert re.fullmatch(
            r"Server unreachable since \d\d:\d\d, \d+ waiting, \d+ to review", shown.args[0]
        )
    finally:
        status.shutdown()


def test_a_room_whose_audit_trail_does_not_verify_says_so_and_sends_nothing(
    qtbot: QtBot,
    window: QMainWindow,
    room_db: Path,
    pg_dsn: str,  # noqa: F811
) -> None:
    server.init_server(pg_dsn)
    rewrite_and_rehash(room_db, "H000001", "H999999")
    status = _started(install_sync_status(window, room_db, pg_dsn, interval_ms=HOUR))
    try:
        with qtbot.waitSignal(status.changed, timeout=20_000) as shown:
            pass
        assert re.fullmatch(
            r"Sync stopped: this room's audit trail does not verify, \d+ waiting", shown.args[0]
        )
        assert "seal does not match" in status.label.toolTip()
    finally:
        status.shutdown()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM itbconsole.events").fetchone() == (0,)
