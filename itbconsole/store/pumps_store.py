"""Pump records: :class:`PumpRecords`, the pump part of the :class:`Store`.

A pump's details (versioned), who it is registered to over time, and its life in the
patient: registration, replacement, explant and catheter revisions.
"""

from __future__ import annotations

from datetime import date, datetime

from itbconsole.model import Pump, User
from itbconsole.store import audit
from itbconsole.store import records as rec
from itbconsole.store.db import transaction, utc_now
from itbconsole.store.errors import StoreError, UnknownPumpError, WrongPatientError
from itbconsole.store.schema import EXPLANT_REASONS
from itbconsole.store.store_base import StoreBase


class PumpRecords(StoreBase):
    """Pumps: details, registrations, replacement, explants and catheter revisions."""

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
