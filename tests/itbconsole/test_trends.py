"""Trends series without Qt: projection and battery dates counted independently, delivery
accuracy per refill, drift in each direction and none, local time across DST changes; the
columnar read from the store (the same series as the history), the closed-form expected
curve, and the battery line checked against the battery's life."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from itbconsole.demo import open_demo_store
from itbconsole.dosing.delivery import delivery_timeline
from itbconsole.druglib import load_drug_library
from itbconsole.forecast import Forecast
from itbconsole.forecast import forecast as make_forecast
from itbconsole.model import (
    FlexStep,
    Mode,
    Origin,
    Patient,
    Program,
    ProgramChange,
    ProgramSegment,
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
from itbconsole.store import Store
from itbconsole.store.columns import open_reader
from itbconsole.store.queries import PatientHistory
from itbconsole.trends import (
    OVER,
    UNDER,
    Drift,
    PatientTrends,
    TrendSettings,
    battery_outlook,
    build_trends,
    detect_drift,
    expected_depletion,
    format_local,
    load_patient_trends,
    load_trends,
    local_ticks,
    refill_accuracies,
    with_forecast_dates,
)

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SERIAL = "TRD0001"
PUMP = Pump(SERIAL, "Test pump 40 mL", 40_000, 2_000, implant_date=date(2025, 12, 1), id=1)
PATIENT = Patient("Trend", "Tess", date(1970, 1, 1), "T000001", Origin.SPINAL, id=1)


def reading(
    at: datetime,
    reservoir_ul: int,
    battery_mv: int = 3100,
    *,
    dose: int = 500,
    eri: bool = False,
    alarms: tuple[str, ...] = (),
) -> Reading:
    return Reading(
        SERIAL,
        at,
        at,
        reservoir_ul,
        2_000,
        battery_mv,
        eri,
        False,
        2000,
        simple_continuous(dose),
        alarms=alarms,
    )


def refill(
    at: datetime, withdrawn: int, expected: int, added: int = 40_000, status: str = "confirmed"
) -> Refill:
    return Refill(
        SERIAL,
        at,
        withdrawn,
        expected,
        added,
        "Gablofen",
        2000,
        "L1",
        date(2027, 1, 1),
        status=RefillStatus(status),
    )


def history(
    readings: tuple[Reading, ...] = (),
    refills: tuple[Refill, ...] = (),
    changes: tuple[ProgramChange, ...] = (),
    events: tuple[PumpEvent, ...] = (),
    pumps: tuple[Pump, ...] = (PUMP,),
) -> PatientHistory:
    return PatientHistory(PATIENT, (), (), pumps, readings, events, refills, changes)


# --------------------------------------------------------------------------- reservoir


def test_projection_reaches_the_alarm_on_the_hand_counted_instant() -> None:
    # 40 mL, 2 mL alarm, 500 mcg/day at 2000 mcg/mL = 0.25 mL/day: (40 - 2) / 0.25 = 152 days
    # of absolute time from the reading, counted here with POSIX seconds.
    trends = build_trends(history((reading(T0, 40_000),)), LONDON, T0)
    res = trends.reservoir
    assert res is not None and res.forecast is not None
    expected = T0.timestamp() + 152 * 86_400
    assert res.projection_x.tolist() == [T0.timestamp(), expected]
    assert res.projection_y.tolist() == [40.0, 2.0]
    assert res.forecast.alarm_at == datetime(2026, 6, 6, 9, 0, tzinfo=UTC)


def test_projection_starts_from_a_refill_recorded_after_the_latest_reading() -> None:
    later = T0 + timedelta(days=100)
    trends = build_trends(
        history((reading(T0, 30_000),), (refill(later, 5_000, 5_000, added=20_000),)),
        LONDON,
        later,
    )
    res = trends.reservoir
    assert res is not None
    # (20 - 2) mL / 0.25 mL a day = 72 days from the refill.
    assert res.projection_x.tolist() == [later.timestamp(), later.timestamp() + 72 * 86_400]


def test_saw_tooth_puts_withdrawn_then_filled_at_each_refill() -> None:
    r_at = T0 + timedelta(days=100)
    trends = build_trends(
        history(
            (reading(T0, 40_000), reading(r_at - timedelta(hours=1), 15_100)),
            (refill(T0 - timedelta(minutes=5), 0, 0), refill(r_at, 15_500, 15_000)),
        ),
        LONDON,
        r_at,
    )
    res = trends.reservoir
    assert res is not None
    tail = list(zip(res.recorded_x.tolist()[-3:], res.recorded_y.tolist()[-3:], strict=True))
    assert tail == [
        ((r_at - timedelta(hours=1)).timestamp(), 15.1),
        (r_at.timestamp(), 15.5),
        (r_at.timestamp(), 40.0),
    ]


def test_expected_depletion_follows_the_program_history() -> None:
    # 500 mcg/day for 10 days (2.5 mL), then 1000 mcg/day for 10 days (5 mL).
    change_at = T0 + timedelta(days=10)
    end = T0 + timedelta(days=20)
    change = ProgramChange(
        SERIAL,
        change_at,
        simple_continuous(500),
        simple_continuous(1000),
        2000,
        "Increase 100 %: test",
    )
    trends = build_trends(
        history((reading(T0, 40_000), reading(end, 32_500, dose=1000)), changes=(change,)),
        LONDON,
        end,
    )
    res = trends.reservoir
    assert res is not None
    finite = np.isfinite(res.expected_x)
    points = dict(
        zip(res.expected_x[finite].tolist(), res.expected_y[finite].tolist(), strict=True)
    )
    assert points[T0.timestamp()] == 40.0
    assert points[change_at.timestamp()] == pytest.approx(37.5)
    assert points[end.timestamp()] == pytest.approx(32.5)
    dose = trends.dose
    assert dose is not None
    assert dose.step_y.tolist()[:4] == [500.0, 500.0, 1000.0, 1000.0]
    assert dose.changes[0].reason == "Increase 100 %: test"
    assert "500 -> 1000 mcg/24 h (+100.0 %)" in dose.changes[0].describe()


# --------------------------------------------------------------------------- accuracy, drift


def test_accuracy_per_refill_is_delivered_over_expected() -> None:
    r1 = refill(T0, 0, 0, added=40_000)
    # Expected 25 mL delivered (40 - 15); 17.5 mL came back, so 22.5 mL went out: 90 %.
    r2 = refill(T0 + timedelta(days=100), 17_500, 15_000, added=38_000)
    # Expected 38 - 8 = 30 mL; 14 mL came back: 24 mL delivered = 80 %, outside 85-115 %.
    r3 = refill(T0 + timedelta(days=200), 14_000, 8_000)
    pending = refill(T0 + timedelta(days=300), 10_000, 10_000, status="pending")
    acc, notes = refill_accuracies([r1, r2, r3, pending], 40_000)
    assert notes == []
    assert [a.accuracy_pct for a in acc] == [Fraction(90), Fraction(80)]
    assert [a.outside_band for a in acc] == [False, True]
    assert acc[0].fill_ul == 40_000 and acc[0].expected_delivered_ul == 25_000
    assert acc[1].fill_ul == 38_000  # the previous refill's added volume


def test_first_refill_has_no_accuracy_and_bad_records_are_explained() -> None:
    acc, notes = refill_accuracies([refill(T0, 1_000, 1_000)], 40_000)
    assert acc == [] and notes == []
    bad = refill(T0 + timedelta(days=90), 5_000, 45_000)  # expected residual > the fill
    acc, notes = refill_accuracies([refill(T0, 0, 0, added=30_000), bad], 40_000)
    assert acc == [] and "cannot be computed" in notes[0]


def test_a_refill_note_names_the_clinic_day_of_the_refill() -> None:
    # 23:30 UTC on 14 July is 00:30 BST on 15 July: the clinic's day, as every screen shows.
    late = refill(datetime(2026, 7, 14, 23, 30, tzinfo=UTC), 5_000, 45_000)
    _acc, notes = refill_accuracies([refill(T0, 0, 0, added=30_000), late], 40_000, tz=LONDON)
    assert notes[0].startswith("Refill of 15 Jul 2026: the expected residual is more")


def _times(n: int) -> list[datetime]:
    return [T0 + timedelta(days=90 * i) for i in range(n)]


def _drift(values: list[float]) -> Drift | None:
    return detect_drift([Fraction(str(v)) for v in values], _times(len(values)))


def test_under_delivery_drift_is_called_out_in_plain_words() -> None:
    drift = _drift([100, 101, 98, 95, 92])
    assert drift is not None and drift.direction == UNDER and drift.count == 3
    assert drift.since == _times(5)[2]
    assert drift.message.startswith(
        "Delivery has been lower than programmed at the last 3 refills (98 %, 95 %, 92 %)"
    )
    assert "under-delivering" in drift.message and "withdrawal risk" in drift.message


def test_over_delivery_drift_is_called_out() -> None:
    drift = _drift([99, 102, 105, 108, 111])
    assert drift is not None and drift.direction == OVER and drift.count == 4
    assert "higher than programmed at the last 4 refills" in drift.message
    assert "overdose" in drift.message


def test_steadily_low_delivery_counts_without_a_trend() -> None:
    drift = _drift([100, 94, 93.5, 94.2])  # not falling each time, but all below 95 %
    assert drift is not None and drift.direction == UNDER and drift.count == 3


@pytest.mark.parametrize(
    "values",
    [
        [99, 101, 98.5, 100.5, 99],  # noise around 100 %
        [99.5, 99, 98.8],  # falling, but by less than the clinic's minimum change
        [97, 94, 91, 101],  # the run ended: the latest refill is back to normal
        [97, 94],  # too short
        [],
    ],
)
def test_no_drift(values: list[float]) -> None:
    assert _drift(values) is None


def test_demo_brennan_drifts_low_and_okafor_does_not(tmp_path: Path) -> None:
    now = datetime(2026, 5, 1, 9, tzinfo=UTC)
    store = open_demo_store(tmp_path / "demo.sqlite", now)
    try:
        found = {}
        for pid in range(1, 13):
            h = store.patient_history(pid)
            found[h.patient.family_name] = build_trends(h, LONDON, now)
    finally:
        store.close()
    brennan = found["Brennan"].accuracy
    assert brennan is not None and brennan.drift is not None
    assert brennan.drift.direction == UNDER and brennan.drift.count == 4
    okafor = found["Okafor"]
    assert okafor.accuracy is not None and okafor.accuracy.drift is None
    assert okafor.reservoir is not None and len(okafor.reservoir.refills_x) > 5


# --------------------------------------------------------------------------- battery


def test_eri_projection_from_a_straight_line_is_counted_independently() -> None:
    # 3200 mV falling 0.12 mV a day: 2900 mV after 300 / 0.12 = 2500 days.
    days = np.arange(0, 361, 30, dtype=np.float64)
    x = T0.timestamp() + days * 86_400
    mv = 3200 - 0.12 * days
    out = battery_outlook(x, mv, np.zeros(len(x), bool), np.zeros(len(x), bool))
    expected = T0.timestamp() + 2500 * 86_400
    assert out.eri_at is not None and out.eos_at is not None and not out.eri_observed
    assert abs(out.eri_at.timestamp() - expected) <= 1
    assert out.eri_at.timestamp() <= expected  # rounded down: errs early
    assert out.eos_at - out.eri_at == timedelta(days=90)


def test_observed_eri_wins_over_the_projection_and_threshold_is_a_setting() -> None:
    days = np.arange(0, 200, 20, dtype=np.float64)
    x = T0.timestamp() + days * 86_400
    mv = 3000 - 0.5 * days  # crosses 2950 mV at day 100
    flags = np.zeros(len(x), bool)
    out = battery_outlook(x, mv, flags, flags, threshold_mv=2950)
    assert out.eri_observed and out.eri_at == T0 + timedelta(days=100)
    flags[2] = True  # the pump raised ERI earlier, at day 40
    out = battery_outlook(x, mv, flags, np.zeros(len(x), bool), threshold_mv=2950)
    assert out.eri_at == T0 + timedelta(days=40)


def test_no_projection_from_too_few_or_rising_readings() -> None:
    x = np.array([T0.timestamp(), T0.timestamp() + 86_400])
    none = np.zeros(2, bool)
    out = battery_outlook(x, np.array([3100.0, 3099.0]), none, none)
    assert out.eri_at is None and "at least 3 readings" in out.note
    x3 = T0.timestamp() + np.array([0, 40, 80]) * 86_400.0
    out = battery_outlook(
        x3, np.array([3100.0, 3101.0, 3102.0]), np.zeros(3, bool), np.zeros(3, bool)
    )
    assert out.eri_at is None and "not falling" in out.note


def test_battery_notes_name_the_clinic_day_of_the_readings() -> None:
    # The first reading, 23:30 UTC on 14 July, is 00:30 BST on 15 July in the clinic.
    first = datetime(2026, 7, 14, 23, 30, tzinfo=UTC).timestamp()
    x = first + np.arange(0, 361, 30, dtype=np.float64) * 86_400
    flat = np.zeros(len(x), bool)
    out = battery_outlook(x, 3200 - 0.12 * (x - first) / 86_400, flat, flat, tz=LONDON)
    assert "13 readings since 15 Jul 2026 (-44 mV a year)" in out.note
    observed = flat.copy()
    observed[0] = True
    out = battery_outlook(x, 3000 - 0 * x, observed, flat, tz=LONDON)
    assert out.note == "ERI reached: first shown by the reading of 15 Jul 2026 (observed)."


# --------------------------------------------------------------------------- time


def test_readings_across_the_spring_change_show_correct_local_times() -> None:
    # Europe/London springs forward at 01:00 GMT on 29 March 2026.
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    readings = tuple(reading(start + timedelta(hours=h), 30_000 - h * 10) for h in range(4))
    trends = build_trends(history(readings), LONDON, start + timedelta(hours=4))
    res = trends.reservoir
    assert res is not None
    assert np.diff(res.readings_x).tolist() == [3600.0] * 3  # absolute time, evenly spaced
    shown = [format_local(x, LONDON) for x in res.readings_x]
    assert shown == [
        "29 Mar 2026 00:00 GMT",
        "29 Mar 2026 02:00 BST",
        "29 Mar 2026 03:00 BST",
        "29 Mar 2026 04:00 BST",
    ]
    assert format_local(res.readings_x[1] + 5, LONDON, seconds=True) == "29 Mar 2026 02:00:05 BST"


def test_day_ticks_sit_at_local_midnight_on_both_sides_of_a_change() -> None:
    lo = datetime(2026, 3, 27, 12, tzinfo=UTC).timestamp()
    hi = datetime(2026, 3, 31, 12, tzinfo=UTC).timestamp()
    ticks = local_ticks(lo, hi, LONDON, max_ticks=6)
    assert [label for _, label in ticks] == ["28 Mar", "29 Mar", "30 Mar", "31 Mar"]
    assert np.diff([v for v, _ in ticks]).tolist() == [86_400, 82_800, 86_400]  # 23-hour day
    assert ticks[-1][0] == datetime(2026, 3, 30, 23, tzinfo=UTC).timestamp()  # 00:00 BST


def test_hour_ticks_skip_the_missing_hour_and_repeat_the_doubled_one() -> None:
    spring = local_ticks(
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC).timestamp(),
        datetime(2026, 3, 29, 3, 30, tzinfo=UTC).timestamp(),
        LONDON,
        6,
    )
    assert [label for _, label in spring] == ["29 Mar", "02:00", "03:00", "04:00"]
    autumn = local_ticks(
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC).timestamp(),
        datetime(2026, 10, 25, 2, 30, tzinfo=UTC).timestamp(),
        LONDON,
        4,
    )
    assert [label for _, label in autumn] == ["01:00", "01:00", "02:00"]
    assert format_local(autumn[0][0], LONDON).endswith("01:00 BST")
    assert format_local(autumn[1][0], LONDON).endswith("01:00 GMT")


def test_month_and_year_ticks_for_long_histories() -> None:
    lo = datetime(2016, 6, 1, tzinfo=UTC).timestamp()
    hi = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    years = local_ticks(lo, hi, LONDON, max_ticks=12)
    assert [label for _, label in years] == [str(y) for y in range(2017, 2027)]
    months = local_ticks(
        datetime(2026, 1, 15, tzinfo=UTC).timestamp(),
        datetime(2026, 7, 15, tzinfo=UTC).timestamp(),
        LONDON,
        8,
    )
    assert [label for _, label in months][:2] == ["Feb 2026", "Mar 2026"]
    assert [label for _, label in months][2:] == ["Apr 2026", "May 2026", "Jun 2026", "Jul 2026"]
    assert months[2][0] == datetime(2026, 3, 31, 23, tzinfo=UTC).timestamp()  # 1 Apr BST


# --------------------------------------------------------------------------- empty, events


def test_empty_histories_say_why() -> None:
    no_pump = build_trends(history(pumps=()), LONDON, T0)
    assert no_pump.empty and "No pump is registered" in no_pump.message
    no_data = build_trends(history(), LONDON, T0)
    assert no_data.empty and "No readings or refills" in no_data.message
    sparse = build_trends(history((reading(T0, 40_000),)), LONDON, T0)
    assert not sparse.empty and "Only a few records" in sparse.message


def test_alarms_and_events_become_markers() -> None:
    events = (
        PumpEvent(SERIAL, 1, T0 + timedelta(hours=1), "alarm_raised", {"alarm": "motor_stall"}),
        PumpEvent(SERIAL, 2, T0 + timedelta(hours=2), "patient_bolus", {}),
    )
    readings = (
        reading(T0, 3_000, alarms=()),
        reading(T0 + timedelta(days=1), 1_900, alarms=("low_reservoir",)),
        reading(T0 + timedelta(days=2), 1_700, alarms=("low_reservoir",)),  # same run
    )
    trends = build_trends(history(readings, events=events), LONDON, T0 + timedelta(days=2))
    labels = [m.label for m in trends.markers]
    assert labels[1] == "Patient bolus"
    assert labels[0].startswith("Alarm: ") and trends.markers_severity[0] == 3
    assert labels.count("Alarm at interrogation: Low reservoir") == 1


# --------------------------------------------------------------------------- columnar read


NURSE = User("Nia Nurse", Role.NURSE)
CLINICIAN = User("Dr Cal Clinician", Role.CLINICIAN)


def _series(t: PatientTrends) -> dict[str, np.ndarray]:
    assert t.reservoir is not None and t.dose is not None and t.accuracy is not None
    return {
        "recorded_x": t.reservoir.recorded_x,
        "recorded_y": t.reservoir.recorded_y,
        "expected_x": t.reservoir.expected_x,
        "expected_y": t.reservoir.expected_y,
        "projection_y": t.reservoir.projection_y,
        "dose_x": t.dose.step_x,
        "dose_y": t.dose.step_y,
        "accuracy": t.accuracy.pct,
        "markers_x": t.markers_x,
        "markers_severity": t.markers_severity.astype(np.float64),
    }


def _columnar(store: Store, clinic: ClinicService, pid: int, now: datetime) -> PatientTrends:
    reader = open_reader(store.path or "")
    try:
        service = ClinicService(reader, clinic.library, clinic.user, settings=clinic.settings)
        return load_patient_trends(
            reader,
            pid,
            clinic.tz,
            now,
            TrendSettings(thresholds=clinic.settings.thresholds, clinic=clinic.settings),
            lambda serial: make_forecast(service.pump_facts(serial), service.settings),
        )
    finally:
        reader.close()


def _history_path(store: Store, clinic: ClinicService, pid: int, now: datetime) -> PatientTrends:
    """The series built from the patient's whole history of objects: the independent path
    the columnar read is compared with."""
    return load_trends(
        store.patient_history(pid),
        store.find_pump_owner,
        clinic.tz,
        now,
        TrendSettings(thresholds=clinic.settings.thresholds, clinic=clinic.settings),
        forecast_of=clinic.forecast_for,
        bridges_of=store.bridges,
    )


def test_the_columnar_read_draws_what_the_full_history_draws(tmp_path: Path) -> None:
    """Every demo patient (flex programs, alarms, drift, reported battery dates): the
    columns read from the store give the same series as the history of objects."""
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    store = open_demo_store(tmp_path / "demo.sqlite", now=now)
    clinic = ClinicService(store, load_drug_library(), User("Nia Nurse", Role.NURSE))
    compared = 0
    for patient in clinic.all_patients():
        assert patient.id is not None
        old = _history_path(store, clinic, patient.id, now)
        new = _columnar(store, clinic, patient.id, now)
        assert new.patient is not None and new.patient.hospital_number == patient.hospital_number
        assert old.empty == new.empty and old.message == new.message
        if old.empty:
            continue
        for name, values in _series(old).items():
            np.testing.assert_allclose(_series(new)[name], values, atol=1e-9, err_msg=name)
        assert [m.label for m in new.markers] == [m.label for m in old.markers]
        assert old.battery is not None and new.battery is not None
        assert new.battery.outlook.eri_at == old.battery.outlook.eri_at
        assert new.battery.outlook.eos_at == old.battery.outlook.eos_at
        compared += 1
    assert compared >= 10
    store.close()


def _one_pump_store(tmp_path: Path) -> tuple[Store, ClinicService, int]:
    store = Store.open(tmp_path / "t.sqlite")
    patient = store.add_patient(
        Patient("Trend", "Tess", date(1970, 1, 1), "T1", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(PUMP, patient.id, NURSE, at=T0 - timedelta(days=1))
    return store, ClinicService(store, load_drug_library(), NURSE, LONDON), patient.id


def test_corrected_and_withdrawn_readings_are_left_out_of_the_columns(tmp_path: Path) -> None:
    store, _clinic, pid = _one_pump_store(tmp_path)
    kept = [
        store.add_reading(reading(T0 + timedelta(days=d), 40_000 - 250 * d), NURSE)
        for d in range(5)
    ]
    wrong = store.add_reading(reading(T0 + timedelta(days=2, hours=1), 1_000, 2_000), NURSE)
    assert wrong.id is not None
    store.mark_entered_in_error("readings", wrong.id, NURSE, "typed into the wrong record")
    _patient, records = store.trend_records(pid)
    assert records is not None
    cols = records.readings
    assert cols.at_s.tolist() == [r.at.timestamp() for r in kept]
    assert cols.reservoir_ul.tolist() == [float(r.reservoir_ul) for r in kept]
    assert 1_000.0 not in cols.battery_mv and 2_000.0 not in cols.battery_mv
    store.close()


def test_a_value_too_wide_for_the_fast_read_falls_back_to_rows(tmp_path: Path) -> None:
    """The fixed-width read has five hex digits for the battery: a voltage past them (no
    pump reports one) is read row by row, not misread."""
    store, _clinic, pid = _one_pump_store(tmp_path)
    store.add_reading(reading(T0, 40_000, 3_100), NURSE)
    store.add_reading(reading(T0 + timedelta(hours=1), 39_990, 2_000_000), NURSE)
    _patient, records = store.trend_records(pid)
    assert records is not None
    assert records.readings.battery_mv.tolist() == [3_100.0, 2_000_000.0]
    assert records.readings.reservoir_ul.tolist() == [40_000.0, 39_990.0]
    store.close()


def test_a_reading_after_a_change_that_did_not_take_keeps_the_program_history(
    tmp_path: Path,
) -> None:
    """Readings A (500), change to 1000, reading B still 500: the pump never took the
    change. Only the rows where the program changes are read in full, and the reading just
    after each change is one of them, so the expected curve matches the full history."""
    store, clinic, pid = _one_pump_store(tmp_path)
    store.add_refill(refill(T0 - timedelta(hours=1), 0, 0), NURSE)
    for d in range(0, 20, 2):
        if d == 10:
            store.add_program_change(
                ProgramChange(
                    SERIAL,
                    T0 + timedelta(days=9),
                    simple_continuous(500),
                    simple_continuous(1000),
                    2000,
                    "up",
                ),
                CLINICIAN,
            )
        store.add_reading(reading(T0 + timedelta(days=d), 40_000 - 250 * d), NURSE)
    now = T0 + timedelta(days=20)
    new = _columnar(store, clinic, pid, now)
    old = _history_path(store, clinic, pid, now)
    for name, values in _series(old).items():
        np.testing.assert_allclose(_series(new)[name], values, atol=1e-9, err_msg=name)
    _p, records = store.trend_records(pid)
    assert records is not None and len(records.readings.program_readings) <= 2
    store.close()


# --------------------------------------------------------------------------- closed form


def test_expected_depletion_is_exact_at_every_flex_step_and_stops_at_empty() -> None:
    """Flex on the pump clock (UTC): 10 mcg/h 00:00-06:00, 40 mcg/h 06:00-24:00 at
    2000 mcg/mL = 5 and 20 µL an hour. From 1 000 µL at midnight: 970 at 06:00, 610 at
    midnight, 580 at 06:00, 220 at midnight, then empty 11 h into the next 06:00 step."""
    steps = (FlexStep(0, Decimal(10)), FlexStep(360, Decimal(40)))
    flex = Program(Mode.FLEX, flex_steps=steps)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    end = start + timedelta(days=4)
    seg = ProgramSegment(start, flex, 2000)
    x, y = expected_depletion([(start, 1_000, end, (seg,))])
    points = dict(zip(x[np.isfinite(x)].tolist(), y[np.isfinite(y)].tolist(), strict=True))
    hour = 3_600.0
    s0 = start.timestamp()
    assert points[s0 + 6 * hour] == pytest.approx(0.970)
    assert points[s0 + 24 * hour] == pytest.approx(0.610)
    assert points[s0 + 30 * hour] == pytest.approx(0.580)
    assert points[s0 + 48 * hour] == pytest.approx(0.220)
    # 220 µL: 30 µL by 06:00, then 190 µL at 20 µL an hour = 9.5 h.
    assert points[s0 + (54 + 9.5) * hour] == 0.0
    assert points[end.timestamp()] == 0.0
    assert min(y[np.isfinite(y)]) == 0.0
    # A point where the rate changes and nowhere else: 2 steps a day, 4 days, no samples.
    assert len(points) <= 2 * 4 + 3


# --------------------------------------------------------------------------- battery life


def _flat_forecast() -> Forecast:
    store = Store.open(":memory:")
    patient = store.add_patient(
        Patient("Trend", "Tess", date(1970, 1, 1), "T1", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(PUMP, patient.id, NURSE, at=T0)
    clinic = ClinicService(store, load_drug_library(), NURSE, LONDON)
    store.add_reading(reading(T0, 40_000), NURSE)
    return clinic.forecast_for(SERIAL)


def test_a_voltage_line_past_the_battery_life_is_called_an_extrapolation() -> None:
    """Implanted 2023, voltage falling 10 mV a year: the line meets 2 900 mV decades out.
    The forecast has no ERI date (the pump has not shown ERI), so none is shown; the line's
    date is said to be an extrapolation, later than the 5-7 years a battery lasts."""
    implant = datetime(2023, 3, 1, tzinfo=UTC)
    days = np.arange(0, 721, 30, dtype=np.float64)
    x = datetime(2024, 1, 1, tzinfo=UTC).timestamp() + days * 86_400
    mv = 3_150 - 10 / 365.25 * days
    flags = np.zeros(len(x), bool)
    fit_only = battery_outlook(x, mv, flags, flags)
    assert fit_only.eri_at is not None and fit_only.eri_at.year > 2040
    out = with_forecast_dates(fit_only, _flat_forecast(), LONDON, implant)
    assert out.eri_at is None and out.eos_at is None
    assert out.line_eri_at == fit_only.eri_at
    assert out.life_from == datetime(2028, 3, 1, tzinfo=UTC)
    assert out.life_to == datetime(2030, 3, 1, tzinfo=UTC)
    assert "No ERI date yet" in out.note and "between 01 Mar 2028 and 01 Mar 2030" in out.note
    assert "an extrapolation, not a date" in out.line_note
    assert "later than the battery's life allows" in out.line_note


def test_the_forecasts_battery_dates_replace_the_line() -> None:
    store = Store.open(":memory:")
    patient = store.add_patient(
        Patient("Trend", "Tess", date(1970, 1, 1), "T1", Origin.SPINAL), NURSE
    )
    assert patient.id is not None
    store.register_pump(PUMP, patient.id, NURSE, at=T0)
    clinic = ClinicService(store, load_drug_library(), NURSE, LONDON)
    store.add_reading(
        replace(
            reading(T0, 40_000, 2_950, eri=True, alarms=("eri",)),
            eri_date=date(2026, 1, 2),
            eos_date=date(2026, 4, 2),
        ),
        NURSE,
    )
    fc = clinic.forecast_for(SERIAL)
    days = np.arange(0, 361, 30, dtype=np.float64)
    x = T0.timestamp() - days[::-1] * 86_400
    mv = 3_000 - 0.1 * (360 - days[::-1])
    flags = np.zeros(len(x), bool)
    out = with_forecast_dates(battery_outlook(x, mv, flags, flags), fc, LONDON, None)
    assert out.eri_at is not None and out.eri_at.astimezone(LONDON).date() == date(2026, 1, 2)
    assert out.eos_at is not None and out.eos_at.astimezone(LONDON).date() == date(2026, 4, 2)
    assert out.line_eri_at is None and not out.eos_projected


def test_a_long_flex_segment_repeats_its_week_exactly() -> None:
    """Ten weeks of a flex program with its own Saturday schedule, from 07:13 on a
    Wednesday: the week repeated gives the very pieces the dosing module integrates."""
    steps = (FlexStep(0, Decimal(8)), FlexStep(360, Decimal(12)), FlexStep(1320, Decimal(9)))
    saturday = (FlexStep(0, Decimal(5)), FlexStep(600, Decimal(15)))
    flex = Program(
        Mode.FLEX,
        flex_steps=steps,
        flex_weekday_steps=tuple((d, saturday if d == 5 else steps) for d in range(7)),
    )
    start = datetime(2026, 3, 4, 7, 13, tzinfo=UTC)
    end = start + timedelta(days=70, hours=5)
    seg = ProgramSegment(start, flex, 2000)
    x, y = expected_depletion([(start, 40_000, end, (seg,))])
    pieces, _ = delivery_timeline([seg], start, end, UTC, ())
    delivered = Fraction(0)
    by_hand = {start.timestamp(): 40.0}
    for lo, hi, rate in pieces:
        delivered += rate * Fraction(int((hi - lo).total_seconds()))
        by_hand[hi.timestamp()] = float((40_000 - delivered) / 1000)
    points = dict(zip(x[np.isfinite(x)].tolist(), y[np.isfinite(y)].tolist(), strict=True))
    assert set(points) == set(by_hand)
    for at, ml in by_hand.items():
        assert points[at] == pytest.approx(ml, abs=1e-9)
