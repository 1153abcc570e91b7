"""A room whose table of seals was dropped (every seal check would be skipped) and a
correctly chained entry appended is not uploaded: the missing table stops the sync."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from itbconsole.store.audit import entry_hash
from itbconsole.sync import outbox, server
from itbconsole.sync.engine import AuditTrailBroken, sync_once
from tests.itbconsole.sync.rooms import add_patient_with_pump, open_room


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    server.init_server(pg_dsn)
    return pg_dsn


def forged_on_server(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE user_name = 'Dr Forge'"
        ).fetchone()
    return int(row[0]) if row else 0


def drop_seals_and_forge(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TABLE audit_seals")
        seq, prev = conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        entry = {
            "seq": seq + 1,
            "at": "2026-03-01T00:00:00+00:00",
            "user_name": "Dr Forge",
            "user_role": "clinician",
            "action": "note",
            "table_name": None,
            "record_id": None,
            "payload": '{"forged":true}',
        }
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(prev, entry)
        conn.execute(
            f"INSERT INTO audit_log ({', '.join(entry)}) VALUES ({', '.join('?' * len(entry))})",
            list(entry.values()),
        )
    finally:
        conn.close()


def test_a_room_without_its_seals_is_not_uploaded(dsn: str, tmp_path: Path) -> None:
    with open_room(tmp_path / "a.db") as room_a:
        add_patient_with_pump(room_a, 1)
        sync_once(room_a, dsn)
        room = outbox.room_id(room_a.db)
    with psycopg.connect(dsn) as conn:
        uploaded = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
    drop_seals_and_forge(tmp_path / "a.db")
    with open_room(tmp_path / "a.db") as room_a:
        with pytest.raises(AuditTrailBroken, match=r"Sync stopped: .*table of seals"):
            sync_once(room_a, dsn)
    assert forged_on_server(dsn) == 0
    with psycopg.connect(dsn) as conn:
        after = conn.execute(
            "SELECT count(*) FROM itbconsole.events WHERE room_id = %s", [room]
        ).fetchone()
    assert after == uploaded
