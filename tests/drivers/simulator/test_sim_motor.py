"""The simulated pump's own physics, checked against numbers counted by hand from the
clinical facts (docs: domain.md), never against itbconsole.dosing.

The motor steps once a pump-clock minute (MOTOR_TICK) and pushes the volume due for the
minute just ended, so the reservoir estimate only moves on whole pump-clock minutes and
never runs ahead of the continuous ideal.
"""

from __future__ import annotations

import ast
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from drivers.simulator import ManualClock, SimPump, build_scenario
from drivers.simulator.pump import MOTOR_TICK, Alarm, EventKind
from itbconsole.model import FlexStep, Mode, PatientBolus, Program

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, on a whole minute
MINUTE = timedelta(minutes=1)


def simple(mcg_per_day: int | str) -> Program:
    return Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(mcg_per_day))


def make_pump(program: Program, start: datetime = START, **kw: Any) -> SimPump:
    settings: dict[str, Any] = {
        "reservoir_capacity_ul": 40_000,
        "reservoir_ul": 40_000,
        "concentration_mcg_ml": 2000,
        "alarm_volume_ul": 2_000,
        "clock_zone": "UTC",
        **kw,
    }
    return SimPump(clock=ManualClock(start), program=program, **settings)


def raised_at(pump: SimPump, alarm: str) -> datetime:
    return next(
        e.at
        for e in pump.events()
        if e.kind == EventKind.ALARM_RAISED and e.detail.get("alarm") == alarm
    )


def test_the_tick_is_one_pump_clock_minute() -> None:
    assert MOTOR_TICK == timedelta(seconds=60)


# --------------------------------------------------------------------------- worked example


@pytest.mark.parametrize("seconds_into_minute", [0, 25])
def test_worked_example_low_reservoir_alarm_within_one_tick_after_152_days(
    seconds_into_minute: int,
) -> None:
    """domain.md: 40 mL pump, 500 mcg/day at 2000 mcg/mL -> 0.25 mL/day -> (40 - 2) / 0.25 =
    152 days to the 2 mL alarm. The alarm is raised at the first tick at or after 152 days."""
    start = START + timedelta(seconds=seconds_into_minute)
    pump = make_pump(simple(500), start)
    assert pump.alarm_date() == date(2026, 6, 6)  # 5 January + 152 days
    pump.advance(timedelta(days=151))
    assert Alarm.LOW_RESERVOIR not in pump.alarms()
    pump.advance(timedelta(days=2))
    due = start + timedelta(days=152)
    alarm = raised_at(pump, Alarm.LOW_RESERVOIR)
    assert due <= alarm < due + MOTOR_TICK
    # Ticks fall on whole minutes: a start 25 s into a minute raises it 35 s after 152 days.
    assert alarm == due + timedelta(seconds=(60 - seconds_into_minute) % 60)


def test_the_estimate_falls_one_tick_at_a_time_at_the_end_of_each_minute() -> None:
    """1440 mcg/day at 2000 mcg/mL is 0.5 µL a minute (1/120 µL a second)."""
    pump = make_pump(simple(1440), START + timedelta(seconds=20))
    pump.advance(timedelta(seconds=39))  # 09:00:59: the first tick has not come
    assert pump.reservoir_exact_ul == 40_000
    pump.advance(timedelta(seconds=1))  # 09:01:00: 40 s of delivery
    assert pump.reservoir_exact_ul == 40_000 - Fraction(40, 120)
    pump.advance(timedelta(seconds=59))
    assert pump.reservoir_exact_ul == 40_000 - Fraction(40, 120)
    pump.advance(timedelta(seconds=1))  # 09:02:00: a whole minute more
    assert pump.reservoir_exact_ul == 40_000 - Fraction(40, 120) - Fraction(1, 2)
    pump.advance(timedelta(days=1))  # 1440 whole minutes: 720 µL
    assert pump.reservoir_exact_ul == 40_000 - Fraction(1, 3) - Fraction(1, 2) - 720


def test_low_reservoir_alarm_is_raised_at_the_tick_that_reaches_the_alarm_volume() -> None:
    # 1000 mcg/day at 2000 mcg/mL = 500 µL/day; 1000 µL above the alarm = 2 days.
    pump = make_pump(simple(1000), START + timedelta(seconds=40), reservoir_ul=3_000)
    pump.advance(timedelta(days=3))
    # The continuous figure reaches 2000 µL at 09:00:40 two days on; the next tick is 09:01.
    assert raised_at(pump, Alarm.LOW_RESERVOIR) == START + timedelta(days=2, minutes=1)


# --------------------------------------------------------------------------- flex


FLEX = Program(
    Mode.FLEX,
    flex_steps=(
        FlexStep(0, Decimal(10)),
        FlexStep(6 * 60, Decimal(25)),
        FlexStep(22 * 60, Decimal(15)),
    ),
    flex_weekday_steps=((6, (FlexStep(0, Decimal(8)), FlexStep(10 * 60, Decimal(30)))),),
)


def test_a_flex_day_totals_its_steps_and_sunday_its_own_schedule() -> None:
    # Monday: 6 h x 10 + 16 h x 25 + 2 h x 15 = 490 mcg = 245 µL at 2000 mcg/mL.
    pump = make_pump(FLEX, datetime(2026, 1, 5, tzinfo=UTC))
    pump.advance(timedelta(hours=6))
    assert pump.reservoir_exact_ul == 40_000 - 30  # 60 mcg
    pump.advance(timedelta(hours=18))
    assert pump.reservoir_exact_ul == 40_000 - 245
    # Sunday: 10 h x 8 + 14 h x 30 = 500 mcg = 250 µL. A week: 6 x 245 + 250 = 1720 µL.
    pump.advance(timedelta(days=6))
    assert pump.reservoir_exact_ul == 40_000 - 1720


TWO_STEPS = Program(
    Mode.FLEX, flex_steps=(FlexStep(0, Decimal(12)), FlexStep(12 * 60, Decimal(24)))
)


@pytest.mark.parametrize(
    ("local_midnight_utc", "hours", "mcg"),
    [
        # 29 March 2026: London skips 01:00-02:00; 11 h x 12 + 12 h x 24 = 420 mcg.
        (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), 23, 420),
        # 25 October 2026: London repeats 01:00-02:00; 13 h x 12 + 12 h x 24 = 444 mcg.
        (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 25, 444),
        # An ordinary day: 12 h x 12 + 12 h x 24 = 432 mcg.
        (datetime(2026, 1, 5, 0, 0, tzinfo=UTC), 24, 432),
    ],
)
def test_flex_on_the_pumps_wall_clock_across_dst(
    local_midnight_utc: datetime, hours: int, mcg: int
) -> None:
    pump = make_pump(TWO_STEPS, local_midnight_utc, clock_zone="Europe/London")
    pump.advance(timedelta(hours=hours))  # London midnight to London midnight
    assert pump.reservoir_exact_ul == 40_000 - Fraction(mcg, 2)


def test_alarm_date_counts_the_largest_day_and_every_patient_bolus() -> None:
    """Flex 10 mcg/h (240 mcg/day), Sundays 20 mcg/h (480 mcg/day), patient bolus 20 mcg up
    to 4 a day: 480 + 80 = 560 mcg/day = 280 µL/day; 38 000 µL / 280 = 135 5/7 days, from
    Monday 5 January 09:00 that is Thursday 21 May 02:08."""
    program = Program(
        Mode.FLEX,
        flex_steps=(FlexStep(0, Decimal(10)),),
        flex_weekday_steps=((6, (FlexStep(0, Decimal(20)),)),),
        patient_bolus=PatientBolus(Decimal(20), 10, lockout_minutes=60, max_per_day=4),
    )
    assert make_pump(program).alarm_date() == date(2026, 5, 21)


# --------------------------------------------------------------------------- bridge, boluses


def test_bridge_after_500_to_2000_drains_the_dead_volume_at_the_old_rate() -> None:
    """500 mcg/day at 500 mcg/mL is 1000 µL/day = 25/36 µL a minute. After a refill with
    2000 mcg/mL the 360 µL of old drug in the line go at that rate: 518.4 minutes."""
    pump = make_pump(simple(500), concentration_mcg_ml=500, reservoir_ul=5_000)
    assert pump.dead_volume_ul == 360
    pump.update_reservoir(20_000, concentration_mcg_ml=2000, bridge_volume_ul=360)
    pump.advance(518 * MINUTE)
    assert pump.bridge_remaining_ul == 360 - 518 * Fraction(25, 36) == Fraction(5, 18)
    assert pump.reservoir_exact_ul == 20_000 - 518 * Fraction(25, 36)
    # Tick 519 ends the bridge: 5/18 µL of old drug, then the rest of that minute's
    # 500/1440 mcg at 2000 mcg/mL: (25/36 - 5/18) µL x 0.5 mcg/µL / 2 mcg/µL = 5/48 µL.
    pump.advance(MINUTE)
    assert pump.bridge_remaining_ul == 0
    assert pump.reservoir_exact_ul == 20_000 - 360 - Fraction(5, 48)
    # Then 250 µL/day. The dose never changed: 360 µL x 0.5 mcg/µL = 180 mcg in 518.4 min
    # is 500 mcg/day.
    pump.advance(MINUTE)
    assert pump.reservoir_exact_ul == 20_000 - 360 - Fraction(5, 48) - Fraction(250, 1440)
    assert Fraction(360, 2) / Fraction(5184, 14400) == 500


def test_a_single_bolus_program_delivers_its_bolus_once_then_the_continuous_rate() -> None:
    """50 mcg over 10 minutes = 25 µL (2.5 µL a minute), then 480 mcg/day = 1/6 µL a minute."""
    program = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(480),
        bolus_dose_mcg=Decimal(50),
        bolus_duration_minutes=10,
    )
    pump = make_pump(program)
    pump.advance(5 * MINUTE)
    assert pump.reservoir_exact_ul == 40_000 - Fraction(25, 2)
    pump.advance(5 * MINUTE)
    assert pump.reservoir_exact_ul == 40_000 - 25
    pump.advance(timedelta(days=1) - 10 * MINUTE)
    assert pump.reservoir_exact_ul == 40_000 - 25 - Fraction(1430, 6)
    pump.advance(timedelta(days=1))  # no second bolus: one more day is 240 µL
    assert pump.reservoir_exact_ul == 40_000 - 25 - Fraction(1430, 6) - 240


def test_a_single_bolus_started_inside_a_minute_is_settled_by_the_ticks() -> None:
    program = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(480),
        bolus_dose_mcg=Decimal(50),
        bolus_duration_minutes=10,
    )
    pump = make_pump(Program(Mode.STOPPED), START + timedelta(seconds=20))
    pump.commit_program(pump.stage_program(program))  # bolus 09:00:20-09:10:20
    pump.advance(timedelta(minutes=9, seconds=39))  # 09:09:59: ticks to 09:09 pushed 8 m 40 s
    assert pump.reservoir_exact_ul == 40_000 - Fraction(25 * 520, 600)
    pump.advance(timedelta(minutes=1, seconds=1))  # 09:11:00: bolus done + 40 s at 1/360 µL/s
    assert pump.reservoir_exact_ul == 40_000 - 25 - Fraction(40, 360)


def test_a_clinician_bolus_leaves_at_once_and_is_counted_once() -> None:
    pump = make_pump(simple(1440))  # 720 µL/day
    assert pump.give_bolus(Decimal(20)) == 10  # 20 mcg at 2000 mcg/mL
    assert pump.reservoir_exact_ul == 40_000 - 10
    pump.advance(timedelta(days=1))
    assert pump.reservoir_exact_ul == 40_000 - 10 - 720
    assert len(pump.boluses()) == 1


def test_a_refill_inside_a_minute_charges_the_minute_so_far_to_the_old_fill() -> None:
    pump = make_pump(simple(1440), reservoir_ul=10_000)  # 0.5 µL a minute
    pump.advance(timedelta(seconds=30))
    assert pump.reservoir_exact_ul == 10_000
    pump.update_reservoir(20_000)
    assert pump.reservoir_exact_ul == 20_000
    pump.advance(timedelta(seconds=30))  # the tick pushes only the 30 s since the fill
    assert pump.reservoir_exact_ul == 20_000 - Fraction(1, 4)
    assert pump.delivered_ul_total == Fraction(1, 2)


# --------------------------------------------------------------------------- clock, battery


def test_a_fast_pump_clock_delivers_by_its_own_minutes() -> None:
    """30 s a day fast: 10 real days are 10 days + 300 s = 14 405 pump-clock minutes at
    500 mcg/day / 2000 mcg/mL = 250/1440 µL a minute."""
    pump = build_scenario("clock-drift", clock=ManualClock(START), clock_offset=timedelta(0))
    pump.advance(timedelta(days=10))
    assert pump.reservoir_exact_ul == 30_000 - 14_405 * Fraction(250, 1440)


def test_eri_when_the_battery_reaches_its_threshold() -> None:
    # Stopped: only time wears the battery, 0.12 mV/day; 1 mV takes 8 1/3 days.
    stopped = make_pump(Program(Mode.STOPPED), battery_mv=2901)
    stopped.advance(timedelta(days=9))
    assert stopped.eri_at == START + timedelta(days=8, hours=8)
    # 100 mcg/day at 2000 mcg/mL = 0.05 mL/day: 0.12 + 0.1 x 0.05 = 0.125 mV/day, 8 days
    # continuously; the volume leaves at the end of each tick, so ERI is never earlier.
    running = make_pump(simple(100), battery_mv=2901)
    running.advance(timedelta(days=9))
    eri = running.eri_at
    assert eri is not None and Alarm.ERI in running.alarms()
    assert START + timedelta(days=8) <= eri < START + timedelta(days=8) + MOTOR_TICK


# --------------------------------------------------------------------------- state, speed


def test_state_saved_inside_a_minute_carries_the_dose_due() -> None:
    clock = ManualClock(START)
    pump = SimPump(clock=clock, program=simple(1440), reservoir_ul=40_000, start=START)
    clock.advance(timedelta(seconds=30))
    state = pump.to_state()
    assert state["version"] == 2 and state["pending_mcg"] == "1/2"  # 30 s of 1 mcg/min
    again = SimPump.from_state(state, clock=clock)
    old = dict(state, version=1)  # written before motor ticks: nothing carried
    del old["pending_mcg"]
    older = SimPump.from_state(old, clock=clock)
    clock.advance(timedelta(seconds=30))
    assert pump.reservoir_exact_ul == again.reservoir_exact_ul == 40_000 - Fraction(1, 2)
    assert older.reservoir_exact_ul == 40_000 - Fraction(1, 4)
    with pytest.raises(ValueError, match="version"):
        SimPump.from_state(dict(state, version=99), clock=clock)


def test_months_are_computed_in_closed_form_not_tick_by_tick() -> None:
    program = Program(
        Mode.FLEX,
        flex_steps=tuple(FlexStep(m, Decimal(20 + m % 7)) for m in range(0, 1440, 120)),
    )
    pump = make_pump(program, clock_zone="Europe/London", clock_drift_ppm=50)
    began = time.perf_counter()
    pump.advance(timedelta(days=150))  # 216 000 ticks, 12 steps a day, two DST changes
    assert time.perf_counter() - began < 2.0
    assert Alarm.LOW_RESERVOIR in pump.alarms()


def test_the_simulator_imports_nothing_from_the_consoles_dosing() -> None:
    package = Path(__file__).resolve().parents[3] / "drivers" / "simulator"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert module.split(".")[:2] != ["itbconsole", "dosing"], source.name
                assert not (
                    node.module == "itbconsole" and "dosing" in [a.name for a in node.names]
                )
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[:2] != ["itbconsole", "dosing"] for a in node.names), (
                    source.name
                )
