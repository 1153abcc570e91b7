"""The clinic day's worklist (itbconsole.services.worklist through ClinicService): every line
and date comes from the forecast the patient list shows, every category has its rule, the
delivery drift is the Trends tab's, and the CSV reads back."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from itbconsole.demo import DEMO_NURSE, DEMO_USER, open_demo_store
from itbconsole.druglib import load_drug_library
from itbconsole.forecast import Bound, DateSource, ForecastSummary, Status
from itbconsole.model import (
    ChangeOutcome,
    Mode,
    Origin,
    Patient,
    PreparedProgram,
    Program,
    ProgramChange,
    Pump,
    Refill,
    RefillStatus,
)
from itbconsole.services import worklist as wl
from itbconsole.services.clinic import ClinicService
from itbconsole.store import PatientOverview

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
TODAY = date(2026, 11, 30)


@pytest.fixture
def clinic(tmp_path: Path) -> ClinicService:
    store = open_demo_store(tmp_path / "demo.sqlite", now=NOW)
    yield ClinicService(store, load_drug_library(), DEMO_USER, LONDON)
    store.close()


def pid(clinic: ClinicService, family: str) -> int:
    return next(
        r.patient.id
        for r in clinic.patient_rows(family, now=NOW)
        if r.patient.family_name == family and r.patient.id is not None
    )


def lines(worklist: wl.Worklist, category: wl.Category) -> list[wl.WorkItem]:
    return [i for i in worklist.items if i.category is category]


# ------------------------------------------------------------------ the demo clinic


def test_every_refill_and_alarm_line_is_the_forecasts_date(clinic: ClinicService) -> None:
    worklist = clinic.clinic_worklist(now=NOW)
    assert worklist.today == TODAY and worklist.days == clinic.settings.due_soon_days == 14
    checked = 0
    for item in worklist.items:
        fc = clinic.forecast_for(item.pump_serial)
        row = clinic.patient_row(item.patient_id, now=NOW)
        assert row is not None and row.pump_serial == item.pump_serial
        if item.category in (wl.Category.REFILL_DUE, wl.Category.REFILL_OVERDUE):
            assert item.day == fc.refill_by == row.refill_by
            assert fc.governing is not None and fc.governing.text in item.reason
            checked += 1
        if item.category is wl.Category.LOW_RESERVOIR_ALARM:
            assert item.day == fc.alarm_day == row.forecast.alarm_day  # type: ignore[union-attr]
            checked += 1
        if item.category is wl.Category.REPLACEMENT:
            assert fc.end_of_service is not None and item.day == fc.end_of_service.day
            checked += 1
    assert checked == 7  # 1 overdue, 3 due, 2 alarms, 1 replacement


def test_the_demo_clinic_has_its_categories_most_urgent_first(clinic: ClinicService) -> None:
    worklist = clinic.clinic_worklist(now=NOW)
    present = {i.category for i in worklist.items}
    assert {
        wl.Category.REFILL_OVERDUE,
        wl.Category.REFILL_DUE,
        wl.Category.LOW_RESERVOIR_ALARM,
        wl.Category.REPLACEMENT,
        wl.Category.DELIVERY_DRIFT,
    } <= present
    keys = [i.sort_key for i in worklist.items]
    assert keys == sorted(keys)
    (overdue,) = lines(worklist, wl.Category.REFILL_OVERDUE)
    assert overdue.patient == "WALSH, Siobhan" and overdue.day == date(2026, 11, 15)
    assert "may stay in the pump 180 days" in overdue.reason
    (replacement,) = lines(worklist, wl.Category.REPLACEMENT)
    assert replacement.patient == "PATEL, Ravi" and replacement.day == date(2026, 12, 30)
    assert "Past ERI" in replacement.reason and "reported by the pump" in replacement.reason
    due = lines(worklist, wl.Category.REFILL_DUE)
    assert [i.patient for i in due] == ["MURPHY, Sean", "ADEYEMI, Tunde", "ROSSI, Giulia"]
    assert due[0].reason.startswith("Refill by 02 Dec 2026, in 2 days (low-reservoir alarm")


def test_everyone_the_headless_worklist_names_has_a_line(clinic: ClinicService) -> None:
    for days in (0, 14, 60):
        named = {r.patient.id for r in clinic.worklist(days, now=NOW)}
        listed = {i.patient_id for i in clinic.clinic_worklist(days, now=NOW).items}
        assert named <= listed


def test_the_window_of_days_moves_refills_and_alarms_only(clinic: ClinicService) -> None:
    narrow = clinic.clinic_worklist(2, now=NOW)
    wide = clinic.clinic_worklist(60, now=NOW)
    assert [i.patient for i in lines(narrow, wl.Category.REFILL_DUE)] == ["MURPHY, Sean"]
    rows = clinic.worklist(None, now=NOW)
    due_60 = {
        r.patient.id for r in rows if r.days_to_refill is not None and 0 <= r.days_to_refill <= 60
    }
    # When End of Service sets the date, the replacement line says it (no refill moves it).
    to_replace = {
        r.patient.id
        for r in rows
        if r.forecast is not None and r.forecast.governing is Bound.END_OF_SERVICE
    }
    assert to_replace and to_replace <= due_60
    assert {i.patient_id for i in lines(wide, wl.Category.REFILL_DUE)} == due_60 - to_replace
    assert to_replace <= {i.patient_id for i in lines(wide, wl.Category.REPLACEMENT)}
    for kind in (wl.Category.REPLACEMENT, wl.Category.DELIVERY_DRIFT, wl.Category.REFILL_OVERDUE):
        assert lines(narrow, kind) == lines(wide, kind)
    with pytest.raises(ValueError, match="0 or more"):
        clinic.clinic_worklist(-1, now=NOW)


def test_delivery_drift_is_the_trends_tabs(clinic: ClinicService) -> None:
    brennan = pid(clinic, "Brennan")
    (line,) = lines(clinic.clinic_worklist(now=NOW), wl.Category.DELIVERY_DRIFT)
    trends = clinic.trends(brennan, NOW)
    assert trends.accuracy is not None and trends.accuracy.drift is not None
    assert line.patient_id == brennan and line.reason == trends.accuracy.drift.message
    assert line.day == trends.accuracy.drift.since.astimezone(LONDON).date()
    assert "withdrawal" in line.reason


def test_drift_is_worked_out_again_only_for_a_pump_whose_records_changed(
    clinic: ClinicService, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = wl.drift_of

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wl, "drift_of", counting)
    clinic.clinic_worklist(now=NOW)
    assert len(calls) == 12  # every active pump, the first time
    calls.clear()
    clinic.clinic_worklist(now=NOW)
    assert calls == []
    walsh = pid(clinic, "Walsh")
    serial = clinic.pump_of(walsh).serial  # type: ignore[union-attr]
    clinic.store.add_refill(
        Refill(
            serial,
            NOW - timedelta(hours=1),
            5_000,
            5_200,
            35_000,
            "Lioresal Intrathecal",
            2000,
            "LT1",
            date(2027, 6, 1),
        ),
        DEMO_NURSE,
        patient_id=walsh,
    )
    clinic.clinic_worklist(now=NOW)
    assert len(calls) == 1


def test_a_drift_limit_leaves_the_rest_for_later(clinic: ClinicService) -> None:
    first = clinic.clinic_worklist(now=NOW, drift_limit=2)
    assert first.drift_unchecked == 10
    assert clinic.check_drifts(4) == 6
    assert clinic.check_drifts(100) == 0
    after = clinic.clinic_worklist(now=NOW, drift_limit=2)
    assert after.drift_unchecked == 0
    assert [i.patient for i in lines(after, wl.Category.DELIVERY_DRIFT)] == ["BRENNAN, Thomas"]


def test_a_list_kept_while_drift_was_unchecked_never_comes_back(clinic: ClinicService) -> None:
    """Drift worked out in steps: once every pump is checked the list says so, even when
    the steps found no new drift (the lines and the drift are the same as before)."""
    cold = ClinicService(clinic.store, clinic.library, DEMO_USER, LONDON)
    listed = cold.clinic_worklist(now=NOW, drift_limit=1)
    assert listed.drift_unchecked > 1
    for _ in range(listed.drift_unchecked + 1):  # one pump worked out per opening
        listed = cold.clinic_worklist(now=NOW, drift_limit=1)
        if not listed.drift_unchecked:
            break
    assert listed.drift_unchecked == 0


def test_a_program_prepared_by_a_nurse_waits_for_a_clinician(clinic: ClinicService) -> None:
    nowak = pid(clinic, "Nowak")
    pump = clinic.pump_of(nowak)
    assert pump is not None
    nurse = ClinicService(clinic.store, clinic.library, DEMO_NURSE, LONDON)
    prepared = nurse.prepare_program(
        PreparedProgram(
            pump.serial,
            NOW - timedelta(days=1),
            Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(320)),
            1000,
            "More for the physiotherapy block",
        ),
        nowak,
    )
    (line,) = lines(clinic.clinic_worklist(now=NOW), wl.Category.PREPARED_PROGRAM)
    assert line.patient_id == nowak and line.day == date(2026, 11, 29)
    assert "Demo Nurse (nurse)" in line.reason and "More for the physiotherapy" in line.reason
    assert prepared.id is not None
    clinic.store.withdraw_prepared_program(prepared.id, DEMO_USER, "not needed")
    assert lines(clinic.clinic_worklist(now=NOW), wl.Category.PREPARED_PROGRAM) == []


def test_pending_refills_and_uncertain_changes_are_listed(clinic: ClinicService) -> None:
    fischer = pid(clinic, "Fischer")
    pump = clinic.pump_of(fischer)
    assert pump is not None
    assert lines(clinic.clinic_worklist(now=NOW), wl.Category.OUTCOME_UNKNOWN) == []
    clinic.store.add_refill(
        Refill(
            pump.serial,
            NOW - timedelta(hours=2),
            30_000,
            30_100,
            8_000,
            "Lioresal Intrathecal",
            2000,
            "LT2",
            date(2027, 6, 1),
            status=RefillStatus.PENDING,
        ),
        DEMO_NURSE,
        patient_id=fischer,
    )
    reading = clinic.latest_reading(fischer, pump.serial)
    assert reading is not None
    clinic.store.add_program_change(
        ProgramChange(
            pump.serial,
            NOW - timedelta(hours=1),
            reading.program,
            reading.program,
            2000,
            "titration",
            outcome=ChangeOutcome.UNCERTAIN,
        ),
        DEMO_USER,
        patient_id=fischer,
    )
    (line,) = lines(clinic.clinic_worklist(now=NOW), wl.Category.OUTCOME_UNKNOWN)
    assert line.patient_id == fischer
    assert line.reason.startswith("1 refill whose pump update was not confirmed and 1 program")
    assert "interrogate the pump" in line.reason


def test_the_list_kept_between_openings_follows_every_write(
    clinic: ClinicService, tmp_path: Path
) -> None:
    """The worklist is not made again while nothing changed, and is made again after a
    write by this program or by another one on the same file (another window or room)."""
    from itbconsole.store import Store

    first = clinic.clinic_worklist(now=NOW)
    assert clinic.clinic_worklist(now=NOW) is first  # nothing changed: the same list
    fischer = pid(clinic, "Fischer")
    pump = clinic.pump_of(fischer)
    assert pump is not None and lines(first, wl.Category.OUTCOME_UNKNOWN) == []
    other = Store.open(tmp_path / "demo.sqlite")
    try:
        other.add_refill(
            Refill(
                pump.serial, NOW - timedelta(hours=2), 30_000, 30_100, 8_000,
                "Lioresal Intrathecal", 2000, "LT2", date(2027, 6, 1),
                status=RefillStatus.PENDING,
            ),
            DEMO_NURSE,
            patient_id=fischer,
        )  # fmt: skip
    finally:
        other.close()
    (line,) = lines(clinic.clinic_worklist(now=NOW), wl.Category.OUTCOME_UNKNOWN)
    assert line.patient_id == fischer
    # And the patient list read in between sees it too.
    (row,) = [r for r in clinic.patient_rows(now=NOW) if r.patient.id == fischer]
    assert row.pending_refills == 1
    # A write that leaves every forecast as it was (a patient made inactive elsewhere).
    walsh = pid(clinic, "Walsh")
    assert walsh in {i.patient_id for i in clinic.clinic_worklist(now=NOW).items}
    other = Store.open(tmp_path / "demo.sqlite")
    try:
        other.set_patient_status(walsh, "inactive", DEMO_USER, effective_on=TODAY)
    finally:
        other.close()
    assert walsh not in {i.patient_id for i in clinic.clinic_worklist(now=NOW).items}


def test_a_concentration_mismatch_is_the_forecasts_attention_reason(clinic: ClinicService) -> None:
    fischer = pid(clinic, "Fischer")
    pump = clinic.pump_of(fischer)
    assert pump is not None
    reading = clinic.latest_reading(fischer, pump.serial)
    assert reading is not None
    at = NOW - timedelta(hours=1)
    clinic.save_interrogation(
        replace(reading, at=at, pump_clock=at, concentration_mcg_ml=500, id=None), [], fischer
    )
    worklist = clinic.clinic_worklist(now=NOW)
    (line,) = lines(worklist, wl.Category.CHECK_PUMP)
    fc = clinic.forecast_for(pump.serial)
    assert fc.status_on(TODAY).status is Status.ATTENTION
    assert (line.reason,) == fc.attention and line.day == TODAY
    assert "500 mcg/mL" in line.reason and line.status is Status.ATTENTION
    assert worklist.items[0] == line  # the most urgent category in the demo clinic


def test_a_pump_never_interrogated_or_not_for_too_long(clinic: ClinicService) -> None:
    newcomer = clinic.add_patient(
        Patient("Quinn", "Ava", date(1990, 5, 5), "H990011", Origin.SPINAL)
    )
    assert newcomer.id is not None
    clinic.register_pump(
        Pump(
            "NG2H99001",
            "SynchroMed II 8637-40",
            40_000,
            2_000,
            TODAY,
            250,
            Decimal(60),
            Decimal("1.5"),
        ),
        newcomer.id,
    )
    (never,) = lines(clinic.clinic_worklist(now=NOW), wl.Category.NO_INTERROGATION)
    assert never.patient_id == newcomer.id and never.day is None
    assert never.reason.startswith("Never interrogated.")
    later = NOW + timedelta(days=200)
    stale = lines(clinic.clinic_worklist(now=later), wl.Category.NO_INTERROGATION)
    okafor = next(i for i in stale if i.patient == "OKAFOR, Grace")
    row = clinic.patient_row(okafor.patient_id, now=later)
    assert row is not None and row.last_reading_at is not None
    assert okafor.day == row.last_reading_at.astimezone(LONDON).date()
    assert "longer than the 180 days Lioresal Intrathecal may stay in the pump" in okafor.reason


def test_inactive_patients_are_not_on_the_list(clinic: ClinicService) -> None:
    walsh = pid(clinic, "Walsh")
    clinic.set_patient_status(walsh, "inactive", effective_on=TODAY, note="moved away")
    assert walsh not in {i.patient_id for i in clinic.clinic_worklist(now=NOW).items}


def test_the_csv_reads_back_line_for_line(clinic: ClinicService, tmp_path: Path) -> None:
    worklist = clinic.clinic_worklist(now=NOW)
    path = tmp_path / "worklist.csv"
    assert wl.write_worklist_csv(path, worklist.items) == len(worklist.items)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [c.header for c in wl.CSV_COLUMNS]
    assert len(rows) == len(worklist.items) + 1
    for item, row in zip(worklist.items, rows[1:], strict=True):
        assert row[0] == item.category.label
        assert row[1] == (item.day.isoformat() if item.day else "")
        assert row[3:6] == [item.patient, item.hospital_number, item.pump_serial]
        assert row[7] == item.reason


# ------------------------------------------------------------------ the rules, one by one


def _row(summary: ForecastSummary, today: date = TODAY, **kw: object) -> PatientOverview:
    patient = Patient("Lane", "Kim", date(1970, 1, 1), "H000001", Origin.SPINAL, id=7)
    fields: dict[str, object] = {
        "patient": patient,
        "pump_serial": "P1",
        "pump_model": "SynchroMed II 8637-40",
        "reservoir_capacity_ul": 40_000,
        "last_reading_at": datetime(2026, 11, 1, 10, tzinfo=UTC),
        "reservoir_ul": 20_000,
        "alarm_volume_ul": 2_000,
        "eri": False,
        "eos": False,
        "battery_mv": 3000,
        "pending_refills": 0,
        "uncertain_program_changes": 0,
        "forecast": summary,
        "status": summary.status_on(today),
    }
    fields.update(kw)
    return PatientOverview(**fields)  # type: ignore[arg-type]


def _summary(**kw: object) -> ForecastSummary:
    fields: dict[str, object] = {
        "serial": "P1",
        "has_data": True,
        "delivering": True,
        "not_delivering_reason": "",
        "anchor_at": datetime(2026, 11, 1, 10, tzinfo=UTC),
        "alarm_at": datetime(2027, 3, 8, 10, tzinfo=UTC),
        "alarm_day": date(2027, 3, 8),
        "refill_by": date(2027, 3, 1),
        "governing": Bound.ALARM,
        "governing_text": "low-reservoir alarm on 08 Mar 2027 minus the clinic's 7-day margin",
        "eri_day": None,
        "eri_source": None,
        "eos_day": None,
        "eos_source": None,
        "due_soon_days": 14,
    }
    fields.update(kw)
    return ForecastSummary(**fields)  # type: ignore[arg-type]


def _build(row: PatientOverview, days: int = 14, **kw: object) -> list[wl.WorkItem]:
    return list(wl.build_worklist([row], TODAY, days, wl.WorklistFacts(), tz=UTC, **kw).items)  # type: ignore[arg-type]


def test_a_pump_on_track_has_no_line() -> None:
    assert _build(_row(_summary())) == []


@pytest.mark.parametrize(("eos_in", "listed"), [(183, True), (184, False)])
def test_end_of_service_within_the_replacement_window(eos_in: int, listed: bool) -> None:
    eos = TODAY + timedelta(days=eos_in)
    items = _build(_row(_summary(eos_day=eos, eos_source=DateSource.REPORTED)))
    assert [i.category for i in items] == ([wl.Category.REPLACEMENT] if listed else [])
    if listed:
        assert items[0].day == eos and items[0].day_is == "End of Service"
        assert f"in {eos_in} days" in items[0].reason


def test_eri_without_an_end_of_service_date_says_so() -> None:
    eri = TODAY - timedelta(days=3)
    (item,) = _build(_row(_summary(eri_day=eri, eri_source=DateSource.OBSERVED)))
    assert item.category is wl.Category.REPLACEMENT and item.day == eri
    assert "not known and could be close" in item.reason


def test_a_projected_end_of_service_is_labelled_projected() -> None:
    (item,) = _build(
        _row(
            _summary(
                eri_day=TODAY - timedelta(days=10),
                eri_source=DateSource.OBSERVED,
                eos_day=TODAY + timedelta(days=80),
                eos_source=DateSource.PROJECTED,
            )
        )
    )
    assert item.day_is == "End of Service (projected)" and "(projected)" in item.reason


def test_the_pumps_own_low_reservoir_alarm_and_an_alarm_date_passed() -> None:
    on = _build(_row(_summary(low_alarm_on=True)))
    assert wl.Category.LOW_RESERVOIR_ALARM in [i.category for i in on]
    assert wl.Category.REFILL_OVERDUE in [i.category for i in on]  # the status says overdue
    passed = _summary(
        alarm_day=TODAY - timedelta(days=2),
        refill_by=TODAY - timedelta(days=9),
        empty_day=TODAY + timedelta(days=20),
    )
    items = {i.category: i for i in _build(_row(passed))}
    assert "has passed (2 days ago)" in items[wl.Category.LOW_RESERVOIR_ALARM].reason
    assert "empty from 20 Dec 2026" in items[wl.Category.LOW_RESERVOIR_ALARM].reason
    assert items[wl.Category.REFILL_OVERDUE].day == TODAY - timedelta(days=9)


def test_not_delivering_carries_the_forecasts_reason() -> None:
    stopped = _summary(delivering=False, not_delivering_reason="The pump is stopped.")
    items = _build(_row(stopped))
    assert items[0].category is wl.Category.NOT_DELIVERING
    assert items[0].reason == "The pump is stopped." and items[0].status is Status.NOT_DELIVERING


def test_on_the_end_of_service_day_one_line_says_it_has_come() -> None:
    """The Not delivering line says End of Service has come and to replace the pump: no
    second line says it again."""
    eos = _summary(
        eri_day=TODAY - timedelta(days=90),
        eri_source=DateSource.REPORTED,
        eos_day=TODAY,
        eos_source=DateSource.REPORTED,
        refill_by=TODAY - timedelta(days=1),
        governing=Bound.END_OF_SERVICE,
        governing_text="End of Service on 30 Nov 2026",
    )
    (item,) = _build(_row(eos))
    assert item.category is wl.Category.NOT_DELIVERING and item.status is Status.NOT_DELIVERING
    assert "End of Service date 30 Nov 2026 has come" in item.reason
    assert "replace it" in item.reason
    assert (item.day, item.day_is) == (TODAY, "End of Service")
    # The day before, the replacement line is the one that says what to do.
    (before,) = _build(_row(eos, today=TODAY - timedelta(days=1)))
    assert before.category is wl.Category.REPLACEMENT


def test_a_pump_stopped_at_end_of_service_by_its_own_report_keeps_its_replacement_line() -> None:
    """The pump's own "not delivering" reason does not say to replace it: the line stays."""
    stopped = _summary(
        delivering=False,
        not_delivering_reason="The battery is at End of Service: the pump has stopped delivering.",
        eos_day=TODAY - timedelta(days=2),
        eos_source=DateSource.REPORTED,
    )
    categories = [i.category for i in _build(_row(stopped))]
    assert categories == [wl.Category.NOT_DELIVERING, wl.Category.REPLACEMENT]


def test_a_reservoir_projected_empty_is_one_line_that_says_refill_now() -> None:
    """Not delivering because the reservoir is projected empty: the refill overdue and the
    alarm passed would repeat it (the alarm and the refill-by dates passed before it)."""
    empty = _summary(
        alarm_day=TODAY - timedelta(days=12),
        refill_by=TODAY - timedelta(days=19),
        empty_day=TODAY - timedelta(days=3),
        low_alarm_on=True,
    )
    (item,) = _build(_row(empty))
    assert item.category is wl.Category.NOT_DELIVERING
    assert "projected empty since 27 Nov 2026" in item.reason
    assert "Interrogate and refill now" in item.reason
    assert (item.day, item.day_is) == (TODAY - timedelta(days=3), "projected empty")
    # Before the empty date the refill and alarm lines say what to do.
    before = {i.category for i in _build(_row(empty, today=TODAY - timedelta(days=4)))}
    assert {wl.Category.REFILL_OVERDUE, wl.Category.LOW_RESERVOIR_ALARM} <= before


def test_a_reservoir_projected_empty_keeps_the_replacement_line() -> None:
    """Another fact (the battery) keeps its own line."""
    empty = _summary(
        alarm_day=TODAY - timedelta(days=12),
        refill_by=TODAY - timedelta(days=19),
        empty_day=TODAY - timedelta(days=3),
        eri_day=TODAY - timedelta(days=30),
        eri_source=DateSource.REPORTED,
        eos_day=TODAY + timedelta(days=60),
        eos_source=DateSource.REPORTED,
    )
    categories = [i.category for i in _build(_row(empty))]
    assert categories == [wl.Category.NOT_DELIVERING, wl.Category.REPLACEMENT]


def test_a_row_without_a_forecast_gives_no_line() -> None:
    row = _row(_summary(), forecast=None, status=None)
    assert _build(row) == []


def test_negative_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        _build(_row(_summary()), days=-1)
    with pytest.raises(ValueError):
        _build(_row(_summary()), replacement_days=-1)
