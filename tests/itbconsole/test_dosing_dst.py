"""Time across Europe/London's DST changes in 2026 (29 March 01:00 UTC clocks go forward,
25 October 01:00 UTC clocks go back).

Flex steps follow the pump's wall clock, so the 23-hour and 25-hour days deliver what the
wall clock shows; alarm instants are absolute time. Expected figures are worked by hand, or
counted minute by minute with a sampler that asks the zone for the local time of every UTC
minute (a different route from the module's offset-piece integration).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from itbconsole import dosing
from itbconsole.model import FlexStep, Mode, Program, ProgramSegment, simple_continuous

LONDON = ZoneInfo("Europe/London")
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


def flex(*steps: tuple[int, str]) -> Program:
    return Program(Mode.FLEX, flex_steps=tuple(FlexStep(m, Decimal(r)) for m, r in steps))


def local_day(day: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, time(0), tzinfo=LONDON),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON),
    )


def sampled_mcg(program: Program, start: datetime, end: datetime) -> Fraction:
    """Independent route: for every UTC minute, ask the zone for the local time and add that
    step's rate / 60. Exact because steps start on whole minutes and London changes its
    offset on the hour."""
    total = Fraction(0)
    t = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while t < end:
        local = t.astimezone(LONDON)
        minute = local.hour * 60 + local.minute
        steps = program.steps_for_weekday(local.weekday())
        rate = [s.rate_mcg_per_hour for s in steps if s.start_minute <= minute][-1]
        total += Fraction(rate) / 60
        t += timedelta(minutes=1)
    return total


THREE_STEP = flex((0, "10"), (360, "20"), (1320, "10"))


def test_local_day_lengths() -> None:
    # Sanity check of the calendar itself, by POSIX timestamps.
    for day, hours in ((SPRING, 23), (AUTUMN, 25), (date(2026, 6, 1), 24)):
        a, b = local_day(day)
        assert b.timestamp() - a.timestamp() == hours * 3600


def test_flex_on_the_23_hour_day() -> None:
    # Ordinary day: 6 h x 10 + 16 h x 20 + 2 h x 10 = 400 mcg. On 29 March the hour
    # 01:00-02:00 never happens and it belongs to the 10 mcg/h step: 5 x 10 + 320 + 20 = 390.
    assert dosing.program_delivered_mcg(THREE_STEP, *local_day(date(2026, 3, 28)), LONDON) == 400
    assert dosing.program_delivered_mcg(THREE_STEP, *local_day(SPRING), LONDON) == 390


def test_flex_on_the_25_hour_day() -> None:
    # 01:00-02:00 happens twice, inside the 10 mcg/h step: 7 x 10 + 320 + 20 = 410.
    assert dosing.program_delivered_mcg(THREE_STEP, *local_day(AUTUMN), LONDON) == 410


def test_flex_step_starting_inside_the_changed_hour() -> None:
    # Steps: 00:00 10 mcg/h, 01:30 100 mcg/h, 03:00 10 mcg/h.
    program = flex((0, "10"), (90, "100"), (180, "10"))
    # Ordinary: 1.5 x 10 + 1.5 x 100 + 21 x 10 = 375.
    assert dosing.program_delivered_mcg(program, *local_day(date(2026, 6, 1)), LONDON) == 375
    # Spring: the clock jumps 01:00 -> 02:00. 10 mcg/h 00:00-01:00 (10), 100 mcg/h
    # 02:00-03:00 (100), then 21 h x 10 (210) = 320.
    assert dosing.program_delivered_mcg(program, *local_day(SPRING), LONDON) == 320
    # Autumn: 00:00-01:30 BST at 10 (15), 01:30-02:00 BST at 100 (50), clock back to 01:00
    # GMT: 01:00-01:30 at 10 (5), 01:30-03:00 GMT at 100 (150), then 21 h at 10 (210) = 430.
    assert dosing.program_delivered_mcg(program, *local_day(AUTUMN), LONDON) == 430


def test_flex_volume_over_the_change_feeds_the_residual() -> None:
    # 3 mL of 500 mcg/mL filled at local midnight 28 March; two days (28th: 400 mcg,
    # 29th: 390 mcg) deliver 790 mcg = 1.58 mL; residual 1.42 mL.
    start = datetime(2026, 3, 28, tzinfo=LONDON)
    end = datetime(2026, 3, 30, tzinfo=LONDON)
    segments = [ProgramSegment(start, THREE_STEP, 500)]
    r = dosing.expected_residual(3_000, start, end, segments, LONDON)
    assert r.residual_ul == 1_420


@settings(max_examples=40, deadline=None)
@given(
    starts=st.lists(st.integers(1, 95), max_size=12, unique=True),
    rates=st.lists(st.integers(0, 400), min_size=13, max_size=13),
    day=st.sampled_from([SPRING, AUTUMN]),
    offset_min=st.integers(-36 * 60, 12 * 60),
    length_min=st.integers(0, 36 * 60),
)
def test_flex_matches_a_minute_by_minute_count(
    starts: list[int], rates: list[int], day: date, offset_min: int, length_min: int
) -> None:
    minutes = [0, *sorted(15 * s for s in starts)]
    program = Program(
        Mode.FLEX,
        flex_steps=tuple(FlexStep(m, Decimal(r) / 4) for m, r in zip(minutes, rates, strict=False)),
        # Saturday (24 Oct) and Sunday (25 Oct; 29 Mar) get a different schedule.
        flex_weekday_steps=((6, (FlexStep(0, Decimal(7)), FlexStep(75, Decimal(70)))),),
    )
    midnight_utc = datetime.combine(day, time(0), tzinfo=UTC)
    start = midnight_utc + timedelta(minutes=offset_min)
    end = start + timedelta(minutes=length_min)
    assert dosing.program_delivered_mcg(program, start, end, LONDON) == sampled_mcg(
        program, start, end
    )


def test_alarm_crossing_spring_forward_is_absolute_time() -> None:
    # Covered by the 152-day example in test_dosing; here a short one across 29 March:
    # 4.5 mL, 2 mL alarm, 0.25 mL/day -> 10 days from 2026-03-25 09:00 GMT (09:00 UTC)
    # -> 2026-04-04 09:00 UTC = 10:00 BST. Refill by 4 April - 7 = 28 March.
    f = dosing.refill_forecast(
        reservoir_ul=4_500,
        alarm_volume_ul=2_000,
        program=simple_continuous(500),
        concentration_mcg_ml=2000,
        start=datetime(2026, 3, 25, 9, tzinfo=LONDON),
        tz=LONDON,
    )
    assert f.alarm_at == datetime(2026, 4, 4, 9, tzinfo=UTC)
    assert f.alarm_at is not None
    assert (f.alarm_at.astimezone(LONDON).hour, f.alarm_at.astimezone(LONDON).minute) == (10, 0)
    assert f.refill_by == date(2026, 3, 28)


def test_alarm_crossing_fall_back_is_absolute_time() -> None:
    # 9.5 mL, 2 mL alarm, 0.25 mL/day -> 30 days from 2026-10-01 09:00 BST (08:00 UTC) ->
    # 2026-10-31 08:00 UTC, which London's clocks show as 08:00 GMT, not 09:00.
    start = datetime(2026, 10, 1, 9, tzinfo=LONDON)
    f = dosing.refill_forecast(
        reservoir_ul=9_500,
        alarm_volume_ul=2_000,
        program=simple_continuous(500),
        concentration_mcg_ml=2000,
        start=start,
        tz=LONDON,
    )
    assert f.days_to_alarm == 30
    assert f.alarm_at is not None
    assert f.alarm_at.timestamp() == start.timestamp() + 30 * 86_400
    assert f.alarm_at.astimezone(LONDON).isoformat() == "2026-10-31T08:00:00+00:00"
    assert f.refill_by == date(2026, 10, 24)


def test_refill_by_margin_spans_the_change_in_calendar_days() -> None:
    # Alarm 2026-04-01 00:30 BST (2026-03-31 23:30 UTC); margin 2 local days -> 30 March
    # (counting from the UTC date would give 29 March).
    # 5 days at 0.25 mL/day = 1.25 mL above a 2 mL alarm, from 2026-03-27 00:30 GMT.
    f = dosing.refill_forecast(
        reservoir_ul=3_250,
        alarm_volume_ul=2_000,
        program=simple_continuous(500),
        concentration_mcg_ml=2000,
        start=datetime(2026, 3, 26, 23, 30, tzinfo=UTC),
        tz=LONDON,
        margin_days=2,
    )
    assert f.alarm_at == datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert f.refill_by == date(2026, 3, 30)  # 1 April local - 2 days


def test_trip_needed_until_on_a_25_hour_day() -> None:
    # Back 18 October + 7 days -> the drug must last to the end of 25 October, the long day:
    # local midnight starting 26 October = 00:00 GMT = 00:00 UTC.
    f = dosing.refill_forecast(
        reservoir_ul=40_000,
        alarm_volume_ul=2_000,
        program=simple_continuous(500),
        concentration_mcg_ml=2000,
        start=datetime(2026, 9, 1, 9, tzinfo=LONDON),
        tz=LONDON,
    )
    check = dosing.trip_check(f, date(2026, 10, 18), margin_days=7)
    assert check.needed_until == datetime(2026, 10, 26, 0, tzinfo=UTC)
    assert check.ok


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("itbconsole")
    return [str(script)] if script.exists() else [sys.executable, "-m", "itbconsole"]


def test_cli_refuses_skipped_and_repeated_local_times() -> None:
    base = [
        "calc", "refill", "--reservoir-ml", "40", "--alarm-ml", "2",
        "--dose-mcg-day", "500", "--concentration-mcg-ml", "2000",
    ]  # fmt: skip
    skipped = subprocess.run(
        [*_cli(), *base, "--from", "2026-03-29T01:30"], capture_output=True, text=True, check=False
    )
    assert skipped.returncode == 2 and skipped.stdout == ""
    assert "does not exist" in skipped.stderr
    repeated = subprocess.run(
        [*_cli(), *base, "--from", "2026-10-25T01:30"], capture_output=True, text=True, check=False
    )
    assert repeated.returncode == 2 and "happens twice" in repeated.stderr
    explicit = subprocess.run(
        [*_cli(), *base, "--from", "2026-10-25T01:30+00:00", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert explicit.returncode == 0, explicit.stderr
    # 152 days after 2026-10-25 01:30 UTC = 2027-03-26 01:30 UTC (GMT until 28 March 2027).
    assert '"alarm_at": "2027-03-26T01:30:00+00:00"' in explicit.stdout
