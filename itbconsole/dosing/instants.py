"""Absolute-time arithmetic: instants in UTC, exact seconds between them, local midnight.

Separate because every duration in the package (days to alarm, residuals, trip margins) is
absolute time, and Python adds a timedelta to an aware datetime on its wall clock: every
sum goes through these few functions instead (docs/dosing.md, "Time").
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction

from itbconsole.units import SECONDS_PER_DAY

UTC_ZONE = "UTC"
MINUTES_PER_DAY = 1440


def as_utc(moment: datetime) -> datetime:
    """The same instant with a UTC tzinfo, so that adding a timedelta adds absolute time.

    Why: Python adds a timedelta to an aware datetime on its *wall clock*; with a zone such
    as Europe/London, ``start + timedelta(days=152)`` across a DST change is an hour off in
    absolute time. Every absolute-time sum in this package goes through UTC.
    """
    return moment.astimezone(UTC)


def exact_seconds(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b (b - a). Both aware (absolute time) or both naive."""
    delta = b - a
    return Fraction(delta.days * SECONDS_PER_DAY + delta.seconds) + Fraction(
        delta.microseconds, 1_000_000
    )


def add_seconds_utc(moment: datetime, seconds: Fraction, *, up: bool) -> datetime:
    """``moment`` plus an exact number of seconds in absolute time, in UTC, rounded to the
    whole second: down (``up=False``) or up (``up=True``)."""
    whole = math.ceil(seconds) if up else math.floor(seconds)
    return as_utc(moment) + timedelta(seconds=whole)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) at which local calendar ``day`` begins in ``tz``."""
    return as_utc(datetime.combine(day, time(0), tzinfo=tz))
