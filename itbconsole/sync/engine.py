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

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from itbconsole.store import Store, audit
from itbconsole.store.accounts import count_accounts
from itbconsole.store.db import transaction, utc_iso
from itbconsole.sync import (
    DSN_ENVIRONMENT_VARIABLE,
    apply,
    configured_dsn,
    conflicts,
    outbox,
    server,
    waiting,
)
from itbconsole.sync.server import ChainRefused, ServerError, ServerUnavailable, first_line

#: The environment variable that names the clinic server (a libpq DSN or URL).
#: Events per upload transaction and per download.
BATCH = 500

__all__ = [
    "DSN_ENVIRONMENT_VARIABLE",
    "AuditTrailBroken",
    "ChainRefused",
    "RoomDiverged",
    "ServerError",
    "ServerUnavailable",
    "SyncReport",
    "configured_dsn",
    "needs_first_sync",
    "pending_count",
    "sync_once",
]


class RoomDiverged(ServerError):
    """This room's database and the server disagree about the room's own history (the
    database was restored from an older copy, or its log was rewritten). Nothing is sent
    until an administrator looks at it."""


class AuditTrailBroken(ServerError):
    """This room's own audit trail does not verify (an entry edited, a chain recomputed
    without the seals, an entry with no seal, the newest sealed entry gone): its entries
    are not sent, so a rewritten history never reaches the other rooms."""


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
    #: Events waiting in a conflict that applied when tried again at the end of the pass
    #: (what stood in their way was put right here meanwhile).
    reapplied: int = 0
    #: Conflicts waiting for an administrator after the pass (found in this pass or any
    #: earlier one): ``itbconsole sync conflicts`` lists them.
    open_conflicts: int = 0
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
            f"applied on retry: {self.reapplied}",
            f"open conflicts: {self.open_conflicts}"
            + (" (itbconsole sync conflicts)" if self.open_conflicts else ""),
            f"pending: {self.pending}",
        ]
        if self.server_head is not None:
            seq, digest = self.server_head
            lines.append(f"server anchor: {seq}:{digest[:12]} (itbconsole db verify --anchor)")
        return "\n".join(lines)


def _now() -> str:
    return utc_iso(datetime.now(UTC))


def needs_first_sync(store: Store, dsn: str | None, *, timeout_s: int = 5) -> bool:
    """True while a new console must not offer to make a "first administrator": a clinic
    server is configured, this database has no account yet, and the server holds accounts
    made in other rooms, which a sync pass brings in (then this is False: sign in with
    them). Also True when the server cannot be asked (unreachable, refused): a console of
    a clinic that has a server never assumes it is the first. False with no server, on a
    database that has accounts (no network then), or when no room has any account yet
    (the clinic's first console makes the first administrator).

    Why: a new database file is a new room to the server; an administrator made there
    without the clinic's accounts would be a clinic-wide administrator made by whoever
    opened the file."""
    chosen = configured_dsn(dsn)
    if chosen is None or count_accounts(store.db) > 0:
        return False
    room = outbox.room_id(store.db)
    try:
        with server.connect(chosen, timeout_s=timeout_s) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM itbconsole.events WHERE table_name = 'accounts'"
                " AND action NOT LIKE 'sync:%%' AND room_id <> %s)",
                [room],
            ).fetchone()
    except (ServerError, psycopg.Error):
        return True
    return bool(row and row[0])


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
            _retry_waiting(store, report)
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
    report.open_conflicts = conflicts.open_conflict_count(store.db)
    report.finished_at = _now()
    return report


def _retry_waiting(store: Store, report: SyncReport) -> None:
    """Try the events waiting in conflicts again, once per pass: what stood in their way
    may have been put right here since (a hospital number corrected, an account renamed),
    and an event applied now is uploaded as this room's entry in the same pass."""
    result = waiting.retry_waiting(store)
    report.reapplied += result.applied
    report.applied += result.applied
    report.conflicts += len(result.conflicts)
    report.conflict_messages += [str(c) for c in result.conflicts]


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
    if outbox.outbox_count(store.db, through):
        check_before_upload(store, through)
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
    _learn_own_orders(store, conn, room)
    return through


def _learn_own_orders(store: Store, conn: psycopg.Connection[Any], room: str) -> None:
    """Note where the server put this room's own entries among the clinic's: concurrent
    edits are decided by that order in every room (docs/sync-rules.md)."""
    known = store.db.conn.execute("SELECT MAX(seq) FROM sync_own_order").fetchone()[0]
    orders = server.own_orders(conn, room, int(known or 0))
    if not orders:
        return
    with transaction(store.db):
        store.db.conn.executemany(
            "INSERT OR IGNORE INTO sync_own_order (seq, server_order) SELECT ?, ?"
            " WHERE EXISTS (SELECT 1 FROM audit_log WHERE seq = ?)",
            [(seq, order, seq) for seq, order in orders],
        )


def check_before_upload(store: Store, after_seq: int) -> None:
    """The entries after ``after_seq`` (what is about to be sent) must link into the chain
    and carry this computer's seals, and the newest entry this computer sealed must still
    be there; otherwise :class:`AuditTrailBroken` and nothing is sent.

    Why here and not only on the server: the server can recompute the hashes of what it is
    sent, but a chain rewritten in the file and rehashed throughout looks whole to it; only
    the seals (keyed outside the database) show it. A seal made with a key not on this
    computer cannot be checked here, so it stops the upload too (import the keys)."""
    found = audit.verify_entries_after(store.db, store.audit_keys, after_seq)
    if found.ok and not found.unverified:
        return
    if found.problems:
        first = found.problems[0].message.rstrip(".")
        more = len(found.problems) - 1
        detail = first + (f" (and {more} more finding(s))" if more else "")
        advice = (
            "Keep this database as it is and ask the administrator to run 'itbconsole db verify'."
        )
    else:
        detail = (
            f"{found.unverified} of the entries to send are sealed with a key that is not on "
            f"this computer ({found.keys_where}), so they cannot be checked"
        )
        advice = "Import the keys kept with the backups ('itbconsole db import-keys')."
    raise AuditTrailBroken(
        f"Sync stopped: this room's audit trail does not verify ({detail}). Nothing was "
        f"sent. {advice}"
    )


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
