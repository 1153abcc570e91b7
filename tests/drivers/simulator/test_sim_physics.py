"""The simulated pump agrees with the console's dosing arithmetic within its stated bound
(its estimate is at or above the continuous ideal, by less than one motor tick's volume),
and its alarms, battery and patient-bolus rules behave as a clinician expects.

The simulator computes its delivery independently (motor ticks, drivers/simulator/motor.py);
these tests compare the two computations. Hand-counted checks of the physics itself are in
test_sim_motor.py."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.simulator import ManualClock, PumpCommandError, SimPump, build_scenario
from drivers.simulator.pump import EOS_AFTER_ERI, MOTOR_TICK, Alarm, EventKind
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


def tick_ul(mcg_per_hour: Fraction | int, concentration_mcg_ml: int = 2000) -> Fraction:
    """Volume of one motor tick at a rate in mcg/h."""
    return (
        Fraction(mcg_per_hour)
        * Fraction(int(MOTOR_TICK.total_seconds()), 3600)
        * 1000
        / (concentration_mcg_ml)
    )


def assert_within_one_tick(pump_ul: Fraction, ideal_ul: Fraction, one_tick_ul: Fraction) -> None:
    """The stated bound: never below the continuous ideal, above it by less than a tick."""
    assert ideal_ul <= pump_ul < ideal_ul + one_tick_ul, (pump_ul, ideal_ul, one_tick_ul)


def advance_in_uneven_steps(pump: SimPump, total: timedelta) -> None:
    """Many uneven steps: exact physics must not depend on how time is sliced."""
    step = timedelta(hours=5, minutes=17, seconds=3)
    moved = timedelta(0)
    while moved + step < total:
        pump.advance(step)
        moved += step
    pump.advance(total - moved)


def test_simple_continuous_follows_dosing_within_one_tick_over_days() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal("437.5"))
    pump = make_pump(program)
    total = timedelta(days=9, hours=3, seconds=47)  # ends 47 s into a tick
    advance_in_uneven_steps(pump, total)
    expected = 38_000 - segments_delivered_ul(
        [ProgramSegment(BEFORE_SPRING, program, 2000)], BEFORE_SPRING, BEFORE_SPRING + total, LONDON
    )
    assert_within_one_tick(pump.reservoir_exact_ul, expected, tick_ul(Fraction(4375, 240)))
    # The 47 s of the tick in progress are not delivered yet: the pump stands exactly where
    # the ideal stood at the last tick (9 d 3 h after a start on a whole minute).
    assert pump.reservoir_exact_ul == 38_000 - Fraction(4375, 10) * Fraction(73, 8) / 2
    assert pump.reservoir_ul == math.floor(pump.reservoir_exact_ul)  # never claims more


def test_flex_program_across_the_spring_dst_change_matches_dosing_within_one_tick() -> None:
    pump = make_pump(FLEX)
    total = timedelta(days=6, seconds=33)
    advance_in_uneven_steps(pump, total)
    expected_mcg = program_delivered_mcg(FLEX, BEFORE_SPRING, BEFORE_SPRING + total, LONDON)
    assert_within_one_tick(pump.reservoir_exact_ul, 38_000 - expected_mcg / 2, tick_ul(40))
    # The 23-hour Sunday really delivered less than a 24-hour day would have.
    sunday = datetime(2026, 3, 29, tzinfo=LONDON)
    short_day = program_delivered_mcg(FLEX, sunday, sunday + timedelta(days=1), LONDON)
    assert short_day < Fraction(8 * 10 + 30 * 14)


def test_flex_steps_follow_the_configured_clock_zone() -> None:
    london = make_pump(FLEX, clock_zone="Europe/London")
    new_york = make_pump(FLEX, clock_zone="America/New_York")
    for pump in (london, new_york):
        pump.advance(timedelta(hours=10, seconds=12))
    assert london.reservoir_exact_ul != new_york.reservoir_exact_ul
    ny = program_delivered_mcg(
        FLEX,
        BEFORE_SPRING,
        BEFORE_SPRING + timedelta(hours=10, seconds=12),
        ZoneInfo("America/New_York"),
    )
    assert_within_one_tick(new_york.reservoir_exact_ul, 38_000 - ny / 2, tick_ul(40))


def test_program_change_integrates_piecewise() -> None:
    first = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(300))
    pump = make_pump(first)
    pump.advance(timedelta(days=2, hours=7, seconds=21))  # the change falls inside a tick
    change_at = pump.now()
    pump.commit_program(pump.stage_program(FLEX))
    pump.advance(timedelta(days=3))
    end = pump.now()
    segments = [
        ProgramSegment(BEFORE_SPRING, first, 2000),
        ProgramSegment(change_at, FLEX, 2000),
    ]
    ideal = 38_000 - segments_delivered_ul(segments, BEFORE_SPRING, end, LONDON)
    assert_within_one_tick(pump.reservoir_exact_ul, ideal, tick_ul(40))


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
    # Raised at the tick that took the 1 000th µL: exactly 2 days (the start is on a tick).
    assert raised[0].at == BEFORE_SPRING + timedelta(days=2)


def test_empty_reservoir_stops_delivery_and_a_refill_restarts_it() -> None:
    program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal(1000))
    pump = make_pump(program, reservoir_ul=1_000, alarm_volume_ul=500)
    pump.advance(timedelta(days=5))
    assert pump.reservoir_exact_ul == 0
    assert Alarm.EMPTY in pump.alarms()
    assert not pump.delivering()
    emptied = next(e for e in pump.events() if e.detail.get("alarm") == Alarm.EMPTY)
    assert emptied.at == BEFORE_SPRING + timedelta(days=2)
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
    # As the dosing arithmetic counts the three boluses given (each once, at once).
    given = [BolusGiven(BEFORE_SPRING + timedelta(hours=h), Decimal(20), 2000) for h in (0, 3, 6)]
    pump.advance(timedelta(seconds=5))
    end = pump.now()
    expected = segments_delivered_ul(
        [ProgramSegment(BEFORE_SPRING, program, 2000)], BEFORE_SPRING, end, LONDON, given
    )
    assert_within_one_tick(pump.reservoir_exact_ul, 38_000 - expected, tick_ul(Fraction(400, 24)))


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


def test_estimate_is_never_below_dosing_and_lags_it_by_less_than_one_tick() -> None:
    """The stated bound, checked against dosing.py at many instants: random (seeded) starts
    off the tick, zones with DST and 45- or 30-minute offsets, a drifting or offset pump
    clock, flex, continuous and single-bolus programs, time advanced in random slices."""
    bolus = Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=Decimal(300),
        bolus_dose_mcg=Decimal(50),
        bolus_duration_minutes=17,
    )
    simple = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=Decimal("437.5"))
    largest_tick = {  # the largest tick volume each program can push (µL at 2000 mcg/mL)
        FLEX: tick_ul(40),
        simple: tick_ul(Fraction(4375, 240)),
        bolus: tick_ul(Fraction(50 * 60, 17) + Fraction(300, 24)),
    }
    rng = random.Random(20260327)
    zones = ["UTC", "Europe/London", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]
    for _ in range(40):
        program = rng.choice([FLEX, simple, bolus])
        zone = rng.choice(zones)
        start = datetime(2026, rng.choice([3, 4, 10, 11]), rng.randint(1, 28), tzinfo=UTC)
        start += timedelta(seconds=rng.randint(0, 86_399), microseconds=rng.randint(0, 999_999))
        pump = make_pump(
            program,
            start,
            clock_zone=zone,
            clock_drift_ppm=rng.choice([0, 347, -1234]),
            clock_offset=timedelta(seconds=rng.randint(-500, 500), microseconds=rng.randint(0, 9)),
        )
        origin = pump.program_started
        for _ in range(rng.randint(1, 6)):
            pump.advance(timedelta(seconds=rng.choice([1, 59, 61, 3600, 5000, 90_000])))
            mcg = program_delivered_mcg(
                program,
                pump.pump_clock_at(start),
                pump.pump_clock_at(pump.now()),
                ZoneInfo(zone),
                program_start=origin,
            )
            assert_within_one_tick(pump.reservoir_exact_ul, 38_000 - mcg / 2, largest_tick[program])
