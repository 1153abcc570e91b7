"""Screening test doses (issue 17): the trial by lumbar puncture before an implant is
recorded with its dose, product, lot, tone scores and outcome; the dose is held to the drug
library's screening limits, trials are 24 hours apart, a patient with a pump is not screened,
and nothing recorded is ever changed. Checked without Qt."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole.druglib import load_drug_library
from itbconsole.model import Origin, Patient, Pump, Role, User
from itbconsole.services.clinic import ClinicService
from itbconsole.services.screening import ScreeningError, ScreeningTrial, check_trial
from itbconsole.store import Store

CLINICIAN = User("Dr Cole", Role.CLINICIAN)
DAY1 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture()
def clinic(tmp_path: Path) -> tuple[ClinicService, int]:
    store = Store.open(tmp_path / "s.sqlite")
    service = ClinicService(store, load_drug_library(), CLINICIAN)
    p = service.add_patient(
        Patient("Okafor", "Ben", datetime(2012, 3, 1).date(), "H77", Origin.CEREBRAL)
    )
    assert p.id is not None
    return service, p.id


def trial(pid: int, **kw: object) -> ScreeningTrial:
    fields: dict[str, object] = {
        "patient_id": pid,
        "given_at": DAY1,
        "dose_mcg": Decimal(50),
        "product": "Lioresal Intrathecal",
        "concentration_mcg_ml": 50,
        "lot": "ab123",
        "outcome": "positive",
        "scores": ((0, "3"), (60, "2"), (120, "1+"), (240, "1")),
    }
    fields.update(kw)
    return ScreeningTrial(**fields)  # type: ignore[arg-type]


def test_a_trial_is_recorded_with_its_scores_and_audited(
    clinic: tuple[ClinicService, int],
) -> None:
    service, pid = clinic
    record_id = service.record_screening_trial(trial(pid, vitals="BP 110/70, SpO2 98%"))
    [stored] = service.screening_trials(pid)
    assert stored.dose_mcg == Decimal(50) and stored.lot == "AB123"
    assert stored.scores[0] == (0, "3") and stored.outcome == "positive"
    assert stored.vitals == "BP 110/70, SpO2 98%"
    entries = [e for e in service.store.audit_entries() if e["table_name"] == "screening_trials"]
    assert [(e["record_id"], e["action"]) for e in entries] == [(record_id, "create")]


def test_a_dose_outside_the_hard_limits_is_refused(clinic: tuple[ClinicService, int]) -> None:
    service, pid = clinic
    for dose in (Decimal(5), Decimal(500)):  # a slip: 10x too little or 10x too much
        with pytest.raises(ScreeningError, match="outside 10 to 100 mcg"):
            service.record_screening_trial(trial(pid, dose_mcg=dose), reason="as prescribed today")
    assert service.screening_trials(pid) == []


def test_an_unusual_dose_needs_a_reason_that_is_kept(clinic: tuple[ClinicService, int]) -> None:
    service, pid = clinic
    with pytest.raises(ScreeningError, match="Type the clinical reason"):
        service.record_screening_trial(trial(pid, dose_mcg=Decimal(15)))
    service.record_screening_trial(trial(pid, dose_mcg=Decimal(15)), reason="weight 14 kg, aged 3")
    [stored] = service.screening_trials(pid)
    assert "weight 14 kg" in stored.note and "outside the usual 25 to 100" in stored.note


def test_trials_are_at_least_24_hours_apart(clinic: tuple[ClinicService, int]) -> None:
    service, pid = clinic
    service.record_screening_trial(trial(pid, outcome="negative"))
    # The earlier trial's time as every screen writes a moment (not ISO 8601).
    with pytest.raises(ScreeningError, match="given on 02 Nov 2026 09:30 UTC: trials are at"):
        service.record_screening_trial(
            trial(pid, given_at=DAY1 + timedelta(hours=23), dose_mcg=Decimal(75))
        )
    # In the clinic's zone when it is given one (summer time in London).
    summer = datetime(2026, 7, 14, 9, 20, tzinfo=UTC)
    with pytest.raises(ScreeningError, match="given on 14 Jul 2026 10:20 BST: trials"):
        check_trial(
            trial(pid, given_at=summer + timedelta(hours=2)),
            load_drug_library(),
            [summer],
            has_pump=False,
            tz=ZoneInfo("Europe/London"),
        )
    service.record_screening_trial(
        trial(pid, given_at=DAY1 + timedelta(hours=24), dose_mcg=Decimal(75))
    )
    assert [t.dose_mcg for t in service.screening_trials(pid)] == [Decimal(50), Decimal(75)]


def test_a_baseline_score_and_a_lot_are_required(clinic: tuple[ClinicService, int]) -> None:
    service, pid = clinic
    with pytest.raises(ScreeningError, match="baseline"):
        service.record_screening_trial(trial(pid, scores=((60, "2"),)))
    with pytest.raises(ScreeningError, match="Modified Ashworth scores"):
        service.record_screening_trial(trial(pid, scores=((0, "5"),)))
    with pytest.raises(ScreeningError, match="lot"):
        service.record_screening_trial(trial(pid, lot="  "))
    assert service.screening_trials(pid) == []


def test_a_maintenance_strength_is_not_a_screening_product(
    clinic: tuple[ClinicService, int],
) -> None:
    service, pid = clinic
    with pytest.raises(ScreeningError, match="not a screening strength"):
        service.record_screening_trial(trial(pid, concentration_mcg_ml=2000))


def test_a_patient_with_a_pump_is_not_screened(clinic: tuple[ClinicService, int]) -> None:
    service, pid = clinic
    service.register_pump(Pump("SCR0000001", "SIM-40", 40_000, 2_000), pid)
    with pytest.raises(ScreeningError, match="has a pump"):
        service.record_screening_trial(trial(pid))


def test_a_recorded_trial_cannot_be_changed_in_the_database(
    clinic: tuple[ClinicService, int],
) -> None:
    service, pid = clinic
    service.record_screening_trial(trial(pid))
    with pytest.raises(sqlite3.DatabaseError):
        service.store.db.execute("UPDATE screening_trials SET dose_mcg = '100'")
    with pytest.raises(sqlite3.DatabaseError):
        service.store.db.execute("DELETE FROM screening_trials")
