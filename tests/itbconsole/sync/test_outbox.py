"""The room's outbox is its audit log: every entry gets an immutable event id in its own
transaction (old entries on migration), and the pending events read back exactly as written."""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from itbconsole.store import Store, audit, migrate
from itbconsole.store.audit_keys import AuditKeys
from itbconsole.store.db import configure
from itbconsole.store.schema import MIGRATIONS
from itbconsole.sync import outbox
from itbconsole.sync.events import GENESIS_HASH
from tests.itbconsole.store.storefixtures import (
    NURSE,
    T0,
    make_patient,
    make_pump,
    make_reading,
)
from tests.itbconsole.sync.local_fixtures import RoomFactory, events_of, room_factory

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def open_room(tmp_path: Path) -> Iterator[RoomFactory]:
    yield from room_factory(tmp_path)


def _clinic_day(room: Store) -> None:
    patient = room.add_patient(make_patient(), NURSE)
    room.register_pump(make_pump(), patient.id or 0, NURSE, at=T0 - timedelta(days=400))
    room.add_reading(make_reading(), NURSE)


def test_every_entry_gets_one_uuid_event_id(open_room: RoomFactory) -> None:
    room = open_room("a")
    _clinic_day(room)
    entries = room.db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    ids = [r[0] for r in room.db.execute("SELECT event_id FROM sync_outbox ORDER BY seq")]
    assert len(ids) == entries == 6
    assert len(set(ids)) == len(ids)
    assert all(UUID4.match(i) for i in ids), ids


def test_a_write_that_fails_leaves_no_event_id(open_room: RoomFactory) -> None:
    room = open_room("a")
    with pytest.raises(RuntimeError, match="boom"), room.atomic():
        room.add_patient(make_patient(), NURSE)
        raise RuntimeError("boom")
    assert room.db.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
    assert outbox.outbox_count(room.db, 0) == 0


def test_pending_events_are_the_entries_in_order(open_room: RoomFactory) -> None:
    room = open_room("a")
    _clinic_day(room)
    events = events_of(room)
    assert [e.room_seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.room_id for e in events} == {room.store_id()} == {outbox.room_id(room.db)}
    assert events[0].prev_hash == GENESIS_HASH
    assert all(e.hash_ok() for e in events)
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].table_name == "patients" and events[0].action == "create"
    assert [e.room_seq for e in outbox.pending_events(room.db, 2, limit=3)] == [3, 4, 5]
    assert outbox.outbox_count(room.db, 4) == 2
    assert not any(e.is_echo() for e in events)


def test_a_changed_event_no_longer_matches_its_hash(open_room: RoomFactory) -> None:
    room = open_room("a")
    _clinic_day(room)
    event = events_of(room)[1]
    assert not replace(event, payload=event.payload.replace("Jones", "Smith")).hash_ok()
    assert not replace(event, user_name="Someone Else").hash_ok()
    assert not replace(event, room_seq=event.room_seq + 1).hash_ok()


def test_event_ids_never_change(open_room: RoomFactory) -> None:
    room = open_room("a")
    _clinic_day(room)
    for sql in ("UPDATE sync_outbox SET event_id = 'x'", "DELETE FROM sync_outbox"):
        with pytest.raises(sqlite3.DatabaseError, match="never changed or deleted"):
            room.db.execute(sql)


def test_db_verify_finds_the_outbox_trigger_removed(open_room: RoomFactory) -> None:
    room = open_room("a")
    _clinic_day(room)
    assert room.verify().ok
    room.db.execute("DROP TRIGGER audit_log_outbox")
    report = room.verify()
    assert not report.ok
    assert "audit_log_outbox" in report.summary()


def test_upload_bookkeeping_per_server(open_room: RoomFactory) -> None:
    room = open_room("a")
    server = "db.clinic.local:5432/itb"
    assert outbox.get_state(room.db, server) == outbox.SyncState(server)
    outbox.record_error(room.db, server, "The server did not answer.", "2026-11-30T08:00:00Z")
    state = outbox.get_state(room.db, server)
    assert (state.uploaded_through, state.last_error) == (0, "The server did not answer.")
    assert state.last_error_at == "2026-11-30T08:00:00Z"
    outbox.record_upload(room.db, server, 42, "2026-11-30T08:05:00Z")
    state = outbox.get_state(room.db, server)
    assert (state.uploaded_through, state.last_sync_at, state.last_error) == (
        42,
        "2026-11-30T08:05:00Z",
        None,
    )
    assert outbox.get_state(room.db, "other:5432/itb").uploaded_through == 0


def test_migration_gives_every_old_entry_an_event_id(tmp_path: Path) -> None:
    """A room's database from before sync (migrations 1 to 11, with records) gets an event
    id for each of its entries, and its trail still verifies."""
    conn = sqlite3.connect(tmp_path / "old.sqlite", isolation_level=None)
    from sqlite_utils import Database

    db = Database(conn)
    configure(db)
    assert migrate(db, MIGRATIONS[:11])[-1] == 11
    old = Store(db, tmp_path / "old.sqlite")
    old._attach_keys(AuditKeys.in_memory(old.store_id() or "old"))
    _clinic_day(old)
    old.record_action("clock_set", {"serial": "NGP123456"}, NURSE)
    assert "sync_outbox" not in db.table_names()
    entries = [int(r[0]) for r in db.execute("SELECT seq FROM audit_log ORDER BY seq")]
    assert len(entries) == 7

    assert migrate(db) == [m.id for m in MIGRATIONS[11:]]
    outbox_rows = db.execute("SELECT seq, event_id FROM sync_outbox ORDER BY seq").fetchall()
    assert [s for s, _ in outbox_rows] == entries
    assert all(UUID4.match(i) for _, i in outbox_rows)
    assert len({i for _, i in outbox_rows}) == len(entries)
    assert [e.room_seq for e in outbox.pending_events(db, 0)] == entries
    assert audit.verify_audit(db, old.audit_keys).ok
    old.add_reading(make_reading(at=T0 + timedelta(days=1)), NURSE)  # new entries get ids too
    assert outbox.outbox_count(db, 0) == 8
    db.close()
