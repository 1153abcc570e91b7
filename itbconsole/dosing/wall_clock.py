"""Flex steps on the wall clock: where a zone's UTC offset changes, and which step's
rate runs at each instant, so a DST day delivers 23 or 25 hours of steps.

Separate because the clock handling is the subtle part of delivery (docs/dosing.md,
"Time"): it is kept in one place, apart from the integrals that use it.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta, tzinfo
from fractions import Fraction

from itbconsole.dosing.instants import MINUTES_PER_DAY, as_utc, exact_seconds
from itbconsole.model import Program
from itbconsole.units import SECONDS_PER_HOUR, to_fraction

# A piece of delivery: from lo to hi (aware, absolute time) at a constant rate per second.
Piece = tuple[datetime, datetime, Fraction]


def _offset_pieces(
    start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [start, end) into pieces over which ``tz`` keeps one UTC offset.

    The zone is probed once a day and a change is located by bisection to the second
    (zone transitions fall on whole seconds). Assumes no zone changes offset twice within
    24 hours, which holds for every zone in use.
    """
    pieces: list[tuple[datetime, datetime, timedelta]] = []
    lo = as_utc(start)
    end = as_utc(end)

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
                good, bad = 0, math.ceil(exact_seconds(base, nxt))
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


def flex_pieces(program: Program, start: datetime, end: datetime, tz: tzinfo) -> list[Piece]:
    """Flex delivery over [start, end) following the wall clock of ``tz``.

    Within a stretch of constant UTC offset the wall clock is absolute time shifted by the
    offset, so each step's wall-clock window maps to absolute time directly.
    """
    pieces: list[Piece] = []
    for lo, hi, off in _offset_pieces(start, end, tz):
        wall_lo = lo.replace(tzinfo=None) + off
        wall_hi = wall_lo + (hi - lo)
        for w_lo, w_hi, rate in _wall_schedule_pieces(program, wall_lo, wall_hi):
            pieces.append((lo + (w_lo - wall_lo), lo + (w_hi - wall_lo), rate))
    return pieces
