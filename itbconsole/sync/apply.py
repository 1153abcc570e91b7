"""Applying other rooms' events to this room's store (the rules: docs/sync-rules.md).

Why rows are re-inserted and not copied: every room numbers its rows itself, so each
applied row gets an id of this room, and every column that points at an ``id`` is
translated (:mod:`itbconsole.sync.id_map`). The row keeps its author and time stamps, and is
written with its own audit entry (action ``sync:`` + the original action) in the same
transaction, so it passes ``itbconsole db verify`` here like any local write, and the
current-state and forecast-cache triggers run as they do for a local write.

Why conflicts are rows: an event a rule of this room refuses
(:mod:`itbconsole.sync.refusals`) is kept whole in ``sync_conflicts`` with the local record
it met (:mod:`itbconsole.sync.conflicts`), the records that depend on it wait there too,
and the pass goes on. Nothing is dropped, and one bad event never stops the clinic's other
records from arriving. Two rooms changing one record without seeing each other's change
end with the newer version in force in both, and both versions listed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from itbconsole.model import Role, User
from itbconsole.store import Store, audit
from itbconsole.store.account_rules import is_active_administrator, leaves_no_administrator
from itbconsole.store.accounts import FIRST_ADMINISTRATOR_NOTE, Account, get_account, list_accounts
from itbconsole.store.accounts import add_version as add_account_version
from itbconsole.store.db import transaction, utc_iso, utc_now
from itbconsole.store.errors import StoreError, StoreUnavailableError
from itbconsole.store.records import stamp_columns
from itbconsole.store.schema import CLINICAL_TABLES
from itbconsole.sync import refusals
from itbconsole.sync.conflicts import (
    Conflict,
    open_conflict_count,
    open_conflicts,
    record_conflict,
    resolve_conflict,
    room_label,
)
from itbconsole.sync.events import ECHO_PREFIX, SyncEvent
from itbconsole.sync.id_map import IDS_MAPPED, SYNC_USER, IdMap
from itbconsole.sync.refusals import Refused, what

__all__ = [
    "IDS_MAPPED",
    "ApplyReport",
    "Conflict",
    "apply_events",
    "apply_waiting",
    "download_cursors",
    "open_conflict_count",
    "open_conflicts",
    "resolve_conflict",
    "retry_waiting",
]

#: Events applied per transaction: each event is all-or-nothing inside it (a savepoint),
#: and a batch commits as one, so catching up on days of events is not one disk flush each,
#: while the write lock is never held long (a refill saved meanwhile waits a moment at most).
BATCH_SIZE = 200

#: Reference records with a version per row and no ``corrects_id``: the newest row of the
#: same record (same value of this column; None: the table is one record) is in force.
_NEWEST_ROW_WINS: dict[str, str | None] = {
    "clinic_settings": None,
    "account_versions": "account_id",
    "patient_status": "patient_id",
}

#: Conflicts whose event may apply later (a concurrent edit was decided; a tampered event
#: never becomes right).
_RETRIED_KINDS = ("refused", "depends", "missing", "unreadable")

#: An event dated further than this after the server received it: its console's clock is ahead.
CLOCK_AHEAD_LIMIT = timedelta(days=1)

#: What an event meets that makes it a conflict rather than stopping the pass.
_EVENT_FAILURES = (Refused, sqlite3.Error, StoreError, ValueError, KeyError, TypeError)


@dataclass
class ApplyReport:
    """What one call of :func:`apply_events` (or :func:`apply_waiting`) did."""

    applied: int = 0
    skipped_known: int = 0
    #: Echo entries (``sync:`` actions) given to apply: never applied.
    skipped_echo: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    #: Events still waiting after :func:`apply_waiting` tried them again.
    still_waiting: int = 0


def download_cursors(db: Database) -> dict[str, int]:
    """Per origin room, the highest of its seqs this room has handled (applied or set aside)."""
    return {
        str(room): int(seq)
        for room, seq in db.conn.execute(
            "SELECT origin_room, MAX(origin_seq) FROM sync_applied GROUP BY origin_room"
        )
    }


def _in_room_order(events: Sequence[SyncEvent]) -> list[SyncEvent]:
    """The events as given, except that each room's events come in its seq order."""
    by_room: dict[str, list[SyncEvent]] = {}
    for event in events:
        by_room.setdefault(event.room_id, []).append(event)
    queues = {
        room: iter(sorted(found, key=lambda e: e.room_seq)) for room, found in by_room.items()
    }
    return [next(queues[event.room_id]) for event in events]


def apply_events(store: Store, events: Sequence[SyncEvent]) -> ApplyReport:
    """Apply other rooms' ``events`` to ``store`` (see the module's docstring).

    Idempotent: an event already handled is skipped. Only a store that cannot be written
    (:class:`StoreUnavailableError`: disk full, read only...) raises; the batch being
    written is then rolled back whole and applied again by the next pass."""
    report = ApplyReport()
    applier = _Applier(store.db, report)
    ordered = _in_room_order(events)
    for start in range(0, len(ordered), BATCH_SIZE):
        batch = ordered[start : start + BATCH_SIZE]
        with transaction(store.db):
            # A batch's id maps first: they only note aliases (with their seq), and a room's
            # rows may come in the same batch as the map another room made of the records
            # they point at. Within the batch's transaction, so the cursors never pass an
            # event that was not kept.
            for event in [e for e in batch if e.action == IDS_MAPPED]:
                applier.handle(event)
            for event in [e for e in batch if e.action != IDS_MAPPED]:
                applier.handle(event)
            applier.ids.announce()
    return report


def apply_waiting(store: Store) -> ApplyReport:
    """Try again every event waiting in a conflict (after an administrator changed what
    stood in its way: corrected a hospital number, renamed an account, set a pump's
    registration right), in each room's order, until nothing more applies. An event that
    applies now is recorded in ``sync_reapplied`` and its conflict leaves the open list;
    one that still cannot stays as it is (no new conflict is written for it). A conflict
    an administrator resolved no longer holds back the records that waited on it: they
    are tried like the others (and this room's rules still apply to each)."""
    report = ApplyReport()
    with transaction(store.db):
        applier = _Applier(store.db, report)
        while True:
            waiting = [
                _conflict(store.db, int(r[0]))
                for r in store.db.conn.execute(
                    "SELECT c.id FROM sync_conflicts c WHERE c.kind IN"
                    f" ({', '.join('?' for _ in _RETRIED_KINDS)}) AND NOT EXISTS"
                    " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id)"
                    " ORDER BY c.origin_room, c.origin_seq, c.id",
                    list(_RETRIED_KINDS),
                ).fetchall()
            ]
            before = report.applied
            for conflict in waiting:
                applier.retry(conflict.id, conflict.event())
            if report.applied == before:
                report.still_waiting = len(waiting)
                break
        applier.ids.announce()
    return report


#: An account's changes that set whether it is active.
_ACTIVE_CHANGES = ("created", "disabled", "enabled")

#: A row's id and stamp: whose version it is, not what it says.
_OWN_STAMP = ("id", "change", "note", "created_at", "created_by", "created_role")


def _stamp(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("change", "note", "created_at", "created_by", "created_role")}


#: Writes to a pump whose outcome may be unknown: the column, and its "unknown" value.
_OUTCOME = {"refills": ("status", "pending"), "program_changes": ("outcome", "uncertain")}

#: The note that starts a version by which the sync kept an outcome unknown.
_OUTCOME_UNKNOWN_NOTE = "outcome unknown: "


def _made_as_first_administrator(values: dict[str, Any]) -> bool:
    """An account's first version made by "create first administrator" (it names itself)."""
    return (
        values.get("change") == "created"
        and values.get("note") == FIRST_ADMINISTRATOR_NOTE
        and values.get("role") == Role.ADMINISTRATOR.value
    )


def _outcomes_differ(table: str, remote: dict[str, Any], local: dict[str, Any]) -> bool:
    """Two concurrent versions of a write to a pump that say different outcomes."""
    if table not in _OUTCOME:
        return False
    column, _ = _OUTCOME[table]
    return bool(remote.get(column) != local.get(column))


def _both_outcome_unknown_marks(remote: dict[str, Any], local: dict[str, Any]) -> bool:
    """Both versions are the sync's own "outcome unknown" versions (one per room that saw
    the two settlements): they say the same, so there is nothing more to ask."""
    return all(
        v.get("created_by") == SYNC_USER.name
        and str(v.get("correction_note") or "").startswith(_OUTCOME_UNKNOWN_NOTE)
        for v in (remote, local)
    )


#: The order of a version not yet uploaded: after every version the server has.
_NOT_UPLOADED = 1 << 62


def _server_key(order: int | None, row: dict[str, Any], room: str) -> tuple[int, str, str]:
    """What decides which of two concurrent versions is the newer, alike in every room: the
    order in which the server received them (a room's clock never decides; a version not
    uploaded yet counts as after all the server has, so once everything is uploaded every
    room reaches the same winner); then, for two versions the server has neither of (only
    when events are handed over without a server), their time stamps and rooms."""
    return (_NOT_UPLOADED if order is None else order, str(row["created_at"]), room)


def _disabling_kept(remote: dict[str, Any], local: dict[str, Any], remote_newer: bool) -> bool:
    """Two concurrent versions of an account: the older disabled it, and the newer, made
    without seeing that, changed something else (a password, a role) and says active.
    The account stays disabled (the newer version's other values are kept)."""
    older, newer = (local, remote) if remote_newer else (remote, local)
    return (
        older["change"] == "disabled"
        and newer["change"] not in _ACTIVE_CHANGES
        and bool(newer["active"])
    )


def retry_waiting(store: Store) -> ApplyReport:
    """:func:`apply_waiting`, for the end of every sync pass: what an administrator put
    right (a record corrected here, a conflict resolved) lets the records that waited on
    it apply without anyone asking. Nothing is written when nothing waits."""
    waiting = store.db.conn.execute(
        "SELECT 1 FROM sync_conflicts c WHERE c.kind IN"
        f" ({', '.join('?' for _ in _RETRIED_KINDS)}) AND NOT EXISTS"
        " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = c.id) LIMIT 1",
        list(_RETRIED_KINDS),
    ).fetchone()
    if waiting is None:
        return ApplyReport()
    return apply_waiting(store)


def _conflict(db: Database, conflict_id: int) -> Conflict:
    row = next(db.query("SELECT * FROM sync_conflicts WHERE id = ?", [conflict_id]))
    return Conflict(**{k: row[k] for k in Conflict.__dataclass_fields__})


def _author(event: SyncEvent) -> User:
    """The origin's author, as its entry names them."""
    return User(event.user_name, Role(event.user_role))


class _Applier:
    """Applies events one at a time inside the caller's transaction."""

    def __init__(self, db: Database, report: ApplyReport) -> None:
        self.db = db
        self.report = report
        self.ids = IdMap(db)
        #: The event being applied was kept only as a conflict (an older concurrent version).
        self.set_aside = False
        #: The event being applied was already here under its natural key (a pump log entry).
        self.duplicate = False
        #: The conflict whose event is being tried again (None: a first application).
        self.retrying: int | None = None
        #: Each table's columns, from the schema (payload keys are checked against them).
        self._table_columns: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------------ one event

    def handle(self, event: SyncEvent) -> None:
        if event.is_echo():
            self.report.skipped_echo += 1
            return
        if event.room_id == self.ids.here or self._known(event.event_id):
            self.report.skipped_known += 1
            return
        conn = self.db.conn
        conn.execute("SAVEPOINT sync_event")
        sealed_before = getattr(self.db, "audit_pending_head", None)
        mapped_before = len(self.ids.mapped)
        conflicts_before = len(self.report.conflicts)
        self.set_aside = self.duplicate = False
        try:
            self._apply(event)
        except StoreUnavailableError:
            raise
        except _EVENT_FAILURES as exc:
            conn.execute("ROLLBACK TO sync_event")
            self._rolled_back(mapped_before, sealed_before)
            del self.report.conflicts[conflicts_before:]  # rolled back with the event
            refusal = exc if isinstance(exc, Refused) else refusals.unreadable(event, str(exc))
            conflict = record_conflict(
                self.db,
                event,
                refusal.kind,
                refusal.message,
                local_table=refusal.local_table,
                local_id=refusal.local_id,
                local_row=refusal.local_row,
            )
            self._block(event, conflict.id, [*refusal.block, *refusals.identity_keys(event)])
            self._mark(event, None, conflict.id)
            self.report.conflicts.append(conflict)
        else:
            if self.duplicate:
                self.report.skipped_known += 1
            elif not self.set_aside:
                self.report.applied += 1
        finally:
            conn.execute("RELEASE sync_event")
        self._flag_clock_ahead(event)

    def _flag_clock_ahead(self, event: SyncEvent) -> None:
        """An event stamped more than a day after the server received it comes from a
        console whose clock is ahead: noted for an administrator (once per room while
        the note is open). Its time stamps decide nothing (the server's order does), but
        the records it wrote carry the wrong dates."""
        if event.received_at is None:
            return
        try:
            ahead = datetime.fromisoformat(event.at) - datetime.fromisoformat(event.received_at)
        except (TypeError, ValueError):
            return
        if ahead <= CLOCK_AHEAD_LIMIT:
            return
        open_note = self.db.conn.execute(
            "SELECT 1 FROM sync_conflicts c WHERE c.kind = 'clock_ahead' AND c.origin_room = ?"
            " AND NOT EXISTS (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = c.id)"
            " LIMIT 1",
            [event.room_id],
        ).fetchone()
        if open_note is not None:
            return
        conflict = record_conflict(
            self.db,
            event,
            "clock_ahead",
            f"{room_label(event.room_id)}'s event #{event.room_seq} (by {event.user_name}) is "
            f"dated {event.at}, {ahead.days} day(s) after the clinic server received it "
            f"({event.received_at}): that console's clock is ahead. Its records carry wrong "
            "dates; concurrent changes are decided by the order the server received them, "
            "never by a console's clock. Set that console's clock right, then check its "
            "records' dates.",
        )
        self.report.conflicts.append(conflict)

    def retry(self, conflict_id: int, event: SyncEvent) -> None:
        """Try a waiting event again; nothing changes when it still cannot apply."""
        conn = self.db.conn
        conn.execute("SAVEPOINT sync_retry")
        sealed_before = getattr(self.db, "audit_pending_head", None)
        mapped_before = len(self.ids.mapped)
        conflicts_before = len(self.report.conflicts)
        self.retrying, self.set_aside, self.duplicate = conflict_id, False, False
        try:
            self._apply(event)
        except StoreUnavailableError:
            raise
        except _EVENT_FAILURES:
            conn.execute("ROLLBACK TO sync_retry")
            self._rolled_back(mapped_before, sealed_before)
            del self.report.conflicts[conflicts_before:]
        else:
            if not self.set_aside:
                self.report.applied += 1
        finally:
            self.retrying = None
            conn.execute("RELEASE sync_retry")

    def _rolled_back(self, mapped_before: int, sealed_before: object) -> None:
        """An event's savepoint was rolled back: the ids it mapped and the audit entries it
        sealed were not kept (the head noted after the commit is the last one kept)."""
        self.ids.forget_since(mapped_before)
        self.db.audit_pending_head = sealed_before  # type: ignore[attr-defined]

    def _known(self, event_id: str) -> bool:
        found = self.db.conn.execute(
            "SELECT 1 FROM sync_applied WHERE event_id = ?", [event_id]
        ).fetchone()
        return found is not None

    def _mark(self, event: SyncEvent, local_seq: int | None, conflict_id: int | None) -> None:
        """The event is handled: applied (its local audit seq), or set aside (its conflict)."""
        if self.retrying is not None:
            self.db.conn.execute(
                "INSERT INTO sync_reapplied (conflict_id, event_id, local_seq, new_conflict_id,"
                " reapplied_at) VALUES (?, ?, ?, ?, ?)",
                [self.retrying, event.event_id, local_seq, conflict_id, utc_iso(utc_now())],
            )
            return
        self.db.conn.execute(
            "INSERT INTO sync_applied (event_id, origin_room, origin_seq, local_seq,"
            " conflict_id, handled_at, server_order) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [event.event_id, event.room_id, event.room_seq, local_seq, conflict_id,
             utc_iso(utc_now()), event.server_order],
        )  # fmt: skip

    def _block(self, event: SyncEvent, conflict_id: int, keys: Iterable[refusals.BlockKey]) -> None:
        """The records that wait with a conflict (their dependants wait too)."""
        for table, column, value in keys:
            if value is None:
                continue
            self.db.conn.execute(
                "INSERT OR IGNORE INTO sync_blocked (origin_room, table_name, key_column,"
                " key_value, conflict_id) VALUES (?, ?, ?, ?, ?)",
                [event.room_id, table, column, str(value), conflict_id],
            )

    def _apply(self, event: SyncEvent) -> None:
        if not event.hash_ok():
            raise Refused(
                "tampered",
                f"Event #{event.room_seq} of {room_label(event.room_id)} ({event.action} by "
                f"{event.user_name}) does not match its own hash: it was changed after it was "
                "written, so it was not applied. Report it; the room's own database still "
                "holds the original.",
                block=refusals.own_keys(event),
            )
        if event.table_name is None:
            self._apply_note(event)
        elif event.table_name not in CLINICAL_TABLES:
            raise refusals.unreadable(
                event, f"it writes to '{event.table_name}', a table this version does not have"
            )
        else:
            self._apply_row(event, event.table_name)

    def _apply_note(self, event: SyncEvent) -> None:
        if event.action == IDS_MAPPED:
            self.ids.note_aliases(event)
            self._mark(event, None, None)
            return
        seq = audit.append(
            self.db, _author(event), ECHO_PREFIX + event.action, payload=event.payload
        )
        self._mark(event, seq, None)

    # ------------------------------------------------------------------ rows

    def _apply_row(self, event: SyncEvent, table: str) -> None:
        row = json.loads(event.payload)
        if not isinstance(row, dict) or row.get("id") != event.record_id:
            raise refusals.unreadable(event, f"it does not hold the {table} record it names")
        unknown = sorted(k for k in row if k not in self._columns(table))
        if unknown:
            # Column names are written into the SQL: only this table's own are accepted.
            raise refusals.unreadable(
                event,
                f"it names {len(unknown)} field(s) that {table} does not have here "
                f"({', '.join(repr(k[:40]) for k in unknown[:3])})",
            )
        values = {k: v for k, v in row.items() if k != "id"}
        self._check_not_blocked(event, table, values)
        if table == "account_versions" and _made_as_first_administrator(values):
            self._check_first_administrator(event, values)
        for ref in self.ids.references(table):
            value = values.get(ref.column)
            if value is None or ref.key != "id":
                continue
            local = self.ids.resolve(event.room_id, ref.table, int(value))
            if local is None:
                raise Refused(
                    "missing",
                    f"{what(table)} from {room_label(event.room_id)} (event "
                    f"#{event.room_seq}) refers to {ref.table} record {value} of that room, "
                    "which this room has not received. It is kept here until an "
                    "administrator looks at it.",
                    block=refusals.own_keys(event),
                )
            values[ref.column] = local
        if table == "pumps":
            refusals.check_new_pump(self.db, event, values)
        if table == "pump_registrations":
            refusals.check_registration(self.db, self.ids, event, values)
        if table in refusals.OWNER_CHECKED and values.get("corrects_id") is None:
            refusals.check_owner(self.db, event, table, values)
        if table == "pump_events" and self._same_pump_event(event, values):
            return
        account = (
            get_account(self.db, int(values["account_id"])) if table == "account_versions" else None
        )
        if not self._superseded(event, table, values):
            self._insert(event, table, values)
        if account is not None:
            self._keep_an_administrator(event, account)

    def _insert(self, event: SyncEvent, table: str, values: dict[str, Any]) -> int:
        columns = ", ".join(f"[{c}]" for c in values)
        marks = ", ".join("?" for _ in values)
        try:
            cursor = self.db.conn.execute(
                f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", list(values.values())
            )
        except sqlite3.IntegrityError as exc:
            raise refusals.integrity_refusal(self.db, event, table, values, exc) from exc
        local_id = int(cursor.lastrowid or 0)
        seq = audit.append(
            self.db, _author(event), ECHO_PREFIX + event.action, table=table, record_id=local_id
        )
        self.ids.add(event.room_id, table, int(event.record_id or 0), local_id, inserted=True)
        self._mark(event, seq, None)
        return seq

    def _columns(self, table: str) -> frozenset[str]:
        """The columns ``table`` has in this room's schema (read once per pass)."""
        found = self._table_columns.get(table)
        if found is None:
            found = frozenset(
                str(r[1]) for r in self.db.conn.execute(f"PRAGMA table_info([{table}])")
            )
            self._table_columns[table] = found
        return found

    # ------------------------------------------------------------------ rules

    def _check_not_blocked(self, event: SyncEvent, table: str, values: dict[str, Any]) -> None:
        """A row pointing at a record set aside as a conflict waits with it."""
        for ref in self.ids.references(table):
            value = values.get(ref.column)
            if value is None:
                continue
            found = self.db.conn.execute(
                "SELECT b.conflict_id FROM sync_blocked b WHERE b.origin_room = ?"
                " AND b.table_name = ? AND b.key_column = ? AND b.key_value = ?"
                " AND b.conflict_id != ? AND NOT EXISTS"
                " (SELECT 1 FROM sync_reapplied x WHERE x.conflict_id = b.conflict_id"
                " AND x.new_conflict_id IS NULL) AND NOT EXISTS"
                " (SELECT 1 FROM sync_resolutions r WHERE r.conflict_id = b.conflict_id)"
                " LIMIT 1",
                [event.room_id, ref.table, ref.key, str(value), self.retrying or 0],
            ).fetchone()
            if found is not None:
                raise Refused(
                    "depends",
                    f"{what(table)} from {room_label(event.room_id)} (event "
                    f"#{event.room_seq}, by {event.user_name}) belongs to {ref.table} "
                    f"{value} of that room, which is waiting in sync conflict {found[0]}. It "
                    "waits with it: resolve that conflict first.",
                    block=refusals.own_keys(event),
                )

    def _check_first_administrator(self, event: SyncEvent, values: dict[str, Any]) -> None:
        """A "first administrator" is made on a database with no accounts. One made by a
        room that had not received the clinic's accounts (a new database file opened
        before the server was named, or by someone who wanted an administrator's rights)
        is refused: it would be an administrator in every room. Which accounts the room
        had received is known from its ``ids_mapped`` entries; which came first, from the
        server's order, so every room refuses the same one."""
        mine = _server_key(event.server_order, values, event.room_id)
        for account in self.db.query("SELECT * FROM accounts ORDER BY id"):
            local_id = int(account["id"])
            maker = self.ids.maker("accounts", local_id)[0]
            if maker == event.room_id or self.ids.seen_by(event, "accounts", local_id):
                continue
            if _server_key(self._version_order("accounts", local_id), account, maker) > mine:
                continue
            raise Refused(
                "refused",
                f"{values['name']} was made the first administrator of a new database in "
                f"{room_label(event.room_id)} (event #{event.room_seq}) at "
                f"{values['created_at']}, when the clinic already had accounts that room had "
                "not received. The account is not added, and its sign-ins wait: an "
                "administrator of the clinic checks who made it, and makes an account for "
                "that person if they should have one.",
                local_table="accounts",
                local_id=local_id,
                local_row=account,
                block=refusals.own_keys(event),
            )

    def _same_pump_event(self, event: SyncEvent, values: dict[str, Any]) -> bool:
        """A pump's own log entry (serial, index) is one fact, whichever room read it from
        the pump: one already here is the same entry, as for a local interrogation."""
        local = refusals.row(
            self.db,
            "SELECT * FROM pump_events WHERE pump_serial = ? AND event_index = ?",
            [values["pump_serial"], values["event_index"]],
        )
        if local is None:
            return False
        if any(local[k] != values[k] for k in ("at", "kind", "detail_json", "patient_id")):
            raise Refused(
                "refused",
                f"Pump {values['pump_serial']}'s log entry {values['event_index']} from "
                f"{room_label(event.room_id)} differs from the one this room read from the "
                "pump. Both are kept here for an administrator.",
                local_table="pump_events",
                local_id=int(local["id"]),
                local_row=local,
                block=refusals.own_keys(event),
            )
        self.ids.add(
            event.room_id, "pump_events", int(event.record_id or 0), int(local["id"]),
            inserted=False,
        )  # fmt: skip
        self._mark(event, None, None)
        self.duplicate = True
        return True

    def _superseded(self, event: SyncEvent, table: str, values: dict[str, Any]) -> bool:
        """Two rooms changed the same record, the other room without seeing this room's
        version in force: a correction of a version already corrected here, or a new
        version of a record whose newest version here it had not seen. Returns True when
        that decided the event; False when it is to be inserted (a correction possibly
        re-pointed at the version in force)."""
        corrected = values.get("corrects_id")
        if corrected is not None:
            # Compared with the version in force here whenever the other room had not seen
            # it: already corrected here, or the version it corrects stands here for one
            # of this room's (its own older concurrent version, mapped in ``sync_same``),
            # so that a later correction of that older version does not pass for an
            # ordinary correction of this room's.
            head = self._chain_head(table, int(corrected))
            if head == int(corrected) and self.ids.seen_by(event, table, head):
                return False
            return self._concurrent(event, table, values, head, corrects=True)
        if table not in _NEWEST_ROW_WINS:
            return False
        key = _NEWEST_ROW_WINS[table]
        where, args = ("", []) if key is None else (f" WHERE [{key}] = ?", [values[key]])
        newest = self.db.conn.execute(
            f"SELECT id FROM [{table}]{where} ORDER BY id DESC LIMIT 1", args
        ).fetchone()
        if newest is None or self.ids.seen_by(event, table, int(newest[0])):
            return False
        return self._concurrent(event, table, values, int(newest[0]), corrects=False)

    def _concurrent(
        self, event: SyncEvent, table: str, values: dict[str, Any], local_id: int, *, corrects: bool
    ) -> bool:
        """The newer version (the later received by the server, :func:`_server_key`) is in
        force in every room; both are listed for an administrator. Always True (the event
        is decided here)."""
        local = refusals.row(self.db, f"SELECT * FROM [{table}] WHERE id = ?", [local_id])
        assert local is not None
        local_room = self.ids.maker(table, local_id)[0]
        remote_newer = _server_key(event.server_order, values, event.room_id) > _server_key(
            self._version_order(table, local_id), local, local_room
        )
        kept = "the other room's" if remote_newer else "this room's"
        where = "this room" if local_room == self.ids.here else room_label(local_room)
        message = (
            f"Changed in two rooms at once ({what(table).lower()}): in "
            f"{room_label(event.room_id)} by {event.user_name} at {values['created_at']}, and "
            f"in {where} by {local['created_by']} at {local['created_at']}, neither seeing "
            f"the other. The newer, {kept}, is in force in every room; both versions are kept "
            "here. Check which is right and enter it again if needed."
        )
        merged = table == "account_versions" and _disabling_kept(values, local, remote_newer)
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
            self._insert(event, table, values)
        elif merged:
            # This room's newer version, disabled as the other room's older one says.
            kept_here = {k: v for k, v in local.items() if k not in _OWN_STAMP}
            self._insert(event, table, {**kept_here, **_stamp(values), "active": 0})
        else:
            # The other room's older version is kept in the conflict; its later
            # corrections carry on from the version in force here.
            self.ids.add(event.room_id, table, int(event.record_id or 0), local_id, inserted=False)
        if _both_outcome_unknown_marks(values, local):
            # Two rooms each kept one record's outcome unknown: the same, nothing to ask.
            if not remote_newer:
                self._mark(event, None, None)
                self.duplicate = True
            return True
        kind = "concurrent_edit"
        if _outcomes_differ(table, values, local):
            kind, message = (
                "outcome_unknown",
                self._keep_outcome_unknown(event, table, values, local, local_id),
            )
        conflict = record_conflict(
            self.db,
            event,
            kind,
            message,
            local_table=table,
            local_id=local_id,
            local_row=local,
        )
        self.report.conflicts.append(conflict)
        if not remote_newer and not merged:
            self._mark(event, None, conflict.id)
            self.set_aside = True
        return True

    def _keep_outcome_unknown(
        self,
        event: SyncEvent,
        table: str,
        values: dict[str, Any],
        local: dict[str, Any],
        local_id: int,
    ) -> str:
        """Two rooms settled one write to a pump (a pending refill, an uncertain program
        change) differently, neither seeing the other. That is never decided by the
        program: the outcome in force goes back to unknown (a new version by "ITB Console
        sync"), so the forecast takes the worse case and the worklist lists the record
        until an administrator settles it again; both settlements are kept in the
        conflict. Every room that sees both does the same, so all end unknown."""
        column, unknown = _OUTCOME[table]
        head_id = self._chain_head(table, local_id)
        head = refusals.row(self.db, f"SELECT * FROM [{table}] WHERE id = ?", [head_id])
        assert head is not None
        note = (
            f"outcome unknown: settled as {values[column]} in {room_label(event.room_id)} and "
            f"as {local[column]} elsewhere, neither seeing the other"
        )
        row = {k: v for k, v in head.items() if k not in ("id", "created_at", "created_by",
                                                          "created_role")}  # fmt: skip
        row.update({column: unknown, "corrects_id": head_id, "correction_note": note,
                    "entered_in_error": 0, **stamp_columns(SYNC_USER, utc_now())})  # fmt: skip
        columns = ", ".join(f"[{c}]" for c in row)
        marks = ", ".join("?" for _ in row)
        cursor = self.db.conn.execute(
            f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", list(row.values())
        )
        audit.append(
            self.db, SYNC_USER, "correct", table=table, record_id=int(cursor.lastrowid or 0)
        )
        return (
            f"{what(table)} settled differently in two rooms at once: as {values[column]} in "
            f"{room_label(event.room_id)} by {event.user_name} at {values['created_at']}, and "
            f"as {local[column]} by {local['created_by']} at {local['created_at']}, neither "
            f"seeing the other. Its outcome is {unknown} in every room (the forecast takes "
            "the worse case; the worklist lists it) until an administrator settles it again "
            "with what the pump shows. Both settlements are kept here."
        )

    def _keep_an_administrator(self, event: SyncEvent, before: Account) -> None:
        """The clinic keeps an active administrator (:mod:`itbconsole.store.account_rules`),
        also when two rooms, neither seeing the other, each took away a different one.
        Every room decides it alike: of the changes that took the administrators away, the
        latest (in the server's order, :func:`_server_key`) does not take effect. When that is the other
        room's, it is not applied; when it is one already here, the account is made an
        active administrator again by a new version. Both are listed for an administrator."""
        after = get_account(self.db, before.id)
        if after is None or is_active_administrator(after) or not is_active_administrator(before):
            return
        accounts = list_accounts(self.db, include_disabled=False)
        if not leaves_no_administrator(accounts, before, will_be_admin=False):
            return
        taken_away = self._administrators_taken_away()
        if not taken_away:
            return
        latest = max(taken_away, key=lambda t: t[0])
        _, removal, previous = latest
        removed = get_account(self.db, int(removal["account_id"]))
        assert removed is not None
        message = (
            f"{what('account_versions')} from {room_label(event.room_id)} (event "
            f"#{event.room_seq}, by {event.user_name}) and a change made here or in another "
            "room, neither seeing the other, together left the clinic with no active "
            f"administrator. {removed.name}, whose change was the latest, stays an active "
            "administrator in every room; check the accounts."
        )
        if removal["id"] == self.ids.resolve(event.room_id, "account_versions",
                                             int(event.record_id or 0)):  # fmt: skip
            raise Refused(
                "concurrent_edit",
                message,
                local_table="account_versions",
                local_id=int(previous["id"]),
                local_row=previous,
                block=refusals.own_keys(event),
            )
        restored = add_account_version(
            self.db,
            removed,
            "enabled" if removed.role.value == previous["role"] else "role_changed",
            SYNC_USER,
            "kept as the last active administrator (accounts changed in two rooms at once)",
            active=True,
            role=Role(previous["role"]),
        )
        conflict = record_conflict(
            self.db,
            event,
            "concurrent_edit",
            message,
            local_table="account_versions",
            local_id=restored.version_id,
            local_row=refusals.row(
                self.db, "SELECT * FROM account_versions WHERE id = ?", [restored.version_id]
            ),
        )
        self.report.conflicts.append(conflict)

    def _administrators_taken_away(
        self,
    ) -> list[tuple[tuple[int, str, str], dict[str, Any], dict[str, Any]]]:
        """Each account whose version in force took away an active administrator: (its
        place in the server's order, that version, the version before it)."""
        found = []
        for current in self.db.query(
            "SELECT v.* FROM account_versions v WHERE v.id ="
            " (SELECT MAX(w.id) FROM account_versions w WHERE w.account_id = v.account_id)"
            " AND NOT (v.active = 1 AND v.role = 'administrator')"
        ):
            previous = refusals.row(
                self.db,
                "SELECT * FROM account_versions WHERE account_id = ? AND id < ?"
                " ORDER BY id DESC LIMIT 1",
                [current["account_id"], current["id"]],
            )
            if previous is None or not (
                previous["active"] == 1 and previous["role"] == Role.ADMINISTRATOR.value
            ):
                continue
            room = self.ids.maker("account_versions", int(current["id"]))[0]
            order = self._version_order("account_versions", int(current["id"]))
            found.append((_server_key(order, current, room), current, previous))
        return found

    def _version_order(self, table: str, local_id: int) -> int | None:
        """Where the server put the event that made this room's row ``local_id`` of
        ``table`` (None: not known yet, the version was not uploaded)."""
        found = self.db.conn.execute(
            "SELECT MIN(seq) FROM audit_log WHERE table_name = ? AND record_id = ?",
            [table, local_id],
        ).fetchone()
        if found is None or found[0] is None:
            return None
        seq = int(found[0])
        # Another room's version: the order of its original (this room's copy of it,
        # an echo, was uploaded later and does not count).
        applied = self.db.conn.execute(
            "SELECT server_order FROM sync_applied WHERE local_seq = ?", [seq]
        ).fetchone()
        if applied is None:
            applied = self.db.conn.execute(
                "SELECT server_order FROM sync_own_order WHERE seq = ?", [seq]
            ).fetchone()
        return None if applied is None or applied[0] is None else int(applied[0])

    def _chain_head(self, table: str, row_id: int) -> int:
        """The newest version of the correction chain through ``row_id``."""
        while True:
            found = self.db.conn.execute(
                f"SELECT id FROM [{table}] WHERE corrects_id = ?", [row_id]
            ).fetchone()
            if found is None:
                return row_id
            row_id = int(found[0])
