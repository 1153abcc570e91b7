"""A write to a pump settled differently in two rooms: its outcome goes back to unknown.

Why never decided by the program: a pending refill confirmed in one room and failed in the
other, or an uncertain program change succeeded in one and failed in the other, is a
question only the pump can answer. The outcome in force goes back to unknown (a new version
by "ITB Console sync"), so the forecast takes the worse case and the worklist lists the
record until an administrator settles it again; both settlements are kept in the conflict.
Every room that sees both does the same, so all end unknown, and the rooms' own "unknown"
versions say the same and are not listed again (docs/sync-rules.md, "outcome unknown").
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from itbconsole.store import audit
from itbconsole.store.db import utc_now
from itbconsole.store.records import stamp_columns
from itbconsole.sync import refusals
from itbconsole.sync.conflicts import room_label
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.id_map import SYNC_USER
from itbconsole.sync.refusals import what

#: Writes to a pump whose outcome may be unknown: the column, and its "unknown" value.
OUTCOME = {"refills": ("status", "pending"), "program_changes": ("outcome", "uncertain")}

#: The note that starts a version by which the sync kept an outcome unknown.
OUTCOME_UNKNOWN_NOTE = "outcome unknown: "


def outcomes_differ(table: str, remote: dict[str, Any], local: dict[str, Any]) -> bool:
    """Two concurrent versions of a write to a pump that say different outcomes."""
    if table not in OUTCOME:
        return False
    column, _ = OUTCOME[table]
    return bool(remote.get(column) != local.get(column))


def both_outcome_unknown_marks(remote: dict[str, Any], local: dict[str, Any]) -> bool:
    """Both versions are the sync's own "outcome unknown" versions (one per room that saw
    the two settlements): they say the same, so there is nothing more to ask."""
    return all(
        v.get("created_by") == SYNC_USER.name
        and str(v.get("correction_note") or "").startswith(OUTCOME_UNKNOWN_NOTE)
        for v in (remote, local)
    )


def keep_outcome_unknown(
    db: Database,
    event: SyncEvent,
    table: str,
    values: dict[str, Any],
    local: dict[str, Any],
    head_id: int,
) -> str:
    """Two rooms settled one write to a pump (a pending refill, an uncertain program
    change) differently, neither seeing the other. That is never decided by the
    program: the outcome in force (the version ``head_id``, the newest of its correction
    chain) goes back to unknown (a new version by "ITB Console sync"), so the forecast
    takes the worse case and the worklist lists the record until an administrator
    settles it again; both settlements are kept in the conflict. Every room that sees
    both does the same, so all end unknown. Returns the conflict's message."""
    column, unknown = OUTCOME[table]
    head = refusals.row(db, f"SELECT * FROM [{table}] WHERE id = ?", [head_id])
    assert head is not None
    note = (
        f"{OUTCOME_UNKNOWN_NOTE}settled as {values[column]} in {room_label(event.room_id)} and "
        f"as {local[column]} elsewhere, neither seeing the other"
    )
    row = {k: v for k, v in head.items() if k not in ("id", "created_at", "created_by",
                                                      "created_role")}  # fmt: skip
    row.update({column: unknown, "corrects_id": head_id, "correction_note": note,
                "entered_in_error": 0, **stamp_columns(SYNC_USER, utc_now())})  # fmt: skip
    columns = ", ".join(f"[{c}]" for c in row)
    marks = ", ".join("?" for _ in row)
    cursor = db.conn.execute(
        f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", list(row.values())
    )
    audit.append(db, SYNC_USER, "correct", table=table, record_id=int(cursor.lastrowid or 0))
    return (
        f"{what(table)} settled differently in two rooms at once: as {values[column]} in "
        f"{room_label(event.room_id)} by {event.user_name} at {values['created_at']}, and "
        f"as {local[column]} by {local['created_by']} at {local['created_at']}, neither "
        f"seeing the other. Its outcome is {unknown} in every room (the forecast takes "
        "the worse case; the worklist lists it) until an administrator settles it again "
        "with what the pump shows. Both settlements are kept here."
    )
