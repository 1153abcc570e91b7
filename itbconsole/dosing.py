"""Clinical arithmetic for intrathecal baclofen pumps. Pure functions, exact numbers.

Every function states its formula, its inputs with units and its source. Inputs are exact
(int, Decimal, Fraction); results that divide are exact Fractions, rounded only for display.
Times are timezone-aware; flex steps follow the wall clock of ``tz`` (the pump's clock zone),
so a 23-hour or 25-hour day around a DST change delivers what the pump would really deliver.

See docs/dosing.md for worked examples of each formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from fractions import Fraction

from itbconsole.model import (
    BolusGiven,
    FlexStep,
    Mode,
    ModelError,
    Program,
    ProgramSegment,
)
from itbconsole.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, UL_PER_ML, Number, to_fraction

UTC_ZONE = "UTC"


class DosingError(ValueError):
    """Inputs that cannot give a clinically meaningful answer. The message is for the user."""


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise DosingError("Times must carry a timezone (for example 2026-03-29T09:00+01:00).")


def _seconds(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b (b - a), using absolute (UTC) time."""
    delta = b - a
    return Fraction(delta.days * SECONDS_PER_DAY + delta.seconds) + Fraction(
        delta.microseconds, 1_000_000
    )


# --------------------------------------------------------------------------- schedules


def flex_daily_total_mcg(steps: Sequence[FlexStep]) -> Fraction:
    """Total mcg over one 24-hour flex day.

    Formula: sum over steps of rate (mcg/h) x step length (h), where a step lasts until the
    next step's start and the last step until 24:00.
    """
    total = Fraction(0)
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else 1440
        total += to_fraction(step.rate_mcg_per_hour) * Fraction(end - step.start_minute, 60)
    return total


def program_daily_dose_mcg(program: Program, weekday: int | None = None) -> Fraction:
    """The programmed dose per 24 h (mcg/day), excluding patient boluses.

    For flex, the default schedule's total, or the given weekday's (0 = Monday). For a single
    bolus program, the continuous rate that follows the bolus.
    """
    if program.mode is Mode.STOPPED:
        return Fraction(0)
    if program.mode is Mode.FLEX:
        steps = program.flex_steps if weekday is None else program.steps_for_weekday(weekday)
        return flex_daily_total_mcg(steps)
    return to_fraction(program.daily_dose_mcg)


def max_daily_dose_mcg(program: Program) -> Fraction:
    """Largest possible mcg in a day: the highest-dose day of the schedule plus every
    patient bolus allowed that day (dose x maximum per day). Source: Prometra PTC
    reservoir calculation counts all allowed boluses (domain.md)."""
    if program.mode is Mode.FLEX:
        base = max(program_daily_dose_mcg(program, wd) for wd in range(7))
    else:
        base = program_daily_dose_mcg(program)
    if program.patient_bolus is not None:
        pb = program.patient_bolus
        base += to_fraction(pb.dose_mcg) * pb.max_per_day
    return base


# --------------------------------------------------------------------------- delivery over time


def _flex_delivered_mcg(
    program: Program, start: datetime, end: datetime, tz: tzinfo
) -> Fraction:
    """Integrate a flex schedule over [start, end) following the wall clock of ``tz``."""
    total = Fraction(0)
    local_day: date = start.astimezone(tz).date() - timedelta(days=1)
    last_day: date = end.astimezone(tz).date() + timedelta(days=1)
    while local_day <= last_day:
        steps = program.steps_for_weekday(local_day.weekday())
        for i, step in enumerate(steps):
            s_local = datetime.combine(local_day, time(0), tzinfo=tz) + timedelta(
                minutes=step.start_minute
            )
            if i + 1 < len(steps):
                e_minute = steps[i + 1].start_minute
                e_local = datetime.combine(local_day, time(0), tzinfo=tz) + timedelta(
                    minutes=e_minute
                )
            else:
                e_local = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=tz)
            # Wall-clock datetimes -> absolute instants (zoneinfo resolves gaps and folds).
            s_abs = _wall_to_utc(s_local)
            e_abs = _wall_to_utc(e_local)
            lo = max(s_abs, start)
            hi = min(e_abs, end)
            if hi > lo:
                total += to_fraction(step.rate_mcg_per_hour) * _seconds(lo, hi) / SECONDS_PER_HOUR
        local_day += timedelta(days=1)
    return total


def _wall_to_utc(wall: datetime) -> datetime:
    """A wall-clock time in its zone to an absolute instant (fold=0 for ambiguous times).

    Aware-datetime arithmetic in Python is wall-clock arithmetic; the offset is looked up
    again on conversion, so a step at 02:30 on a spring-forward night maps consistently."""
    return wall.astimezone(timezone.utc)


def program_delivered_mcg(
    program: Program, start: datetime, end: datetime, tz: tzinfo, program_start: datetime | None = None
) -> Fraction:
    """mcg the program delivers between ``start`` and ``end`` (absolute time), boluses by the
    patient excluded.

    * simple continuous: daily dose x elapsed seconds / 86 400;
    * flex: each step's rate x the overlap of the step's wall-clock window with [start, end);
    * single bolus: the bolus (spread evenly over its duration from ``program_start``) plus
      the continuous rate after it.
    """
    _require_aware(start, end)
    if end <= start or program.mode is Mode.STOPPED:
        return Fraction(0)
    if program.mode is Mode.SIMPLE_CONTINUOUS:
        return to_fraction(program.daily_dose_mcg) * _seconds(start, end) / SECONDS_PER_DAY
    if program.mode is Mode.FLEX:
        return _flex_delivered_mcg(program, start, end, tz)
    # SINGLE_BOLUS
    origin = program_start or start
    bolus_end = origin + timedelta(minutes=program.bolus_duration_minutes)
    total = Fraction(0)
    lo, hi = max(start, origin), min(end, bolus_end)
    if hi > lo:
        total += (
            to_fraction(program.bolus_dose_mcg)
            * _seconds(lo, hi)
            / (program.bolus_duration_minutes * 60)
        )
    lo = max(start, bolus_end)
    if end > lo:
        total += to_fraction(program.daily_dose_mcg) * _seconds(lo, end) / SECONDS_PER_DAY
    return total


def segments_delivered_ul(
    segments: Sequence[ProgramSegment],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    boluses: Iterable[BolusGiven] = (),
) -> Fraction:
    """Volume (µL) leaving the reservoir between ``start`` and ``end``.

    Formula: for each program segment, delivered mcg / concentration (mcg/mL) x 1000, plus
    each bolus given in the window: dose / concentration x 1000. Segments are in time order;
    each lasts until the next one starts (the last until ``end``). Programs can change
    between refills, so the history is integrated piecewise.
    """
    _require_aware(start, end)
    if end < start:
        raise DosingError("The end of the period is before its start.")
    ordered = sorted(segments, key=lambda s: s.start)
    total = Fraction(0)
    for i, seg in enumerate(ordered):
        seg_end = ordered[i + 1].start if i + 1 < len(ordered) else end
        lo, hi = max(seg.start, start), min(seg_end, end)
        if hi <= lo:
            continue
        mcg = program_delivered_mcg(seg.program, lo, hi, tz, program_start=seg.start)
        total += mcg * UL_PER_ML / seg.concentration_mcg_ml
    for bolus in boluses:
        _require_aware(bolus.at)
        if start <= bolus.at < end:
            total += to_fraction(bolus.dose_mcg) * UL_PER_ML / bolus.concentration_mcg_ml
    return total


def daily_volume_ml(dose_mcg_per_day: Number, concentration_mcg_ml: Number) -> Fraction:
    """Daily volume (mL/day) = daily dose (mcg/day) / concentration (mcg/mL). Source:
    domain.md, "The arithmetic". Example: 500 / 2000 = 0.25 mL/day."""
    dose = to_fraction(dose_mcg_per_day)
    conc = to_fraction(concentration_mcg_ml)
    if conc <= 0:
        raise DosingError("Concentration must be more than 0 mcg/mL.")
    if dose < 0:
        raise DosingError("Daily dose cannot be negative.")
    return dose / conc


__all__ = [
    "DosingError",
    "ModelError",
    "daily_volume_ml",
    "flex_daily_total_mcg",
    "max_daily_dose_mcg",
    "program_daily_dose_mcg",
    "program_delivered_mcg",
    "segments_delivered_ul",
]

# The refill, discrepancy, bridge, priming, dose-change and trip functions follow below.
