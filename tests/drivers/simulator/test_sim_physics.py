"""The simulated pump delivers exactly what the dosing arithmetic says, and its alarms,
battery and patient-bolus rules behave as a clinician expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.simulator import ManualClock, PumpCommandError, SimPump, build_scenario
from drivers.simulator.pump import EOS_AFTER_ERI, Alarm, EventKind
from itbconsole.dosing import program_delivered_mcg, segments_delivered_ul
from itbconsole.model import BolusGiven, FlexStep, Mode, PatientBolus, Program, ProgramSegment

LONDON = ZoneInfo("Europe/London")
# Sunday 29 March 2026 01:00 UTC: clocks go forward in London.
BEFORE_SPRING = datetime(2026, 3, 27, 8, 30, tzinfo=UTC)

FLEX = Program(
    Mode.FLEX,
    flex_steps=(
        FlexStep(0, Decimal("10")),
        FlexStep(90, Decimal("40")),  # 01:30 wall clock: the hour that vanishes in spring
        FlexStep(8 * 60, Decimal("22.5")),
        FlexStep(20 * 60, Decimal("12")),
    ),
    flex_weekday_steps=((6, (FlexStep(0, Decimal("8")), FlexStep(600, Decimal("30")))),),
)


def make_pump(program: Program, start: datetime = BEFORE_SPRING, **kw: Any) -> SimPump:
    settings: dict[str, Any] = {
        "reservoir_ul": 38_000,
        "concentration_mcg_ml": 2000,
        "clock_zone": "Europe/London",
        **kw,
    }
    return SimPump(clock=ManualClock(start), program=program, **settings)


def advance_in_uneven_steps(pump: SimPump, total: timedelta) -> None:
    """Many uneven steps: exact physics must not depend on how time is sliced."""
    step = timedelta(hours=5, minutes=17, seconds=3)
    moved = timedelta(0)
    while moved + step < total:
        pump.advance(step)
        moved += step
    pump.advance(total - moved)


def test_simple_continuous_falls_exactly_as_dosing_says_over_days() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal("437.5"))
    pump = make_pump(program)
    advance_in_uneven_steps(pump, timedelta(days=9, hours=3))
    end = BEFORE_SPRING + timedelta(days=9, hours=3)
    expected = 38_000 - segments_delivered_ul(
        [ProgramSegment(BEFORE_SPRING, program, 2000)], BEFORE_SPRING, end, LONDON
    )
    assert pump.reservoir_exact_ul == expected
    assert pump.reservoir_exact_ul == 38_000 - Fraction(4375, 10) * Fraction(73, 8) / 2
    assert pump.reservoir_ul == int(expected)  # floor, never claims more than it has


def test_flex_program_across_the_spring_dst_change_matches_dosing() -> None:
    pump = make_pump(FLEX)
    advance_in_uneven_steps(pump, timedelta(days=6))
    end = BEFORE_SPRING + timedelta(days=6)
    expected_mcg = program_delivered_mcg(FLEX, BEFORE_SPRING, end, LONDON)
    assert pump.reservoir_exact_ul == 38_000 - expected_mcg * 1000 / 2000
    # The 23-hour Sunday really delivered less than a 24-hour day would have.
    sunday = datetime(2026, 3, 29, tzinfo=LONDON)
    short_day = program_delivered_mcg(FLEX, sunday, sunday + timedelta(days=1), LONDON)
    assert short_day < Fraction(8 * 10 + 30 * 14)


def test_flex_steps_follow_the_configured_clock_zone() -> None:
    london = make_pump(FLEX, clock_zone="Europe/London")
    new_york = make_pump(FLEX, clock_zone="America/New_York")
    for pump in (london, new_york):
        pump.advance(timedelta(hours=10))
    assert london.reservoir_exact_ul != new_york.reservoir_exact_ul
    ny = program_delivered_mcg(
        FLEX, BEFORE_SPRING, BEFORE_SPRING + timedelta(hours=10), ZoneInfo("America/New_York")
    )
    assert new_york.reservoir_exact_ul == 38_000 - ny / 2


def test_program_change_integrates_piecewise() -> None:
    first = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(300))
    pump = make_pump(first)
    pump.advance(timedelta(days=2, hours=7))
    change_at = pump.now()
    pump.commit_program(pump.stage_program(FLEX))
    pump.advance(timedelta(days=3))
    end = pump.now()
    segments = [
        ProgramSegment(BEFORE_SPRING, first, 2000),
        ProgramSegment(change_at, FLEX, 2000),
    ]
    assert pump.reservoir_exact_ul == 38_000 - segments_delivered_ul(
        segments, BEFORE_SPRING, end, LONDON
    )


def test_under_delivery_makes_the_actual_reservoir_fall_eight_percent_slower() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(600))
    pump = make_pump(program, delivery_error=Fraction(-8, 100))
    pump.advance(timedelta(days=20))
    programmed = Fraction(600 * 20 * 1000, 2000)  # 6000 µL
    assert pump.reservoir_exact_ul == 38_000 - programmed  # what the pump believes
    assert pump.actual_reservoir_exact_ul == 38_000 - programmed * Fraction(92, 100)
    assert pump.actual_reservoir_exact_ul - pump.reservoir_exact_ul == 480


def test_low_reservoir_alarm_is_raised_when_the_estimate_reaches_the_alarm_volume() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(1000))  # 500 µL/day
    pump = make_pump(program, reservoir_ul=3_000, alarm_volume_ul=2_000)
    pump.advance(timedelta(days=1, hours=23))
    assert Alarm.LOW_RESERVOIR not in pump.alarms()
    pump.advance(timedelta(days=1))
    assert Alarm.LOW_RESERVOIR in pump.alarms()
    raised = [e for e in pump.events() if e.kind == EventKind.ALARM_RAISED]
    assert [e.detail["alarm"] for e in raised] == [Alarm.LOW_RESERVOIR]
    # Raised when exactly 1 000 µL had gone (2 days), to within the one-second resolution.
    assert abs(raised[0].at - (BEFORE_SPRING + timedelta(days=2))) <= timedelta(seconds=1)


def test_empty_reservoir_stops_delivery_and_a_refill_restarts_it() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(1000))
    pump = make_pump(program, reservoir_ul=1_000, alarm_volume_ul=500)
    pump.advance(timedelta(days=5))
    assert pump.reservoir_exact_ul == 0
    assert Alarm.EMPTY in pump.alarms()
    assert not pump.delivering()
    emptied = next(e for e in pump.events() if e.detail.get("alarm") == Alarm.EMPTY)
    assert abs(emptied.at - (BEFORE_SPRING + timedelta(days=2))) <= timedelta(seconds=1)
    with pytest.raises(PumpCommandError) as refused:
        pump.give_bolus(Decimal(50))
    assert refused.value.reason == "reservoir_empty"
    pump.update_reservoir(20_000, concentration_mcg_ml=2000)
    assert pump.alarms() == ()
    pump.advance(timedelta(days=1))
    assert pump.reservoir_exact_ul == 19_500


def test_eos_stops_delivery_90_days_after_eri() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(100))
    pump = make_pump(program, battery_mv=2901, reservoir_ul=39_000)
    pump.advance(timedelta(days=10))  # 0.12 mV/day + 0.1 mV/mL crosses 2900 mV
    eri_at = pump.eri_at
    assert eri_at is not None and Alarm.ERI in pump.alarms()
    assert pump.delivering()
    until_eos = eri_at + EOS_AFTER_ERI - pump.now()
    pump.advance(until_eos - timedelta(seconds=2))
    assert Alarm.EOS not in pump.alarms() and pump.delivering()
    pump.advance(timedelta(seconds=2))
    assert Alarm.EOS in pump.alarms() and not pump.delivering()
    left = pump.reservoir_exact_ul
    pump.advance(timedelta(days=3))
    assert pump.reservoir_exact_ul == left
    assert pump.status().eos_date == (eri_at + EOS_AFTER_ERI).astimezone(LONDON).date()


def test_motor_stall_stops_delivery() -> None:
    pump = build_scenario("motor-stall", clock=ManualClock())
    before = pump.reservoir_exact_ul
    pump.advance(timedelta(days=2))
    assert pump.reservoir_exact_ul == before
    assert Alarm.MOTOR_STALL in pump.alarms()
    pump.clear_motor_stall()
    pump.advance(timedelta(days=1))
    assert pump.reservoir_exact_ul == before - 250


def test_patient_bolus_lockout_and_daily_maximum() -> None:
    program = Program(
        Mode.SIMPLE_CONTINUOUS,
        daily_dose_mcg=Decimal(400),
        patient_bolus=PatientBolus(Decimal(20), 10, lockout_minutes=180, max_per_day=3),
    )
    pump = make_pump(program)
    first = pump.press_patient_bolus()
    assert first.accepted and first.volume_ul == 10
    pump.advance(timedelta(minutes=179))
    assert pump.press_patient_bolus().reason == "lockout"
    pump.advance(timedelta(minutes=1))
    assert pump.press_patient_bolus().accepted
    pump.advance(timedelta(hours=3))
    assert pump.press_patient_bolus().accepted
    pump.advance(timedelta(hours=3))
    assert pump.press_patient_bolus().reason == "daily_maximum"
    # Exactly as the dosing arithmetic counts the three boluses given.
    given = [BolusGiven(BEFORE_SPRING + timedelta(hours=h), Decimal(20), 2000) for h in (0, 3, 6)]
    end = pump.now()
    expected = segments_delivered_ul(
        [ProgramSegment(BEFORE_SPRING, program, 2000)], BEFORE_SPRING, end, LONDON, given
    )
    assert pump.reservoir_exact_ul == 38_000 - expected


def test_commit_with_a_wrong_checksum_is_refused_and_nothing_changes() -> None:
    old = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(300))
    pump = make_pump(old)
    checksum = pump.stage_program(FLEX)
    with pytest.raises(PumpCommandError) as refused:
        pump.commit_program(checksum ^ 1)
    assert refused.value.reason == "checksum_mismatch"
    assert pump.program == old
    assert pump.commit_program(checksum) == FLEX
    assert pump.program == FLEX
    with pytest.raises(PumpCommandError) as again:
        pump.commit_program(checksum)
    assert again.value.reason == "not_staged"


def test_commit_fault_alters_the_stored_program_so_read_back_differs() -> None:
    pump = build_scenario("program-fault", clock=ManualClock())
    wanted = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(600))
    stored = pump.commit_program(pump.stage_program(wanted))
    assert pump.program == stored != wanted
    assert stored.daily_dose_mcg == Decimal(60)


def test_bridge_bolus_pushes_the_dead_volume_at_the_old_concentration_rate() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(500))
    pump = make_pump(program, concentration_mcg_ml=500)
    dead = pump.dead_volume_ul  # 250 + 50 cm x 2.2 µL/cm = 360 µL
    assert dead == 360
    pump.update_reservoir(20_000, concentration_mcg_ml=2000, bridge_volume_ul=360)
    # At 500 mcg/mL the pump pushes 1 000 µL/day: the bridge takes 0.36 days.
    pump.advance(timedelta(days=1))
    assert pump.bridge_remaining_ul == 0
    assert pump.reservoir_exact_ul == 20_000 - 360 - Fraction(64, 100) * 250


def test_clock_drift_in_seconds_per_day_and_set_clock_is_logged() -> None:
    pump = build_scenario("clock-drift", clock=ManualClock(), clock_offset=timedelta(0))
    start = pump.now()
    pump.advance(timedelta(days=10))
    assert pump.pump_clock() - pump.now() == timedelta(seconds=300)
    pump.set_clock(pump.now())
    assert pump.pump_clock() == pump.now()
    assert pump.events()[-1].kind == EventKind.CLOCK_SET
    assert pump.now() - start == timedelta(days=10)


def test_event_indices_increase_monotonically() -> None:
    pump = build_scenario("healthy", clock=ManualClock())
    pump.alarm_test()
    pump.give_bolus(Decimal(50))
    pump.update_reservoir(1_500)
    pump.acknowledge_alarm(Alarm.LOW_RESERVOIR)
    pump.simulate_reset()
    pump.acknowledge_alarm(Alarm.RESET)
    indices = [e.index for e in pump.events()]
    assert indices == list(range(len(indices)))
    assert pump.event_count == len(indices)
    assert pump.events(start=3)[0].index == 3
    assert Alarm.RESET not in pump.alarms()
    assert Alarm.LOW_RESERVOIR in pump.alarms()  # acknowledged, still true
    assert pump.status().unacknowledged_alarms == ()


def test_speed_factor_runs_simulated_time_faster_than_the_clock() -> None:
    clock = ManualClock()
    pump = build_scenario("healthy", clock=clock, speed=3600)
    start = pump.now()
    clock.advance(timedelta(seconds=24))
    assert pump.now() - start == timedelta(days=1)
    assert pump.reservoir_exact_ul == 30_000 - 250


def test_state_file_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    clock = ManualClock()
    pump = build_scenario("under-delivery", clock=clock)
    pump.commit_program(pump.stage_program(FLEX))
    pump.advance(timedelta(days=3, minutes=7))
    pump.press_patient_bolus()
    pump.stage_program(Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(1)))
    path = tmp_path / "pump.json"  # type: ignore[operator]
    pump.save(path)
    again = SimPump.load(path, clock=clock)
    assert again.to_state() == pump.to_state()
    # Both carry on identically.
    for p in (pump, again):
        p.advance(timedelta(days=2))
    assert again.reservoir_exact_ul == pump.reservoir_exact_ul
    assert again.actual_reservoir_exact_ul == pump.actual_reservoir_exact_ul
    assert again.events() == pump.events()
