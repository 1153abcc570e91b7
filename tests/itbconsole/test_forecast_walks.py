"""The alarm walks worked out fast give exactly what the plain walk gives (the alarm date is
safety-critical): a flex schedule's week repeated is the schedule worked out day by day,
and the drain in integer microseconds and one common denominator finds the same instant,
to the microsecond, as a walk in Fractions throughout. Also a flex program's alarm checked
by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from itbconsole import dosing
from itbconsole.forecast import walks
from itbconsole.forecast.timeline import PUMP_CLOCK
from itbconsole.model import FlexStep, Mode, Program

START = datetime(2026, 1, 1, tzinfo=UTC)

rates = st.decimals(min_value=0, max_value=80, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def steps(draw: st.DrawFn) -> tuple[FlexStep, ...]:
    starts = draw(st.lists(st.integers(1, 1439), max_size=6, unique=True))
    return tuple(FlexStep(m, draw(rates)) for m in [0, *sorted(starts)])


@st.composite
def flex_programs(draw: st.DrawFn) -> Program:
    days = draw(st.lists(st.integers(0, 6), max_size=3, unique=True))
    weekday = tuple((d, draw(steps())) for d in sorted(days))
    return Program(Mode.FLEX, flex_steps=draw(steps()), flex_weekday_steps=weekday)


moments = st.builds(
    lambda s, us: START + timedelta(seconds=s, microseconds=us),
    st.integers(0, 400 * 86_400),
    st.integers(0, 999_999) | st.just(0),
)
spans = st.integers(0, 90 * 86_400).map(lambda s: timedelta(seconds=s)) | st.integers(0, 20).map(
    lambda d: timedelta(days=d)
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(program=flex_programs(), start=moments, span=spans)
def test_a_week_repeated_is_the_schedule_worked_out_day_by_day(
    program: Program, start: datetime, span: timedelta
) -> None:
    assert walks._schedule_pieces(program, start, start + span) == dosing.program_rate_pieces(
        program, start, start + span, PUMP_CLOCK
    )


def plain_drain(
    start: datetime,
    pieces: Sequence[tuple[datetime, datetime, Fraction]],
    points: Sequence[tuple[datetime, Fraction]],
    conc_at: Callable[[datetime], int],
    bridge: walks._Bridge | None,
    target_ul: Fraction,
) -> datetime | None:
    """The drain as it reads in the clinical rule, every instant and volume a Fraction."""
    if target_ul <= 0:
        return start.replace(microsecond=0)

    def secs(b: datetime) -> Fraction:
        d = b - start
        return Fraction(d.days * 86_400 + d.seconds) + Fraction(d.microseconds, 10**6)

    def instant(seconds: Fraction) -> datetime:
        return dosing.alarm_instant(start.replace(microsecond=0), seconds / 86_400) or start

    drained = Fraction(0)
    left = bridge.remaining_ul if bridge else Fraction(0)
    old = bridge.old_mcg_ml if bridge else 0
    events: list[tuple[Fraction, int, Fraction, Fraction, int]] = []
    cuts = sorted({secs(at) for at, mcg in points if mcg > 0})
    for lo_at, hi_at, rate in pieces:
        if hi_at > lo_at and rate > 0:
            lo, hi = secs(lo_at), secs(hi_at)
            for cut in [c for c in cuts if lo < c < hi]:
                events.append((lo, 1, cut, rate, conc_at(lo_at)))
                lo = cut
            events.append((lo, 1, hi, rate, conc_at(lo_at)))
    events += [(secs(at), 0, Fraction(0), mcg, conc_at(at)) for at, mcg in points if mcg > 0]
    events.sort(key=lambda e: (e[0], e[1]))
    for lo, kind, hi, value, conc in events:
        if kind == 0:
            per_mcg = Fraction(1000, old if left > 0 else conc)
            ul = value * per_mcg
            if left > 0 and ul > left:
                ul = left + (value - left / per_mcg) * Fraction(1000, conc)
            left = max(Fraction(0), left - ul)
            drained += ul
            if drained >= target_ul:
                return instant(lo)
            continue
        t = lo
        while t < hi:
            bridging = left > 0
            ul_per_s = value * 1000 / (old if bridging else conc)
            span = hi - t
            if bridging:
                span = min(span, left / ul_per_s)
            need = (target_ul - drained) / ul_per_s
            if need <= span:
                return instant(t + need)
            drained += ul_per_s * span
            if bridging:
                left -= ul_per_s * span
            t += span
    return None


Drain = tuple[
    datetime,
    list[tuple[datetime, datetime, Fraction]],
    list[tuple[datetime, Fraction]],
    tuple[datetime, int, int],
    walks._Bridge | None,
    Fraction,
]


@st.composite
def drains(draw: st.DrawFn) -> Drain:
    start = draw(moments)
    pieces = []
    t = start
    for _ in range(draw(st.integers(1, 60))):
        d = timedelta(
            seconds=draw(st.integers(1, 3 * 86_400)), microseconds=draw(st.integers(0, 999_999))
        )
        rate = Fraction(draw(st.integers(0, 4000)), draw(st.sampled_from([1, 7, 3600, 86_400])))
        pieces.append((t, t + d, rate))
        t += d
    points = sorted(
        (
            start + timedelta(seconds=draw(st.integers(0, 60 * 86_400))),
            Fraction(draw(st.integers(0, 500)), draw(st.integers(1, 3))),
        )
        for _ in range(draw(st.integers(0, 12)))
    )
    bridge = draw(
        st.none()
        | st.builds(
            walks._Bridge,
            st.fractions(min_value=Fraction(1, 1000), max_value=3000),
            st.sampled_from([50, 500, 2000]),
        )
    )
    change_at = start + timedelta(days=draw(st.integers(0, 60)))
    before, after = draw(st.sampled_from([500, 1000, 2000, 37])), draw(st.sampled_from([500, 2000]))
    target = Fraction(draw(st.integers(-5, 80_000)), draw(st.integers(1, 3)))
    return start, pieces, points, (change_at, before, after), bridge, target


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(case=drains())
def test_the_drain_finds_the_same_instant_as_a_walk_in_fractions(case: Drain) -> None:
    start, pieces, points, (change_at, before, after), bridge, target = case

    def conc_at(moment: datetime) -> int:
        return after if moment >= change_at else before

    expected = plain_drain(start, pieces, points, conc_at, bridge, target)
    assert walks._drain(start, pieces, points, conc_at, bridge, target) == expected


def test_a_hair_more_than_a_step_delivers_is_reached_after_the_pause() -> None:
    """A step of 7 mcg/s for 10 s (140 µL at 500 mcg/mL), a pause (0 mcg/h) until 1,000 s,
    then delivery again: a target a billionth of a microlitre over the first step is reached
    only when delivery resumes, at 1,000 s, never at the end of the first step (the target
    is no whole number of the walk's common unit, 1/3,000,000 µL, here)."""
    pieces = [
        (START, START + timedelta(seconds=10), Fraction(7)),
        (START + timedelta(seconds=10), START + timedelta(seconds=1000), Fraction(0)),
        (START + timedelta(seconds=1000), START + timedelta(days=1), Fraction(1, 3)),
    ]
    target = Fraction(140) + Fraction(1, 10**9)

    def conc(_at: datetime) -> int:
        return 500

    assert walks._drain(START, pieces, [], conc, None, target) == START + timedelta(seconds=1000)
    assert plain_drain(START, pieces, [], conc, None, target) == START + timedelta(seconds=1000)
    assert walks._drain(START, pieces, [], conc, None, Fraction(140)) == START + timedelta(
        seconds=10
    )


def test_a_flex_programs_alarm_checked_by_hand() -> None:
    """500 mcg/mL and 10 mL (5,000 mcg) to go to the alarm from midnight.

    Front-loaded, 00:00-06:00 at 50 mcg/h and 06:00-24:00 at 10 mcg/h (480 mcg a day): ten
    days take 4,800 mcg, the last 200 mcg take 4 h at 50 mcg/h, so 10 days 4 h by the
    schedule, before the even spread's 5,000 / 480 days = 10 days 10 h.
    Back-loaded, 00:00-06:00 at 10 mcg/h and 06:00-24:00 at 30 mcg/h (600 mcg a day): the
    even spread, 5,000 / 600 days = 8 days 8 h, comes before the schedule's 8 days 10 h 40."""
    front = Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal(50)), FlexStep(360, Decimal(10))))
    alarm, rule = walks.earliest_alarm(START, 12_000, 2_000, [(START, front, None, 500)], None)
    assert alarm == START + timedelta(days=10, hours=4) and "schedule" in rule
    back = Program(Mode.FLEX, flex_steps=(FlexStep(0, Decimal(10)), FlexStep(360, Decimal(30))))
    alarm, rule = walks.earliest_alarm(START, 12_000, 2_000, [(START, back, None, 500)], None)
    assert alarm == START + timedelta(days=8, hours=8) and "maximum daily volume" in rule
