"""The trip check: does the drug in the pump last until a patient is back from a trip?

Separate because it answers a different question from the refill date (a given return
date plus a margin), built on the refill forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from itbconsole.dosing.alarm import RefillForecast
from itbconsole.dosing.checks import DosingError, checked_days
from itbconsole.dosing.instants import exact_seconds, local_midnight
from itbconsole.units import SECONDS_PER_DAY

#: Default margin after a trip's return date that the drug must still last (clinic setting).
DEFAULT_TRIP_MARGIN_DAYS = 7


@dataclass(frozen=True)
class TripCheck:
    """Does the drug last through a trip? ``ok`` is False when the alarm would sound before
    the end of (return date + margin), or when the drug reaches its time limit in the pump
    (the maximum refill interval) before that day: a full reservoir does not make a drug
    past its limit safe to leave in the pump."""

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
    governing: str = ""
    """What ends the trip's safe time first ("low-reservoir alarm" or "maximum refill
    interval"); empty when the drug lasts."""


def trip_check(
    forecast: RefillForecast,
    return_date: date,
    margin_days: int = DEFAULT_TRIP_MARGIN_DAYS,
) -> TripCheck:
    """Whether the pump's drug lasts until the end of the local day ``return_date`` +
    ``margin_days`` without the low-reservoir alarm sounding.

    Formula: needed until = local midnight after (return date + margin) in the forecast's
    zone; ok when alarm instant >= needed until (a stopped pump never alarms) and, with a
    maximum refill interval, start day + interval >= return date + margin; shortfall (days)
    = the larger of (needed until - alarm instant) / 86 400 s and (return date + margin) -
    (start day + interval), and ``governing`` names which. Source: domain.md (patients
    fly and need enough drug in the pump for the trip); the margin is a clinic setting.
    """
    checked_days(margin_days, "The trip margin")
    start_day = forecast.start.astimezone(forecast.tz).date()
    if return_date < start_day:
        raise DosingError("The return date is before the start date.")
    needed_until = local_midnight(return_date + timedelta(days=margin_days + 1), forecast.tz)
    shortfalls: list[tuple[Fraction, str]] = []
    if forecast.alarm_at is not None:
        short = exact_seconds(forecast.alarm_at, needed_until) / SECONDS_PER_DAY
        shortfalls.append((short, "low-reservoir alarm"))
    if forecast.max_refill_interval_days is not None:
        # The drug may stay in the pump to the end of (start day + interval); the trip needs
        # it to the end of (return date + margin).
        last_day = start_day + timedelta(days=forecast.max_refill_interval_days)
        needed_day = return_date + timedelta(days=margin_days)
        shortfalls.append((Fraction((needed_day - last_day).days), "maximum refill interval"))
    worst, governing = max(shortfalls, default=(Fraction(0), ""), key=lambda s: s[0])
    empties = forecast.empty_at is not None and forecast.empty_at < needed_until
    return TripCheck(
        forecast=forecast,
        return_date=return_date,
        margin_days=margin_days,
        needed_until=needed_until,
        ok=worst <= 0,
        shortfall_days=max(worst, Fraction(0)),
        empties_before_needed=empties,
        governing=governing if worst > 0 else "",
    )
