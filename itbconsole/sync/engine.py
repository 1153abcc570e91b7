"""One sync pass between a room's SQLite store and the clinic's PostgreSQL server.

Why in this order: the room first uploads every audit entry the server does not have yet
(from the server's head for this room, so an upload cut off anywhere resumes exactly where
it stopped), then downloads the other rooms' events after its per-room cursors and applies
them (each applied event writes a local "sync:" entry), then uploads those entries too, so
the server's copy of the room's chain ends where the room's does. Every step is idempotent:
the server skips events it has, the store skips events it has applied, and a pass that dies
anywhere (the server stopped, the network gone, the program closed) is finished by the next.

A server that cannot be reached raises :class:`ServerUnavailable` within seconds and no
record is touched; only the room's sync bookkeeping (``sync_state``, not a clinical table)
notes the error so the status bar can say since when.

Where the app finds the server: ``itbconsole sync --dsn`` or the environment variable
``ITBCONSOLE_SYNC_DSN`` (:func:`configured_dsn`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from itbconsole.store import Store, audit
from itbconsole.store.db import utc_iso
from itbconsole.sync import apply, outbox, server
from itbconsole.sync.server import ChainRefused, ServerError, ServerUnavailable, first_line

#: The environment variable that names the clinic server (a libpq DSN or URL).
DSN_ENVIRONMENT_VARIABLE = "ITBCONSOLE_SYNC_DSN"
#: Events per upload transaction and per download.
BATCH = 500

__all__ = [
    "DSN_ENVIRONMENT_VARIABLE",
    "ChainRefused",
    "RoomDiverged",
    "ServerError",
    "ServerUnavailable",
    "SyncReport",
    "configured_dsn",
    "pending_count",
    "sync_once",
]


class RoomDiverged(ServerError):
    """This room's database and the server disagree about the room's own history (the
    database was restored from an older copy, or its log was rewritten). Nothing is sent
    until an administrator looks at it."""


@dataclass
class SyncReport:
    """What one pass did, for the status bar and ``itbconsole sync``."""

    room_id: str
    server: str
    uploaded: int = 0
    downloaded: int = 0
    applied: int = 0
    conflicts: int = 0
    #: Local entries the server does not have yet (0 after a complete pass).
    pending: int = 0
    #: The server's head for this room after the pass: (seq, hash).
    server_head: tuple[int, str] | None = None
    finished_at: str = ""
    conflict_messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line per figure, as ``itbconsole sync`` prints it, then the server's head for
        this room as an anchor ``itbconsole db verify --anchor`` accepts."""
        lines = [
            f"Room {self.room_id} with server {self.server}",
            f"uploaded: {self.uploaded}",
            f"downloaded: {self.downloaded}",
            f"applied: {self.applied}",
            f"conflicts: {self.conflicts}",
            f"pending: {self.pending}",
        ]
        if self.server_head is not None:
            seq, digest = self.server_head
            lines.append(f"server anchor: {seq}:{digest[:12]} (itbconsole db verify --anchor)")
        return "\n".join(lines)


def configured_dsn(explicit: str | None = None) -> str | None:
    """The clinic server to sync with: ``explicit`` when given, else
    ``$ITBCONSOLE_SYNC_DSN``; None when neither names one (sync is then off)."""
    chosen = explicit if explicit else os.environ.get(DSN_ENVIRONMENT_VARIABLE, "")
    chosen = chosen.strip()
    return chosen or None


def _now() -> str:
    return utc_iso(datetime.now(UTC))


def pending_count(store: Store, dsn: str) -> int:
    """Entries of this room not yet uploaded to the server (from the local bookkeeping:
    no network)."""
    state = outbox.get_state(store.db, server.server_label(dsn))
    return outbox.outbox_count(store.db, state.uploaded_through)


def sync_once(store: Store, dsn: str, *, batch: int = BATCH, timeout_s: int = 5) -> SyncReport:
    """One complete pass (upload, download and apply, upload the applied entries).

    Raises :class:`ServerUnavailable` (the server cannot be reached, or the connection was
    lost mid-pass: run again), :class:`ChainRefused` (the server refused this room's
    events as a gap or tampering) or :class:`RoomDiverged`; each is also noted in the
    room's sync state."""
    key = server.server_label(dsn)
    room = outbox.room_id(store.db)
    report = SyncReport(room_id=room, server=key)
    try:
        with server.connect(dsn, timeout_s=timeout_s) as conn:
            _upload_all(store, conn, room, key, report, batch)
            _download_and_apply(store, conn, room, report, batch)
            through = _upload_all(store, conn, room, key, report, batch)
            outbox.record_upload(store.db, key, through, _now())  # the pass is complete
    except ServerError as exc:
        _note_error(store, key, str(exc))
        raise
    except psycopg.OperationalError as exc:
        text = f"The connection to the clinic server {key} was lost: {first_line(exc)}"
        _note_error(store, key, text)
        raise ServerUnavailable(text) from exc
    except psycopg.Error as exc:
        text = f"The clinic server {key} refused the sync: {first_line(exc)}"
        _note_error(store, key, text)
        raise ServerError(text) from exc
    state = outbox.get_state(store.db, key)
    report.pending = outbox.outbox_count(store.db, state.uploaded_through)
    report.finished_at = _now()
    return report


def _note_error(store: Store, key: str, text: str) -> None:
    try:
        outbox.record_error(store.db, key, text, _now())
    except Exception:  # the bookkeeping must never hide the real error
        pass


def _server_position(store: Store, conn: psycopg.Connection[Any], room: str) -> int:
    """How far the server holds this room's chain, checked against the local log: the
    server's head must be an entry of this database, with the same hash."""
    head = server.room_head(conn, room)
    if head is None:
        return 0
    seq, digest = head
    row = store.db.conn.execute("SELECT hash FROM audit_log WHERE seq = ?", [seq]).fetchone()
    if row is None:
        local = audit.head(store.db)
        raise RoomDiverged(
            f"The server holds this room's records up to entry #{seq}, but this database ends "
            f"at #{local[0] if local else 0}: it was restored from an older copy. Nothing "
            "was sent. Ask the administrator (docs/deployment.md, 'Restoring a room')."
        )
    if str(row[0]) != digest:
        raise RoomDiverged(
            f"Entry #{seq} of this room differs from the copy on the server (hash "
            f"{str(row[0])[:12]} here, {digest[:12]} there): this database is not the one "
            "that uploaded it, or its log was rewritten. Nothing was sent."
        )
    return seq


def _upload_all(
    store: Store,
    conn: psycopg.Connection[Any],
    room: str,
    key: str,
    report: SyncReport,
    batch: int,
) -> int:
    """Send every entry the server lacks, a batch per transaction; returns the seq the
    server holds this room through."""
    through = _server_position(store, conn, room)
    state = outbox.get_state(store.db, key)
    if state.uploaded_through != through:
        outbox.record_upload(store.db, key, through, _now())
    while True:
        events = outbox.pending_events(store.db, through, limit=batch)
        if not events:
            break
        result = server.upload(conn, events)
        report.uploaded += result.stored
        report.server_head = result.head
        through = events[-1].room_seq
        outbox.record_upload(store.db, key, through, _now())
    if report.server_head is None:
        report.server_head = server.room_head(conn, room)
    return through


def _download_and_apply(
    store: Store,
    conn: psycopg.Connection[Any],
    room: str,
    report: SyncReport,
    batch: int,
) -> None:
    while True:
        cursors = apply.download_cursors(store.db)
        events = server.download(conn, exclude_room=room, cursors=cursors, limit=batch)
        if not events:
            return
        result = apply.apply_events(store, events)
        report.downloaded += len(events)
        report.applied += result.applied
        report.conflicts += len(result.conflicts)
        report.conflict_messages += [str(c) for c in result.conflicts]
        if apply.download_cursors(store.db) == cursors:
            return  # nothing moved: never loop on the same events
