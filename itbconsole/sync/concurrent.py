"""Two rooms changed one record, neither seeing the other's version: which is in force.

Why it is known and not guessed: a room's ``ids_mapped`` entries say which rows it had
applied before it wrote anything later (:meth:`itbconsole.sync.id_map.IdMap.seen_by`), so a
correction of a version already corrected here, or a new version of a record whose newest
version here the other room had not seen, is a concurrent edit. The newer version (the one
the server received later, :mod:`itbconsole.sync.server_order`) is in force in every room,
both are listed for an administrator, and the older one's later corrections carry on from
the version in force. Two settlements of a write to a pump are never decided this way
(:mod:`itbconsole.sync.outcomes`); an account's disabling is kept
(:mod:`itbconsole.sync.accounts`). Docs: docs/sync-rules.md, "concurrent edit".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from itbconsole.sync import refusals
from itbconsole.sync.accounts import disabling_kept
from itbconsole.sync.conflicts import record_conflict, room_label
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.outcomes import (
    both_outcome_unknown_marks,
    keep_outcome_unknown,
    outcomes_differ,
)
from itbconsole.sync.refusals import what
from itbconsole.sync.server_order import server_key, version_order

if TYPE_CHECKING:
    from itbconsole.sync.applier import Applier

#: Reference records with a version per row and no ``corrects_id``: the newest row of the
#: same record (same value of this column; None: the table is one record) is in force.
NEWEST_ROW_WINS: dict[str, str | None] = {
    "clinic_settings": None,
    "account_versions": "account_id",
    "patient_status": "patient_id",
}

#: A row's id and stamp: whose version it is, not what it says.
_OWN_STAMP = ("id", "change", "note", "created_at", "created_by", "created_role")


def _stamp(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("change", "note", "created_at", "created_by", "created_role")}


def chain_head(db: Database, table: str, row_id: int) -> int:
    """The newest version of the correction chain through ``row_id``."""
    while True:
        found = db.conn.execute(
            f"SELECT id FROM [{table}] WHERE corrects_id = ?", [row_id]
        ).fetchone()
        if found is None:
            return row_id
        row_id = int(found[0])


def superseded(applier: Applier, event: SyncEvent, table: str, values: dict[str, Any]) -> bool:
    """Two rooms changed the same record, the other room without seeing this room's
    version in force: a correction of a version already corrected here, or a new
    version of a record whose newest version here it had not seen. Returns True when
    that decided the event; False when it is to be inserted (a correction possibly
    re-pointed at the version in force)."""
    db, ids = applier.db, applier.ids
    corrected = values.get("corrects_id")
    if corrected is not None:
        # Compared with the version in force here whenever the other room had not seen
        # it: already corrected here, or the version it corrects stands here for one
        # of this room's (its own older concurrent version, mapped in ``sync_same``),
        # so that a later correction of that older version does not pass for an
        # ordinary correction of this room's.
        head = chain_head(db, table, int(corrected))
        if head == int(corrected) and ids.seen_by(event, table, head):
            return False
        return _concurrent(applier, event, table, values, head, corrects=True)
    if table not in NEWEST_ROW_WINS:
        return False
    key = NEWEST_ROW_WINS[table]
    where, args = ("", []) if key is None else (f" WHERE [{key}] = ?", [values[key]])
    newest = db.conn.execute(
        f"SELECT id FROM [{table}]{where} ORDER BY id DESC LIMIT 1", args
    ).fetchone()
    if newest is None or ids.seen_by(event, table, int(newest[0])):
        return False
    return _concurrent(applier, event, table, values, int(newest[0]), corrects=False)


def _concurrent(
    applier: Applier,
    event: SyncEvent,
    table: str,
    values: dict[str, Any],
    local_id: int,
    *,
    corrects: bool,
) -> bool:
    """The newer version (the later received by the server,
    :func:`~itbconsole.sync.server_order.server_key`) is in force in every room; both are
    listed for an administrator. Always True (the event is decided here)."""
    db, ids = applier.db, applier.ids
    local = refusals.row(db, f"SELECT * FROM [{table}] WHERE id = ?", [local_id])
    assert local is not None
    local_room = ids.maker(table, local_id)[0]
    remote_newer = server_key(event.server_order, values, event.room_id) > server_key(
        version_order(db, table, local_id), local, local_room
    )
    kept = "the other room's" if remote_newer else "this room's"
    where = "this room" if local_room == ids.here else room_label(local_room)
    message = (
        f"Changed in two rooms at once ({what(table).lower()}): in "
        f"{room_label(event.room_id)} by {event.user_name} at {values['created_at']}, and "
        f"in {where} by {local['created_by']} at {local['created_at']}, neither seeing "
        f"the other. The newer, {kept}, is in force in every room; both versions are kept "
        "here. Check which is right and enter it again if needed."
    )
    merged = table == "account_versions" and disabling_kept(values, local, remote_newer)
    if merged:
        message += (
            " The account stays disabled: a disabling is not undone by a change, made "
            "without seeing it, that did not enable the account."
        )
    if remote_newer:
        if corrects:
            values["corrects_id"] = local_id
        if merged:
            values["active"] = 0
        applier.insert(event, table, values)
    elif merged:
        # This room's newer version, disabled as the other room's older one says.
        kept_here = {k: v for k, v in local.items() if k not in _OWN_STAMP}
        applier.insert(event, table, {**kept_here, **_stamp(values), "active": 0})
    else:
        # The other room's older version is kept in the conflict; its later
        # corrections carry on from the version in force here.
        ids.add(event.room_id, table, int(event.record_id or 0), local_id, inserted=False)
    if both_outcome_unknown_marks(values, local):
        # Two rooms each kept one record's outcome unknown: the same, nothing to ask.
        if not remote_newer:
            applier.mark(event, None, None)
            applier.duplicate = True
        return True
    kind = "concurrent_edit"
    if outcomes_differ(table, values, local):
        kind, message = (
            "outcome_unknown",
            keep_outcome_unknown(db, event, table, values, local, chain_head(db, table, local_id)),
        )
    conflict = record_conflict(
        db,
        event,
        kind,
        message,
        local_table=table,
        local_id=local_id,
        local_row=local,
    )
    applier.report.conflicts.append(conflict)
    if not remote_newer and not merged:
        applier.mark(event, None, conflict.id)
        applier.set_aside = True
    return True
