"""The refill's expected residual reads only the pump's log since the last refill (an indexed
read), and gives the same figure as when it read the patient's whole stored log: the same
boluses, each counted once, the bridge once."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itbconsole.demo import DEMO_NURSE, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.model import (
    Origin,
    Patient,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
    Role,
    User,
    simple_continuous,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill import RefillSession, expected_residual_for
from itbconsole.store import Store
from itbconsole.store.queries import StoredEvents

LONDON = ZoneInfo("Europe/London")
NURSE = User("Nia Nurse", Role.NURSE)
SERIAL = "NGP100001"
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
KINDS = ("patient_bolus", "single_bolus", "alarm_test", "clock_set")


# --------------------------------------------------------------------------- old vs new


def _store(path: Path) -> tuple[Store, Pump, int]:
    store = Store.open(path)
    patient = store.add_patient(
        Patient("Jones", "Ann", date(1980, 5, 17), "H100001", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    pump = Pump(
        SERIAL,
        "SynchroMed II 8637-40",
        40_000,
        2_000,
        date(2024, 1, 10),
        250,
        Decimal(60),
        Decimal(1),
    )
    store.register_pump(pump, patient.id, NURSE)
    return store, pump, patient.id


hours = st.integers(min_value=0, max_value=24 * 40)
logged_event = st.tuples(hours, st.sampled_from(KINDS), st.integers(0, 40_000))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    refill_hours=st.lists(hours, max_size=4),
    bridged=st.booleans(),
    stored=st.lists(logged_event, max_size=40),
    new=st.lists(st.tuples(st.integers(0, 60), hours, st.sampled_from(KINDS)), max_size=15),
    reading_hour=hours,
    pending_last=st.booleans(),
)
def test_the_indexed_read_gives_the_figure_of_the_whole_log(
    refill_hours: list[int],
    bridged: bool,
    stored: list[tuple[int, str, int]],
    new: list[tuple[int, int, str]],
    reading_hour: int,
    pending_last: bool,
) -> None:
    """Random refills, stored log entries (boluses and others, on and around the refill and
    interrogation moments) and an interrogation whose new entries repeat some stored indexes:
    the expected residual and its every input are the same read either way."""
    with tempfile.TemporaryDirectory() as tmp:
        store, pump, patient_id = _store(Path(tmp) / "r.sqlite")
        try:
            store.add_reading(_reading(T0 - timedelta(hours=1)), NURSE)
            for n, h in enumerate(sorted(refill_hours)):
                last = n == len(refill_hours) - 1
                status = RefillStatus.PENDING if last and pending_last else RefillStatus.CONFIRMED
                store.add_refill(
                    _refill(T0 + timedelta(hours=h), status),
                    NURSE,
                    bridge=(340, 500, 979) if bridged and last else None,
                )
            store.add_events(
                [
                    PumpEvent(SERIAL, i, T0 + timedelta(hours=h), kind, {"dose_ng": dose})
                    for i, (h, kind, dose) in enumerate(stored)
                ],
                NURSE,
            )
            interrogated = [
                PumpEvent(SERIAL, i, T0 + timedelta(hours=h), kind, {"dose_ng": 25_000})
                for i, h, kind in new
            ]
            now = _reading(T0 + timedelta(hours=reading_hour))
            bridges = store.bridges(SERIAL)

            def whole_log() -> object:
                history = store.patient_history(patient_id)
                return expected_residual_for(history, pump, now, interrogated, LONDON, bridges)

            def since_the_refill() -> object:
                history = store.patient_history(patient_id)
                return expected_residual_for(
                    history,
                    pump,
                    now,
                    interrogated,
                    LONDON,
                    bridges,
                    logged=lambda since, until: store.pump_events_between(
                        patient_id, SERIAL, since, until
                    ),
                )

            assert since_the_refill() == whole_log()
        finally:
            store.close()


def _reading(at: datetime) -> Reading:
    return Reading(SERIAL, at, at, 20_000, 2_000, 3_050, False, False, 2000, simple_continuous(500))


def _refill(at: datetime, status: RefillStatus) -> Refill:
    return Refill(
        SERIAL,
        at,
        2_000,
        2_000,
        38_000,
        "Lioresal Intrathecal",
        2000,
        "L1",
        date(2028, 1, 1),
        status=status,
    )


# --------------------------------------------------------------------------- the service

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
DEMO_SERIAL = "SIM0000001"  # Okafor, 2000 mcg/mL


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    return ClinicService(store, load_drug_library(), DEMO_NURSE, LONDON)


def _okafor(clinic: ClinicService) -> int:
    rows = clinic.patient_rows("Okafor", now=NOW)
    assert rows and rows[0].patient.id is not None
    return rows[0].patient.id


def _bolus(index: int, at: datetime, mcg: int = 25) -> PumpEvent:
    return PumpEvent(DEMO_SERIAL, index, at, "patient_bolus", {"dose_ng": mcg * 1000})


def test_step_one_counts_each_bolus_since_the_fill_once_without_reading_the_whole_log(
    clinic: ClinicService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored boluses before the last fill are not counted, those at or after it are, and an
    entry both stored and in this interrogation's log counts once: 4 x 25 mcg at 2000 mcg/mL
    is 50 µL on top of the program's delivery. The whole stored log is never read."""
    patient_id = _okafor(clinic)
    store = clinic.store
    fill = max(
        (r for r in store.patient_history(patient_id).refills if r.pump_serial == DEMO_SERIAL),
        key=lambda r: r.at,
    )
    latest = max(
        (r for r in store.patient_history(patient_id).readings if r.pump_serial == DEMO_SERIAL),
        key=lambda r: r.at,
    )
    now = replace(latest, at=NOW, pump_clock=NOW, id=None, reservoir_ul=29_000, alarms=())
    without = RefillSession(clinic, patient_id, now=lambda: NOW).identify(now)
    first = store.last_event_index(DEMO_SERIAL) + 1
    store.add_events(
        [
            _bolus(first, fill.at - timedelta(minutes=1)),  # before the fill: not counted
            _bolus(first + 1, fill.at),  # at the fill: counted
            _bolus(first + 2, fill.at + timedelta(days=3)),  # counted
            _bolus(first + 3, fill.at + timedelta(days=4)),  # counted, and downloaded again
        ],
        NURSE,
        patient_id=patient_id,
    )
    downloaded = [
        _bolus(first + 3, fill.at + timedelta(days=4)),
        _bolus(first + 4, NOW - timedelta(hours=1)),  # new: counted
    ]

    def whole_log_read(self: StoredEvents) -> tuple[PumpEvent, ...]:
        raise AssertionError("step 1 read the patient's whole stored log")

    monkeypatch.setattr(StoredEvents, "_loaded", whole_log_read)
    ident = RefillSession(clinic, patient_id, now=lambda: NOW).identify(now, downloaded)
    residual = ident.residual
    assert len(residual.boluses) == 4
    assert sorted(b.at for b in residual.boluses) == [
        fill.at,
        fill.at + timedelta(days=3),
        fill.at + timedelta(days=4),
        NOW - timedelta(hours=1),
    ]
    delivered_more = Fraction(4 * 25 * 1000, 2000)  # µL
    assert residual.expected_residual_ul == round(
        without.residual.expected_residual_ul - delivered_more
    )
