"""The simulated pump's battery: how its voltage falls, when it reaches the Elective
Replacement Indicator (ERI), and End of Service 90 days after.

The battery falls with time and with the volume the motor pushes; ERI is the first instant
it is at or below its threshold. Separate from the motor because the battery's model and
its two searches (the ERI instant inside a run of motor ticks, the projected ERI date) are
their own rules, read by the motor, the status reading and the saved state alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

#: End of Service follows the Elective Replacement Indicator after this long (domain.md).
EOS_AFTER_ERI = timedelta(days=90)


@dataclass(frozen=True)
class BatteryModel:
    """Battery voltage falls with time and with delivered volume (motor work).

    Defaults give about six and a half years to ERI at 0.25 mL/day; all are settings, not
    facts (domain.md: the battery lasts 5 to 7 years)."""

    eri_threshold_mv: int = 2900
    mv_per_day: Fraction = Fraction(12, 100)
    mv_per_ml: Fraction = Fraction(1, 10)

    def days_to_eri(self, battery_mv: Fraction, daily_ml: Fraction) -> Fraction | None:
        """Days until the battery falls from ``battery_mv`` to its ERI threshold at
        ``daily_ml`` pushed a day; None when it never falls or is over a century away."""
        drop_per_day = self.mv_per_day + self.mv_per_ml * daily_ml
        if drop_per_day <= 0:
            return None
        days = (battery_mv - self.eri_threshold_mv) / drop_per_day
        if days > 36_500:
            return None
        return days


def eri_in_stretch(
    battery: Callable[[int, datetime], Fraction],
    tick_time: Callable[[int], datetime],
    ticks: int,
    end: datetime,
    threshold: int,
    per_us: Fraction,
) -> tuple[int, datetime]:
    """Where a run of motor ticks must stop so ERI is raised when it happens.

    ``battery(k, at)`` is the voltage after the first k ticks at instant ``at``;
    ``tick_time(k)`` when tick k happens (0: the start); the run would make ``ticks`` ticks
    and end at ``end``, and the battery is at or below ``threshold`` there. Finds the first
    tick that leaves the battery at or below the threshold, then whether time alone
    (``per_us`` mV a microsecond) gets there before that tick. Returns the (ticks, end) to
    run: cut at that instant, or unchanged."""
    crossing_tick: int | None = None
    if ticks and battery(ticks, tick_time(ticks)) <= threshold:
        lo, hi = 0, ticks  # battery after lo ticks > threshold >= after hi ticks
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if battery(mid, tick_time(mid)) <= threshold:
                hi = mid
            else:
                lo = mid
        crossing_tick = hi
    before = ticks if crossing_tick is None else crossing_tick - 1
    limit = end if crossing_tick is None else tick_time(crossing_tick)
    by_time: datetime | None = None
    if per_us > 0:
        left = battery(before, tick_time(before)) - threshold
        by_time = tick_time(before) + timedelta(microseconds=math.ceil(left / per_us))
    if by_time is not None and by_time < limit:
        return before, by_time
    if crossing_tick is not None:
        return crossing_tick, limit
    return ticks, end
