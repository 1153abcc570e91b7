"""The record store's typed API: :class:`Store`.

Why one class: the UI and the services need a single object that hides SQL, stamps every
record with its author, writes its audit entry in the same transaction, and refuses writes
that would put a pump's data on the wrong patient's record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlite_utils import Database

from itbconsole.forecast import ForecastSummary
from itbconsole.model import (
    ChangeOutcome,
    Patient,
    PreparedProgram,
    Program,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
    Role,
    User,
)
from itbconsole.paths import default_db_path
from itbconsole.settings import ClinicSettings
from itbconsole.store import audit, backup, queries
from itbconsole.store import records as rec
from itbconsole.store.audit import canonical_json
from itbconsole.store.audit_keys import AuditKeys, key_file_for, write_private_text
from itbconsole.store.db import (
    StoreError,
    connect,
    schema_version,
    transaction,
    translate_os_error,
    utc_iso,
    utc_now,
)
from itbconsole.store.schema import (
    CLINICAL_TABLES,
    CORRECTABLE_TABLES,
    EXPLANT_REASONS,
    PATIENT_STATUSES,
)


class UnknownPumpError(StoreError):
    """The pump's serial is not in the store: register it to a patient first."""


class WrongPatientError(StoreError):
    """The pump belongs to another patient than the one the record was meant for."""


REFILL_STATUSES = tuple(RefillStatus)
OUTCOMES = tuple(ChangeOutcome)
PREPARED_STATUSES = ("prepared", "sent", "withdrawn")


def _prepared_row(prepared: PreparedProgram) -> dict[str, Any]:
    return {
        "pump_serial": prepared.pump_serial,
        "prepared_at": rec.utc_iso(prepared.prepared_at),
        "program_json": rec.program_json(prepared.program),
        "concentration_mcg_ml": prepared.concentration_mcg_ml,
        "reason": prepared.reason,
        "prepared_by": prepared.prepared_by,
        "prepared_role": prepared.prepared_role.value,
        "status": "prepared",
    }


def _prepared_from_row(row: rec.Row) -> PreparedProgram:
    return PreparedProgram(
        pump_serial=row["pump_serial"],
        prepared_at=rec.parse_time(row["prepared_at"]),
        program=Program.from_dict(json.loads(row["program_json"])),
        concentration_mcg_ml=int(row["concentration_mcg_ml"]),
        reason=row["reason"],
        prepared_by=row["prepared_by"],
        prepared_role=Role(row["prepared_role"]),
        id=int(row["id"]),
    )


class Store:
    """Clinical records on one SQLite database. Open with :meth:`open`."""

    def __init__(self, db: Database, path: Path | None, *, read_only: bool = False) -> None:
        self.db = db
        self.path = path
        #: This database's audit keys on this computer (see :meth:`open`).
        self.audit_keys: AuditKeys | None = None
        #: Opened with ``read_only``: nothing can be saved (see :meth:`open`).
        self.read_only = read_only

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        read_only: bool = False,
        full_check: bool = False,
    ) -> Store:
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
            keys = AuditKeys.for_store(store_id)
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
        """Seal with this computer's key for the database, making one the first time. A
        database with no seal at all (new, or from before seals) has every entry sealed
        now; one that has seals but none of this computer's keys (restored elsewhere) gets
        a new key, and its older seals are reported as not checkable here until their key
        file is imported."""
        self.audit_keys = keys
        self.db.audit_keys = keys  # type: ignore[attr-defined]
        self.db.audit_path = self.path  # type: ignore[attr-defined]
        self.db.after_commit = lambda: audit.record_sealed_head(self.db)  # type: ignore[attr-defined]
        if self.read_only or keys.current is not None:
            return
        try:
            keys.create()
            with transaction(self.db):
                audit.seal_backlog(self.db)
        except OSError as exc:
            raise translate_os_error(exc, keys.where) from exc

    def audit_head(self) -> str:
        """The audit chain's newest entry, short form (printed on records as an anchor)."""
        return audit.head_text(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[Store]:
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

    def verify(self, anchors: tuple[str, ...] = ()) -> audit.AuditReport:
        return audit.verify_audit(self.db, self.audit_keys, anchors)

    def backup(
        self, destination: str | os.PathLike[str], *, force: bool = False
    ) -> backup.BackupResult:
        """A checked copy, and beside it (``NAME.audit-keys``, owner-only) the audit keys
        and the chain head at the time, which anchors the copy's trail."""
        result = backup.backup_database(self.db.conn, Path(destination), force=force)
        if self.audit_keys is not None:
            found = audit.head(self.db)
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
                self.audit_keys.record_head(found[0], found[1], self.path)
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

    # ----------------------------------------------------------------- patients

    def add_patient(self, patient: Patient, user: User) -> Patient:
        """Create a patient; returns it with its new ``id``."""
        with transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO patients (created_at, created_by, created_role) VALUES (?, ?, ?)",
                list(rec.stamp_columns(user, utc_now()).values()),
            )
            patient_id = int(cursor.lastrowid or 0)
            audit.append(self.db, user, "create", table="patients", record_id=patient_id)
            self._insert(
                "patient_versions",
                {**rec.patient_row(patient), "patient_id": patient_id},
                user,
                "create",
            )
        return replace(patient, id=patient_id)

    def correct_patient(self, patient: Patient, user: User, note: str = "") -> Patient:
        """Store ``patient`` (which carries its id) as the new current version."""
        if patient.id is None:
            raise StoreError("The patient to correct has no id: save it first.")
        with transaction(self.db):
            old_id = self._latest_version_id("patient_versions", "patient_id", patient.id)
            self._correct("patient_versions", old_id, rec.patient_row(patient), user, note)
        return patient

    def identity_clash(
        self, hospital_number: str, nhs_number: str | None, exclude_patient_id: int | None
    ) -> tuple[str, Patient] | None:
        """Another current patient with this hospital number (case and spaces ignored) or
        this NHS number: ("hospital" or "nhs", that patient), or None."""
        sql = (
            f"SELECT v.* FROM ({queries.CURRENT_PATIENTS}) v WHERE v.patient_id != :exclude"
            " AND (upper(trim(v.hospital_number)) = upper(trim(:hospital))"
            " OR (:nhs IS NOT NULL AND v.nhs_number = :nhs)) LIMIT 1"
        )
        row = next(
            self.db.query(
                sql,
                {
                    "exclude": exclude_patient_id or 0,
                    "hospital": hospital_number,
                    "nhs": nhs_number,
                },
            ),
            None,
        )
        if row is None:
            return None
        same_hospital = row["hospital_number"].strip().upper() == hospital_number.strip().upper()
        return ("hospital" if same_hospital else "nhs"), rec.patient_from_row(row)

    def duplicate_identities(self) -> list[tuple[str, str, list[int]]]:
        """Hospital or NHS numbers shared by more than one current patient (records made
        before migration 6): (kind, number, patient ids), for an administrator to resolve."""
        out: list[tuple[str, str, list[int]]] = []
        for kind, column in (("hospital number", "upper(trim(v.hospital_number))"),
                             ("NHS number", "v.nhs_number")):  # fmt: skip
            sql = (
                f"SELECT {column} AS number, group_concat(v.patient_id) AS ids"
                f" FROM ({queries.CURRENT_PATIENTS}) v WHERE {column} IS NOT NULL"
                f" GROUP BY {column} HAVING COUNT(*) > 1 ORDER BY number"
            )
            for row in self.db.query(sql):
                out.append((kind, str(row["number"]), [int(i) for i in str(row["ids"]).split(",")]))
        return out

    def set_patient_status(
        self, patient_id: int, status: str, user: User, *, effective_on: date, note: str = ""
    ) -> None:
        """A new status for the patient from ``effective_on`` (the earlier ones stay)."""
        if status not in PATIENT_STATUSES:
            raise StoreError(f"The status must be one of {', '.join(PATIENT_STATUSES)}.")
        with transaction(self.db):
            if (
                self.db.execute("SELECT 1 FROM patients WHERE id = ?", [patient_id]).fetchone()
                is None
            ):
                raise StoreError(f"There is no patient with id {patient_id}.")
            self._insert(
                "patient_status",
                {
                    "patient_id": patient_id,
                    "status": status,
                    "effective_on": effective_on.isoformat(),
                    "note": note,
                },
                user,
                "create",
            )

    def patient_status(self, patient_id: int) -> tuple[str, date | None]:
        """(status, since): "active" with no date when none was ever set."""
        row = self.db.execute(
            "SELECT status, effective_on FROM patient_status WHERE patient_id = ?"
            " ORDER BY id DESC LIMIT 1",
            [patient_id],
        ).fetchone()
        return ("active", None) if row is None else (str(row[0]), date.fromisoformat(row[1]))

    def add_screening_trial(self, row: dict[str, Any], user: User) -> int:
        """One screening test dose (already checked by services.screening), audited."""
        with transaction(self.db):
            return self._insert("screening_trials", row, user, "create")

    def screening_trials(self, patient_id: int) -> list[dict[str, Any]]:
        """A patient's screening test doses, oldest first."""
        return list(
            self.db.query(
                "SELECT * FROM screening_trials WHERE patient_id = ? ORDER BY given_at, id",
                [patient_id],
            )
        )

    def get_patient(self, patient_id: int) -> Patient:
        return queries.patient_history(self.db, patient_id).patient

    def patient_versions(self, patient_id: int) -> list[rec.Recorded[Patient]]:
        """Every version of a patient's details, oldest first, with who changed what."""
        return list(queries.patient_history(self.db, patient_id).versions)

    # ----------------------------------------------------------------- pumps

    def get_pump(self, serial: str) -> Pump | None:
        """The pump's current details (None when unknown), with its current owner."""
        row = next(
            self.db.query(
                "SELECT * FROM pump_versions p WHERE p.pump_serial = ? AND NOT EXISTS "
                "(SELECT 1 FROM pump_versions c WHERE c.corrects_id = p.id) "
                "ORDER BY p.id DESC LIMIT 1",
                [serial],
            ),
            None,
        )
        return None if row is None else rec.pump_from_row(row, self.find_pump_owner(serial))

    def find_pump_owner(self, serial: str) -> int | None:
        """The id of the patient the pump is registered to now, or None."""
        row = self.db.execute(
            "SELECT patient_id FROM pump_owner WHERE pump_serial = ?", [serial]
        ).fetchone()
        return None if row is None else row[0]

    def register_pump(
        self, pump: Pump, patient_id: int, user: User, *, at: datetime | None = None
    ) -> Pump:
        """Register ``pump`` to a patient from ``at`` (now by default).

        An unknown serial is created with these details; a known one keeps its stored
        details (change them with :meth:`correct_pump`). A pump registered to someone else
        is refused: unregister it (explant) or correct the wrong registration first.
        """
        with transaction(self.db):
            if (
                self.db.execute("SELECT 1 FROM patients WHERE id = ?", [patient_id]).fetchone()
                is None
            ):
                raise StoreError(f"There is no patient with id {patient_id}.")
            if (
                self.db.execute("SELECT 1 FROM pumps WHERE serial = ?", [pump.serial]).fetchone()
                is None
            ):
                cursor = self.db.execute(
                    "INSERT INTO pumps (serial, created_at, created_by, created_role) "
                    "VALUES (?, ?, ?, ?)",
                    [pump.serial, *rec.stamp_columns(user, utc_now()).values()],
                )
                audit.append(
                    self.db, user, "create", table="pumps", record_id=int(cursor.lastrowid or 0)
                )
                self._insert("pump_versions", rec.pump_row(pump), user, "create")
            owner = self.find_pump_owner(pump.serial)
            if owner is not None and owner != patient_id:
                raise WrongPatientError(
                    f"Pump {pump.serial} is registered to another patient (record {owner}). "
                    "Unregister it there first, or correct that registration if it was wrong."
                )
            if owner is None:
                self._insert(
                    "pump_registrations",
                    {
                        "pump_serial": pump.serial,
                        "patient_id": patient_id,
                        "effective_at": rec.utc_iso(at or utc_now()),
                    },
                    user,
                    "create",
                )
        found = self.get_pump(pump.serial)
        assert found is not None
        return found

    def unregister_pump(
        self, serial: str, user: User, *, at: datetime | None = None, note: str = ""
    ) -> None:
        """The pump belongs to nobody from ``at`` (explant or replacement)."""
        with transaction(self.db):
            self._insert(
                "pump_registrations",
                {
                    "pump_serial": serial,
                    "patient_id": None,
                    "effective_at": rec.utc_iso(at or utc_now()),
                    "correction_note": note,
                },
                user,
                "create",
            )

    def replace_pump(
        self,
        patient_id: int,
        old_serial: str,
        new_pump: Pump,
        user: User,
        *,
        explanted_on: date,
        reason: str,
        note: str = "",
    ) -> Pump:
        """Replace a patient's pump as one record: the old pump's explant (date, reason),
        its registration ended, the new one registered. All or nothing."""
        if reason not in EXPLANT_REASONS:
            raise StoreError(f"The explant reason must be one of {', '.join(EXPLANT_REASONS)}.")
        with transaction(self.db):
            if self.find_pump_owner(old_serial) != patient_id:
                raise WrongPatientError(f"Pump {old_serial} is not this patient's pump now.")
            self.record_explant(
                patient_id, old_serial, user, explanted_on=explanted_on, reason=reason, note=note
            )
            return self.register_pump(new_pump, patient_id, user)

    def record_explant(
        self,
        patient_id: int,
        serial: str,
        user: User,
        *,
        explanted_on: date,
        reason: str,
        note: str = "",
    ) -> None:
        """The pump leaves the patient: an explant record, and it belongs to nobody."""
        if reason not in EXPLANT_REASONS:
            raise StoreError(f"The explant reason must be one of {', '.join(EXPLANT_REASONS)}.")
        with transaction(self.db):
            self._insert(
                "pump_explants",
                {
                    "pump_serial": serial,
                    "patient_id": patient_id,
                    "explanted_on": explanted_on.isoformat(),
                    "reason": reason,
                    "note": note,
                },
                user,
                "create",
            )
            self.unregister_pump(serial, user, note=f"explanted: {reason}")

    def explants(self, patient_id: int) -> list[tuple[str, date, str, str]]:
        """The patient's explanted pumps: (serial, date, reason, note), oldest first."""
        return [
            (r["pump_serial"], date.fromisoformat(r["explanted_on"]), r["reason"], r["note"])
            for r in self.db.query(
                "SELECT * FROM pump_explants WHERE patient_id = ? ORDER BY explanted_on, id",
                [patient_id],
            )
        ]

    def record_catheter_revision(
        self,
        pump: Pump,
        user: User,
        *,
        revised_on: date,
        tip_level: str = "",
        note: str = "",
    ) -> Pump:
        """A catheter revision: its record, and the pump's catheter details (which feed the
        dead volume, the bridge and priming) corrected to ``pump``'s, as one record."""
        owner = self.find_pump_owner(pump.serial)
        if owner is None:
            raise UnknownPumpError(f"Pump {pump.serial} is not registered to a patient.")
        with transaction(self.db):
            self._insert(
                "catheter_revisions",
                {
                    "pump_serial": pump.serial,
                    "patient_id": owner,
                    "revised_on": revised_on.isoformat(),
                    "catheter_length_cm": str(pump.catheter_length_cm),
                    "catheter_ul_per_cm": str(pump.catheter_ul_per_cm),
                    "tip_level": tip_level,
                    "note": note,
                },
                user,
                "create",
            )
            return self.correct_pump(pump, user, note=f"catheter revision on {revised_on}")

    def catheter_revisions(self, patient_id: int) -> list[tuple[str, date, str, str]]:
        """The patient's catheter revisions: (pump serial, date, tip level, note), oldest first."""
        return [
            (r["pump_serial"], date.fromisoformat(r["revised_on"]), r["tip_level"], r["note"])
            for r in self.db.query(
                "SELECT * FROM catheter_revisions WHERE patient_id = ? ORDER BY revised_on, id",
                [patient_id],
            )
        ]

    def last_catheter_revision(self, serial: str) -> date | None:
        row = self.db.execute(
            "SELECT MAX(revised_on) FROM catheter_revisions WHERE pump_serial = ?", [serial]
        ).fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def correct_pump(self, pump: Pump, user: User, note: str = "") -> Pump:
        """New current details for a known pump (after a catheter revision, say)."""
        with transaction(self.db):
            old_id = self._latest_version_id("pump_versions", "pump_serial", pump.serial)
            self._correct("pump_versions", old_id, rec.pump_row(pump), user, note)
        found = self.get_pump(pump.serial)
        assert found is not None
        return found

    # ----------------------------------------------------------------- clinical records

    def add_reading(
        self, reading: Reading, user: User, *, patient_id: int | None = None
    ) -> Reading:
        """Store one interrogation for the pump's owner (must equal ``patient_id`` if given)."""
        with transaction(self.db):
            owner = self._owner_for_write(reading.pump_serial, patient_id)
            new_id = self._insert(
                "readings", {**rec.reading_row(reading), "patient_id": owner}, user, "create"
            )
            if reading.eri_date is not None or reading.eos_date is not None:
                self._insert(
                    "battery_reports",
                    {
                        "reading_id": new_id,
                        "pump_serial": reading.pump_serial,
                        "eri_date": reading.eri_date.isoformat() if reading.eri_date else None,
                        "eos_date": reading.eos_date.isoformat() if reading.eos_date else None,
                    },
                    user,
                    "create",
                )
        return replace(reading, id=new_id)

    def latest_battery_report(self, serial: str) -> tuple[date | None, date | None] | None:
        """The pump's own (ERI date, End of Service date) from its latest reading that
        reported them and still stands (not corrected, not entered in error), or None."""
        row = self.db.execute(
            "SELECT b.eri_date, b.eos_date FROM battery_reports b"
            " JOIN readings t ON t.id = b.reading_id"
            f" WHERE b.pump_serial = ? AND {queries.effective('readings', 't')}"
            " ORDER BY t.at DESC, b.reading_id DESC LIMIT 1",
            [serial],
        ).fetchone()
        if row is None:
            return None
        return (
            date.fromisoformat(row[0]) if row[0] else None,
            date.fromisoformat(row[1]) if row[1] else None,
        )

    def add_events(
        self, events: Iterable[PumpEvent], user: User, *, patient_id: int | None = None
    ) -> int:
        """Store pump log entries not stored before (by serial and index); returns how many
        were new. All or none are written."""
        new = 0
        with transaction(self.db):
            owners: dict[str, int] = {}
            for event in events:
                if event.pump_serial not in owners:
                    owners[event.pump_serial] = self._owner_for_write(event.pump_serial, patient_id)
                row = {
                    **rec.event_row(event),
                    "patient_id": owners[event.pump_serial],
                    **rec.stamp_columns(user, utc_now()),
                }
                cursor = self.db.execute(
                    f"INSERT INTO pump_events ({', '.join(row)}) VALUES "
                    f"({', '.join(':' + c for c in row)}) "
                    "ON CONFLICT (pump_serial, event_index) DO NOTHING",
                    row,
                )
                if cursor.rowcount == 1:
                    audit.append(
                        self.db,
                        user,
                        "create",
                        table="pump_events",
                        record_id=int(cursor.lastrowid or 0),
                    )
                    new += 1
        return new

    def add_interrogation(
        self,
        reading: Reading,
        events: Iterable[PumpEvent],
        user: User,
        *,
        patient_id: int | None = None,
    ) -> tuple[Reading, int]:
        """Store one interrogation's reading and its new pump events as one record (all or
        none). Returns the stored reading and how many events were new."""
        with self.atomic():
            saved = self.add_reading(reading, user, patient_id=patient_id)
            new = self.add_events(events, user, patient_id=patient_id)
        return saved, new

    def open_outcomes(self, serial: str) -> int:
        """How many writes to this pump still have an unknown outcome (pending refills and
        uncertain program changes, latest versions only)."""
        row = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM refills f WHERE f.pump_serial = ? AND "
            f"f.status = 'pending' AND {queries.effective('refills', 'f')}) + "
            "(SELECT COUNT(*) FROM program_changes g WHERE g.pump_serial = ? AND "
            f"g.outcome = 'uncertain' AND {queries.effective('program_changes', 'g')})",
            [serial, serial],
        ).fetchone()
        return int(row[0])

    def last_event_index(self, serial: str) -> int:
        """The highest pump-log index stored for this pump (-1 when none), so the next
        interrogation need only read the log from the index after it."""
        row = self.db.execute(
            "SELECT MAX(event_index) FROM pump_events WHERE pump_serial = ?", [serial]
        ).fetchone()
        return -1 if row[0] is None else int(row[0])

    def add_refill(
        self,
        refill: Refill,
        user: User,
        *,
        patient_id: int | None = None,
        bridge: tuple[int, int, int] | None = None,
    ) -> Refill:
        """Store a refill (``status`` "pending" while the pump update is uncertain), with
        the bridge bolus it started: (volume µL, concentration in the line before, minutes)."""
        if refill.status not in REFILL_STATUSES:
            raise StoreError(f"Refill status must be one of {', '.join(REFILL_STATUSES)}.")
        with transaction(self.db):
            owner = self._owner_for_write(refill.pump_serial, patient_id)
            new_id = self._insert(
                "refills", {**rec.refill_row(refill), "patient_id": owner}, user, "create"
            )
            if bridge is not None and bridge[0] > 0:
                self._insert(
                    "refill_bridges",
                    {
                        "refill_id": new_id,
                        "pump_serial": refill.pump_serial,
                        "at": utc_iso(refill.at),
                        "volume_ul": bridge[0],
                        "from_concentration_mcg_ml": bridge[1],
                        "duration_min": bridge[2],
                    },
                    user,
                    "create",
                )
        return replace(refill, id=new_id)

    def bridges(self, serial: str) -> dict[datetime, tuple[int, int]]:
        """The bridge boluses refills of this pump started, by refill time:
        (volume µL, concentration in the line before the refill)."""
        return {
            rec.parse_time(r["at"]): (int(r["volume_ul"]), int(r["from_concentration_mcg_ml"]))
            for r in self.db.query(
                "SELECT at, volume_ul, from_concentration_mcg_ml FROM refill_bridges"
                " WHERE pump_serial = ?",
                [serial],
            )
        }

    def resolve_refill(self, refill_id: int, status: str, user: User, note: str = "") -> Refill:
        """Settle a pending refill (confirmed or failed) with a new row that corrects it."""
        if status not in (RefillStatus.CONFIRMED, RefillStatus.FAILED):
            raise StoreError("A pending refill is resolved as confirmed or failed.")
        with transaction(self.db):
            self._require("refills", refill_id, "status", RefillStatus.PENDING)
            new_id = self._correct("refills", refill_id, {"status": status}, user, note)
        return self._one("refills", new_id, rec.refill_from_row)

    def add_program_change(
        self, change: ProgramChange, user: User, *, patient_id: int | None = None
    ) -> ProgramChange:
        """Store a program sent to the pump. Only clinicians and administrators send."""
        if not user.can_send_program():
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only a clinician or an "
                "administrator can send a program to the pump."
            )
        if change.outcome not in OUTCOMES:
            raise StoreError(f"Outcome must be one of {', '.join(OUTCOMES)}.")
        with transaction(self.db):
            owner = self._owner_for_write(change.pump_serial, patient_id)
            new_id = self._insert(
                "program_changes",
                {**rec.program_change_row(change), "patient_id": owner},
                user,
                "create",
            )
        return replace(change, id=new_id)

    def resolve_program_change(
        self, change_id: int, outcome: str, user: User, *, readback: Any = None, note: str = ""
    ) -> ProgramChange:
        """Settle an uncertain program change once the next read shows what the pump has."""
        if outcome not in (ChangeOutcome.SUCCEEDED, ChangeOutcome.FAILED):
            raise StoreError("An uncertain program change is resolved as succeeded or failed.")
        changes: dict[str, Any] = {"outcome": outcome}
        if readback is not None:
            changes["readback_json"] = rec.program_json(readback)
        with transaction(self.db):
            self._require("program_changes", change_id, "outcome", ChangeOutcome.UNCERTAIN)
            new_id = self._correct("program_changes", change_id, changes, user, note)
        return self._one("program_changes", new_id, rec.program_change_from_row)

    # ----------------------------------------------------------------- prepared programs

    def add_prepared_program(
        self, prepared: PreparedProgram, user: User, *, patient_id: int | None = None
    ) -> PreparedProgram:
        """Store a program prepared for review (anyone signed in may prepare one; only a
        clinician or administrator may send it). ``prepared_by``/``prepared_role`` are
        taken from ``user`` so the record cannot claim a clinician's authority it lacks.

        A pump has at most one open prepared program: any earlier one still open is
        withdrawn in the same transaction (a correction row naming the new one), so the
        refill and the editor never have to choose between two."""
        if prepared.concentration_mcg_ml <= 0:
            raise StoreError("A prepared program needs the concentration it was made for.")
        stamped = replace(prepared, prepared_by=user.name, prepared_role=user.role)
        with transaction(self.db):
            owner = self._owner_for_write(prepared.pump_serial, patient_id)
            earlier = [
                r["id"]
                for r in self.db.query(
                    "SELECT p.id FROM prepared_programs p WHERE p.pump_serial = ? AND "
                    f"p.status = 'prepared' AND {queries.effective('prepared_programs', 'p')}",
                    [prepared.pump_serial],
                )
            ]
            new_id = self._insert(
                "prepared_programs", {**_prepared_row(stamped), "patient_id": owner}, user, "create"
            )
            for old_id in earlier:
                self._correct(
                    "prepared_programs",
                    int(old_id),
                    {"status": "withdrawn"},
                    user,
                    f"replaced by prepared program {new_id}",
                )
        return replace(stamped, id=new_id)

    def prepared_program(self, serial: str) -> PreparedProgram | None:
        """The pump's open prepared program (the latest neither sent nor withdrawn), or
        None. ``id`` is the row to name when withdrawing it or marking it sent."""
        row = next(
            self.db.query(
                "SELECT p.* FROM prepared_programs p WHERE p.pump_serial = ? AND "
                f"p.status = 'prepared' AND {queries.effective('prepared_programs', 'p')} "
                "ORDER BY p.prepared_at DESC, p.id DESC LIMIT 1",
                [serial],
            ),
            None,
        )
        return None if row is None else _prepared_from_row(row)

    def prepared_program_history(self, serial: str) -> list[rec.Recorded[PreparedProgram]]:
        """Every prepared-program row for the pump, oldest first, with its stamp; the
        ``status`` of each is in :meth:`prepared_program_status`."""
        return [
            rec.Recorded(_prepared_from_row(r), rec.stamp_from_row(r))
            for r in self.db.query(
                "SELECT * FROM prepared_programs WHERE pump_serial = ? ORDER BY id", [serial]
            )
        ]

    def prepared_program_status(self, prepared_id: int) -> str:
        """prepared, sent or withdrawn: the status of the latest version of the record."""
        row = self.db.execute(
            "WITH RECURSIVE fwd(id) AS (SELECT ? UNION SELECT t.id FROM prepared_programs t "
            "JOIN fwd ON t.corrects_id = fwd.id) SELECT status FROM prepared_programs "
            "WHERE id IN (SELECT id FROM fwd) ORDER BY id DESC LIMIT 1",
            [prepared_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"There is no prepared program {prepared_id}.")
        return str(row[0])

    def withdraw_prepared_program(self, prepared_id: int, user: User, note: str) -> None:
        """Withdraw an open prepared program (it will not be sent). Needs a reason; the
        prepared row stays in history."""
        if not note.strip():
            raise StoreError("Say why the prepared program is being withdrawn.")
        with transaction(self.db):
            self._require("prepared_programs", prepared_id, "status", "prepared")
            self._correct("prepared_programs", prepared_id, {"status": "withdrawn"}, user, note)

    def mark_prepared_program_sent(
        self, prepared_id: int, program_change_id: int, user: User, note: str = ""
    ) -> None:
        """Close a prepared program because it was sent: a correction row with status
        "sent" that names the program change record it became."""
        if not user.can_send_program():
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only a clinician or an "
                "administrator can send a program to the pump."
            )
        with transaction(self.db):
            self._require("prepared_programs", prepared_id, "status", "prepared")
            if (
                self.db.execute(
                    "SELECT 1 FROM program_changes WHERE id = ?", [program_change_id]
                ).fetchone()
                is None
            ):
                raise StoreError(f"There is no program change {program_change_id}.")
            self._correct(
                "prepared_programs",
                prepared_id,
                {"status": "sent", "program_change_id": program_change_id},
                user,
                note or f"sent as program change {program_change_id}",
            )

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

    def patient_history(self, patient_id: int) -> queries.PatientHistory:
        return queries.patient_history(self.db, patient_id)

    def patients_overview(
        self, today: date, inputs_key: str = "", patient_ids: Sequence[int] | None = None
    ) -> list[queries.PatientOverview]:
        """The patient list (everyone, or only ``patient_ids``), sorted by name, with each
        pump's stored forecast (computed under ``inputs_key``) and its status on ``today``.
        Without a key the rows carry no forecast: dates come only through the clinic
        service (:meth:`itbconsole.services.clinic.ClinicService.patient_rows`)."""
        return queries.patients_overview(self.db, today, inputs_key, patient_ids)

    def refill_due(
        self, before: date, *, today: date, inputs_key: str
    ) -> list[queries.PatientOverview]:
        return queries.refill_due(self.db, before, today, inputs_key)

    # ----------------------------------------------------------------- forecasts

    def stale_forecasts(
        self, inputs_key: str, patient_ids: Sequence[int] | None = None
    ) -> list[str]:
        return queries.stale_forecast_pumps(self.db, inputs_key, patient_ids)

    def save_forecast(self, inputs_key: str, summary: ForecastSummary) -> None:
        """Keep a pump's forecast (derived data: not audited; triggers delete it whenever a
        record it rests on is written)."""
        with transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO pump_forecast (pump_serial, inputs_key, computed_at,"
                " refill_by, alarm_at, summary_json) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    summary.serial,
                    inputs_key,
                    utc_iso(utc_now()),
                    summary.refill_by.isoformat() if summary.refill_by else None,
                    utc_iso(summary.alarm_at) if summary.alarm_at else None,
                    canonical_json(summary.to_json()),
                ],
            )

    def stored_forecast(self, serial: str, inputs_key: str) -> ForecastSummary | None:
        row = self.db.execute(
            "SELECT summary_json FROM pump_forecast WHERE pump_serial = ? AND inputs_key = ?",
            [serial, inputs_key],
        ).fetchone()
        return ForecastSummary.from_json(json.loads(row[0])) if row else None

    def forecast_records(
        self, serial: str
    ) -> tuple[
        list[Reading],
        list[Refill],
        list[ProgramChange],
        dict[datetime, tuple[int, int]],
        tuple[datetime | None, datetime] | None,
    ]:
        """What the forecast of one pump rests on, read with a few indexed queries: the
        latest reading and the latest at or before the last fill, confirmed refills,
        verified and uncertain program changes, bridges (by refill time) and the ERI
        window."""
        eff = queries.effective
        fills = [
            rec.refill_from_row(r)
            for r in self.db.query(
                f"SELECT * FROM refills t WHERE t.pump_serial = ? AND t.status = 'confirmed'"
                f" AND {eff('refills', 't')} ORDER BY t.at, t.id",
                [serial],
            )
        ]
        changes = [
            rec.program_change_from_row(r)
            for r in self.db.query(
                f"SELECT * FROM program_changes t WHERE t.pump_serial = ?"
                f" AND t.outcome IN ('succeeded', 'uncertain') AND {eff('program_changes', 't')}"
                " ORDER BY t.at, t.id",
                [serial],
            )
        ]
        reading_sql = (
            f"SELECT * FROM readings t WHERE t.pump_serial = ? AND {eff('readings', 't')}"
            " {cond} ORDER BY t.at DESC, t.id DESC LIMIT 1"
        )
        readings: dict[int, Reading] = {}
        latest = next(self.db.query(reading_sql.format(cond=""), [serial]), None)
        if latest is not None:
            readings[int(latest["id"])] = rec.reading_from_row(latest)
        if fills:
            at_fill = next(
                self.db.query(
                    reading_sql.format(cond="AND t.at <= ?"), [serial, utc_iso(fills[-1].at)]
                ),
                None,
            )
            if at_fill is not None:
                readings[int(at_fill["id"])] = rec.reading_from_row(at_fill)
        bridges = self.bridges(serial)
        window: tuple[datetime | None, datetime] | None = None
        first = self.db.execute(
            f"SELECT at FROM readings t WHERE t.pump_serial = ? AND t.eri = 1"
            f" AND {eff('readings', 't')} ORDER BY t.at, t.id LIMIT 1",
            [serial],
        ).fetchone()
        if first is not None:
            before = self.db.execute(
                f"SELECT MAX(at) FROM readings t WHERE t.pump_serial = ? AND t.eri = 0"
                f" AND t.at < ? AND {eff('readings', 't')}",
                [serial, first[0]],
            ).fetchone()
            window = (rec.parse_time(before[0]) if before[0] else None, rec.parse_time(first[0]))
        ordered = sorted(readings.values(), key=lambda r: (r.at, r.id or 0))
        return ordered, fills, changes, bridges, window

    # ----------------------------------------------------------------- clinic settings

    def settings_version(self) -> int:
        """The id of the settings in force (0 before any is stored): another program on
        the same database may change them while this one runs."""
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM clinic_settings").fetchone()
        return int(row[0])

    def clinic_settings(self) -> ClinicSettings | None:
        """The settings in force (the newest stored version), or None before any is saved."""
        row = self.db.execute(
            "SELECT settings_json FROM clinic_settings ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return ClinicSettings.from_dict(json.loads(row[0])) if row else None

    def save_clinic_settings(self, settings: ClinicSettings, user: User, note: str = "") -> None:
        """A new version of the clinic's settings (administrators only); every stored
        forecast is then out of date (a trigger clears them)."""
        if user.role is not Role.ADMINISTRATOR:
            raise StoreError(
                f"{user.name} is signed in as {user.role.value}: only an administrator can "
                "change the clinic's settings."
            )
        with transaction(self.db):
            self._insert(
                "clinic_settings",
                {"settings_json": canonical_json(settings.to_dict()), "note": note},
                user,
                "create",
            )

    def settings_history(self) -> list[tuple[rec.Stamp, ClinicSettings, str]]:
        return [
            (
                rec.stamp_from_row({**r, "corrects_id": None}),
                ClinicSettings.from_dict(json.loads(r["settings_json"])),
                r["note"],
            )
            for r in self.db.query("SELECT * FROM clinic_settings ORDER BY id")
        ]

    def search_patients(self, text: str) -> list[Patient]:
        return queries.search_patients(self.db, text)

    def audit_entries(self) -> Iterator[dict[str, Any]]:
        return self.db.query("SELECT * FROM audit_log ORDER BY seq")
