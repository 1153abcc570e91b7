"""The room's side of upload: its identity, the events not yet on a server, the bookkeeping.

The outbox is the audit log (migration 12 gives every entry an event id in the same
transaction), so there is nothing to enqueue and nothing that can be forgotten: pending
events are simply the entries after the last one a server acknowledged. ``sync_state``
remembers, per server, how far uploads got and the last error, for the status bar; it holds
no clinical data and may be changed (it is not audited).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from itbconsole.store.db import transaction
from itbconsole.sync.events import SyncEvent

_EVENT_COLUMNS = (
    "o.event_id, a.seq, a.at, a.user_name, a.user_role, a.action, a.table_name, a.record_id,"
    " a.payload, a.prev_hash, a.hash"
)


@dataclass(frozen=True)
class SyncState:
    """How far this room's uploads to one server got."""

    server: str
    uploaded_through: int = 0
    last_sync_at: str | None = None
    last_error: str | None = None
    #: When the last error happened (None when the last sync succeeded).
    last_error_at: str | None = None


def room_id(db: Database) -> str:
    """This room's id: its database's identity (migration 10), the same for its whole life."""
    row = db.conn.execute("SELECT id FROM store_identity").fetchone()
    if row is None:
        raise LookupError("this database has no identity: open it with the store first")
    return str(row[0])


def pending_events(db: Database, after_seq: int, limit: int = 1000) -> list[SyncEvent]:
    """This room's events after ``after_seq``, oldest first (at most ``limit``)."""
    room = room_id(db)
    rows = db.conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM audit_log a JOIN sync_outbox o ON o.seq = a.seq"
        " WHERE a.seq > ? ORDER BY a.seq LIMIT ?",
        [after_seq, limit],
    ).fetchall()
    return [
        SyncEvent(
            event_id=str(event_id),
            room_id=room,
            room_seq=int(seq),
            at=str(at),
            user_name=str(user_name),
            user_role=str(user_role),
            action=str(action),
            table_name=None if table is None else str(table),
            record_id=None if record_id is None else int(record_id),
            payload=str(payload),
            prev_hash=str(prev_hash),
            hash=str(digest),
        )
        for (event_id, seq, at, user_name, user_role, action, table, record_id, payload,
             prev_hash, digest) in rows
    ]  # fmt: skip


def outbox_count(db: Database, after_seq: int) -> int:
    """How many of this room's events come after ``after_seq`` (the status bar's pending)."""
    row = db.conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE seq > ?", [after_seq]).fetchone()
    return int(row[0])


def get_state(db: Database, server: str) -> SyncState:
    """What this room knows of its uploads to ``server`` (nothing yet: through 0)."""
    row = db.conn.execute(
        "SELECT uploaded_through, last_sync_at, last_error, last_error_at FROM sync_state"
        " WHERE server = ?",
        [server],
    ).fetchone()
    if row is None:
        return SyncState(server)
    return SyncState(server, int(row[0]), row[1], row[2], row[3])


def record_upload(db: Database, server: str, through_seq: int, at: str) -> None:
    """The server holds this room's events up to ``through_seq``; the last error is cleared."""
    with transaction(db):
        db.conn.execute(
            "INSERT INTO sync_state (server, uploaded_through, last_sync_at, last_error)"
            " VALUES (?, ?, ?, NULL) ON CONFLICT (server) DO UPDATE SET"
            " uploaded_through = excluded.uploaded_through,"
            " last_sync_at = excluded.last_sync_at, last_error = NULL, last_error_at = NULL",
            [server, through_seq, at],
        )


def record_error(db: Database, server: str, text: str, at: str) -> None:
    """A sync with ``server`` failed at ``at``: ``text`` says why (shown to the user)."""
    with transaction(db):
        db.conn.execute(
            "INSERT INTO sync_state (server, uploaded_through, last_error, last_error_at)"
            " VALUES (?, 0, ?, ?) ON CONFLICT (server) DO UPDATE SET"
            " last_error = excluded.last_error, last_error_at = excluded.last_error_at",
            [server, text, at],
        )
