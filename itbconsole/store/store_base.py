"""The store's foundation: :class:`StoreBase`, what every record family builds on.

It holds the database and its lifecycle (open, close, the audit keys that seal the audit
log, backups and key import, transactions through :meth:`StoreBase.atomic`) and the write
helpers every record goes through: :meth:`StoreBase._insert` stamps a row with its author
and writes its audit entry in the same transaction, :meth:`StoreBase._correct` appends a
new version instead of changing the old one, and :meth:`StoreBase._owner_for_write` refuses
a pump's data on the wrong patient's record. Withdrawing a record, auditing an action and
the generic reads of stamps and versions live here too: they apply to every clinical table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlite_utils import Database

from itbconsole.model import User
from itbconsole.paths import default_db_path
from itbconsole.store import audit, backup
from itbconsole.store import records as rec
from itbconsole.store.audit_keys import AuditKeys, key_file_for, write_private_text
from itbconsole.store.db import (
    connect,
    schema_version,
    transaction,
    translate_os_error,
    utc_iso,
    utc_now,
)
from itbconsole.store.errors import StoreError, UnknownPumpError, WrongPatientError
from itbconsole.store.schema import CLINICAL_TABLES, CORRECTABLE_TABLES


class StoreBase:
    """The database, its lifecycle and audit keys, and the helpers every write uses."""

    def __init__(self, db: Database, path: Path | None, *, read_only: bool = False) -> None:
        self.db = db
        self.path = path
        #: This database's audit keys on this computer (see :meth:`open`).
        self.audit_keys: AuditKeys | None = None
        #: Opened with ``read_only``: nothing can be saved (see :meth:`open`).
        self.read_only = read_only

    if TYPE_CHECKING:
        # Defined by PumpRecords (pumps_store); the write guard below asks it.
        def find_pump_owner(self, serial: str) -> int | None: ...

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        read_only: bool = False,
        full_check: bool = False,
    ) -> Self:
        """Open the database at ``path`` (``--db``, ``$ITBCONSOLE_DB`` or the user's data
        folder when None; ``":memory:"`` for a throwaway one), checked and migrated.

        A path that does not exist is created unless ``create`` is False; an existing file
        that is empty, not a database, damaged, newer than this program, read only or on a
        full disk is refused with a :class:`StoreError` subclass saying what to do (see
        :mod:`itbconsole.store.db`). ``read_only`` opens without writing anything, so a
        write-protected database can still be inspected, verified and backed up.
        ``full_check`` runs the integrity check to the end however long it takes.
        Partial copies left by killed backups are removed here (see
        :mod:`itbconsole.store.backup`).
        """
        if str(path) == ":memory:":
            store = cls(connect(":memory:"), None)
            store._attach_keys(AuditKeys.in_memory(store.store_id() or "memory"))
            return store
        try:
            target = default_db_path(path)
        except OSError as exc:  # the data folder cannot be made
            raise translate_os_error(exc, str(path or "the data folder")) from exc
        db = connect(target, create=create, read_only=read_only, full_check=full_check)
        backup.remove_abandoned_work_files(target.parent)
        backup.remove_abandoned_backups()
        store = cls(db, target, read_only=read_only)
        store_id = store.store_id()
        if store_id is None:
            return store  # read only and from before seals: nothing to seal or check
        try:
            keys = AuditKeys.for_store(store_id, database=target)
        except OSError as exc:
            db.close()
            raise translate_os_error(exc, "the audit key folder") from exc
        store._attach_keys(keys)
        return store

    def store_id(self) -> str | None:
        """This database's identity (its audit keys are kept under it); None for a
        database from before identities, opened read only (so not migrated)."""
        if "store_identity" not in self.db.table_names():
            return None
        row = self.db.conn.execute("SELECT id FROM store_identity").fetchone()
        return None if row is None else str(row[0])

    def _attach_keys(self, keys: AuditKeys) -> None:
        """Seal with this computer's key for the database, making one the first time.

        Every entry of a database is sealed when it is first opened on a computer that has
        never sealed it, if it has no seal at all (new, or from before seals); this is
        noted, and ``db verify`` says which entries were sealed that way. Never when this
        computer sealed the same file under another identity: changing the database's
        identity is how a forger would get a fresh key to seal forged entries with, so then
        nothing old is sealed and ``db verify`` reports the change (new entries are still
        sealed, so the clinic keeps working). A database with seals whose keys are not here
        (moved, restored elsewhere) gets a new key; its older seals are reported as not
        checkable here until their key file is imported."""
        self.audit_keys = keys
        self.db.audit_keys = keys  # type: ignore[attr-defined]
        self.db.audit_path = self.path  # type: ignore[attr-defined]
        self.db.after_commit = lambda: audit.record_sealed_head(self.db)  # type: ignore[attr-defined]
        if self.read_only:
            return
        try:
            if keys.identity_changed_from is not None:
                if audit.head(self.db) is not None:
                    if keys.current is None:
                        keys.create()
                    return  # reported by db verify; never sealed as if it were new
                keys.record_path()  # an empty database put here: a new one
            if keys.current is None:
                first_here = not keys.sealed_before
                keys.create()
                if first_here:
                    with transaction(self.db):
                        sealed = audit.seal_backlog(self.db)
                    if sealed:
                        keys.note_backlog(sealed)
            keys.record_path()
        except OSError as exc:
            raise translate_os_error(exc, keys.where) from exc

    def audit_head(self) -> str:
        """The audit chain's newest entry, short form (printed on records as an anchor)."""
        return audit.head_text(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def change_stamp(self) -> tuple[int, int]:
        """What changes whenever the database does: SQLite's data version (another
        connection committed) and this connection's count of changed rows (a write here).
        A result read under one stamp is still the database's while the stamp is the same:
        the clinic-wide lists keep what they read under it instead of reading it again."""
        version = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
        return int(version), self.db.conn.total_changes

    @contextmanager
    def atomic(self) -> Iterator[Self]:
        """Save several records as one: everything written inside is committed together,
        or nothing is (a refill with its reading and pump events, for example)."""
        with transaction(self.db):
            yield self

    def schema_version(self) -> int:
        return schema_version(self.db)

    def counts(self) -> dict[str, int]:
        """Rows per clinical table plus the audit log, for ``itbconsole db info``."""
        return {
            table: int(self.db.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0])
            for table in (*CLINICAL_TABLES, "audit_log")
        }

    def verify(
        self, anchors: tuple[str, ...] = (), *, progress: audit.VerifyProgress | None = None
    ) -> audit.AuditReport:
        """The audit trail checked with this database's keys on this computer
        (:func:`itbconsole.store.audit.verify_audit`; ``progress`` is told as it goes)."""
        return audit.verify_audit(self.db, self.audit_keys, anchors, progress=progress)

    def backup(
        self,
        destination: str | os.PathLike[str],
        *,
        force: bool = False,
        steps: backup.BackupSteps | None = None,
    ) -> backup.BackupResult:
        """A checked copy, and beside it (``NAME.audit-keys``, owner-only) the audit keys
        and the copy's chain head, which anchors the copy's trail.

        With ``steps`` the copy is made a few pages at a time through a connection of its
        own (:func:`backup.backup_file`), never through ``self.db``: this may then run on a
        worker thread, and stops on ``steps.cancel`` (:class:`backup.BackupCancelledError`).
        """
        if steps is None:
            result = backup.backup_database(self.db.conn, Path(destination), force=force)
        elif self.path is None:
            raise StoreError("An in-memory database cannot be backed up in steps.")
        else:
            result = backup.backup_file(self.path, Path(destination), force=force, steps=steps)
        if self.audit_keys is not None:
            copy = backup.open_finished_copy(result.path)
            try:
                found = audit.head(Database(copy, execute_plugins=False))
            finally:
                copy.close()
            sidecar = {
                "store_id": self.audit_keys.store_id,
                "keys": {name: key.hex() for name, key in self.audit_keys.keys.items()},
                "head": None if found is None else {"seq": found[0], "hash": found[1]},
                "written_at": utc_iso(utc_now()),
            }
            write_private_text(
                key_file_for(result.path), json.dumps(sidecar, indent=1, sort_keys=True)
            )
        return result

    def import_keys(self, path: str | os.PathLike[str], *, restored: bool = False) -> int:
        """Take the audit keys from a backup's ``.audit-keys`` file (the database must be
        the one it was made from), so its seals can be checked on this computer. With
        ``restored`` this database was just restored from that backup: its head becomes the
        newest entry this computer knows of. Returns the keys added."""
        if self.audit_keys is None or self.read_only:
            raise StoreError("Open the database with write access to import its keys.")
        try:
            sidecar = json.loads(Path(path).read_text(encoding="utf-8"))
            keys = [bytes.fromhex(k) for k in sidecar["keys"].values()]
            owner = str(sidecar["store_id"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{path} is not a backup's key file ({exc}).") from exc
        if owner != self.audit_keys.store_id:
            raise StoreError(
                f"{path} holds the keys of another database ({owner}), not of this one "
                f"({self.audit_keys.store_id})."
            )
        added = [self.audit_keys.add(key) for key in keys]
        if restored:
            found = audit.head(self.db)
            if found is not None:
                self.audit_keys.record_head(found[0], found[1], self.path, restored=True)
            self.audit_keys.record_path()
        return len(added)

    # ----------------------------------------------------------------- write helpers

    def _insert(self, table: str, values: dict[str, Any], user: User, action: str) -> int:
        """Insert one row with its stamp and its audit entry (caller holds the transaction)."""
        row = {**values, **rec.stamp_columns(user, utc_now())}
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        cursor = self.db.execute(f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", row)
        record_id = int(cursor.lastrowid or 0)
        audit.append(self.db, user, action, table=table, record_id=record_id)
        return record_id

    def _correct(
        self,
        table: str,
        old_id: int,
        changes: dict[str, Any],
        user: User,
        note: str,
        *,
        entered_in_error: bool = False,
    ) -> int:
        """Append a new version of ``old_id`` with ``changes``; the old row stays as it was."""
        if table not in CORRECTABLE_TABLES:
            raise StoreError(f"{table} records cannot be corrected.")
        old = next(self.db.query(f"SELECT * FROM [{table}] WHERE id = ?", [old_id]), None)
        if old is None:
            raise StoreError(f"There is no {table} record {old_id} to correct.")
        newer = self.db.execute(
            f"SELECT id FROM [{table}] WHERE corrects_id = ?", [old_id]
        ).fetchone()
        if newer is not None:
            raise StoreError(
                f"{table} record {old_id} was already corrected by record {newer[0]}; "
                "correct the latest version instead."
            )
        values = {
            k: v
            for k, v in old.items()
            if k not in ("id", "created_at", "created_by", "created_role")
        }
        values.update(changes)
        values.update(
            corrects_id=old_id, correction_note=note, entered_in_error=int(entered_in_error)
        )
        action = "entered_in_error" if entered_in_error else "correct"
        return self._insert(table, values, user, action)

    def _require(self, table: str, record_id: int, column: str, value: str) -> None:
        row = self.db.execute(
            f"SELECT {column} FROM [{table}] WHERE id = ?", [record_id]
        ).fetchone()
        if row is None:
            raise StoreError(f"There is no {table} record {record_id}.")
        if row[0] != value:
            raise StoreError(
                f"{table} record {record_id} is {row[0]}, not {value}: there is nothing to resolve."
            )

    def _latest_version_id(self, table: str, key: str, value: Any) -> int:
        row = self.db.execute(
            f"SELECT t.id FROM [{table}] t WHERE t.{key} = ? AND NOT EXISTS "
            f"(SELECT 1 FROM [{table}] c WHERE c.corrects_id = t.id) ORDER BY t.id DESC LIMIT 1",
            [value],
        ).fetchone()
        if row is None:
            raise StoreError(f"No record found in {table} for {key} = {value}.")
        return int(row[0])

    def _owner_for_write(self, serial: str, patient_id: int | None) -> int:
        """The patient a pump's record goes to; refuses unknown pumps and wrong patients."""
        if self.db.execute("SELECT 1 FROM pumps WHERE serial = ?", [serial]).fetchone() is None:
            raise UnknownPumpError(
                f"Pump {serial} is not registered. Register it to a patient before saving its data."
            )
        owner = self.find_pump_owner(serial)
        if owner is None:
            raise UnknownPumpError(
                f"Pump {serial} is not registered to any patient now. Register it first."
            )
        if patient_id is not None and patient_id != owner:
            raise WrongPatientError(
                f"Pump {serial} belongs to another patient (record {owner}), not to the "
                f"patient open now (record {patient_id}). Nothing was saved. Check the "
                "patient and the pump before going on."
            )
        return owner

    # ----------------------------------------------------------------- any record

    def mark_entered_in_error(self, table: str, record_id: int, user: User, note: str) -> int:
        """Withdraw a record (a reading saved to the wrong patient, say), keeping it in
        history. Needs a reason. Returns the id of the withdrawing row."""
        if not note.strip():
            raise StoreError("Say why the record is being withdrawn.")
        with transaction(self.db):
            return self._correct(table, record_id, {}, user, note, entered_in_error=True)

    def record_action(self, action: str, detail: dict[str, Any], user: User) -> int:
        """Audit an action that creates no clinical row (the pump clock set with the user's
        agreement, for example). Returns the audit entry's seq."""
        with transaction(self.db):
            return audit.append(self.db, user, action, payload=audit.canonical_json(detail))

    # ----------------------------------------------------------------- reads

    def _one(self, table: str, record_id: int, build: Any) -> Any:
        row = next(self.db.query(f"SELECT * FROM [{table}] WHERE id = ?", [record_id]))
        return build(row)

    def stamp(self, table: str, record_id: int) -> rec.Stamp:
        """Who stored a row and when (for a printed refill record, say)."""
        if table not in CLINICAL_TABLES:
            raise StoreError(f"{table} is not a clinical table.")
        row = next(self.db.query(f"SELECT * FROM [{table}] WHERE id = ?", [record_id]), None)
        if row is None:
            raise StoreError(f"There is no {table} record {record_id}.")
        return rec.stamp_from_row(row)

    def versions(self, table: str, record_id: int) -> list[rec.Stamp]:
        """The correction chain through ``record_id``, oldest first."""
        if table not in CORRECTABLE_TABLES:
            raise StoreError(f"{table} records have no versions.")
        sql = f"""
          WITH RECURSIVE
          back(id) AS (SELECT ? UNION SELECT t.corrects_id FROM [{table}] t
                       JOIN back ON t.id = back.id WHERE t.corrects_id IS NOT NULL),
          fwd(id) AS (SELECT ? UNION SELECT t.id FROM [{table}] t
                      JOIN fwd ON t.corrects_id = fwd.id)
          SELECT * FROM [{table}] WHERE id IN (SELECT id FROM back UNION SELECT id FROM fwd)
          ORDER BY id"""
        return [rec.stamp_from_row(r) for r in self.db.query(sql, [record_id, record_id])]

    def audit_entries(self) -> Iterator[dict[str, Any]]:
        return self.db.query("SELECT * FROM audit_log ORDER BY seq")
