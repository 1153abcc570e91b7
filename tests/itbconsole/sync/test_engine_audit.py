"""A room's audit trail is checked before its entries leave the database: a chain rewritten
in the file and rehashed throughout looks whole to the server, only the seals show it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from itbconsole.sync import outbox, server
from itbconsole.sync.engine import AuditTrailBroken, sync_once
from tests.itbconsole.sync.chains import rewrite_and_rehash
from tests.itbconsole.sync.rooms import add_patient_with_pump, open_room


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


def server_count(dsn: str, room: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_rewritten_chain_is_never_uploaded(dsn: str, tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as room_a:
        add_patient_with_pump(room_a, 1)
        room = outbox.room_id(room_a.db)
    rewrite_and_rehash(tmp_path / "a.db", "H000001", "H999999")
    with open_room(tmp_path / "a.db") as room_a:
        with pytest.raises(AuditTrailBroken, match="Sync stopped: this room's audit trail does"):
            sync_once(room_a, dsn)
        state = outbox.get_state(room_a.db, server.server_label(dsn))
        assert state.last_error is not None and "does not verify" in state.last_error
    assert server_count(dsn, room) == 0
    with open_room(tmp_path / "b.db") as room_b:
        report = sync_once(room_b, dsn)
        assert report.applied == 0
        assert room_b.db.conn.execute("SELECT count(*) FROM patient_versions").fetchone()[0] == 0


def test_entries_rewritten_after_an_upload_are_not_sent(dsn: str, tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as room_a:
        add_patient_with_pump(room_a, 1)
        sync_once(room_a, dsn)
        uploaded = server_count(dsn, outbox.room_id(room_a.db))
        first_new = int(room_a.db.conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]) + 1
        add_patient_with_pump(room_a, 2)
        room = outbox.room_id(room_a.db)
    rewrite_and_rehash(tmp_path / "a.db", "H000002", "H999999", from_seq=first_new)
    with open_room(tmp_path / "a.db") as room_a:
        with pytest.raises(AuditTrailBroken, match="seal does not match"):
            sync_once(room_a, dsn)
    assert server_count(dsn, room) == uploaded


def test_an_intact_room_uploads_as_before(dsn: str, tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as room_a:
        add_patient_with_pump(room_a, 1)
        report = sync_once(room_a, dsn)
        assert report.uploaded > 0 and report.pending == 0
