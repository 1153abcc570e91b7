"""Rooms for the sync tests: a SQLite store per room written through the real services, and
what a clinic's records are, by content (never by local ids, which differ between rooms)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from itbconsole.druglib import load_drug_library
from itbconsole.model import Origin, Patient, Pump, Refill, Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.store import Store

NURSE = User("Nia Nurse", Role.NURSE)
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_LIBRARY = load_drug_library()


def open_room(path: Path) -> Store:
    return Store.open(path)


def clinic(store: Store, user: User = NURSE) -> ClinicService:
    return ClinicService(store, _LIBRARY, user)


def add_patient_with_pump(store: Store, number: int) -> Patient:
    """Patient ``number`` of the clinic (hospital number and pump serial from it)."""
    patient = Patient(
        family_name=f"Family{number}",
        given_name="Zoë",
        date_of_birth=date(1960, 1, 1) + timedelta(days=number),
        hospital_number=f"H{number:06d}",
        origin=Origin.SPINAL,
        nhs_number=None,
    )
    pump = Pump(
        serial=f"NGP{number:06d}",
        model="SynchroMed II 8637-40",
        reservoir_capacity_ul=40_000,
        alarm_volume_ul=2_000,
        implant_date=date(2022, 1, 10),
        pump_dead_volume_ul=250,
        catheter_length_cm=Decimal("60"),
        catheter_ul_per_cm=Decimal("1.5"),
    )
    return clinic(store).add_patient_with_pump(patient, pump)


def add_refill(store: Store, number: int, day: int) -> Refill:
    """A confirmed refill of patient ``number``'s pump on day ``day`` after T0."""
    refill = Refill(
        pump_serial=f"NGP{number:06d}",
        at=T0 + timedelta(days=day, minutes=number % 60),
        withdrawn_ul=4_100,
        expected_residual_ul=4_000,
        added_ul=36_000,
        product="Lioresal Intrathecal",
        concentration_mcg_ml=2000,
        lot=f"LOT{day}",
        expiry=date(2027, 1, 31),
        status="confirmed",
    )
    return store.add_refill(refill, NURSE)


def content(store: Store) -> dict[str, Any]:
    """The clinic's records as a room holds them, by content: patients by hospital number
    (their latest version), pumps by serial with their owner's hospital number, refills."""
    q = store.db.conn.execute
    patients = {
        row[0]: row[1:]
        for row in q(
            "SELECT v.hospital_number, v.family_name, v.given_name, v.date_of_birth, v.origin"
            " FROM patient_versions v WHERE v.id = (SELECT max(id) FROM patient_versions w"
            " WHERE w.patient_id = v.patient_id)"
        )
    }
    owners = sorted(
        q(
            "SELECT r.pump_serial, v.hospital_number FROM pump_registrations r"
            " JOIN patient_versions v ON v.patient_id = r.patient_id"
            " AND v.id = (SELECT max(id) FROM patient_versions w WHERE w.patient_id = v.patient_id)"
        ).fetchall()
    )
    refills = sorted(
        q(
            "SELECT f.pump_serial, f.at, f.added_ul, f.lot, f.status, v.hospital_number"
            " FROM refills f JOIN patient_versions v ON v.patient_id = f.patient_id"
            " AND v.id = (SELECT max(id) FROM patient_versions w WHERE w.patient_id = v.patient_id)"
        ).fetchall()
    )
    return {"patients": patients, "pumps": owners, "refills": refills}


def clinical_row_count(store: Store) -> dict[str, int]:
    return {k: v for k, v in store.counts().items() if k != "audit_log"}
