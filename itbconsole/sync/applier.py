"""One event of another room at a time, inside the caller's transaction.

Why a savepoint per event: an event is applied whole or not at all. Anything a rule of this
room, the database or the event's own content refuses (:mod:`itbconsole.sync.refusals`)
rolls the event back and keeps it as a conflict (:mod:`itbconsole.sync.conflicts`), with
the records that must wait with it (``sync_blocked``), and the pass goes on; only a store
that cannot be written (:class:`StoreUnavailableError`) stops it. Every event handled is
noted (``sync_applied``; ``sync_reapplied`` when a waiting one is tried again), so none is
applied twice. The ids are translated through :mod:`itbconsole.sync.id_map`; a record
changed in two rooms at once is decided in :mod:`itbconsole.sync.concurrent`; the accounts'
rules are in :mod:`itbconsole.sync.accounts`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from itbconsole.model import Role, User
from itbconsole.store import audit
from itbconsole.store.accounts import get_account
from itbconsole.store.db import utc_iso, utc_now
from itbconsole.store.errors import StoreError, StoreUnavailableError
from itbconsole.store.schema import CLINICAL_TABLES
from itbconsole.sync import accounts, refusals
from itbconsole.sync.concurrent import superseded
from itbconsole.sync.conflicts import Conflict, record_conflict, room_label
from itbconsole.sync.events import ECHO_PREFIX, SyncEvent
from itbconsole.sync.id_map import IDS_MAPPED, IdMap
from itbconsole.sync.refusals import Refused, what
from itbconsole.sync.server_order import flag_clock_ahead

#: What an event meets that makes it a conflict rather than stopping the pass.
_EVENT_FAILURES = (Refused, sqlite3.Error, StoreError, ValueError, KeyError, TypeError)


@dataclass
class ApplyReport:
    """What one call of :func:`~itbconsole.sync.apply.apply_events` (or
    :func:`~itbconsole.sync.waiting.apply_waiting`) did."""

    applied: int = 0
    skipped_known: int = 0
    #: Echo entries (``sync:`` actions) given to apply: never applied.
    skipped_echo: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    #: Events still waiting after :func:`~itbconsole.sync.waiting.apply_waiting` tried them again.
    still_waiting: int = 0


def _author(event: SyncEvent) -> User:
    """The origin's author, as its entry names them."""
    return User(event.user_name, Role(event.user_role))


class Applier:
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
            self.mark(event, None, conflict.id)
            self.report.conflicts.append(conflict)
        else:
            if self.duplicate:
                self.report.skipped_known += 1
            elif not self.set_aside:
                self.report.applied += 1
        finally:
            conn.execute("RELEASE sync_event")
        note = flag_clock_ahead(self.db, event)
        if note is not None:
            self.report.conflicts.append(note)

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

    def mark(self, event: SyncEvent, local_seq: int | None, conflict_id: int | None) -> None:
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
            self.mark(event, None, None)
            return
        seq = audit.append(
            self.db, _author(event), ECHO_PREFIX + event.action, payload=event.payload
        )
        self.mark(event, seq, None)

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
        refusals.check_not_blocked(self.db, self.ids, event, table, values, self.retrying)
        if table == "account_versions" and accounts.made_as_first_administrator(values):
            accounts.check_first_administrator(self.db, self.ids, event, values)
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
        if not superseded(self, event, table, values):
            self.insert(event, table, values)
        if account is not None:
            kept = accounts.keep_an_administrator(self.db, self.ids, event, account)
            if kept is not None:
                self.report.conflicts.append(kept)

    def insert(self, event: SyncEvent, table: str, values: dict[str, Any]) -> int:
        """Write ``event``'s row as a row of this room, with its audit entry (its seq)."""
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
        self.mark(event, seq, None)
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
        self.mark(event, None, None)
        self.duplicate = True
        return True
