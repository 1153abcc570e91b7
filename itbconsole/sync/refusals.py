"""The rules of this room that another room's row must pass, and what is said when it
does not (docs/sync-rules.md, "What is a conflict").

Why here and not in the store's write methods: another room's row arrives already made
(its author, its time, its patient), so the store's rules for a new write cannot simply be
called; the same rules are applied to the row as it stands, and a refusal is a
:class:`Refused` with a sentence an administrator can act on, the local record it met, and
the records that must wait with it. The database's own rules (one patient per hospital or
NHS number, one account per name) are triggers; :func:`integrity_refusal` explains them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from itbconsole.sync.conflicts import room_label
from itbconsole.sync.events import SyncEvent
from itbconsole.sync.id_map import IdMap

#: Tables whose rows a local write files under the pump's owner (``_owner_for_write``):
#: another room's row must name the patient the pump is registered to here.
OWNER_CHECKED = ("readings", "pump_events", "refills", "program_changes", "prepared_programs")

#: (table, key column, value) of a record that waits with a conflict.
BlockKey = tuple[str, str, Any]


class Refused(Exception):
    """The event cannot be applied as it is: it becomes a conflict of ``kind``."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        local_table: str | None = None,
        local_id: int | None = None,
        local_row: dict[str, Any] | None = None,
        block: Iterable[BlockKey] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.local_table = local_table
        self.local_id = local_id
        self.local_row = local_row
        self.block = tuple(block)


def what(table: str) -> str:
    """A record of ``table``, in words."""
    return {
        "patients": "A patient",
        "patient_versions": "A patient's details",
        "pumps": "A pump",
        "pump_versions": "A pump's details",
        "pump_registrations": "A pump registration",
        "readings": "A pump reading",
        "pump_events": "A pump log entry",
        "refills": "A refill",
        "program_changes": "A program change",
        "prepared_programs": "A prepared program",
        "clinic_settings": "The clinic's settings",
        "accounts": "An account",
        "account_versions": "An account's details",
        "account_events": "A sign-in event",
        "patient_status": "A patient's status",
    }.get(table, f"A {table} record")


def own_keys(event: SyncEvent) -> list[BlockKey]:
    """The record ``event`` writes, as the key its dependants name it by."""
    if event.table_name is None or event.record_id is None:
        return []
    return [(event.table_name, "id", event.record_id)]


#: A record's first version, and the identity it gives details to: when that version is
#: set aside, the identity's records wait with it (a patient without details is nobody).
_FIRST_VERSION_OF = {
    "patient_versions": ("patients", "id", "patient_id"),
    "account_versions": ("accounts", "id", "account_id"),
    "pump_versions": ("pumps", "serial", "pump_serial"),
}


def identity_keys(event: SyncEvent) -> list[BlockKey]:
    """The identity whose records wait when ``event``, a first version, cannot apply."""
    found = _FIRST_VERSION_OF.get(event.table_name or "")
    if found is None:
        return []
    table, key, column = found
    try:
        values = json.loads(event.payload)
    except ValueError:
        return []
    if not isinstance(values, dict) or values.get("corrects_id") is not None:
        return []
    return [(table, key, values.get(column))]


def row(db: Database, sql: str, args: list[Any]) -> dict[str, Any] | None:
    return next(iter(db.query(sql, args)), None)


def _origin_ref(event: SyncEvent, column: str) -> Any:
    found = json.loads(event.payload)
    return found.get(column) if isinstance(found, dict) else None


def _who(event: SyncEvent) -> str:
    return f"{room_label(event.room_id)} (event #{event.room_seq}, by {event.user_name})"


def check_not_blocked(
    db: Database,
    ids: IdMap,
    event: SyncEvent,
    table: str,
    values: dict[str, Any],
    retrying: int | None,
) -> None:
    """A row pointing at a record set aside as a conflict waits with it (``retrying``: the
    conflict whose event is being tried again, which does not hold back itself)."""
    for ref in ids.references(table):
        value = values.get(ref.column)
        if value is None:
            continue
        found = db.conn.execute(
            "SELECT b.conflict_id FROM sync_blocked b WHERE b.origin_room = ?"
            " AND b.table_name = ? AND b.key_column = ? AND b.key_value = ?"
            " AND b.conflict_id != ? AND NOT EXISTS"
            " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = b.conflict_id"
            " AND x.new_conflict_id IS NULL) AND NOT EXISTS"
            " (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = b.conflict_id)"
            " LIMIT 1",
            [event.room_id, ref.table, ref.key, str(value), retrying or 0],
        ).fetchone()
        if found is not None:
            raise Refused(
                "depends",
                f"{what(table)} from {room_label(event.room_id)} (event "
                f"#{event.room_seq}, by {event.user_name}) belongs to {ref.table} "
                f"{value} of that room, which is waiting in sync conflict {found[0]}. It "
                "waits with it: resolve that conflict first.",
                block=own_keys(event),
            )


def check_new_pump(db: Database, event: SyncEvent, values: dict[str, Any]) -> None:
    """A pump's serial names one pump: one registered separately here is not a second."""
    serial = str(values.get("serial"))
    local = row(db, "SELECT * FROM pumps WHERE serial = ?", [serial])
    if local is not None:
        raise Refused(
            "refused",
            f"Pump {serial} was registered in {room_label(event.room_id)} by "
            f"{event.user_name} and also, separately, in this room: the same pump cannot be "
            "two records. Its records from that room wait here until an administrator "
            "decides which patient and details are right.",
            local_table="pumps",
            local_id=int(local["id"]),
            local_row=local,
            block=[*own_keys(event), ("pumps", "serial", serial)],
        )


def _owner_registration(db: Database, serial: str) -> dict[str, Any] | None:
    return row(
        db,
        "SELECT r.* FROM pump_owner o JOIN pump_registrations r ON r.id = o.registration_id"
        " WHERE o.pump_serial = ?",
        [serial],
    )


#: The column giving the time a pump's record was made, where it is not ``at``.
_RECORD_TIME = {"prepared_programs": "prepared_at"}


def _registration_at(db: Database, serial: str, at: str) -> dict[str, Any] | None:
    """The registration of ``serial`` in force here at ``at`` (the newest effective one
    that had begun by then), as the patient's records view reads the history."""
    return row(
        db,
        "SELECT r.* FROM pump_registrations r WHERE r.pump_serial = ? AND r.effective_at <= ?"
        " AND r.entered_in_error = 0 AND NOT EXISTS"
        " (SELECT 1 FROM pump_registrations c WHERE c.corrects_id = r.id)"
        " ORDER BY r.effective_at DESC, r.id DESC LIMIT 1",
        [serial, at],
    )


def _explanted_before(db: Database, serial: str, patient_id: Any, at: str) -> bool:
    """Was the pump explanted from this patient on a day before ``at``'s (the explant's
    registration here is dated when it was entered, its record says the day)?"""
    found = db.conn.execute(
        "SELECT 1 FROM pump_explants WHERE pump_serial = ? AND patient_id = ?"
        " AND explanted_on < ? LIMIT 1",
        [serial, patient_id, at[:10]],
    ).fetchone()
    return found is not None


def check_registration(db: Database, ids: IdMap, event: SyncEvent, values: dict[str, Any]) -> None:
    """A pump is never moved by a room that did not know where it is registered here: not
    to another patient while it is someone's here (register_pump's rule), and not at all
    when the registration in force here is one that room had not seen (the pump's
    registration changed in two rooms at once)."""
    if values.get("corrects_id") is not None:
        return
    patient = values.get("patient_id")
    serial = values["pump_serial"]
    owner = _owner_registration(db, serial)
    if owner is None or owner["patient_id"] == patient:
        return
    taken = patient is not None and owner["patient_id"] is not None
    if not taken and ids.seen_by(event, "pump_registrations", int(owner["id"])):
        return
    mine = (
        "to nobody (explanted)"
        if owner["patient_id"] is None
        else f"to patient record {owner['patient_id']}"
    )
    theirs = "to nobody (explanted)" if patient is None else f"to patient record {patient}"
    raise Refused(
        "refused",
        f"{room_label(event.room_id)} registered pump {serial} {theirs} here, while this "
        f"room has it registered {mine} by a change that room had not seen. The "
        "registration was not applied, and that room's later records of the pump wait: an "
        "administrator must say which patient has the pump.",
        local_table="pump_registrations",
        local_id=int(owner["id"]),
        local_row=owner,
        block=[*own_keys(event), ("pumps", "serial", serial)],
    )


def check_owner(db: Database, event: SyncEvent, table: str, values: dict[str, Any]) -> None:
    """The wrong-patient rule of a local write: a pump's data goes to the patient the pump
    is registered to here, now or at the time the record was made (the registration
    history here). Another room's row for a pump registered here to someone else (or to no
    one) at both times waits, and so does that room's later data of the pump."""
    serial = values["pump_serial"]
    owner = _owner_registration(db, serial)
    if owner is not None and owner["patient_id"] == values["patient_id"]:
        return
    at = values.get(_RECORD_TIME.get(table, "at"))
    then = None if at is None else _registration_at(db, serial, str(at))
    if (
        then is not None
        and then["patient_id"] == values["patient_id"]
        and not _explanted_before(db, serial, values["patient_id"], str(at))
    ):
        # Made while the pump was this patient's here (a refill recorded offline before
        # the explant another room recorded): it belongs to her, as in the room that made it.
        return
    here = (
        "not registered to any patient"
        if owner is None or owner["patient_id"] is None
        else f"registered to another patient (record {owner['patient_id']})"
    )
    raise Refused(
        "refused",
        f"{what(table)} of pump {serial} from {_who(event)} is for patient record "
        f"{values['patient_id']} here, but the pump is {here} in this room. It was not "
        "filed (a pump's data never goes to the wrong patient); this pump's records from "
        "that room wait here until an administrator sets the registration right.",
        local_table=None if owner is None else "pump_registrations",
        local_id=None if owner is None else int(owner["id"]),
        local_row=owner,
        block=[*own_keys(event), ("pumps", "serial", serial)],
    )


def integrity_refusal(
    db: Database, event: SyncEvent, table: str, values: dict[str, Any], exc: sqlite3.Error
) -> Refused:
    """A database rule refused the row: say which, and what it collided with."""
    text = str(exc)
    if "duplicate patient identity" in text:
        clash = row(
            db,
            "SELECT v.* FROM current_patient c JOIN patient_versions v ON v.id = c.version_id"
            " WHERE v.patient_id != ? AND v.entered_in_error = 0 AND"
            " (upper(trim(v.hospital_number)) = upper(trim(?))"
            " OR (? IS NOT NULL AND v.nhs_number = ?)) LIMIT 1",
            [values["patient_id"], values["hospital_number"], values["nhs_number"],
             values["nhs_number"]],
        )  # fmt: skip
        name = f"{values.get('family_name')}, {values.get('given_name')}"
        mine = (
            ""
            if clash is None
            else f" {clash['family_name']}, {clash['given_name']} (record {clash['patient_id']})"
        )
        return Refused(
            "refused",
            f"Patient {name} from {_who(event)} has hospital number "
            f"{values['hospital_number']} (or the NHS number) of patient{mine} in this room. "
            "Both records are kept; the patient's records from that room wait here until an "
            "administrator decides whether they are the same person.",
            local_table="patient_versions",
            local_id=None if clash is None else int(clash["id"]),
            local_row=clash,
            block=[*own_keys(event), ("patients", "id", _origin_ref(event, "patient_id"))],
        )
    if "duplicate account name" in text:
        clash = row(
            db,
            "SELECT v.* FROM account_versions v WHERE lower(trim(v.name)) = lower(trim(?))"
            " ORDER BY v.id DESC LIMIT 1",
            [values["name"]],
        )
        return Refused(
            "refused",
            f"The account {values['name']} from {_who(event)} has the name of an account of "
            "this room. A name belongs to one account, so it was not added; the account's "
            "records from that room wait here until an administrator renames one of them.",
            local_table="account_versions",
            local_id=None if clash is None else int(clash["id"]),
            local_row=clash,
            block=[*own_keys(event), ("accounts", "id", _origin_ref(event, "account_id"))],
        )
    return Refused(
        "refused",
        f"{what(table)} from {_who(event)} was refused by this room's database ({text}). It "
        "is kept here for an administrator.",
        block=own_keys(event),
    )


def unreadable(event: SyncEvent, reason: str) -> Refused:
    """An event this version cannot apply: a table it does not have, content it cannot read."""
    return Refused(
        "unreadable",
        f"Event #{event.room_seq} of {room_label(event.room_id)} ({event.action}) could not "
        f"be applied: {reason}. It is kept here for an administrator; if this console is "
        "older than the other room's, update it and sync again.",
        block=own_keys(event),
    )
