"""Conflicts: another room's event this room could not apply as it is, for an administrator.

Why a table of its own and not an error: a sync pass must never stop at one bad event (the
rest of the clinic's records would stay out of reach), and must never drop one either. So
the event's whole content and, when there is one, the local record it collided with are
kept side by side here, with a sentence an administrator can act on, and the pass goes on.
Conflicts never change; an administrator's answer is a row of ``sync_resolutions`` and an
audit entry, so who decided what stays on the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from itbconsole.model import Role, User
from itbconsole.store import audit
from itbconsole.store.db import transaction, utc_iso, utc_now
from itbconsole.store.errors import StoreError
from itbconsole.sync.events import SyncEvent

#: What kind of conflict, in the words the administrator's list uses.
KINDS = {
    "tampered": "changed after it was written",
    "refused": "refused by a rule of this room",
    "concurrent_edit": "changed in two rooms at once",
    "depends": "depends on a record in conflict",
    "missing": "refers to a record this room does not have",
    "unreadable": "not readable by this version of ITB Console",
    "clock_ahead": "written by a console whose clock is ahead",
    "outcome_unknown": "outcome settled differently in two rooms",
}


@dataclass(frozen=True)
class Conflict:
    """One event set aside (or, for a concurrent edit, applied with the other version
    kept): ``remote_json`` is the other room's version, ``local_json`` this room's."""

    id: int
    event_id: str
    origin_room: str
    origin_seq: int
    origin_at: str
    user_name: str
    user_role: str
    action: str
    table_name: str | None
    origin_id: int | None
    kind: str
    message: str
    remote_json: str
    prev_hash: str
    hash: str
    local_table: str | None
    local_id: int | None
    local_json: str | None
    detected_at: str

    def __str__(self) -> str:
        return self.message

    @property
    def kind_text(self) -> str:
        return KINDS.get(self.kind, self.kind)

    def event(self) -> SyncEvent:
        """The other room's event, whole again (its hash still checks it)."""
        return SyncEvent(
            event_id=self.event_id,
            room_id=self.origin_room,
            room_seq=self.origin_seq,
            at=self.origin_at,
            user_name=self.user_name,
            user_role=self.user_role,
            action=self.action,
            table_name=self.table_name,
            record_id=self.origin_id,
            payload=self.remote_json,
            prev_hash=self.prev_hash,
            hash=self.hash,
        )


def room_label(room: str) -> str:
    """A room's id, short enough to read aloud (its first 8 characters)."""
    return f"room {room[:8]}"


def record_conflict(
    db: Database,
    event: SyncEvent,
    kind: str,
    message: str,
    *,
    local_table: str | None = None,
    local_id: int | None = None,
    local_row: dict[str, Any] | None = None,
) -> Conflict:
    """Keep ``event`` with what it collided with (inside the caller's transaction)."""
    if kind not in KINDS:
        raise ValueError(f"unknown conflict kind {kind}")
    values: dict[str, Any] = {
        "event_id": event.event_id,
        "origin_room": event.room_id,
        "origin_seq": event.room_seq,
        "origin_at": event.at,
        "user_name": event.user_name,
        "user_role": event.user_role,
        "action": event.action,
        "table_name": event.table_name,
        "origin_id": event.record_id,
        "kind": kind,
        "message": message,
        "remote_json": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "local_table": local_table,
        "local_id": local_id,
        "local_json": None if local_row is None else audit.canonical_json(local_row),
        "detected_at": utc_iso(utc_now()),
    }
    columns = ", ".join(values)
    marks = ", ".join(f":{c}" for c in values)
    cursor = db.conn.execute(f"INSERT INTO sync_conflicts ({columns}) VALUES ({marks})", values)
    return Conflict(id=int(cursor.lastrowid or 0), **values)


def _from_row(row: dict[str, Any]) -> Conflict:
    return Conflict(**{k: row[k] for k in Conflict.__dataclass_fields__})


def get_conflict(db: Database, conflict_id: int) -> Conflict:
    """The conflict ``conflict_id`` (it exists: conflicts are never deleted)."""
    return _from_row(next(db.query("SELECT * FROM sync_conflicts WHERE id = ?", [conflict_id])))


def open_conflicts(db: Database) -> list[Conflict]:
    """Conflicts no administrator has resolved yet and whose event has not been applied
    since (``apply_waiting``), oldest first: the list the app shows an administrator."""
    return [
        _from_row(r)
        for r in db.query(
            "SELECT c.* FROM sync_conflicts c WHERE NOT EXISTS"
            " (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = c.id) AND NOT EXISTS"
            " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id) ORDER BY c.id"
        )
    ]


def open_conflict_count(db: Database) -> int:
    """How many conflicts wait for an administrator (for a status bar or a badge)."""
    row = db.conn.execute(
        "SELECT COUNT(*) FROM sync_conflicts c WHERE NOT EXISTS"
        " (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = c.id) AND NOT EXISTS"
        " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id)"
    ).fetchone()
    return int(row[0])


def all_conflicts(db: Database) -> list[Conflict]:
    """Every conflict ever recorded, oldest first."""
    return [_from_row(r) for r in db.query("SELECT * FROM sync_conflicts ORDER BY id")]


def resolve_conflict(db: Database, conflict_id: int, user: User, note: str) -> None:
    """An administrator has dealt with a conflict (merged the patients, renamed the
    account, entered the right version by hand...): ``note`` says how. Audited."""
    if user.role is not Role.ADMINISTRATOR:
        raise StoreError(
            f"{user.name} is signed in as {user.role.value}: only an administrator can "
            "resolve a sync conflict."
        )
    if not note.strip():
        raise StoreError("Say how the conflict was resolved.")
    with transaction(db):
        found = db.conn.execute(
            "SELECT event_id FROM sync_conflicts WHERE id = ?", [conflict_id]
        ).fetchone()
        if found is None:
            raise StoreError(f"There is no sync conflict {conflict_id}.")
        if (
            db.conn.execute(
                "SELECT 1 FROM sync_resolutions WHERE conflict_id = ?", [conflict_id]
            ).fetchone()
            is not None
        ):
            raise StoreError(f"Sync conflict {conflict_id} is already resolved.")
        at = utc_iso(utc_now())
        db.conn.execute(
            "INSERT INTO sync_resolutions (conflict_id, resolved_at, resolved_by, note)"
            " VALUES (?, ?, ?, ?)",
            [conflict_id, at, user.name, note.strip()],
        )
        audit.append(
            db,
            user,
            "sync_conflict_resolved",
            payload=audit.canonical_json(
                {"conflict_id": conflict_id, "event_id": str(found[0]), "note": note.strip()}
            ),
        )
