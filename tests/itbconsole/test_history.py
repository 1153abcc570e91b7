"""A patient's history and the lot search, on the demo clinic plus a clinic day of records of
every kind. Figures are checked against the stored rows (read here with SQL) and worked out
here from the clinical formulas, never against the timeline's own code."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from itbconsole.demo import DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.display import fmt_day
from itbconsole.druglib import load_drug_library
from itbconsole.exports import write_csv
from itbconsole.model import (
    ChangeOutcome,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
    simple_continuous,
)
from itbconsole.services.clinic import ClinicService
from itbconsole.services.history import (
    REFILL_LOG_COLUMNS,
    Kind,
    TimelineRow,
    history_columns,
    history_csv_rows,
    refill_log_rows,
)
from itbconsole.services.screening import ScreeningTrial, check_trial, trial_row

#: The demo clinic ends now: records it builds and records stamped by this computer's clock
#: (an audit entry, a registration) then fall in their real order.
NOW = datetime.now(UTC).replace(microsecond=0)
LONDON = ZoneInfo("Europe/London")
LOT = "RC7788"


@dataclass
class ClinicDay:
    """What :func:`add_clinic_day` recorded for one demo patient."""

    patient_id: int
    serial: str
    new_serial: str
    trial_id: int
    reading_id: int
    refill_id: int
    change_id: int
    given_at: datetime


def add_clinic_day(clinic: ClinicService, family: str = "Walsh") -> ClinicDay:
    """Records of every kind the demo lacks, for the demo patient ``family``: a screening
    test dose before the implant, a low-reservoir alarm in the pump log, a reading withdrawn
    as entered in error, a pending refill later confirmed, an uncertain program change
    later settled, the pump clock set, a catheter revision, a corrected hospital number, and
    the pump replaced (an explant and a new pump)."""
    row = next(r for r in clinic.patient_rows(family) if r.patient.family_name == family)
    pid = row.patient.id
    assert pid is not None
    store = clinic.store
    pump = clinic.pump_of(pid)
    assert pump is not None
    serial = pump.serial
    history = clinic.patient_history(pid)
    implant_at = history.registrations[0].effective_at
    now = max(r.at for r in history.readings) + timedelta(days=1)

    given_at = implant_at - timedelta(days=30)
    trial = check_trial(
        ScreeningTrial(
            patient_id=pid,
            given_at=given_at,
            dose_mcg=Decimal(50),
            product="Lioresal Intrathecal",
            concentration_mcg_ml=50,
            lot="ST501",
            outcome="positive",
            scores=((0, "3"), (60, "2"), (240, "1+")),
        ),
        clinic.library,
        [],
        has_pump=False,
    )
    trial_id = store.add_screening_trial(trial_row(trial), DEMO_NURSE)

    index = store.last_event_index(serial) + 1
    store.add_events(
        [
            PumpEvent(
                serial, index, now, "alarm_raised", {"alarm_bit": 0, "alarm": "low_reservoir"}
            ),
            PumpEvent(
                serial,
                index + 1,
                now + timedelta(hours=3),
                "alarm_cleared",
                {"alarm": "low_reservoir"},
            ),
        ],
        DEMO_NURSE,
        patient_id=pid,
    )
    program = history.readings[-1].program
    reading = store.add_reading(
        Reading(
            serial,
            now + timedelta(hours=1),
            now + timedelta(hours=1, seconds=30),
            3_500,
            2_000,
            3_050,
            False,
            False,
            2000,
            program,
            alarms=("low_reservoir",),
        ),
        DEMO_NURSE,
        patient_id=pid,
    )
    assert reading.id is not None
    store.mark_entered_in_error("readings", reading.id, DEMO_NURSE, "another pump's printout")

    refill = store.add_refill(
        Refill(
            serial,
            now + timedelta(hours=2),
            withdrawn_ul=3_100,
            expected_residual_ul=3_400,
            added_ul=40_000,
            product="Lioresal Intrathecal",
            concentration_mcg_ml=2000,
            lot=LOT,
            expiry=date(2027, 9, 30),
            status=RefillStatus.PENDING,
        ),
        DEMO_NURSE,
        patient_id=pid,
    )
    assert refill.id is not None
    store.resolve_refill(refill.id, RefillStatus.CONFIRMED, DEMO_NURSE, "confirmed by the pump")

    new = simple_continuous(program.daily_dose_mcg + 40)
    change = store.add_program_change(
        replace(
            history.program_changes[-1],
            at=now + timedelta(hours=2, minutes=10),
            old=program,
            new=new,
            reason="Increase: spasticity not controlled",
            overrides=("daily dose above the usual maximum: agreed with the patient",),
            outcome=ChangeOutcome.UNCERTAIN,
            readback=None,
            id=None,
        ),
        DEMO_USER,
        patient_id=pid,
    )
    assert change.id is not None
    store.resolve_program_change(
        change.id, ChangeOutcome.SUCCEEDED, DEMO_USER, readback=new, note="read back equal"
    )
    clinic.record_action(
        "pump_clock_set",
        {
            "pump_serial": serial,
            "pump_clock_before": (NOW + timedelta(seconds=95)).isoformat(),
            "offset_before_s": "95",
            "set_to": NOW.isoformat(),
            "outcome": "succeeded",
            "message": "Pump clock set.",
        },
    )
    clinic.record_catheter_revision(
        serial,
        revised_on=(now - timedelta(days=20)).date(),
        catheter_length_cm=Decimal(48),
        catheter_ul_per_cm=Decimal("2.2"),
        tip_level="T10",
    )
    clinic.correct_patient(replace(row.patient, hospital_number="H100645"), "typing slip")
    new_serial = "NG2H99001"
    clinic.replace_pump(
        pid,
        Pump(
            new_serial,
            "SynchroMed II 8637-40",
            40_000,
            2_000,
            implant_date=now.date(),
            pump_dead_volume_ul=240,
            catheter_length_cm=Decimal(48),
            catheter_ul_per_cm=Decimal("2.2"),
        ),
        explanted_on=now.date(),
        reason="failure",
        note="motor stall",
    )
    return ClinicDay(pid, serial, new_serial, trial_id, reading.id, refill.id, change.id, given_at)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[ClinicService]:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    yield ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
    store.close()


@pytest.fixture
def day(clinic: ClinicService) -> ClinicDay:
    return add_clinic_day(clinic)


def rows_of(clinic: ClinicService, sql: str, *params: Any) -> list[dict[str, Any]]:
    return list(clinic.store.db.query(sql, list(params)))


def latest(clinic: ClinicService, table: str, pid: int) -> list[dict[str, Any]]:
    """Each record's latest version (nothing corrects it), oldest first."""
    return rows_of(
        clinic,
        f"SELECT * FROM {table} t WHERE t.patient_id = ? AND NOT EXISTS"
        f" (SELECT 1 FROM {table} c WHERE c.corrects_id = t.id) ORDER BY t.at, t.id",
        pid,
    )


def root_id(clinic: ClinicService, table: str, row: dict[str, Any]) -> int:
    while row["corrects_id"]:
        row = rows_of(clinic, f"SELECT * FROM {table} WHERE id = ?", row["corrects_id"])[0]
    return int(row["id"])


def by_record(rows: list[TimelineRow], record: str) -> TimelineRow:
    found = [r for r in rows if r.record == record and r.kind is not Kind.CORRECTION]
    assert len(found) == 1, record
    return found[0]


def ml(ul: int) -> Decimal:
    return Decimal(ul) / 1000


# --------------------------------------------------------------------------- the timeline


def test_every_kind_is_there_in_time_order_with_corrections_next_to_their_record(
    clinic: ClinicService, day: ClinicDay
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    assert {r.kind for r in rows} == set(Kind)
    main = [r for r in rows if r.kind is not Kind.CORRECTION]
    assert [r.at for r in main] == sorted(r.at for r in main)
    for n, row in enumerate(rows):
        if row.kind is Kind.CORRECTION:
            owner = next(r for r in reversed(rows[:n]) if r.kind is not Kind.CORRECTION)
            assert row.about is owner.kind, row.summary
    # The screening test dose comes before the implant, the explant before the new pump.
    kinds = [r.kind for r in main]
    assert kinds.index(Kind.SCREENING) < kinds.index(Kind.IMPLANT)
    implants = [r for r in main if r.kind is Kind.IMPLANT]
    assert [r.figures["pump"] for r in implants] == [day.serial, day.new_serial]
    explant = next(r for r in main if r.kind is Kind.EXPLANT)
    assert main.index(explant) < main.index(implants[1])
    assert explant.day_only and explant.figures["pump"] == day.serial
    assert "failure" in explant.summary and "motor stall" in explant.summary


def test_refill_rows_carry_the_recorded_figures_and_the_delivery_accuracy(
    clinic: ClinicService, day: ClinicDay
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    stored = [
        r for r in latest(clinic, "refills", day.patient_id) if r["pump_serial"] == day.serial
    ]
    assert len([r for r in rows if r.kind is Kind.REFILL]) == len(stored)
    confirmed = [r for r in stored if r["status"] == "confirmed"]
    for n, raw in enumerate(stored):
        row = by_record(rows, f"refills {root_id(clinic, 'refills', raw)}")
        first = rows_of(
            clinic, "SELECT * FROM refills WHERE id = ?", root_id(clinic, "refills", raw)
        )
        assert (row.who, row.role) == (first[0]["created_by"], first[0]["created_role"])
        f = row.figures
        assert f["withdrawn_ml"] == ml(raw["withdrawn_ul"])
        assert f["expected_residual_ml"] == ml(raw["expected_residual_ul"])
        assert f["discrepancy_ml"] == ml(raw["withdrawn_ul"] - raw["expected_residual_ul"])
        assert f["added_ml"] == ml(raw["added_ul"])
        assert (f["product"], f["concentration"], f["lot"]) == (
            raw["product"],
            raw["concentration_mcg_ml"],
            raw["lot"],
        )
        assert f["expiry"] == date.fromisoformat(raw["expiry"])
        assert f["status"] == raw["status"]
        # Accuracy = (fill before - withdrawn) / (fill before - expected residual).
        k = confirmed.index(raw) if raw in confirmed else -1
        if k <= 0:
            assert "accuracy_pct" not in f, n
            assert row.details["Delivery accuracy"].startswith("not computed")
        else:
            before = confirmed[k - 1]["added_ul"]
            expected = Fraction(before - raw["withdrawn_ul"], before - raw["expected_residual_ul"])
            assert f["accuracy_pct"] == expected * 100
    today = by_record(rows, f"refills {day.refill_id}")
    assert today.figures["discrepancy_ml"] == Decimal("-0.3")
    assert today.details["Discrepancy"] == "-0.30 mL (less than expected)"
    assert today.details["Lot"] == LOT and today.details["Expiry"] == "30 Sep 2027"
    assert today.details["Status"] == "confirmed"


def test_a_refill_without_accuracy_says_why_on_the_clinic_day(clinic: ClinicService) -> None:
    # 23:30 UTC on 14 July is 00:30 BST on 15 July: the row's note and the Trends note name
    # the same clinic day, so the history finds and shows the reason.
    row = next(r for r in clinic.patient_rows("Walsh") if r.patient.family_name == "Walsh")
    pid = row.patient.id
    pump = clinic.pump_of(pid) if pid is not None else None
    assert pid is not None and pump is not None
    at = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)
    assert any(
        r.at < at and r.status is RefillStatus.CONFIRMED
        for r in clinic.patient_history(pid).refills
    )
    bad = clinic.store.add_refill(
        Refill(
            pump.serial, at, withdrawn_ul=5_000, expected_residual_ul=45_000, added_ul=40_000,
            product="Lioresal Intrathecal", concentration_mcg_ml=2000, lot=LOT,
            expiry=date(2027, 9, 30),
        ),
        DEMO_NURSE,
        patient_id=pid,
    )  # fmt: skip
    rows = clinic.patient_timeline(pid)
    shown = by_record(rows, f"refills {bad.id}")
    assert shown.details["Delivery accuracy"].startswith(
        "not computed: Refill of 15 Jul 2026: the expected residual is more than was added"
    )


def test_a_settled_refill_and_a_settled_program_change_show_their_settlement_next_to_them(
    clinic: ClinicService, day: ClinicDay
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    n = rows.index(by_record(rows, f"refills {day.refill_id}"))
    settle = rows[n + 1]
    assert settle.kind is Kind.CORRECTION and settle.about is Kind.REFILL
    assert "status pending → confirmed" in settle.summary and "settled" in settle.summary
    assert settle.details["Reason"] == "confirmed by the pump"
    assert (settle.who, settle.role) == (DEMO_NURSE.name, "nurse")

    change = by_record(rows, f"program_changes {day.change_id}")
    raw = latest(clinic, "program_changes", day.patient_id)[-1]
    old = Decimal(json.loads(raw["old_program_json"])["daily_dose_mcg"])
    new = Decimal(json.loads(raw["new_program_json"])["daily_dose_mcg"])
    assert new - old == 40
    assert change.figures["old_dose"] == old and change.figures["new_dose"] == new
    assert change.figures["change_mcg"] == 40
    assert change.figures["change_pct"] == Fraction(40) / Fraction(old) * 100
    assert change.figures["status"] == "succeeded"
    assert change.details["Read-back"] == "read back: matches the new program"
    assert "agreed with the patient" in change.details["Overrides"]
    assert change.details["Reason"] == "Increase: spasticity not controlled"
    assert (change.who, change.role) == (DEMO_USER.name, "clinician")
    after = rows[rows.index(change) + 1]
    assert after.kind is Kind.CORRECTION and "outcome uncertain → succeeded" in after.summary


def test_a_reading_entered_in_error_stays_visible_and_says_so(
    clinic: ClinicService, day: ClinicDay
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    reading = by_record(rows, f"readings {day.reading_id}")
    assert reading.summary.endswith("[entered in error]")
    assert reading.figures["reservoir_ml"] == Decimal("3.5")
    assert reading.figures["battery_mv"] == 3_050
    assert "Low reservoir" in reading.details["Alarms at interrogation"]
    assert reading.details["Pump clock"] == "30 s fast (pump ahead of this computer)"
    withdrawn = rows[rows.index(reading) + 1]
    assert withdrawn.details["Entered in error"] == "yes"
    assert "another pump's printout" in withdrawn.summary


def test_alarms_clock_screening_catheter_and_patient_rows(
    clinic: ClinicService, day: ClinicDay
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    alarms = [r for r in rows if r.kind is Kind.ALARM]
    events = rows_of(
        clinic,
        "SELECT * FROM pump_events WHERE patient_id = ? AND kind LIKE 'alarm%' ORDER BY at",
        day.patient_id,
    )
    assert [r.at for r in alarms] == [datetime.fromisoformat(e["at"]) for e in events]
    assert alarms[0].summary == "Alarm: Low reservoir" and alarms[0].who == "pump log"
    assert alarms[1].summary == "Alarm cleared: Low reservoir"

    clock = next(r for r in rows if r.kind is Kind.CLOCK)
    assert "from 1 min 35 s fast" in clock.summary and clock.summary.endswith("succeeded")
    assert clock.details["Offset before"] == "1 min 35 s fast (pump ahead of this computer)"
    # The clock's moments as every other moment, to the second, not ISO 8601.
    before, set_to = (NOW + timedelta(seconds=95)).astimezone(LONDON), NOW.astimezone(LONDON)
    assert clock.details["Pump clock before"] == (
        f"{fmt_day(before.date())} {before:%H:%M:%S} {before.tzname()}"
    )
    assert (
        clock.details["Set to"] == f"{fmt_day(set_to.date())} {set_to:%H:%M:%S} {set_to.tzname()}"
    )
    assert (clock.who, clock.role) == (DEMO_USER.name, "clinician")

    trial = next(r for r in rows if r.kind is Kind.SCREENING)
    assert trial.at == day.given_at and trial.record == f"screening_trials {day.trial_id}"
    assert trial.summary == "50 mcg by lumbar puncture: positive"
    assert trial.details["Lot"] == "ST501" and trial.who == DEMO_NURSE.name

    revision = next(r for r in rows if r.kind is Kind.CATHETER_REVISION)
    assert revision.day_only and "48 cm at 2.2 µL/cm, tip T10" in revision.summary
    # The pump's catheter details were corrected with it: shown next to the pump's implant.
    pump_fix = next(r for r in rows if r.kind is Kind.CORRECTION and "catheter length" in r.summary)
    assert pump_fix.about is Kind.IMPLANT

    created = next(r for r in rows if r.kind is Kind.PATIENT)
    assert "hospital no. H100644: record created" in created.summary  # as first recorded
    fix = next(r for r in rows if r.kind is Kind.CORRECTION and r.about is Kind.PATIENT)
    assert "hospital number H100644 → H100645" in fix.summary and "typing slip" in fix.summary


def test_the_history_csv_reads_back_with_exact_figures(
    clinic: ClinicService, day: ClinicDay, tmp_path: Path
) -> None:
    rows = clinic.patient_timeline(day.patient_id)
    path = tmp_path / "history.csv"
    assert write_csv(path, history_columns(), history_csv_rows(rows, LONDON)) == len(rows)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == len(rows)
    refill = next(r for r in read if r["Record"] == f"refills {day.refill_id}")
    assert refill["Kind"] == "Refill"
    assert refill["Withdrawn (mL)"] == "3.100"
    assert refill["Expected residual (mL)"] == "3.400"
    assert refill["Discrepancy (mL)"] == "-0.300"
    assert refill["Lot"] == LOT and refill["Expiry"] == "2027-09-30"
    assert refill["Time (UTC)"].endswith("+00:00") and refill["By"] == DEMO_NURSE.name
    change = next(r for r in read if r["Record"] == f"program_changes {day.change_id}")
    assert change["Dose change (mcg/24 h)"] == "40"
    explant = next(r for r in read if r["Kind"] == "Pump explant")
    assert explant["Time (UTC)"] == "" and explant["Date (clinic's zone)"]
    correction = next(r for r in read if r["Kind"] == "Correction")
    assert correction["Corrects a"]


def test_an_unknown_patient_is_a_lookup_error(clinic: ClinicService) -> None:
    with pytest.raises(LookupError):
        clinic.patient_timeline(99_999)


# --------------------------------------------------------------------------- lot search


def test_lot_search_finds_exactly_the_refills_with_that_lot(
    clinic: ClinicService, day: ClinicDay, tmp_path: Path
) -> None:
    store = clinic.store
    other = next(r.patient for r in clinic.patient_rows("Nowak"))
    assert other.id is not None
    pump = clinic.pump_of(other.id)
    assert pump is not None
    base = Refill(
        pump.serial,
        NOW - timedelta(days=3),
        withdrawn_ul=5_000,
        expected_residual_ul=5_100,
        added_ul=40_000,
        product="Gablofen",
        concentration_mcg_ml=1000,
        lot=f" {LOT.lower()} ",
        expiry=date(2027, 9, 30),
        status=RefillStatus.FAILED,
    )
    failed = store.add_refill(base, DEMO_NURSE, patient_id=other.id)
    wrong = store.add_refill(
        replace(base, at=NOW - timedelta(days=2), lot=LOT), DEMO_NURSE, patient_id=other.id
    )
    assert wrong.id is not None
    store.mark_entered_in_error("refills", wrong.id, DEMO_NURSE, "recorded on the wrong patient")
    retyped = store.add_refill(
        replace(base, at=NOW - timedelta(days=1), lot=LOT, status=RefillStatus.PENDING),
        DEMO_NURSE,
        patient_id=other.id,
    )
    assert retyped.id is not None
    store.resolve_refill(retyped.id, RefillStatus.CONFIRMED, DEMO_NURSE, "")
    not_this = store.add_refill(replace(base, lot=LOT + "1"), DEMO_NURSE, patient_id=other.id)

    everything = rows_of(clinic, "SELECT * FROM refills t ORDER BY t.at, t.id")
    corrected = {r["corrects_id"] for r in everything if r["corrects_id"]}
    expected = [
        r["id"] for r in everything if r["id"] not in corrected and r["lot"].strip().upper() == LOT
    ]
    found = clinic.lot_recipients(LOT.lower())
    assert [r.refill.id for r in found] == expected
    assert len(expected) == 4 and not_this.id not in expected and failed.id in expected
    by_id = {r.refill.id: r for r in found}
    assert by_id[failed.id].refill.status is RefillStatus.FAILED
    withdrawn = [r for r in found if r.entered_in_error]
    assert len(withdrawn) == 1 and withdrawn[0].patient.id == other.id
    mine = [r for r in found if r.patient.id == day.patient_id]
    assert len(mine) == 1 and mine[0].recorded.by == DEMO_NURSE.name
    assert mine[0].patient.hospital_number == "H100645"  # the patient's current details

    gablofen = clinic.lot_recipients(LOT, product=" gablofen ")
    assert {r.refill.product for r in gablofen} == {"Gablofen"} and len(gablofen) == 3

    path = tmp_path / "lot.csv"
    write_csv(path, REFILL_LOG_COLUMNS, refill_log_rows(found, LONDON))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    roots = [root_id(clinic, "refills", r) for r in everything if r["id"] in expected]
    assert [int(r["Refill record"]) for r in read] == roots
    assert {r["Lot"].strip().upper() for r in read} == {LOT}
    assert read[0]["Volume added (mL)"] == "40.000"
    assert sum(r["Record"].startswith("entered in error") for r in read) == 1
    assert {r["Status"] for r in read} == {"failed", "confirmed"}


def test_lot_search_needs_a_lot(clinic: ClinicService) -> None:
    with pytest.raises(ValueError, match="lot"):
        clinic.lot_recipients("  ")
    assert clinic.lot_recipients("NO-SUCH-LOT") == []


def test_refills_since_a_date_are_counted_in_the_clinic_calendar(clinic: ClinicService) -> None:
    since = (NOW - timedelta(days=60)).astimezone(LONDON).date()
    start = datetime(since.year, since.month, since.day, tzinfo=LONDON)  # local midnight
    everything = rows_of(clinic, "SELECT * FROM refills t ORDER BY t.at, t.id")
    corrected = {r["corrects_id"] for r in everything if r["corrects_id"]}
    expected = [
        r["id"]
        for r in everything
        if r["id"] not in corrected and datetime.fromisoformat(r["at"]) >= start
    ]
    assert expected
    assert [r.refill.id for r in clinic.refill_records(since)] == expected


def test_a_candidate_without_a_pump_has_a_short_history(clinic: ClinicService) -> None:
    from itbconsole.model import Origin, Patient

    candidate = clinic.add_patient(
        Patient("Quinn", "Ava", date(2015, 5, 5), "H990011", Origin.CEREBRAL)
    )
    assert candidate.id is not None
    # Both before the record's own stamp (this computer's clock), so the order is known.
    given = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=27)
    referred = (given - timedelta(days=1)).astimezone(LONDON).date()
    clinic.set_patient_status(
        candidate.id, "candidate", effective_on=referred, note="referred for ITB"
    )
    trial = ScreeningTrial(
        candidate.id, given, Decimal(25), "Lioresal Intrathecal", 50, "st9", "negative",
        ((0, "3"), (60, "3")),
    )  # fmt: skip
    clinic.record_screening_trial(trial)
    rows = clinic.patient_timeline(candidate.id)
    assert [r.kind for r in rows] == [Kind.PATIENT, Kind.SCREENING, Kind.PATIENT]
    assert rows[0].summary == f"Status candidate from {fmt_day(referred)}: referred for ITB"
    assert rows[0].day_only and rows[0].when == fmt_day(referred)
    assert rows[1].summary == "25 mcg by lumbar puncture: negative"
    local = given.astimezone(LONDON)
    assert rows[1].when == f"{fmt_day(local.date())} {local:%H:%M} {local.tzname()}"
    assert rows[1].details["Lot"] == "ST9"
    assert "QUINN, Ava" in rows[2].summary
