"""Time for the simulated pump: the real clock it follows, simulated time, and the pump's own
drifting clock.

Three clocks meet in a simulated pump and each has one job here:

* the **real clock** (:data:`Clock`): :func:`system_clock` in a served pump, a
  :class:`ManualClock` in tests, so nothing moves unless a test says so;
* **simulated time** (:class:`Timeline`): true UTC, the real clock's elapsed time times a
  speed factor from an anchor;
* the **pump clock** (:class:`PumpClock`): what the pump itself reads, offset from true
  time and running fast or slow by its drift. The pump delivers by this clock (the same
  crystal drives its clock and its motor).

Separate from the physics because every part of the pump converts through these, and the
conversions are exact integer microseconds, never floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from itbconsole.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

Clock = Callable[[], datetime]

US_PER_S = 1_000_000
US_PER_DAY = SECONDS_PER_DAY * US_PER_S
US_PER_HOUR = SECONDS_PER_HOUR * US_PER_S
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(delta: timedelta) -> int:
    """``delta`` in whole microseconds, exactly."""
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * US_PER_S + delta.microseconds


def require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("simulator times must carry a timezone")


class ManualClock:
    """A real-time clock that only moves when told: deterministic tests inject it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        require_aware(self.now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Timeline:
    """Where simulated time stands: true UTC, derived from a real clock times ``speed``."""

    real_anchor: datetime
    sim_anchor: datetime
    speed: Fraction

    def sim_now(self, real_now: datetime) -> datetime:
        elapsed_us = micros(real_now - self.real_anchor)
        scaled = math.floor(Fraction(elapsed_us) * self.speed)
        return self.sim_anchor + timedelta(microseconds=max(0, scaled))


@dataclass
class PumpClock:
    """The pump's own clock: pump time = ``base_pump`` + (true time - ``base_true``) x
    (1 + ``drift_ppm`` / 10^6). Setting the clock or changing its drift rebases it at the
    present instant, so the reading never jumps except when the clock is set."""

    base_true: datetime
    base_pump: datetime
    drift_ppm: Fraction

    def at(self, true_time: datetime) -> datetime:
        """The pump clock's reading at the true instant ``true_time``."""
        scaled = Fraction(micros(true_time - self.base_true)) * (1 + self.drift_ppm / US_PER_S)
        return self.base_pump + timedelta(microseconds=round(scaled))

    def micros_at(self, true_time: datetime) -> int:
        """The pump clock at ``true_time``, in microseconds since the Unix epoch."""
        return micros(self.at(true_time) - UNIX_EPOCH)

    def true_at(self, pump_us: int) -> datetime:
        """The first true instant (whole microsecond) at which the pump clock reads
        ``pump_us`` or later: when a tick on the pump clock really happens."""
        base = micros(self.base_pump - UNIX_EPOCH)
        rate = 1 + self.drift_ppm / US_PER_S
        wanted = pump_us - base
        if rate == 1:
            delta = wanted
        else:
            delta = math.floor((wanted - 1) / rate) - 1  # reads below ``wanted``
            while base + round(delta * rate) < pump_us:
                delta += 1
        return self.base_true + timedelta(microseconds=delta)

    def rebase(self, true_time: datetime, pump_time: datetime) -> None:
        """From ``true_time`` on, the clock reads ``pump_time`` and runs at its drift."""
        self.base_true = true_time
        self.base_pump = pump_time
