"""Sync passes between real room stores and a real PostgreSQL server: upload, download and
apply, interruptions, a server that is down, a room that was offline for days."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from itbconsole.store import Store
from itbconsole.sync import engine, outbox, server
from itbconsole.sync.engine import RoomDiverged, ServerUnavailable, sync_once
from tests.itbconsole.sync.conftest import PostgresCluster
from tests.itbconsole.sync.rooms import (
    add_patient_with_pump,
    add_refill,
    clinical_row_count,
    content,
    open_room,
)

DOWN_DSN = "host=127.0.0.1 port=1 dbname=clinic user=itbconsole_room connect_timeout=2"


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


@pytest.fixture
def room_a(tmp_path: Path) -> Store:
    with open_room(tmp_path / "room-a.db") as store:
        yield store


@pytest.fixture
def room_b(tmp_path: Path) -> Store:
    with open_room(tmp_path / "room-b.db") as store:
        yield store


def server_events(dsn: str, room: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT room_seq, hash FROM itbconsole.events WHERE room_id = %s ORDER BY room_seq",
            [room],
        ).fetchall()
    return [(int(s), str(h)) for s, h in rows]


def local_chain(store: Store) -> list[tuple[int, str]]:
    rows = store.db.conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq").fetchall()
    return [(int(s), str(h)) for s, h in rows]


def test_a_pass_uploads_the_rooms_whole_chain_once(dsn: str, room_a: Store) -> None:
    for n in range(1, 4):
        add_patient_with_pump(room_a, n)
        add_refill(room_a, n, day=n)
    first = sync_once(room_a, dsn)
    again = sync_once(room_a, dsn)
    room = outbox.room_id(room_a.db)
    assert first.uploaded == len(local_chain(room_a)) and first.pending == 0
    assert (again.uploaded, again.downloaded, again.pending) == (0, 0, 0)
    assert server_events(dsn, room) == local_chain(room_a)
    assert first.server_head == local_chain(room_a)[-1]
    assert "uploaded: " in first.summary() and "pending: 0" in first.summary()


def test_two_rooms_end_with_the_same_records(dsn: str, room_a: Store, room_b: Store) -> None:
    add_patient_with_pump(room_a, 1)
    add_refill(room_a, 1, day=3)
    add_patient_with_pump(room_b, 2)
    sync_once(room_a, dsn)
    report_b = sync_once(room_b, dsn)
    report_a = sync_once(room_a, dsn)
    assert report_b.applied > 0 and report_a.applied > 0
    assert (report_a.conflicts, report_b.conflicts) == (0, 0)
    assert content(room_a) == content(room_b)
    assert set(content(room_a)["patients"]) == {"H000001", "H000002"}
    assert len(content(room_b)["refills"]) == 1
    # each room's own chain, applied entries included, is on the server as the room has it
    for store in (room_a, room_b):
        assert server_events(dsn, outbox.room_id(store.db)) == local_chain(store)
        assert store.verify().ok


def test_a_server_that_is_down_fails_quickly_and_changes_no_record(room_a: Store) -> None:
    add_patient_with_pump(room_a, 1)
    before_rows, before_chain = clinical_row_count(room_a), local_chain(room_a)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="cannot be reached"):
        sync_once(room_a, DOWN_DSN, timeout_s=2)
    assert time.monotonic() - started < 5
    assert clinical_row_count(room_a) == before_rows
    assert local_chain(room_a) == before_chain
    state = outbox.get_state(room_a.db, server.server_label(DOWN_DSN))
    assert state.last_error is not None and "cannot be reached" in state.last_error
    assert engine.pending_count(room_a, DOWN_DSN) == len(before_chain)


def test_the_connection_killed_mid_batch_loses_and_duplicates_nothing(
    dsn: str, room_a: Store
) -> None:
    for n in range(1, 21):
        add_patient_with_pump(room_a, n)
    total = len(local_chain(room_a))
    room = outbox.room_id(room_a.db)
    # The server ends the upload's own connection while its third batch is half stored.
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION public.kill_upload() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.room_seq = 25 THEN PERFORM pg_terminate_backend(pg_backend_pid());"
            " END IF; RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER zz_kill_upload AFTER INSERT ON itbconsole.events"
            " FOR EACH ROW EXECUTE FUNCTION public.kill_upload()"
        )
    with pytest.raises(ServerUnavailable, match=r"lost|cannot be reached|terminat"):
        sync_once(room_a, dsn, batch=10)
    held = server_events(dsn, room)
    assert held == local_chain(room_a)[:20]  # two whole batches; none of the third
    assert outbox.get_state(room_a.db, server.server_label(dsn)).uploaded_through == 20
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("DROP TRIGGER zz_kill_upload ON itbconsole.events")
    report = sync_once(room_a, dsn, batch=10)
    assert report.uploaded == total - 20 and report.pending == 0
    assert server_events(dsn, room) == local_chain(room_a)


def test_the_server_stopped_and_restarted_between_passes(
    pg_cluster: PostgresCluster, dsn: str, room_a: Store, room_b: Store
) -> None:
    add_patient_with_pump(room_a, 1)
    sync_once(room_a, dsn)
    pg_cluster.stop("immediate")
    try:
        add_patient_with_pump(room_a, 2)  # the refill room works on while the server is down
        with pytest.raises(ServerUnavailable):
            sync_once(room_a, dsn, timeout_s=2)
    finally:
        pg_cluster.start()
    sync_once(room_a, dsn)
    sync_once(room_b, dsn)
    assert set(content(room_b)["patients"]) == {"H000001", "H000002"}
    assert server_events(dsn, outbox.room_id(room_a.db)) == local_chain(room_a)


def test_a_room_offline_for_days_catches_up(dsn: str, room_a: Store, room_b: Store) -> None:
    add_patient_with_pump(room_a, 1)
    add_patient_with_pump(room_b, 2)
    sync_once(room_a, dsn)
    sync_once(room_b, dsn)
    for day in range(1, 15):  # two weeks: room B offline, both rooms at work
        add_refill(room_a, 1, day=day)
        add_refill(room_b, 2, day=day)
        add_patient_with_pump(room_a, 100 + day)
        with pytest.raises(ServerUnavailable):
            sync_once(room_b, DOWN_DSN, timeout_s=1)
        sync_once(room_a, dsn)
    caught_up = sync_once(room_b, dsn, batch=7)
    sync_once(room_a, dsn)
    assert caught_up.pending == 0 and caught_up.conflicts == 0
    assert caught_up.applied >= 14 * 2
    assert content(room_a) == content(room_b)
    assert len(content(room_b)["refills"]) == 28


def test_a_room_restored_from_an_older_copy_is_stopped(dsn: str, tmp_path: Path) -> None:
    with open_room(tmp_path / "room.db") as store:
        add_patient_with_pump(store, 1)
        store.backup(tmp_path / "older.db")
        add_patient_with_pump(store, 2)
        sync_once(store, dsn)
        room = outbox.room_id(store.db)
        held = server_events(dsn, room)
    (tmp_path / "room.db").unlink()
    (tmp_path / "older.db").rename(tmp_path / "room.db")
    with open_room(tmp_path / "room.db") as restored:
        with pytest.raises(RoomDiverged, match="restored from an older copy"):
            sync_once(restored, dsn)
        assert server_events(dsn, room) == held


def test_the_server_crashing_during_an_upload_loses_and_duplicates_nothing(
    pg_cluster: PostgresCluster, dsn: str, room_a: Store
) -> None:
    """The server process is stopped (immediate: a crash) while the third batch is in its
    transaction; after the restart the next pass stores exactly what was missing."""
    for n in range(1, 21):
        add_patient_with_pump(room_a, n)
    room = outbox.room_id(room_a.db)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION public.hold_upload() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.room_seq = 25 THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$"
        )
        admin.execute(
            "CREATE TRIGGER zz_hold_upload AFTER INSERT ON itbconsole.events"
            " FOR EACH ROW EXECUTE FUNCTION public.hold_upload()"
        )
    outcome: list[BaseException] = []

    def run() -> None:
        with open_room(room_a.path) as own:  # the pass's own connection to the room
            try:
                sync_once(own, dsn, batch=10)
            except BaseException as exc:  # examined below
                outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(dsn, autocommit=True) as watcher:
            while time.monotonic() < deadline:
                held = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
                ).fetchone()
                if held and held[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the upload never reached the held event")
        pg_cluster.stop("immediate")
        worker.join(30)
    finally:
        pg_cluster.start()
    assert len(outcome) == 1 and isinstance(outcome[0], ServerUnavailable)
    assert server_events(dsn, room) == local_chain(room_a)[:20]
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("DROP TRIGGER zz_hold_upload ON itbconsole.events")
    report = sync_once(room_a, dsn, batch=10)
    assert report.pending == 0
    assert server_events(dsn, room) == local_chain(room_a)
