"""Which of two versions is the newer: the order in which the server received them.

Why never a room's clock: a console's clock can be wrong by years (a flat clock battery, a
CMOS reset), so the time stamps rooms write decide nothing. The server numbers every event
as it receives it (``server_order``, kept in ``sync_applied`` and, for this room's own
entries, ``sync_own_order``); every room compares those numbers, so every room reaches the
same winner (docs/sync-rules.md, "Which version is newer"). A console whose clock is ahead
is only noted for an administrator (:func:`flag_clock_ahead`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from itbconsole.sync.conflicts import Conflict, record_conflict, room_label
from itbconsole.sync.events import SyncEvent

#: The order of a version not yet uploaded: after every version the server has.
NOT_UPLOADED = 1 << 62

#: An event dated further than this after the server received it: its console's clock is ahead.
CLOCK_AHEAD_LIMIT = timedelta(days=1)


def server_key(order: int | None, row: dict[str, Any], room: str) -> tuple[int, str, str]:
    """What decides which of two concurrent versions is the newer, alike in every room: the
    order in which the server received them (a room's clock never decides; a version not
    uploaded yet counts as after all the server has, so once everything is uploaded every
    room reaches the same winner); then, for two versions the server has neither of (only
    when events are handed over without a server), their time stamps and rooms."""
    return (NOT_UPLOADED if order is None else order, str(row["created_at"]), room)


def version_order(db: Database, table: str, local_id: int) -> int | None:
    """Where the server put the event that made this room's row ``local_id`` of
    ``table`` (None: not known yet, the version was not uploaded)."""
    found = db.conn.execute(
        "SELECT MIN(seq) FROM audit_log WHERE table_name = ? AND record_id = ?",
        [table, local_id],
    ).fetchone()
    if found is None or found[0] is None:
        return None
    seq = int(found[0])
    # Another room's version: the order of its original (this room's copy of it,
    # an echo, was uploaded later and does not count).
    applied = db.conn.execute(
        "SELECT server_order FROM sync_applied WHERE local_seq = ?", [seq]
    ).fetchone()
    if applied is None:
        applied = db.conn.execute(
            "SELECT server_order FROM sync_own_order WHERE seq = ?", [seq]
        ).fetchone()
    return None if applied is None or applied[0] is None else int(applied[0])


def flag_clock_ahead(db: Database, event: SyncEvent) -> Conflict | None:
    """An event stamped more than a day after the server received it comes from a
    console whose clock is ahead: noted for an administrator (once per room while
    the note is open). Its time stamps decide nothing (the server's order does), but
    the records it wrote carry the wrong dates. Returns the note written, if any."""
    if event.received_at is None:
        return None
    try:
        ahead = datetime.fromisoformat(event.at) - datetime.fromisoformat(event.received_at)
    except (TypeError, ValueError):
        return None
    if ahead <= CLOCK_AHEAD_LIMIT:
        return None
    open_note = db.conn.execute(
        "SELECT 1 FROM sync_conflicts c WHERE c.kind = 'clock_ahead' AND c.origin_room = ?"
        " AND NOT EXISTS (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = c.id)"
        " LIMIT 1",
        [event.room_id],
    ).fetchone()
    if open_note is not None:
        return None
    return record_conflict(
        db,
        event,
        "clock_ahead",
        f"{room_label(event.room_id)}'s event #{event.room_seq} (by {event.user_name}) is "
        f"dated {event.at}, {ahead.days} day(s) after the clinic server received it "
        f"({event.received_at}): that console's clock is ahead. Its records carry wrong "
        "dates; concurrent changes are decided by the order the server received them, "
        "never by a console's clock. Set that console's clock right, then check its "
        "records' dates.",
    )
