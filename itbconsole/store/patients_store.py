"""Patient records: :class:`PatientRecords`, the patient part of the :class:`Store`.

A patient's details (versioned, never overwritten), identity clashes and duplicates, status
over time, screening test doses, and the patient reads: history, search and the patient list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from itbconsole.model import Patient, User
from itbconsole.store import audit, queries
from itbconsole.store import records as rec
from itbconsole.store.db import transaction, utc_now
from itbconsole.store.errors import StoreError
from itbconsole.store.schema import PATIENT_STATUSES
from itbconsole.store.store_base import StoreBase


class PatientRecords(StoreBase):
    """Patients: details and their versions, status, screening trials, patient reads."""

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

    def patient_history(self, patient_id: int) -> queries.PatientHistory:
        return queries.patient_history(self.db, patient_id)

    _kept_overview: tuple[tuple[object, ...], tuple[queries.PatientOverview, ...]] | None = None

    def patients_overview(
        self, today: date, inputs_key: str = "", patient_ids: Sequence[int] | None = None
    ) -> list[queries.PatientOverview]:
        """The patient list (everyone, or only ``patient_ids``), sorted by name, with each
        pump's stored forecast (computed under ``inputs_key``) and its status on ``today``.
        Without a key the rows carry no forecast: dates come only through the clinic
        service (:meth:`itbconsole.services.clinic.ClinicService.patient_rows`).

        The whole list is kept with the :meth:`change_stamp` it was read under and given
        again (the same immutable rows) while nothing in the database has changed: the list,
        the worklist and a search read it in turn, 5,000 rows each time."""
        if patient_ids is not None:
            return queries.patients_overview(self.db, today, inputs_key, patient_ids)
        key = (self.change_stamp(), today, inputs_key)
        kept = self._kept_overview
        if kept is not None and kept[0] == key:
            return list(kept[1])
        rows = queries.patients_overview(self.db, today, inputs_key)
        self._kept_overview = (key, tuple(rows))
        return rows

    def search_patients(self, text: str) -> list[Patient]:
        return queries.search_patients(self.db, text)
