"""Dosing arithmetic: worked examples by hand, safety rules, and properties.

Expected figures are worked by hand in the comments or counted by a different route (POSIX
timestamps, plain date arithmetic), never by calling the function under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itbconsole import dosing
from itbconsole.dosing import (
    AS_EXPECTED,
    LESS_THAN_EXPECTED,
    MORE_THAN_EXPECTED,
    DiscrepancyThresholds,
    DosingError,
)
from itbconsole.model import (
    STOPPED,
    BolusGiven,
    FlexStep,
    Mode,
    PatientBolus,
    Program,
    ProgramSegment,
    Pump,
    simple_continuous,
)

LONDON = ZoneInfo("Europe/London")


def flex(
    *steps: tuple[int, str], weekdays: tuple[tuple[int, tuple[FlexStep, ...]], ...] = ()
) -> Program:
    return Program(
        Mode.FLEX,
        flex_steps=tuple(FlexStep(m, Decimal(r)) for m, r in steps),
        flex_weekday_steps=weekdays,
    )


def with_bolus(program_dose: int, bolus_mcg: int, per_day: int) -> Program:
    return Program(
        Mode.SIMPLE_CONTINUOUS,
        daily_dose_mcg=Decimal(program_dose),
        patient_bolus=PatientBolus(Decimal(bolus_mcg), 1, 60, per_day),
    )


# --------------------------------------------------------------------------- daily volume, flex


def test_daily_volume_worked_example() -> None:
    # 500 mcg/day / 2000 mcg/mL = 0.25 mL/day
    assert dosing.daily_volume_ml(500, 2000) == Fraction(1, 4)
    assert dosing.daily_volume_ml(Decimal("90.5"), 500) == Fraction(181, 1000)


@pytest.mark.parametrize("conc", [0, -500])
def test_daily_volume_refuses_non_positive_concentration(conc: int) -> None:
    with pytest.raises(DosingError, match="Concentration must be more than 0"):
        dosing.daily_volume_ml(500, conc)


def test_daily_volume_refuses_negative_dose() -> None:
    with pytest.raises(DosingError, match="negative"):
        dosing.daily_volume_ml(-1, 500)


def test_flex_total_and_step_rates() -> None:
    # 00:00-06:00 10 mcg/h (60), 06:00-22:00 20 mcg/h (320), 22:00-24:00 10 mcg/h (20) = 400
    program = flex((0, "10"), (360, "20"), (1320, "10"))
    assert dosing.flex_daily_total_mcg(program.flex_steps) == 400
    rates = dosing.flex_step_rates(program.flex_steps, 500)
    assert [(r.start_minute, r.end_minute) for r in rates] == [(0, 360), (360, 1320), (1320, 1440)]
    # 10 mcg/h / 500 mcg/mL = 0.02 mL/h; 20 -> 0.04 mL/h
    assert [r.rate_ml_per_hour for r in rates] == [
        Fraction(1, 50),
        Fraction(1, 25),
        Fraction(1, 50),
    ]
    assert [r.step_mcg for r in rates] == [60, 320, 20]
    assert [r.step_ml for r in rates] == [Fraction(3, 25), Fraction(16, 25), Fraction(1, 25)]
    assert [r.hours for r in rates] == [6, 16, 2]


def test_flex_per_hour_rate_is_not_a_daily_dose() -> None:
    # The ISMP error: 60 mcg per hour is 1440 mcg a day, not 60.
    program = flex((0, "60"))
    assert dosing.program_daily_dose_mcg(program) == 1440
    assert dosing.flex_step_rates(program.flex_steps, 2000)[0].rate_ml_per_hour == Fraction(3, 100)


def test_max_daily_dose_counts_every_allowed_patient_bolus() -> None:
    # 500 + 50 x 4 = 700 mcg/day; / 2000 = 0.35 mL/day
    program = with_bolus(500, 50, 4)
    assert dosing.max_daily_dose_mcg(program) == 700
    assert dosing.max_daily_volume_ml(program, 2000) == Fraction(7, 20)


def test_max_daily_dose_takes_the_heaviest_weekday() -> None:
    saturday = (FlexStep(0, Decimal("30")),)  # 720 mcg
    program = flex((0, "20"), weekdays=((5, saturday),))  # other days 480 mcg
    assert dosing.program_daily_dose_mcg(program) == 480
    assert dosing.program_daily_dose_mcg(program, 5) == 720
    assert dosing.max_daily_dose_mcg(program) == 720


def test_stopped_program_delivers_nothing() -> None:
    assert dosing.max_daily_dose_mcg(STOPPED) == 0


# --------------------------------------------------------------------------- refill forecast

START = datetime(2026, 3, 1, 9, 0, tzinfo=LONDON)  # 09:00 GMT = 09:00 UTC


def forecast(**overrides: object) -> dosing.RefillForecast:
    args: dict[str, object] = {
        "reservoir_ul": 40_000,
        "alarm_volume_ul": 2_000,
        "program": simple_continuous(500),
        "concentration_mcg_ml": 2000,
        "start": START,
        "tz": LONDON,
    }
    args.update(overrides)
    return dosing.refill_forecast(**args)  # type: ignore[arg-type]


def test_worked_example_152_days() -> None:
    # 40 mL pump, 500 mcg/day at 2000 mcg/mL -> 0.25 mL/day -> (40 - 2) / 0.25 = 152 days.
    f = forecast()
    assert f.daily_volume_ml == Fraction(1, 4)
    assert f.max_daily_volume_ml == Fraction(1, 4)
    assert f.days_to_alarm == 152
    # 152 x 86 400 s after 2026-03-01 09:00 UTC, counted with POSIX timestamps.
    expected = datetime.fromtimestamp(
        datetime(2026, 3, 1, 9, tzinfo=UTC).timestamp() + 152 * 86_400, tz=UTC
    )
    assert f.alarm_at == expected == datetime(2026, 7, 31, 9, tzinfo=UTC)
    # In local time that is 10:00 BST: the clocks went forward on the way.
    assert f.alarm_at is not None
    assert f.alarm_at.astimezone(LONDON).isoformat() == "2026-07-31T10:00:00+01:00"
    # Refill by: 7 calendar days before 31 July.
    assert f.refill_by == date(2026, 7, 24)
    assert f.refill_by_rule == "alarm date minus margin"
    # Empty: 40 / 0.25 = 160 days.
    assert f.days_to_empty == 160
    assert f.empty_at == datetime(2026, 8, 8, 9, tzinfo=UTC)


def test_boluses_bring_the_alarm_forward() -> None:
    # (500 + 50 x 2) / 2000 = 0.3 mL/day; 38 / 0.3 = 126 2/3 days = 126 d 16 h.
    f = forecast(program=with_bolus(500, 50, 2))
    assert f.daily_volume_ml == Fraction(1, 4)
    assert f.max_daily_volume_ml == Fraction(3, 10)
    assert f.days_to_alarm == Fraction(380, 3)
    assert f.alarm_at == datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(days=126, hours=16)


def test_alarm_instant_rounds_down_to_the_second() -> None:
    # 1/7 day = 12342.857... s -> 12342 s: an alarm is shown early rather than late.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert dosing.alarm_instant(start, Fraction(1, 7)) == start + timedelta(seconds=12342)


def test_refill_by_is_capped_by_the_maximum_refill_interval() -> None:
    # 1 March + 90 days: 30 (to 31 March) + 30 (April) + 30 -> 30 May.
    f = forecast(max_refill_interval_days=90)
    assert f.refill_by == date(2026, 5, 30)
    assert f.refill_by_rule == "maximum refill interval"
    # A long interval does not move the date later than the alarm margin allows.
    assert forecast(max_refill_interval_days=180).refill_by == date(2026, 7, 24)


def test_refill_margin_is_configurable() -> None:
    assert forecast(margin_days=14).refill_by == date(2026, 7, 17)
    assert forecast(margin_days=0).refill_by == date(2026, 7, 31)


def test_refill_margin_counts_local_calendar_days() -> None:
    # Start 2026-06-01 23:30 UTC = 00:30 BST on 2 June. 4.5 mL, 2 mL alarm, 0.25 mL/day:
    # 10 days -> 2026-06-11 23:30 UTC = 2026-06-12 00:30 BST. Local alarm date 12 June,
    # minus 7 days = 5 June (the UTC date would wrongly give 4 June).
    start = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    f = forecast(reservoir_ul=4_500, start=start)
    assert f.days_to_alarm == 10
    assert f.refill_by == date(2026, 6, 5)


def test_refill_due_now_when_alarm_is_within_the_margin() -> None:
    # 3 mL, 2 mL alarm, 0.25 mL/day: alarm in 4 days, margin 7 -> refill today.
    f = forecast(reservoir_ul=3_000)
    assert f.days_to_alarm == 4
    assert f.refill_by == date(2026, 3, 1)
    assert f.refill_by_rule.startswith("due now")


def test_reservoir_at_or_below_alarm_is_due_now() -> None:
    for reservoir in (2_000, 1_500):
        f = forecast(reservoir_ul=reservoir)
        assert f.at_or_below_alarm
        assert f.days_to_alarm == 0
        assert f.alarm_at == START
        assert f.refill_by == date(2026, 3, 1)
        assert "at or below" in f.refill_by_rule


def test_stopped_pump_has_no_alarm_date() -> None:
    f = forecast(program=STOPPED)
    assert f.stopped
    assert f.days_to_alarm is None and f.alarm_at is None
    assert f.days_to_empty is None and f.empty_at is None
    assert f.refill_by is None
    # With a maximum interval the refill is still due by then.
    g = forecast(program=STOPPED, max_refill_interval_days=90)
    assert g.refill_by == date(2026, 5, 30)


def test_refill_forecast_refuses_bad_input() -> None:
    with pytest.raises(DosingError, match="Concentration"):
        forecast(concentration_mcg_ml=0)
    with pytest.raises(DosingError, match="negative"):
        forecast(reservoir_ul=-1)
    with pytest.raises(DosingError, match="timezone"):
        forecast(start=datetime(2026, 3, 1, 9))
    with pytest.raises(DosingError, match="margin"):
        forecast(margin_days=-1)


def test_days_to_alarm_direct() -> None:
    assert dosing.days_to_alarm(40_000, 2_000, Fraction(1, 4)) == 152
    assert dosing.days_to_alarm(40_000, 2_000, 0) is None
    assert dosing.days_to_alarm(2_000, 2_000, Fraction(1, 4)) == 0


@settings(max_examples=200, deadline=None)
@given(
    reservoir=st.integers(1, 40_000),
    alarm=st.integers(0, 5_000),
    dose=st.integers(1, 1500),
    conc=st.sampled_from([50, 500, 1000, 2000]),
    start_s=st.integers(1_735_689_600, 1_830_297_600),  # 2025-01-01 .. 2027-12-31
)
def test_alarm_instant_is_absolute_time(
    reservoir: int, alarm: int, dose: int, conc: int, start_s: int
) -> None:
    start = datetime.fromtimestamp(start_s, tz=LONDON)
    f = forecast(
        reservoir_ul=reservoir,
        alarm_volume_ul=alarm,
        program=simple_continuous(dose),
        concentration_mcg_ml=conc,
        start=start,
    )
    if reservoir <= alarm:
        # The same instant (compared as POSIX seconds: Python never calls a time in the
        # autumn's repeated hour equal to one in another zone, PEP 495).
        assert f.alarm_at is not None and f.alarm_at.timestamp() == start_s
        return
    # Seconds to alarm counted independently in integers: (µL left) x conc x 86400 / (dose x 1000)
    num = (reservoir - alarm) * conc * 86_400
    den = dose * 1000
    assert f.alarm_at is not None
    assert f.alarm_at.timestamp() == start_s + num // den
    assert f.refill_by is not None
    assert f.refill_by <= f.alarm_at.astimezone(LONDON).date() - timedelta(days=7) or (
        f.refill_by == start.date()
    )


# --------------------------------------------------------------------------- trip


def test_trip_check_worked_examples() -> None:
    # 20 mL, 2 mL alarm, 0.25 mL/day: 72 days -> alarm 2026-05-12 09:00 UTC (10:00 BST),
    # empty after 80 days -> 2026-05-20 09:00 UTC.
    f = forecast(reservoir_ul=20_000)
    assert f.alarm_at == datetime(2026, 5, 12, 9, tzinfo=UTC)

    ok = dosing.trip_check(f, date(2026, 5, 4), margin_days=7)
    # Needed until the end of 11 May local = 2026-05-12 00:00 BST = 2026-05-11 23:00 UTC.
    assert ok.needed_until == datetime(2026, 5, 11, 23, tzinfo=UTC)
    assert ok.ok and ok.shortfall_days == 0 and not ok.empties_before_needed

    # One day later: needed until 2026-05-12 23:00 UTC, alarm 14 h earlier.
    short = dosing.trip_check(f, date(2026, 5, 5), margin_days=7)
    assert not short.ok
    assert short.shortfall_days == Fraction(14, 24)
    assert not short.empties_before_needed

    # Back 20 May + 7: needed until 2026-05-27 23:00 UTC; short by 15 d 14 h; runs dry.
    long = dosing.trip_check(f, date(2026, 5, 20), margin_days=7)
    assert long.shortfall_days == 15 + Fraction(14, 24)
    assert long.empties_before_needed


def test_trip_check_stops_at_the_drugs_time_limit_in_the_pump() -> None:
    # 40 mL at 0.25 mL/day lasts 152 days, but the drug may stay only 30 days (from 1 Mar
    # 2026 to the end of 31 Mar): a trip back on 25 Mar + 7 days margin needs it to 1 Apr.
    f = forecast(max_refill_interval_days=30)
    assert f.alarm_at is not None and f.alarm_at.date() > date(2026, 7, 1)
    assert dosing.trip_check(f, date(2026, 3, 24), margin_days=7).ok
    short = dosing.trip_check(f, date(2026, 3, 25), margin_days=7)
    assert not short.ok
    assert short.shortfall_days == 1
    assert short.governing == "maximum refill interval"
    # A stopped pump never alarms, yet its drug still has a time limit.
    stopped = forecast(program=STOPPED, max_refill_interval_days=30)
    assert not dosing.trip_check(stopped, date(2026, 9, 1)).ok


def test_trip_with_stopped_pump_and_bad_dates() -> None:
    assert dosing.trip_check(forecast(program=STOPPED), date(2026, 9, 1)).ok
    with pytest.raises(DosingError, match="before the start"):
        dosing.trip_check(forecast(), date(2026, 2, 1))


# --------------------------------------------------------------------------- expected residual

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seg(start: datetime, program: Program, conc: int = 2000) -> ProgramSegment:
    return ProgramSegment(start=start, program=program, concentration_mcg_ml=conc)


def test_expected_residual_piecewise_with_bridge_bolus() -> None:
    # 20 mL fill. 10 days at 500 mcg/day @2000 = 2.5 mL; 10 days at 1000 mcg/day = 5 mL;
    # a bridge bolus of 125 mcg at 500 mcg/mL = 0.25 mL. 20 - 2.5 - 5 - 0.25 = 12.25 mL.
    segments = [
        seg(T0, simple_continuous(500)),
        seg(T0 + timedelta(days=10), simple_continuous(1000)),
    ]
    bridge = BolusGiven(T0 + timedelta(days=10), Decimal(125), 500, kind="bridge")
    r = dosing.expected_residual(20_000, T0, T0 + timedelta(days=20), segments, LONDON, [bridge])
    assert r.programmed_delivery_ul == 7_750
    assert r.residual_ul == 12_250
    assert not r.emptied and r.empty_at is None


def test_expected_residual_counts_patient_and_priming_boluses() -> None:
    segments = [seg(T0, simple_continuous(0))]
    boluses = [
        BolusGiven(T0 + timedelta(hours=1), Decimal(50), 2000, kind="patient"),  # 25 µL
        BolusGiven(T0 + timedelta(hours=2), Decimal(100), 500, kind="priming"),  # 200 µL
        BolusGiven(T0 + timedelta(days=3), Decimal(100), 500, kind="patient"),  # outside
    ]
    r = dosing.expected_residual(1_000, T0, T0 + timedelta(days=1), segments, LONDON, boluses)
    assert r.residual_ul == 775


def test_expected_residual_flex_and_single_bolus() -> None:
    # Flex 400 mcg/day at 500 mcg/mL over one ordinary day = 0.8 mL.
    program = flex((0, "10"), (360, "20"), (1320, "10"))
    day = datetime(2026, 2, 10, tzinfo=LONDON)
    r = dosing.expected_residual(
        5_000, day, day + timedelta(days=1), [seg(day, program, 500)], LONDON
    )
    assert r.residual_ul == 4_200
    # Single bolus 100 mcg over 60 min then 240 mcg/day: in 2 h, 100 + 10 = 110 mcg.
    sb = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(240),
        bolus_dose_mcg=Decimal(100),
        bolus_duration_minutes=60,
    )
    assert dosing.program_delivered_mcg(sb, T0, T0 + timedelta(hours=2), LONDON, T0) == 110
    # Half-way through the bolus: 50 mcg.
    assert dosing.program_delivered_mcg(sb, T0, T0 + timedelta(minutes=30), LONDON, T0) == 50


def test_expected_residual_never_below_zero_and_reports_when_empty() -> None:
    # 1 mL at 0.25 mL/day empties in 4 days: 2026-03-27 12:00 UTC -> 2026-03-31 12:00 UTC
    # (absolute time, although London's clocks go forward on 29 March).
    filled = datetime(2026, 3, 27, 12, tzinfo=UTC)
    segments = [seg(filled, simple_continuous(500))]
    r = dosing.expected_residual(1_000, filled, filled + timedelta(days=10), segments, LONDON)
    assert r.residual_ul == 0
    assert r.programmed_delivery_ul == 2_500
    assert r.emptied
    assert r.empty_at == datetime(2026, 3, 31, 12, tzinfo=UTC)
    # A 100 mcg patient bolus (50 µL) on day 1: 950 µL / 250 µL/day = 3.8 d = 3 d 19 h 12 min.
    bolus = BolusGiven(filled + timedelta(days=1), Decimal(100), 2000)
    r2 = dosing.expected_residual(
        1_000, filled, filled + timedelta(days=10), segments, LONDON, [bolus]
    )
    assert r2.empty_at == datetime(2026, 3, 31, 7, 12, tzinfo=UTC)


def test_reservoir_emptied_by_a_bolus_empties_at_the_bolus() -> None:
    segments = [seg(T0, STOPPED)]
    bolus = BolusGiven(T0 + timedelta(hours=5), Decimal(400), 2000)  # 200 µL
    r = dosing.expected_residual(100, T0, T0 + timedelta(days=1), segments, LONDON, [bolus])
    assert r.residual_ul == 0 and r.empty_at == T0 + timedelta(hours=5)


def test_expected_residual_refuses_bad_periods() -> None:
    with pytest.raises(DosingError, match="before the fill"):
        dosing.expected_residual(1_000, T0, T0 - timedelta(days=1), [], LONDON)
    with pytest.raises(DosingError, match="timezone"):
        dosing.expected_residual(1_000, datetime(2026, 1, 1), T0, [], LONDON)


doses = st.integers(0, 2000)


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 20 * 24), doses), min_size=1, max_size=5),
    t1=st.integers(0, 40 * 24),
    t2=st.integers(0, 40 * 24),
    fill=st.integers(0, 40_000),
)
def test_residual_is_monotone_in_time_and_delivery_additive(
    plan: list[tuple[int, int]], t1: int, t2: int, fill: int
) -> None:
    t1, t2 = sorted((t1, t2))
    segments = [seg(T0 + timedelta(hours=h), simple_continuous(d)) for h, d in plan]
    segments.append(seg(T0, simple_continuous(plan[0][1])))
    a = dosing.expected_residual(fill, T0, T0 + timedelta(hours=t1), segments, LONDON)
    b = dosing.expected_residual(fill, T0, T0 + timedelta(hours=t2), segments, LONDON)
    assert 0 <= b.residual_ul <= a.residual_ul <= fill
    between = dosing.segments_delivered_ul(
        segments, T0 + timedelta(hours=t1), T0 + timedelta(hours=t2), LONDON
    )
    assert b.programmed_delivery_ul == a.programmed_delivery_ul + between
    if a.emptied:
        assert b.emptied and b.empty_at == a.empty_at


# --------------------------------------------------------------------------- discrepancy


def disc(
    expected: int, withdrawn: int, capacity: int = 20_000, **kw: object
) -> dosing.RefillDiscrepancy:
    return dosing.refill_discrepancy(
        expected_residual_ul=expected,
        withdrawn_ul=withdrawn,
        capacity_ul=capacity,
        **kw,  # type: ignore[arg-type]
    )


def test_volume_limit_for_small_reservoir_is_one_ml() -> None:
    assert disc(5_000, 6_000).flag is False  # exactly 1.0 mL off: not "more than"
    assert disc(5_000, 6_001).flag is True
    assert disc(5_000, 3_999).flag is True
    assert disc(5_000, 6_001).limit_ul == 1_000


def test_volume_limit_for_large_reservoir_is_two_ml() -> None:
    assert disc(5_000, 6_500, capacity=40_000).flag is False
    assert disc(5_000, 7_000, capacity=40_000).flag is False
    assert disc(5_000, 7_001, capacity=40_000).flag is True
    # "up to 20 mL" includes 20 mL; 20.001 mL is a larger reservoir.
    assert disc(5_000, 6_500, capacity=20_000).flag is True
    assert disc(5_000, 6_500, capacity=20_001).flag is False


def test_accuracy_outside_85_to_115_percent_is_flagged() -> None:
    # 40 mL pump: volume limit 2 mL. Expected residual 10 mL, expected delivered 10 mL.
    # Withdrawn 11.5 -> actual delivered 8.5 mL -> 85 %: accepted (bound included).
    r = disc(10_000, 11_500, capacity=40_000, expected_delivered_ul=10_000)
    assert r.actual_delivered_ul == 8_500 and r.accuracy_pct == 85
    assert not r.volume_flag and not r.accuracy_flag and not r.flag
    # Withdrawn 11.6 -> 84 %: volume within 2 mL but accuracy flags it.
    r = disc(10_000, 11_600, capacity=40_000, expected_delivered_ul=10_000)
    assert r.accuracy_pct == 84
    assert not r.volume_flag and r.accuracy_flag and r.flag
    # Withdrawn 8.4 -> 116 %: over-delivery flagged by accuracy.
    r = disc(10_000, 8_400, capacity=40_000, expected_delivered_ul=10_000)
    assert r.accuracy_pct == 116 and r.accuracy_flag
    # 115 % exactly is accepted.
    assert not disc(10_000, 8_500, capacity=40_000, expected_delivered_ul=10_000).flag


def test_accuracy_needs_an_expected_delivery() -> None:
    assert disc(5_000, 5_500).accuracy is None
    r = disc(5_000, 5_500, expected_delivered_ul=0)
    assert r.accuracy is None and r.actual_delivered_ul == -500


def test_more_than_expected_means_under_delivery_and_withdrawal_risk() -> None:
    r = disc(5_000, 7_000)
    assert r.direction == MORE_THAN_EXPECTED
    assert "under-delivered" in r.meaning and "withdrawal" in r.meaning
    assert "stall" in r.meaning and "occlusion" in r.meaning


def test_less_than_expected_means_over_delivery_or_incomplete_aspiration() -> None:
    r = disc(5_000, 3_000)
    assert r.direction == LESS_THAN_EXPECTED
    assert "over-delivered" in r.meaning and "aspiration" in r.meaning


def test_pocket_fill_warning_after_a_refill() -> None:
    assert "pocket fill" in disc(5_000, 3_000, after_refill=True).meaning
    assert "pocket fill" not in disc(5_000, 3_000).meaning
    assert "pocket fill" not in disc(5_000, 5_500, after_refill=True).meaning  # within limits


def test_thresholds_are_clinic_settings() -> None:
    strict = DiscrepancyThresholds(small_reservoir_limit_ul=500, accuracy_low_pct=Fraction(90))
    assert disc(5_000, 5_600, thresholds=strict).flag
    assert not disc(5_000, 5_600).flag
    with pytest.raises(DosingError):
        DiscrepancyThresholds(accuracy_low_pct=Fraction(101))


def test_discrepancy_refuses_impossible_volumes() -> None:
    with pytest.raises(DosingError, match="capacity"):
        disc(5_000, 21_000)
    with pytest.raises(DosingError, match="negative"):
        disc(-1, 5_000)


@settings(max_examples=200, deadline=None)
@given(expected=st.integers(0, 40_000), withdrawn=st.integers(0, 40_000))
def test_discrepancy_sign_matches_direction(expected: int, withdrawn: int) -> None:
    r = disc(expected, withdrawn, capacity=40_000)
    assert r.discrepancy_ul == withdrawn - expected
    if withdrawn < expected:
        assert r.direction == LESS_THAN_EXPECTED
    elif withdrawn > expected:
        assert r.direction == MORE_THAN_EXPECTED
    else:
        assert r.direction == AS_EXPECTED and not r.flag
    assert r.flag == (abs(withdrawn - expected) > 2_000)


# --------------------------------------------------------------------------- bridge and priming


def test_bridge_to_a_stronger_concentration() -> None:
    # 500 mcg/day, 500 -> 2000 mcg/mL, 0.25 mL dead volume. Bridge rate 500/500 = 1 mL/day,
    # 0.25 mL takes 6 h. Unbridged, the pump runs at 0.25 mL/day of old drug: 0.25 x 500 =
    # 125 mcg/day for 0.25 / 0.25 = 1 day = 24 h (under-dose: withdrawal risk).
    b = dosing.bridge_bolus(500, 500, 2000, 250)
    assert b.needed
    assert b.bridge_volume_ml == Fraction(1, 4)
    assert b.bridge_rate_ml_per_day == 1
    assert b.bridge_hours == 6
    assert b.bridge_mcg == 125
    assert b.dose_during_bridge_mcg_day == 500
    assert b.unbridged_dose_mcg_day == 125
    assert b.unbridged_hours == 24


def test_bridge_to_a_weaker_concentration() -> None:
    # 2000 -> 500: bridge rate 0.25 mL/day, 0.25 mL takes 24 h. Unbridged: 1 mL/day of
    # 2000 mcg/mL drug = 2000 mcg/day (four-fold overdose) for 6 h.
    b = dosing.bridge_bolus(500, 2000, 500, 250)
    assert b.bridge_hours == 24
    assert b.unbridged_dose_mcg_day == 2000
    assert b.unbridged_hours == 6


def test_bridge_not_needed_without_a_change() -> None:
    b = dosing.bridge_bolus(500, 2000, 2000, 250)
    assert not b.needed and b.unbridged_dose_mcg_day == 500
    with pytest.raises(DosingError):
        dosing.bridge_bolus(0, 500, 2000, 250)
    with pytest.raises(DosingError, match="Concentration"):
        dosing.bridge_bolus(500, 0, 2000, 250)


def test_bridge_uses_the_pumps_dead_volume() -> None:
    # 230 µL pump + 40 cm x 2.2 µL/cm (88 µL) = 318 µL.
    pump = Pump(
        "S1",
        "8637-20",
        20_000,
        2_000,
        pump_dead_volume_ul=230,
        catheter_length_cm=Decimal(40),
        catheter_ul_per_cm=Decimal("2.2"),
    )
    b = dosing.bridge_bolus(500, 500, 2000, pump.dead_volume_ul)
    assert b.dead_volume_ul == 318
    prime = dosing.priming_bolus(pump)
    assert prime.volume_ul == 318
    assert dosing.priming_bolus(pump, catheter_only=True).volume_ul == 88


# --------------------------------------------------------------------------- dose change


def test_dose_change_worked_examples() -> None:
    c = dosing.dose_change(400, 480)
    assert (c.change_mcg, c.change_pct) == (80, 20)
    c = dosing.dose_change(400, 300)
    assert (c.change_mcg, c.change_pct) == (-100, -25)
    c = dosing.dose_change(0, 100)
    assert c.change_pct is None and "0 mcg/day" in c.note
    with pytest.raises(DosingError):
        dosing.dose_change(-1, 100)


@settings(max_examples=200, deadline=None)
@given(
    current=st.decimals(0, 2000, places=3, allow_nan=False, allow_infinity=False),
    new=st.decimals(0, 2000, places=3, allow_nan=False, allow_infinity=False),
)
def test_dose_change_round_trip(current: Decimal, new: Decimal) -> None:
    c = dosing.dose_change(current, new)
    assert Fraction(current) + c.change_mcg == Fraction(new)
    if current:
        assert c.change_pct is not None
        assert Fraction(current) * (1 + c.change_pct / 100) == Fraction(new)
        back = dosing.dose_change(new, current)
        assert back.change_mcg == -c.change_mcg


def test_refill_interval_counts_from_the_local_start_date() -> None:
    # 2026-06-01 23:30 UTC is already 2 June in London: 2 June + 30 days = 2 July.
    start = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    assert forecast(start=start, max_refill_interval_days=30).refill_by == date(2026, 7, 2)
    # Due now means the local today, 2 June.
    assert forecast(start=start, reservoir_ul=3_000).refill_by == date(2026, 6, 2)
