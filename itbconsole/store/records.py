"""Conversions between model dataclasses and table rows.

Why a separate module: the row shapes are the contract with every database already in use,
so each mapping is written once, next to its inverse, and nowhere else. Rows use exact types
only: integers, ISO text for dates and times, Decimal as text, JSON text for programs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from itbconsole.model import (
    Origin,
    Patient,
    Program,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
)
from itbconsole.store.audit import canonical_json
from itbconsole.store.db import utc_iso

Row = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Stamp:
    """Who made a stored row, when, and what it corrects."""

    record_id: int
    by: str
    role: Role
    at: datetime
    corrects_id: int | None = None
    entered_in_error: bool = False
    correction_note: str = ""


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """A model object together with the stamp of the row that stores it."""

    record: T
    stamp: Stamp


@dataclass(frozen=True)
class Registration:
    """From ``effective_at`` the pump belongs to ``patient_id`` (None: to nobody, explanted)."""

    pump_serial: str
    patient_id: int | None
    effective_at: datetime
    id: int | None = None


def stamp_columns(user: User, at: datetime) -> dict[str, Any]:
    return {"created_at": utc_iso(at), "created_by": user.name, "created_role": user.role.value}


def stamp_from_row(row: Row) -> Stamp:
    return Stamp(
        record_id=int(row["id"]),
        by=str(row["created_by"]),
        role=Role(row["created_role"]),
        at=parse_time(row["created_at"]),
        corrects_id=row.get("corrects_id"),
        entered_in_error=bool(row.get("entered_in_error", 0)),
        correction_note=str(row.get("correction_note", "")),
    )


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def program_json(program: Program) -> str:
    return canonical_json(program.to_dict())


# --------------------------------------------------------------------------- to rows


def patient_row(p: Patient) -> dict[str, Any]:
    return {
        "family_name": p.family_name,
        "given_name": p.given_name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "hospital_number": p.hospital_number,
        "nhs_number": p.nhs_number,
        "origin": p.origin.value,
    }


def pump_row(p: Pump) -> dict[str, Any]:
    return {
        "pump_serial": p.serial,
        "model": p.model,
        "reservoir_capacity_ul": p.reservoir_capacity_ul,
        "alarm_volume_ul": p.alarm_volume_ul,
        "implant_date": p.implant_date.isoformat() if p.implant_date else None,
        "pump_dead_volume_ul": p.pump_dead_volume_ul,
        "catheter_length_cm": str(p.catheter_length_cm),
        "catheter_ul_per_cm": str(p.catheter_ul_per_cm),
    }


def reading_row(r: Reading) -> dict[str, Any]:
    offset = r.pump_clock - r.at
    return {
        "pump_serial": r.pump_serial,
        "at": utc_iso(r.at),
        "pump_clock": r.pump_clock.isoformat(timespec="microseconds"),
        "clock_offset_ms": offset // timedelta(milliseconds=1),
        "reservoir_ul": r.reservoir_ul,
        "alarm_volume_ul": r.alarm_volume_ul,
        "battery_mv": r.battery_mv,
        "eri": int(r.eri),
        "eos": int(r.eos),
        "concentration_mcg_ml": r.concentration_mcg_ml,
        "program_json": program_json(r.program),
        "alarms_json": canonical_json(list(r.alarms)),
        # Legacy column (schema 1): the alarm date is the forecast's (pump_forecast), never
        # a value frozen into a reading; new rows leave it empty.
        "alarm_at": None,
    }


def event_row(e: PumpEvent) -> dict[str, Any]:
    return {
        "pump_serial": e.pump_serial,
        "event_index": e.index,
        "at": utc_iso(e.at),
        "kind": e.kind,
        "detail_json": canonical_json(e.detail),
    }


def refill_row(r: Refill) -> dict[str, Any]:
    return {
        "pump_serial": r.pump_serial,
        "at": utc_iso(r.at),
        "withdrawn_ul": r.withdrawn_ul,
        "expected_residual_ul": r.expected_residual_ul,
        "added_ul": r.added_ul,
        "product": r.product,
        "concentration_mcg_ml": r.concentration_mcg_ml,
        "lot": r.lot,
        "expiry": r.expiry.isoformat(),
        "status": r.status,
        "note": r.note,
    }


def program_change_row(c: ProgramChange) -> dict[str, Any]:
    return {
        "pump_serial": c.pump_serial,
        "at": utc_iso(c.at),
        "old_program_json": program_json(c.old),
        "new_program_json": program_json(c.new),
        "concentration_mcg_ml": c.concentration_mcg_ml,
        "reason": c.reason,
        "overrides_json": canonical_json(list(c.overrides)),
        "outcome": c.outcome,
        "readback_json": program_json(c.readback) if c.readback is not None else None,
    }


# --------------------------------------------------------------------------- from rows


def patient_from_row(row: Row) -> Patient:
    return Patient(
        family_name=row["family_name"],
        given_name=row["given_name"],
        date_of_birth=date.fromisoformat(row["date_of_birth"]),
        hospital_number=row["hospital_number"],
        origin=Origin(row["origin"]),
        nhs_number=row["nhs_number"],
        id=int(row["patient_id"]),
    )


def pump_from_row(row: Row, patient_id: int | None) -> Pump:
    return Pump(
        serial=row["pump_serial"],
        model=row["model"],
        reservoir_capacity_ul=int(row["reservoir_capacity_ul"]),
        alarm_volume_ul=int(row["alarm_volume_ul"]),
        implant_date=date.fromisoformat(row["implant_date"]) if row["implant_date"] else None,
        pump_dead_volume_ul=int(row["pump_dead_volume_ul"]),
        catheter_length_cm=Decimal(row["catheter_length_cm"]),
        catheter_ul_per_cm=Decimal(row["catheter_ul_per_cm"]),
        patient_id=patient_id,
        id=int(row["id"]),
    )


def reading_from_row(row: Row) -> Reading:
    return Reading(
        pump_serial=row["pump_serial"],
        at=parse_time(row["at"]),
        pump_clock=parse_time(row["pump_clock"]),
        reservoir_ul=int(row["reservoir_ul"]),
        alarm_volume_ul=int(row["alarm_volume_ul"]),
        battery_mv=int(row["battery_mv"]),
        eri=bool(row["eri"]),
        eos=bool(row["eos"]),
        concentration_mcg_ml=int(row["concentration_mcg_ml"]),
        program=Program.from_dict(json.loads(row["program_json"])),
        alarms=tuple(json.loads(row["alarms_json"])),
        id=int(row["id"]),
    )


def event_from_row(row: Row) -> PumpEvent:
    return PumpEvent(
        pump_serial=row["pump_serial"],
        index=int(row["event_index"]),
        at=parse_time(row["at"]),
        kind=row["kind"],
        detail=json.loads(row["detail_json"]),
    )


def refill_from_row(row: Row) -> Refill:
    return Refill(
        pump_serial=row["pump_serial"],
        at=parse_time(row["at"]),
        withdrawn_ul=int(row["withdrawn_ul"]),
        expected_residual_ul=int(row["expected_residual_ul"]),
        added_ul=int(row["added_ul"]),
        product=row["product"],
        concentration_mcg_ml=int(row["concentration_mcg_ml"]),
        lot=row["lot"],
        expiry=date.fromisoformat(row["expiry"]),
        status=row["status"],
        note=row["note"],
        id=int(row["id"]),
    )


def program_change_from_row(row: Row) -> ProgramChange:
    readback = row["readback_json"]
    return ProgramChange(
        pump_serial=row["pump_serial"],
        at=parse_time(row["at"]),
        old=Program.from_dict(json.loads(row["old_program_json"])),
        new=Program.from_dict(json.loads(row["new_program_json"])),
        concentration_mcg_ml=int(row["concentration_mcg_ml"]),
        reason=row["reason"],
        overrides=tuple(json.loads(row["overrides_json"])),
        outcome=row["outcome"],
        readback=Program.from_dict(json.loads(readback)) if readback else None,
        id=int(row["id"]),
    )


def registration_from_row(row: Row) -> Registration:
    return Registration(
        pump_serial=row["pump_serial"],
        patient_id=row["patient_id"],
        effective_at=parse_time(row["effective_at"]),
        id=int(row["id"]),
    )
