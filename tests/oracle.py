"""An independent oracle for the forecast's dates, written from the clinical facts only
(docs/dosing.md, "The forecast"), sharing no code with itbconsole.forecast or
itbconsole.dosing. Tests compare the console with it, never with itself.

Scope: a simple continuous program with or without patient boluses, from one anchor (a
volume at an instant). Two walks, the earliest wins:

* the formula: (volume - alarm volume) / (daily dose + every allowed bolus) / concentration;
* the schedule: the continuous rate, plus each pump-clock (UTC) day's whole bolus allowance
  taken at the start of that day (and at the anchor itself).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction


def _floor_seconds(start: datetime, seconds: Fraction) -> datetime:
    return start.replace(microsecond=0) + timedelta(seconds=math.floor(seconds))


def alarm_instant(
    anchor: datetime,
    volume_ul: int,
    alarm_ul: int,
    daily_mcg: Decimal | int,
    bolus_mcg: Decimal | int,
    boluses_per_day: int,
    concentration_mcg_ml: int,
) -> datetime:
    """When the low-reservoir alarm sounds at the latest a pump on this program allows."""
    to_go = Fraction(volume_ul - alarm_ul)  # µL
    if to_go <= 0:
        return anchor.replace(microsecond=0)
    allowance_ul = Fraction(Decimal(bolus_mcg) * boluses_per_day) * 1000 / concentration_mcg_ml
    continuous_ul_s = Fraction(Decimal(daily_mcg)) * 1000 / concentration_mcg_ml / 86_400
    formula = _floor_seconds(anchor, to_go / (continuous_ul_s + allowance_ul / 86_400))
    # The schedule walk, a day at a time.
    left = to_go - allowance_ul
    t = anchor
    if left <= 0:
        return anchor.replace(microsecond=0)
    midnight = datetime.combine(
        anchor.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC
    )
    while True:
        span = Fraction(int((midnight - t).total_seconds())) + Fraction(
            (midnight - t).microseconds, 10**6
        )
        if continuous_ul_s > 0 and left <= continuous_ul_s * span:
            exact = _floor_seconds(t, left / continuous_ul_s)
            break
        left -= continuous_ul_s * span
        t = midnight
        left -= allowance_ul
        if left <= 0:
            exact = midnight
            break
        midnight += timedelta(days=1)
        if midnight > anchor + timedelta(days=4000):
            return formula
    return min(formula, exact)


def refill_by(
    alarm: datetime,
    tz: object,
    margin_days: int,
    fill_day: date | None = None,
    interval_days: int | None = None,
    expiry: date | None = None,
    end_of_service: date | None = None,
) -> date:
    """The earliest of every bound (all calendar dates in the clinic's zone)."""
    days = [alarm.astimezone(tz).date() - timedelta(days=margin_days)]  # type: ignore[arg-type]
    if fill_day is not None and interval_days is not None:
        days.append(fill_day + timedelta(days=interval_days))
    days += [d for d in (expiry, end_of_service) if d is not None]
    return min(days)
