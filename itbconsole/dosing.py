"""Clinical arithmetic for intrathecal baclofen pumps. Pure functions, exact numbers.

Every function states its formula, its inputs with units and its source. Inputs are exact
(int, Decimal, Fraction); results that divide are exact Fractions, rounded only for display.
Each result that a screen shows is a small frozen dataclass holding the inputs as well, so a
view can show how the figure was derived.

Time rules (see docs/dosing.md, "Time"):

* Flex steps follow the pump's wall clock in the clinic time zone ``tz``: at every instant
  the pump delivers the rate of the step whose window contains the local clock time. On the
  spring-forward night the missing hour delivers nothing of the steps it would have held and
  the day lasts 23 hours; on the fall-back night the repeated hour is delivered twice by
  whichever step it belongs to and the day lasts 25 hours.
* Durations (days to alarm, bridge hours, residual) are absolute time. An alarm instant is
  the start plus that many real seconds, computed in UTC, and only *shown* in local time.
* Dates a clinician acts on (refill by, trip return) are local calendar dates in ``tz``.

See docs/dosing.md for worked examples of each formula.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction

from itbconsole.model import (
    BolusGiven,
    FlexStep,
    Mode,
    ModelError,
    Program,
    ProgramSegment,
    Pump,
)
from itbconsole.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, UL_PER_ML, Number, to_fraction

UTC_ZONE = "UTC"
MINUTES_PER_DAY = 1440

#: Default margin between the recommended refill date and the low-reservoir alarm date,
#: in local calendar days (clinic setting; issue 2).
DEFAULT_REFILL_MARGIN_DAYS = 7
#: Default margin after a trip's return date that the drug must still last (clinic setting).
DEFAULT_TRIP_MARGIN_DAYS = 7


class DosingError(ValueError):
    """Inputs that cannot give a clinically meaningful answer. The message is for the user."""


# --------------------------------------------------------------------------- small helpers


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise DosingError("Times must carry a timezone (for example 2026-03-29T09:00+01:00).")


def _utc(moment: datetime) -> datetime:
    """The same instant with a UTC tzinfo, so that adding a timedelta adds absolute time.

    Why: Python adds a timedelta to an aware datetime on its *wall clock*; with a zone such
    as Europe/London, ``start + timedelta(days=152)`` across a DST change is an hour off in
    absolute time. Every absolute-time sum in this module goes through UTC.
    """
    return moment.astimezone(UTC)


def _seconds(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b (b - a). Both aware (absolute time) or both naive."""
    delta = b - a
    return Fraction(delta.days * SECONDS_PER_DAY + delta.seconds) + Fraction(
        delta.microseconds, 1_000_000
    )


def _add_seconds_utc(moment: datetime, seconds: Fraction, *, up: bool) -> datetime:
    """``moment`` plus an exact number of seconds in absolute time, in UTC, rounded to the
    whole second: down (``up=False``) or up (``up=True``)."""
    whole = math.ceil(seconds) if up else math.floor(seconds)
    return _utc(moment) + timedelta(seconds=whole)


def _non_negative(value: Number, what: str) -> Fraction:
    frac = to_fraction(value)
    if frac < 0:
        raise DosingError(f"{what} cannot be negative.")
    return frac


def _positive(value: Number, what: str) -> Fraction:
    frac = to_fraction(value)
    if frac <= 0:
        raise DosingError(f"{what} must be more than 0.")
    return frac


def _concentration(value: Number) -> Fraction:
    frac = to_fraction(value)
    if frac <= 0:
        raise DosingError("Concentration must be more than 0 mcg/mL.")
    return frac


def _days(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DosingError(f"{what} must be a whole number of days, 0 or more.")
    return value


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) at which local calendar ``day`` begins in ``tz``."""
    return _utc(datetime.combine(day, time(0), tzinfo=tz))


# --------------------------------------------------------------------------- schedules


def daily_volume_ml(dose_mcg_per_day: Number, concentration_mcg_ml: Number) -> Fraction:
    """Daily volume (mL/day) = daily dose (mcg/day) / concentration (mcg/mL).

    Source: domain.md, "The arithmetic". Example: 500 / 2000 = 0.25 mL/day.
    """
    conc = _concentration(concentration_mcg_ml)
    dose = to_fraction(dose_mcg_per_day)
    if dose < 0:
        raise DosingError("Daily dose cannot be negative.")
    return dose / conc


def flex_daily_total_mcg(steps: Sequence[FlexStep]) -> Fraction:
    """Total mcg over one 24-hour flex day.

    Formula: sum over steps of rate (mcg/h) x step length (h), where a step lasts until the
    next step's start and the last step until 24:00. Source: SynchroMed II flex mode
    (domain.md). On a 23- or 25-hour DST day the pump delivers a different total; see
    :func:`program_delivered_mcg`.
    """
    total = Fraction(0)
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        total += to_fraction(step.rate_mcg_per_hour) * Fraction(end - step.start_minute, 60)
    return total


@dataclass(frozen=True)
class FlexStepRate:
    """One flex step with its rates in both units, so a screen can show mcg/h next to
    mL/h (the ISMP flex error was a per-hour rate entered as a per-day dose)."""

    start_minute: int
    end_minute: int
    rate_mcg_per_hour: Fraction
    rate_ml_per_hour: Fraction
    step_mcg: Fraction
    step_ml: Fraction

    @property
    def hours(self) -> Fraction:
        return Fraction(self.end_minute - self.start_minute, 60)


def flex_step_rates(
    steps: Sequence[FlexStep], concentration_mcg_ml: Number
) -> tuple[FlexStepRate, ...]:
    """Per-step rates of a flex day.

    Formulas: rate (mL/h) = rate (mcg/h) / concentration (mcg/mL); step dose (mcg) =
    rate (mcg/h) x step hours; step volume (mL) = step dose / concentration. A step lasts
    until the next step's start, the last one until 24:00. Source: domain.md.
    """
    conc = _concentration(concentration_mcg_ml)
    out = []
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        rate = to_fraction(step.rate_mcg_per_hour)
        step_mcg = rate * Fraction(end - step.start_minute, 60)
        out.append(
            FlexStepRate(
                start_minute=step.start_minute,
                end_minute=end,
                rate_mcg_per_hour=rate,
                rate_ml_per_hour=rate / conc,
                step_mcg=step_mcg,
                step_ml=step_mcg / conc,
            )
        )
    return tuple(out)


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


def patient_bolus_mcg_per_day(program: Program) -> Fraction:
    """Most patient-bolus drug a day can add: dose per bolus (mcg) x boluses allowed per
    day. 0 without patient bolus settings."""
    if program.patient_bolus is None:
        return Fraction(0)
    return to_fraction(program.patient_bolus.dose_mcg) * program.patient_bolus.max_per_day


def max_daily_dose_mcg(program: Program) -> Fraction:
    """Largest possible mcg in a day: the highest-dose day of the schedule plus every
    patient bolus allowed that day (dose x maximum per day).

    Source: the Prometra clinician programmer's reservoir calculation counts all allowed
    boluses (domain.md). Counting them makes the alarm date conservative: it can only come
    later than forecast, never earlier.
    """
    if program.mode is Mode.FLEX:
        base = max(program_daily_dose_mcg(program, wd) for wd in range(7))
    else:
        base = program_daily_dose_mcg(program)
    return base + patient_bolus_mcg_per_day(program)


def patient_boluses_in_24h(program: Program) -> int:
    """How many patient boluses can be given in 24 hours: the maximum per day, bounded by
    the lockout (a bolus, then one every ``lockout`` minutes: 1 + floor(1439 / lockout)).
    A lockout of 0 bounds nothing. Source: domain.md ("dose x maximum per day, bounded by
    the lockout")."""
    pb = program.patient_bolus
    if pb is None or pb.max_per_day <= 0:
        return 0
    if pb.lockout_minutes <= 0:
        return pb.max_per_day
    return min(pb.max_per_day, 1 + (MINUTES_PER_DAY - 1) // pb.lockout_minutes)


def max_24h_dose_mcg(program: Program) -> Fraction:
    """The maximum 24-hour dose a program can give, the figure dose limits apply to:
    the highest-dose day of the schedule, plus every patient bolus allowed in 24 hours
    (dose x :func:`patient_boluses_in_24h`), plus a single bolus the program starts with.

    Source: domain.md ("Dates the console promises": the maximum 24 h dose counts the
    continuous program plus every patient bolus allowed in 24 h and any clinician boluses;
    limits on the daily dose and on the % change apply to it). Example: 400 mcg/day with
    100 mcg x 4 a day, lockout 60 min: 800 mcg in 24 h."""
    if program.mode is Mode.FLEX:
        base = max(program_daily_dose_mcg(program, wd) for wd in range(7))
    else:
        base = program_daily_dose_mcg(program)
    boluses = Fraction(0)
    if program.patient_bolus is not None:
        boluses = to_fraction(program.patient_bolus.dose_mcg) * patient_boluses_in_24h(program)
    single = to_fraction(program.bolus_dose_mcg) if program.mode is Mode.SINGLE_BOLUS else 0
    return base + boluses + single


def max_daily_volume_ml(program: Program, concentration_mcg_ml: Number) -> Fraction:
    """Maximum daily volume (mL/day) = maximum daily dose (mcg/day, every allowed patient
    bolus included) / concentration (mcg/mL). Source: domain.md; Prometra."""
    return max_daily_dose_mcg(program) / _concentration(concentration_mcg_ml)


# --------------------------------------------------------------------------- delivery over time

# A piece of delivery: from lo to hi (aware, absolute time) at a constant rate per second.
_Piece = tuple[datetime, datetime, Fraction]


def _offset_pieces(
    start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [start, end) into pieces over which ``tz`` keeps one UTC offset.

    The zone is probed once a day and a change is located by bisection to the second
    (zone transitions fall on whole seconds). Assumes no zone changes offset twice within
    24 hours, which holds for every zone in use.
    """
    pieces: list[tuple[datetime, datetime, timedelta]] = []
    lo = _utc(start)
    end = _utc(end)

    def offset(moment: datetime) -> timedelta:
        off = moment.astimezone(tz).utcoffset()
        assert off is not None
        return off

    while lo < end:
        off = offset(lo)
        probe = lo
        change: datetime | None = None
        while probe < end:
            nxt = min(probe + timedelta(days=1), end)
            if offset(nxt) != off:
                base = probe.replace(microsecond=0)
                good, bad = 0, math.ceil(_seconds(base, nxt))
                while bad - good > 1:
                    mid = (good + bad) // 2
                    if offset(base + timedelta(seconds=mid)) == off:
                        good = mid
                    else:
                        bad = mid
                change = min(base + timedelta(seconds=bad), end)
                break
            probe = nxt
        hi = change if change is not None and change > lo else end
        pieces.append((lo, hi, off))
        lo = hi
    return pieces


def _wall_schedule_pieces(
    program: Program, wall_lo: datetime, wall_hi: datetime
) -> list[tuple[datetime, datetime, Fraction]]:
    """Flex steps overlapping the naive wall-clock interval [wall_lo, wall_hi), with their
    rates in mcg per second."""
    out: list[tuple[datetime, datetime, Fraction]] = []
    day = wall_lo.date()
    while datetime.combine(day, time(0)) < wall_hi:
        midnight = datetime.combine(day, time(0))
        steps = program.steps_for_weekday(day.weekday())
        for i, step in enumerate(steps):
            end_minute = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
            s = midnight + timedelta(minutes=step.start_minute)
            e = midnight + timedelta(minutes=end_minute)
            lo, hi = max(s, wall_lo), min(e, wall_hi)
            if hi > lo:
                out.append((lo, hi, to_fraction(step.rate_mcg_per_hour) / SECONDS_PER_HOUR))
        day += timedelta(days=1)
    return out


def _flex_pieces(program: Program, start: datetime, end: datetime, tz: tzinfo) -> list[_Piece]:
    """Flex delivery over [start, end) following the wall clock of ``tz``.

    Within a stretch of constant UTC offset the wall clock is absolute time shifted by the
    offset, so each step's wall-clock window maps to absolute time directly.
    """
    pieces: list[_Piece] = []
    for lo, hi, off in _offset_pieces(start, end, tz):
        wall_lo = lo.replace(tzinfo=None) + off
        wall_hi = wall_lo + (hi - lo)
        for w_lo, w_hi, rate in _wall_schedule_pieces(program, wall_lo, wall_hi):
            pieces.append((lo + (w_lo - wall_lo), lo + (w_hi - wall_lo), rate))
    return pieces


def _program_pieces(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> list[_Piece]:
    """Delivery of ``program`` over [start, end) as constant-rate pieces (mcg per second)."""
    start, end = _utc(start), _utc(end)
    if end <= start or program.mode is Mode.STOPPED:
        return []
    if program.mode is Mode.SIMPLE_CONTINUOUS:
        return [(start, end, to_fraction(program.daily_dose_mcg) / SECONDS_PER_DAY)]
    if program.mode is Mode.FLEX:
        return _flex_pieces(program, start, end, tz)
    # SINGLE_BOLUS: the bolus spread evenly over its duration, then the continuous rate.
    origin = _utc(program_start) if program_start is not None else start
    bolus_end = origin + timedelta(minutes=program.bolus_duration_minutes)
    pieces: list[_Piece] = []
    lo, hi = max(start, origin), min(end, bolus_end)
    if hi > lo:
        rate = to_fraction(program.bolus_dose_mcg) / (program.bolus_duration_minutes * 60)
        pieces.append((lo, hi, rate))
    lo = max(start, bolus_end)
    if end > lo:
        pieces.append((lo, end, to_fraction(program.daily_dose_mcg) / SECONDS_PER_DAY))
    return pieces


def program_rate_pieces(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> list[tuple[datetime, datetime, Fraction]]:
    """The program's delivery over [start, end) as (from, to, mcg per second) pieces of
    constant rate, in time order: what :func:`program_delivered_mcg` integrates. Flex steps
    follow the wall clock of ``tz``; a single bolus is spread over its duration from
    ``program_start``."""
    _require_aware(start, end)
    return _program_pieces(program, start, end, tz, program_start)


def program_delivered_mcg(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> Fraction:
    """mcg the program delivers between ``start`` and ``end`` (absolute time), boluses by the
    patient excluded.

    * simple continuous: daily dose x elapsed seconds / 86 400;
    * flex: each step's rate (mcg/h) x the time the wall clock of ``tz`` spends inside the
      step's window during [start, end) (so 23 h or 25 h on DST days);
    * single bolus: the bolus (spread evenly over its duration from ``program_start``) plus
      the continuous rate after it.
    """
    _require_aware(start, end)
    if program_start is not None:
        _require_aware(program_start)
    return sum(
        (
            rate * _seconds(lo, hi)
            for lo, hi, rate in _program_pieces(program, start, end, tz, program_start)
        ),
        Fraction(0),
    )


def _delivery_timeline(
    segments: Sequence[ProgramSegment],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    boluses: Iterable[BolusGiven],
) -> tuple[list[_Piece], list[tuple[datetime, Fraction]]]:
    """Continuous delivery (µL per second) and instant boluses (µL) in [start, end)."""
    _require_aware(start, end)
    if end < start:
        raise DosingError("The end of the period is before its start.")
    ordered = sorted(segments, key=lambda s: s.start)
    pieces: list[_Piece] = []
    for i, seg in enumerate(ordered):
        _require_aware(seg.start)
        seg_end = ordered[i + 1].start if i + 1 < len(ordered) else end
        lo, hi = max(seg.start, start), min(seg_end, end)
        if hi <= lo:
            continue
        for p_lo, p_hi, mcg_per_s in _program_pieces(
            seg.program, lo, hi, tz, program_start=seg.program_start or seg.start
        ):
            pieces.append((p_lo, p_hi, mcg_per_s * UL_PER_ML / seg.concentration_mcg_ml))
    events: list[tuple[datetime, Fraction]] = []
    for bolus in boluses:
        _require_aware(bolus.at)
        if bolus.concentration_mcg_ml <= 0:
            raise DosingError("A bolus's concentration must be more than 0 mcg/mL.")
        if start <= bolus.at < end:
            events.append(
                (
                    _utc(bolus.at),
                    to_fraction(bolus.dose_mcg) * UL_PER_ML / bolus.concentration_mcg_ml,
                )
            )
    return pieces, events


def segments_delivered_ul(
    segments: Sequence[ProgramSegment],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    boluses: Iterable[BolusGiven] = (),
) -> Fraction:
    """Volume (µL) leaving the reservoir between ``start`` and ``end``.

    Formula: for each program segment, delivered mcg / concentration (mcg/mL) x 1000, plus
    each bolus given in the window (patient, single, priming or bridge): dose /
    concentration x 1000. Segments are in time order; each lasts until the next one starts
    (the last until ``end``). Programs can change between refills, so the history is
    integrated piecewise. Source: domain.md, expected residual.
    """
    pieces, events = _delivery_timeline(segments, start, end, tz, boluses)
    total = sum((rate * _seconds(lo, hi) for lo, hi, rate in pieces), Fraction(0))
    return total + sum((ul for _, ul in events), Fraction(0))


# --------------------------------------------------------------------------- expected residual


@dataclass(frozen=True)
class ResidualForecast:
    """Expected reservoir volume at a moment after a fill, and how it was derived."""

    fill_ul: int
    filled_at: datetime
    at: datetime
    programmed_delivery_ul: Fraction
    """Everything the programs and boluses would have pumped (may exceed the fill)."""
    residual_ul: Fraction
    """fill - delivery, never below 0."""
    emptied: bool
    """True when the programmed delivery would have emptied the reservoir by ``at``."""
    empty_at: datetime | None
    """The instant (UTC, rounded up to the second) the reservoir would have run dry."""


def expected_residual(
    fill_ul: int,
    filled_at: datetime,
    at: datetime,
    segments: Sequence[ProgramSegment],
    tz: tzinfo,
    boluses: Iterable[BolusGiven] = (),
) -> ResidualForecast:
    """Expected residual (µL) = volume after the last fill (µL) - all programmed delivery
    since (µL): continuous and flex segments, single, patient, priming and bridge boluses.

    Inputs: ``fill_ul`` volume in the reservoir right after the fill (µL); ``filled_at`` and
    ``at`` aware instants; ``segments`` the program history (the segment in force at the
    fill must start at or before it); ``tz`` the pump clock's zone for flex steps.
    A reservoir cannot hold less than nothing: the residual stops at 0 and ``empty_at``
    tells when the pump would have run dry (withdrawal risk). Source: domain.md.
    """
    _require_aware(filled_at, at)
    if isinstance(fill_ul, bool) or fill_ul < 0:
        raise DosingError("The volume after the fill cannot be negative.")
    if at < filled_at:
        raise DosingError("The moment asked about is before the fill.")
    pieces, events = _delivery_timeline(segments, filled_at, at, tz, boluses)
    # Split continuous pieces at bolus instants so that the walk below meets every amount in
    # time order (pieces never overlap one another).
    cuts = sorted({when for when, _ in events})
    split: list[_Piece] = []
    for lo, hi, rate in pieces:
        for cut in cuts:
            if lo < cut < hi:
                split.append((lo, cut, rate))
                lo = cut
        split.append((lo, hi, rate))
    timeline: list[tuple[datetime, int, datetime, Fraction]] = [
        (lo, 1, hi, rate) for lo, hi, rate in split
    ] + [(when, 0, when, ul) for when, ul in events]
    timeline.sort(key=lambda item: (item[0], item[1]))
    delivered = Fraction(0)
    empty_at: datetime | None = None
    for lo, kind, hi, value in timeline:
        amount = value if kind == 0 else value * _seconds(lo, hi)
        if empty_at is None and delivered + amount >= fill_ul and amount > 0:
            if kind == 0 or fill_ul == delivered:
                empty_at = _utc(lo)
            else:
                empty_at = _add_seconds_utc(lo, (fill_ul - delivered) / value, up=True)
        delivered += amount
    residual = max(Fraction(fill_ul) - delivered, Fraction(0))
    return ResidualForecast(
        fill_ul=fill_ul,
        filled_at=filled_at,
        at=at,
        programmed_delivery_ul=delivered,
        residual_ul=residual,
        emptied=empty_at is not None,
        empty_at=empty_at,
    )


# --------------------------------------------------------------------------- alarm and refill


def days_to_alarm(
    reservoir_ul: int, alarm_volume_ul: int, volume_ml_per_day: Number
) -> Fraction | None:
    """Days to the low-reservoir alarm = (reservoir - alarm volume) (mL) / maximum daily
    volume (mL/day, every allowed patient bolus counted).

    Returns 0 when the reservoir is already at or below the alarm volume, and None when
    nothing is delivered (a stopped pump never reaches the alarm). Source: domain.md;
    example 40 mL, 2 mL alarm, 0.25 mL/day -> 152 days.
    """
    if reservoir_ul < 0 or alarm_volume_ul < 0:
        raise DosingError("Reservoir and alarm volumes cannot be negative.")
    rate = _non_negative(volume_ml_per_day, "The daily volume")
    if reservoir_ul <= alarm_volume_ul:
        return Fraction(0)
    if rate == 0:
        return None
    return Fraction(reservoir_ul - alarm_volume_ul, UL_PER_ML) / rate


def alarm_instant(start: datetime, days: Fraction | None) -> datetime | None:
    """The instant the alarm sounds: ``start`` + ``days`` x 86 400 seconds of absolute time,
    rounded down to the whole second (early rather than late). UTC; show it in local time.

    Why absolute: the reservoir empties by the pump's motor, not by the clock on the wall;
    152 days across a clock change is 152 x 24 real hours.
    """
    _require_aware(start)
    if days is None:
        return None
    return _add_seconds_utc(start, days * SECONDS_PER_DAY, up=False)


def recommended_refill_date(
    start: datetime,
    alarm_at: datetime | None,
    tz: tzinfo,
    margin_days: int = DEFAULT_REFILL_MARGIN_DAYS,
    max_refill_interval_days: int | None = None,
) -> tuple[date | None, str]:
    """The last local calendar date for the refill, and the rule that set it.

    Formula: refill by = the earlier of (local date of the alarm - ``margin_days``) and
    (local date of ``start`` + ``max_refill_interval_days``), and never before the local date
    of ``start`` (then the refill is due now). Inputs: aware instants, a zone, whole days.
    Source: issue 2 (margin default 7 days, a clinic setting); the maximum refill interval
    comes from the drug library for the product in the pump.
    """
    _require_aware(start)
    _days(margin_days, "The refill margin")
    start_day = start.astimezone(tz).date()
    candidates: list[tuple[date, str]] = []
    if alarm_at is not None:
        candidates.append(
            (
                alarm_at.astimezone(tz).date() - timedelta(days=margin_days),
                "alarm date minus margin",
            )
        )
    if max_refill_interval_days is not None:
        _days(max_refill_interval_days, "The maximum refill interval")
        candidates.append(
            (start_day + timedelta(days=max_refill_interval_days), "maximum refill interval")
        )
    if not candidates:
        return None, "pump stopped and no maximum refill interval given"
    chosen, rule = min(candidates, key=lambda c: c[0])
    if chosen <= start_day:
        return start_day, "due now (alarm is within the margin)"
    return chosen, rule


@dataclass(frozen=True)
class RefillForecast:
    """When the low-reservoir alarm sounds and when to refill, with every input."""

    reservoir_ul: int
    alarm_volume_ul: int
    concentration_mcg_ml: Fraction
    program: Program
    start: datetime
    tz: tzinfo
    margin_days: int
    max_refill_interval_days: int | None
    programmed_dose_mcg_per_day: Fraction
    """Highest-dose day of the schedule, patient boluses excluded."""
    bolus_mcg_per_day: Fraction
    """Every patient bolus allowed in a day (dose x maximum per day)."""
    daily_volume_ml: Fraction
    """Programmed dose / concentration."""
    max_daily_volume_ml: Fraction
    """(Programmed dose + allowed boluses) / concentration."""
    days_to_alarm: Fraction | None
    alarm_at: datetime | None
    days_to_empty: Fraction | None
    empty_at: datetime | None
    refill_by: date | None
    refill_by_rule: str
    at_or_below_alarm: bool

    @property
    def stopped(self) -> bool:
        """Nothing is delivered: no alarm will ever sound (itself a withdrawal hazard)."""
        return self.max_daily_volume_ml == 0


def refill_forecast(
    *,
    reservoir_ul: int,
    alarm_volume_ul: int,
    program: Program,
    concentration_mcg_ml: Number,
    start: datetime,
    tz: tzinfo,
    margin_days: int = DEFAULT_REFILL_MARGIN_DAYS,
    max_refill_interval_days: int | None = None,
) -> RefillForecast:
    """Days to the alarm, the alarm instant, days to empty and the refill-by date.

    Formulas: max daily volume (mL/day) = (highest day's dose + dose per patient bolus x
    boluses allowed a day) (mcg) / concentration (mcg/mL); days to alarm = (reservoir -
    alarm volume) (mL) / max daily volume; days to empty = reservoir / max daily volume;
    instants = ``start`` + days in absolute time; refill by: see
    :func:`recommended_refill_date`. Source: domain.md, issue 2.
    """
    _require_aware(start)
    if reservoir_ul < 0 or alarm_volume_ul < 0:
        raise DosingError("Reservoir and alarm volumes cannot be negative.")
    conc = _concentration(concentration_mcg_ml)
    _days(margin_days, "The refill margin")
    programmed = (
        max(program_daily_dose_mcg(program, wd) for wd in range(7))
        if program.mode is Mode.FLEX
        else program_daily_dose_mcg(program)
    )
    boluses = patient_bolus_mcg_per_day(program)
    max_volume = (programmed + boluses) / conc
    to_alarm = days_to_alarm(reservoir_ul, alarm_volume_ul, max_volume)
    alarm_at = alarm_instant(start, to_alarm)
    to_empty = None if max_volume == 0 else Fraction(reservoir_ul, UL_PER_ML) / max_volume
    refill_by, rule = recommended_refill_date(
        start, alarm_at, tz, margin_days, max_refill_interval_days
    )
    if reservoir_ul <= alarm_volume_ul:
        rule = "due now (reservoir at or below the alarm volume)"
    return RefillForecast(
        reservoir_ul=reservoir_ul,
        alarm_volume_ul=alarm_volume_ul,
        concentration_mcg_ml=conc,
        program=program,
        start=start,
        tz=tz,
        margin_days=margin_days,
        max_refill_interval_days=max_refill_interval_days,
        programmed_dose_mcg_per_day=programmed,
        bolus_mcg_per_day=boluses,
        daily_volume_ml=programmed / conc,
        max_daily_volume_ml=max_volume,
        days_to_alarm=to_alarm,
        alarm_at=alarm_at,
        days_to_empty=to_empty,
        empty_at=alarm_instant(start, to_empty),
        refill_by=refill_by,
        refill_by_rule=rule,
        at_or_below_alarm=reservoir_ul <= alarm_volume_ul,
    )


# --------------------------------------------------------------------------- trip check


@dataclass(frozen=True)
class TripCheck:
    """Does the drug last through a trip? ``ok`` is False when the alarm would sound before
    the end of (return date + margin)."""

    forecast: RefillForecast
    return_date: date
    margin_days: int
    needed_until: datetime
    """Start (UTC) of the local day after return date + margin: the drug must last to here."""
    ok: bool
    shortfall_days: Fraction
    """How many days early the alarm sounds (0 when ok)."""
    empties_before_needed: bool
    """The reservoir would run dry, not just alarm, before ``needed_until``."""


def trip_check(
    forecast: RefillForecast,
    return_date: date,
    margin_days: int = DEFAULT_TRIP_MARGIN_DAYS,
) -> TripCheck:
    """Whether the pump's drug lasts until the end of the local day ``return_date`` +
    ``margin_days`` without the low-reservoir alarm sounding.

    Formula: needed until = local midnight after (return date + margin) in the forecast's
    zone; ok when alarm instant >= needed until (a stopped pump is never short of drug);
    shortfall (days) = (needed until - alarm instant) / 86 400 s. Source: domain.md (patients
    fly and need enough drug in the pump for the trip); the margin is a clinic setting.
    """
    _days(margin_days, "The trip margin")
    start_day = forecast.start.astimezone(forecast.tz).date()
    if return_date < start_day:
        raise DosingError("The return date is before the start date.")
    needed_until = _local_midnight(return_date + timedelta(days=margin_days + 1), forecast.tz)
    if forecast.alarm_at is None:
        return TripCheck(forecast, return_date, margin_days, needed_until, True, Fraction(0), False)
    short = _seconds(forecast.alarm_at, needed_until) / SECONDS_PER_DAY
    empties = forecast.empty_at is not None and forecast.empty_at < needed_until
    return TripCheck(
        forecast=forecast,
        return_date=return_date,
        margin_days=margin_days,
        needed_until=needed_until,
        ok=short <= 0,
        shortfall_days=max(short, Fraction(0)),
        empties_before_needed=empties,
    )


# --------------------------------------------------------------------------- refill discrepancy

LESS_THAN_EXPECTED = "less than expected"
MORE_THAN_EXPECTED = "more than expected"
AS_EXPECTED = "as expected"


@dataclass(frozen=True)
class DiscrepancyThresholds:
    """Clinic settings for flagging a refill. No manufacturer threshold exists (domain.md).

    Defaults: more than 1.0 mL off for reservoirs up to 20 mL and 2.0 mL for larger ones
    (Maino 2017, pocket fill after a refill); delivery accuracy outside 85-115 % (Prometra
    accepts 85-115 %). For context, SynchroMed II's clinical mean is +2.5 % per refill
    (Wesemann 2014).
    """

    small_reservoir_max_ul: int = 20_000
    small_reservoir_limit_ul: int = 1_000
    large_reservoir_limit_ul: int = 2_000
    accuracy_low_pct: Fraction = Fraction(85)
    accuracy_high_pct: Fraction = Fraction(115)

    def __post_init__(self) -> None:
        if (
            min(
                self.small_reservoir_max_ul,
                self.small_reservoir_limit_ul,
                self.large_reservoir_limit_ul,
            )
            < 0
        ):
            raise DosingError("Discrepancy limits cannot be negative.")
        if not 0 <= self.accuracy_low_pct <= 100 <= self.accuracy_high_pct:
            raise DosingError("The accuracy range must contain 100 %.")

    def volume_limit_ul(self, capacity_ul: int) -> int:
        """The volume limit for a reservoir of ``capacity_ul``."""
        if capacity_ul <= self.small_reservoir_max_ul:
            return self.small_reservoir_limit_ul
        return self.large_reservoir_limit_ul


@dataclass(frozen=True)
class RefillDiscrepancy:
    """A refill's withdrawn volume compared with the expected residual, classified."""

    expected_residual_ul: int
    withdrawn_ul: int
    capacity_ul: int
    expected_delivered_ul: int | None
    thresholds: DiscrepancyThresholds
    after_refill: bool
    discrepancy_ul: int
    """withdrawn - expected (negative: less came back than expected)."""
    limit_ul: int
    actual_delivered_ul: int | None
    accuracy: Fraction | None
    """actual delivered / expected delivered (1 = exact); None without an expected delivery."""
    volume_flag: bool
    accuracy_flag: bool
    direction: str
    meaning: str

    @property
    def flag(self) -> bool:
        return self.volume_flag or self.accuracy_flag

    @property
    def accuracy_pct(self) -> Fraction | None:
        return None if self.accuracy is None else self.accuracy * 100


def refill_discrepancy(
    *,
    expected_residual_ul: int,
    withdrawn_ul: int,
    capacity_ul: int,
    expected_delivered_ul: int | None = None,
    thresholds: DiscrepancyThresholds | None = None,
    after_refill: bool = False,
) -> RefillDiscrepancy:
    """Refill discrepancy and delivery accuracy, flagged against clinic thresholds.

    Formulas: discrepancy (µL) = withdrawn - expected residual. With the expected delivery
    since the last fill (µL): actual delivered = (expected residual + expected delivered) -
    withdrawn (the volume after the last fill minus what came back), accuracy = actual
    delivered / expected delivered. Flag when |discrepancy| is more than the limit for the
    reservoir size, or accuracy is outside the range (bounds themselves are accepted).

    Meaning (domain.md): withdrawn < expected: over-delivery or incomplete aspiration;
    withdrawn > expected: under-delivery, motor stall or catheter occlusion, with a risk of
    withdrawal. ``after_refill``: the comparison is of the volume just after a refill, where
    a large difference may mean a pocket fill (Maino 2017; FDA Class I 2011).
    """
    th = thresholds or DiscrepancyThresholds()
    for value, what in (
        (expected_residual_ul, "The expected residual"),
        (withdrawn_ul, "The withdrawn volume"),
    ):
        if value < 0:
            raise DosingError(f"{what} cannot be negative.")
        if value > capacity_ul:
            raise DosingError(f"{what} is more than the reservoir capacity; check the figures.")
    if capacity_ul <= 0:
        raise DosingError("The reservoir capacity must be more than 0 mL.")
    discrepancy = withdrawn_ul - expected_residual_ul
    limit = th.volume_limit_ul(capacity_ul)
    volume_flag = abs(discrepancy) > limit
    accuracy: Fraction | None = None
    actual: int | None = None
    accuracy_flag = False
    if expected_delivered_ul is not None:
        if expected_delivered_ul < 0:
            raise DosingError("The expected delivered volume cannot be negative.")
        actual = expected_residual_ul + expected_delivered_ul - withdrawn_ul
        if expected_delivered_ul > 0:
            accuracy = Fraction(actual, expected_delivered_ul)
            pct = accuracy * 100
            accuracy_flag = not th.accuracy_low_pct <= pct <= th.accuracy_high_pct
    if discrepancy < 0:
        direction = LESS_THAN_EXPECTED
        cause = (
            "Less came back than expected: the pump may have over-delivered, or aspiration "
            "was incomplete. Check for overdose signs (drowsiness, slow breathing)."
        )
    elif discrepancy > 0:
        direction = MORE_THAN_EXPECTED
        cause = (
            "More came back than expected: the pump may have under-delivered (motor stall, "
            "catheter occlusion). Risk of withdrawal: check for itching, fever, rebound "
            "spasticity."
        )
    else:
        direction = AS_EXPECTED
        cause = "The withdrawn volume matches the expected residual."
    flagged = volume_flag or accuracy_flag
    if not flagged:
        meaning = (
            f"Within the clinic's limits. {cause}" if discrepancy else "Within the clinic's limits."
        )
    else:
        meaning = f"Outside the clinic's limits. {cause}"
        if after_refill:
            meaning += (
                " After a refill a difference this large may mean a pocket fill (drug in the "
                "pocket, not the reservoir): stop and check the fill before going on."
            )
        if expected_delivered_ul == 0 and accuracy is None:
            meaning += " Accuracy cannot be computed: nothing was expected to be delivered."
    return RefillDiscrepancy(
        expected_residual_ul=expected_residual_ul,
        withdrawn_ul=withdrawn_ul,
        capacity_ul=capacity_ul,
        expected_delivered_ul=expected_delivered_ul,
        thresholds=th,
        after_refill=after_refill,
        discrepancy_ul=discrepancy,
        limit_ul=limit,
        actual_delivered_ul=actual,
        accuracy=accuracy,
        volume_flag=volume_flag,
        accuracy_flag=accuracy_flag,
        direction=direction,
        meaning=meaning,
    )


# --------------------------------------------------------------------------- bridge and priming


@dataclass(frozen=True)
class BridgeBolus:
    """The bridge bolus that clears old drug from the dead volume after a concentration
    change, and what would happen without it."""

    dose_mcg_per_day: Fraction
    old_concentration_mcg_ml: Fraction
    new_concentration_mcg_ml: Fraction
    dead_volume_ul: Fraction
    needed: bool
    """False when the concentration does not change."""
    bridge_volume_ml: Fraction
    bridge_rate_ml_per_day: Fraction
    bridge_hours: Fraction
    bridge_mcg: Fraction
    """Old drug pushed out by the bridge (dead volume x old concentration)."""
    dose_during_bridge_mcg_day: Fraction
    unbridged_dose_mcg_day: Fraction
    unbridged_hours: Fraction
    """How long the wrong dose would last without a bridge."""


def bridge_bolus(
    dose_mcg_per_day: Number,
    old_concentration_mcg_ml: Number,
    new_concentration_mcg_ml: Number,
    dead_volume_ul: Number,
) -> BridgeBolus:
    """Bridge bolus on a concentration change.

    The tubing and catheter still hold old drug (dead volume = pump internal volume +
    catheter length x volume per cm, :attr:`itbconsole.model.Pump.dead_volume_ul`).

    Formulas: bridge volume = dead volume; bridge rate (mL/day) = dose (mcg/day) / old
    concentration; bridge duration (h) = dead volume (mL) / bridge rate x 24; with the
    bridge the patient gets the prescribed dose throughout. Without it the pump runs at
    dose / new concentration (mL/day) but pushes old drug, so the patient gets
    dose x old / new (mcg/day) for dead volume / (dose / new) x 24 hours: an overdose when
    the refill is weaker, an underdose (withdrawal risk) when it is stronger.
    Source: domain.md, bridge bolus.
    """
    dose = _positive(dose_mcg_per_day, "The daily dose for a bridge")
    old = _concentration(old_concentration_mcg_ml)
    new = _concentration(new_concentration_mcg_ml)
    dead = _non_negative(dead_volume_ul, "The dead volume")
    dead_ml = dead / UL_PER_ML
    bridge_rate = dose / old
    return BridgeBolus(
        dose_mcg_per_day=dose,
        old_concentration_mcg_ml=old,
        new_concentration_mcg_ml=new,
        dead_volume_ul=dead,
        needed=old != new and dead > 0,
        bridge_volume_ml=dead_ml,
        bridge_rate_ml_per_day=bridge_rate,
        bridge_hours=dead_ml / bridge_rate * 24,
        bridge_mcg=dead_ml * old,
        dose_during_bridge_mcg_day=dose,
        unbridged_dose_mcg_day=dose * old / new,
        unbridged_hours=dead_ml / (dose / new) * 24,
    )


@dataclass(frozen=True)
class PrimingBolus:
    """Volume to prime after an implant (pump and catheter) or a catheter revision
    (catheter only)."""

    pump_dead_volume_ul: Fraction
    catheter_volume_ul: Fraction
    catheter_only: bool
    volume_ul: Fraction


def priming_bolus(pump: Pump, *, catheter_only: bool = False) -> PrimingBolus:
    """Priming volume (µL) = pump internal dead volume + catheter length (cm) x catheter
    volume per cm (µL/cm); after a catheter revision only the catheter part.

    Source: domain.md (priming bolus after implant or catheter revision). Why it matters:
    priming software that delivered early and then too little led to FDA Class I recalls
    (2013, 2016), so the console shows the volume it expects.
    """
    catheter = to_fraction(pump.catheter_length_cm) * to_fraction(pump.catheter_ul_per_cm)
    if catheter < 0 or pump.pump_dead_volume_ul < 0:
        raise DosingError("Dead volumes cannot be negative.")
    pump_part = Fraction(pump.pump_dead_volume_ul)
    return PrimingBolus(
        pump_dead_volume_ul=pump_part,
        catheter_volume_ul=catheter,
        catheter_only=catheter_only,
        volume_ul=catheter if catheter_only else pump_part + catheter,
    )


# --------------------------------------------------------------------------- dose change


@dataclass(frozen=True)
class DoseChange:
    """Current vs new dose per 24 h, as the side-by-side review screen shows it."""

    current_mcg_per_day: Fraction
    new_mcg_per_day: Fraction
    change_mcg: Fraction
    change_pct: Fraction | None
    """None when the current dose is 0: a percentage of nothing is undefined."""
    note: str


def dose_change(current_mcg_per_day: Number, new_mcg_per_day: Number) -> DoseChange:
    """Change (mcg/day) = new - current; change (%) = change / current x 100.

    Source: domain.md ("always show the resulting total mcg per 24 h and the change from
    the current dose, in mcg and %"). When the current dose is 0 the percentage is None and
    the note says why; drug-library limits on % change then cannot apply.
    """
    current = _non_negative(current_mcg_per_day, "The current dose")
    new = _non_negative(new_mcg_per_day, "The new dose")
    change = new - current
    if current == 0:
        pct = None
        note = (
            "The current dose is 0 mcg/day, so the change has no percentage; "
            "check the new dose against the starting-dose limits instead."
        )
    else:
        pct = change / current * 100
        note = ""
    return DoseChange(current, new, change, pct, note)


__all__ = [
    "AS_EXPECTED",
    "DEFAULT_REFILL_MARGIN_DAYS",
    "DEFAULT_TRIP_MARGIN_DAYS",
    "LESS_THAN_EXPECTED",
    "MORE_THAN_EXPECTED",
    "BridgeBolus",
    "DiscrepancyThresholds",
    "DoseChange",
    "DosingError",
    "FlexStepRate",
    "ModelError",
    "PrimingBolus",
    "RefillDiscrepancy",
    "RefillForecast",
    "ResidualForecast",
    "TripCheck",
    "alarm_instant",
    "bridge_bolus",
    "daily_volume_ml",
    "days_to_alarm",
    "dose_change",
    "expected_residual",
    "flex_daily_total_mcg",
    "flex_step_rates",
    "max_24h_dose_mcg",
    "max_daily_dose_mcg",
    "max_daily_volume_ml",
    "patient_bolus_mcg_per_day",
    "patient_boluses_in_24h",
    "priming_bolus",
    "program_daily_dose_mcg",
    "program_delivered_mcg",
    "program_rate_pieces",
    "recommended_refill_date",
    "refill_discrepancy",
    "refill_forecast",
    "segments_delivered_ul",
    "trip_check",
]
