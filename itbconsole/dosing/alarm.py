"""Alarm date arithmetic: days to the low-reservoir alarm, the alarm instant in absolute
time, and the recommended refill-by date with the rule that set it.

Separate because these dates are safety-critical (a wrong date shown was FDA
Z-1338-2012) and each has its own rounding rule: instants early rather than late, refill
dates on the local calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fractions import Fraction

from itbconsole.dosing.checks import (
    DosingError,
    checked_concentration,
    checked_days,
    checked_non_negative,
    require_aware,
)
from itbconsole.dosing.daily_doses import patient_bolus_mcg_per_day, program_daily_dose_mcg
from itbconsole.dosing.instants import add_seconds_utc
from itbconsole.model import Mode, Program
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML, Number

#: Default margin between the recommended refill date and the low-reservoir alarm date,
#: in local calendar days (clinic setting; issue 2).
DEFAULT_REFILL_MARGIN_DAYS = 7


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
    rate = checked_non_negative(volume_ml_per_day, "The daily volume")
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
    require_aware(start)
    if days is None:
        return None
    return add_seconds_utc(start, days * SECONDS_PER_DAY, up=False)


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
    require_aware(start)
    checked_days(margin_days, "The refill margin")
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
        checked_days(max_refill_interval_days, "The maximum refill interval")
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
    require_aware(start)
    if reservoir_ul < 0 or alarm_volume_ul < 0:
        raise DosingError("Reservoir and alarm volumes cannot be negative.")
    conc = checked_concentration(concentration_mcg_ml)
    checked_days(margin_days, "The refill margin")
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
