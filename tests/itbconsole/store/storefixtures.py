"""Record builders and fixtures for the store tests: a nurse, a clinician, a patient, a pump.

Imported by name (``storefixtures``): pytest puts this folder on ``sys.path`` because the
suite has no ``__init__.py`` files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from itbconsole.model import (
    Origin,
    Patient,
    PatientBolus,
    ProgramChange,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    Role,
    User,
    simple_continuous,
)
from itbconsole.store import Store

NURSE = User("Nia Nurse", Role.NURSE)
CLINICIAN = User("Dr Cal Clinician", Role.CLINICIAN)
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_patient(family: str = "Jones", hospital: str = "H100001", **kw: object) -> Patient:
    fields: dict[str, object] = {
        "family_name": family,
        "given_name": "Ann",
        "date_of_birth": date(1980, 5, 17),
        "hospital_number": hospital,
        "origin": Origin.SPINAL,
        "nhs_number": "9434765919",
    }
    fields.update(kw)
    return Patient(**fields)  # type: ignore[arg-type]


def make_pump(serial: str = "NGP123456") -> Pump:
    return Pump(
        serial=serial,
        model="SynchroMed II 8637-40",
        reservoir_capacity_ul=40_000,
        alarm_volume_ul=2_000,
        implant_date=date(2022, 1, 10),
        pump_dead_volume_ul=250,
        catheter_length_cm=Decimal("60"),
        catheter_ul_per_cm=Decimal("1.5"),
    )


def make_reading(
    serial: str = "NGP123456",
    at: datetime = T0,
    reservoir_ul: int = 40_000,
    dose: str = "500",
    **kw: object,
) -> Reading:
    fields: dict[str, object] = {
        "pump_serial": serial,
        "at": at,
        "pump_clock": at + timedelta(seconds=42),
        "reservoir_ul": reservoir_ul,
        "alarm_volume_ul": 2_000,
        "battery_mv": 3_050,
        "eri": False,
        "eos": False,
        "concentration_mcg_ml": 2000,
        "program": simple_continuous(dose),
        "alarms": (),
    }
    fields.update(kw)
    return Reading(**fields)  # type: ignore[arg-type]


def make_refill(serial: str = "NGP123456", at: datetime = T0, status: str = "confirmed") -> Refill:
    return Refill(
        pump_serial=serial,
        at=at,
        withdrawn_ul=4_100,
        expected_residual_ul=4_000,
        added_ul=36_000,
        product="Lioresal Intrathecal",
        concentration_mcg_ml=2000,
        lot="LOT42",
        expiry=date(2027, 1, 31),
        status=status,
    )


def make_change(
    serial: str = "NGP123456", at: datetime = T0, outcome: str = "succeeded"
) -> ProgramChange:
    new = simple_continuous("550")
    new = type(new)(
        new.mode,
        daily_dose_mcg=new.daily_dose_mcg,
        patient_bolus=PatientBolus(Decimal("50"), 10, 180, 4),
    )
    return ProgramChange(
        pump_serial=serial,
        at=at,
        old=simple_continuous("500"),
        new=new,
        concentration_mcg_ml=2000,
        reason="spasticity worse at night",
        overrides=("dose change +10% over soft limit: reviewed",),
        outcome=outcome,
    )


def make_events(serial: str = "NGP123456", start: int = 0, n: int = 5) -> list[PumpEvent]:
    return [
        PumpEvent(serial, i, T0 + timedelta(minutes=i), "alarm_cleared", {"code": i})
        for i in range(start, start + n)
    ]


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open(":memory:") as s:
        yield s


@pytest.fixture
def patient(store: Store) -> Patient:
    p = store.add_patient(make_patient(), NURSE)
    store.register_pump(make_pump(), p.id or 0, NURSE, at=T0 - timedelta(days=400))
    return p
