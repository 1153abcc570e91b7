"""SimPump: the simulated pump, assembled from its parts, and the controls of its time.

Each concept of the pump has its own module, and :class:`SimPump` joins them:

* :mod:`.pump_state` — its settings and state, set up once;
* :mod:`.clock` — the real clock it follows, simulated time, its own drifting clock;
* :mod:`.program_arithmetic` — its own daily amounts, rates and checksum;
* :mod:`.motor` — its physics: delivery by motor ticks (read this for how it delivers);
* :mod:`.battery` — battery fall, ERI and End of Service;
* :mod:`.event_log` and :mod:`.alarms` — what it records and what it raises;
* :mod:`.readings` — what it reports (status, projected dates);
* :mod:`.programming`, :mod:`.refill`, :mod:`.boluses` — the commands it obeys;
* :mod:`.pump_faults` — the faults that can be put into it;
* :mod:`.saved_state` — its state as JSON, to resume later.

Simulated time is derived from an injectable real clock times a speed factor, plus any
explicit :meth:`SimPump.advance`; tests inject a :class:`ManualClock` and nothing moves
unless they say so.

All public methods take the pump's lock: the pty/TCP server threads and a test or UI thread
may use one pump at once.

The names other modules import from here (``from drivers.simulator.pump import Alarm``)
stay importable from here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from drivers.simulator.alarms import Alarm
from drivers.simulator.battery import EOS_AFTER_ERI, BatteryModel
from drivers.simulator.boluses import Boluses, PatientBolusResult
from drivers.simulator.clock import (
    US_PER_S,
    Clock,
    ManualClock,
    Timeline,
    require_aware,
    system_clock,
)
from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind
from drivers.simulator.motor import MOTOR_TICK
from drivers.simulator.program_arithmetic import (
    day_schedule_mcg,
    default_checksum,
    largest_day_mcg,
    programmed_day_mcg,
    scale_program,
)
from drivers.simulator.programming import Programming
from drivers.simulator.pump_faults import PumpFaults
from drivers.simulator.readings import PumpStatus, Readings
from drivers.simulator.refill import Refill
from drivers.simulator.saved_state import STATE_VERSION, SavedState
from itbconsole.units import SECONDS_PER_DAY

__all__ = [
    "EOS_AFTER_ERI",
    "MOTOR_TICK",
    "STATE_VERSION",
    "Alarm",
    "BatteryModel",
    "Clock",
    "EventKind",
    "ManualClock",
    "PatientBolusResult",
    "PumpCommandError",
    "PumpStatus",
    "SimPump",
    "day_schedule_mcg",
    "default_checksum",
    "largest_day_mcg",
    "programmed_day_mcg",
    "scale_program",
    "system_clock",
]


class SimPump(Readings, Programming, Refill, Boluses, PumpFaults, SavedState):
    """A simulated implanted pump. See :mod:`drivers.simulator.motor` for the physics and
    :class:`~drivers.simulator.pump_state.PumpState` for its settings.

    Times passed in and out are timezone-aware. Internally ``_now`` is the true simulated
    UTC instant; the pump's own clock is :meth:`pump_clock` (offset and drift applied).
    """

    @property
    def speed(self) -> Fraction:
        return self._timeline.speed

    @speed.setter
    def speed(self, value: float | Fraction) -> None:
        with self._lock:
            self._sync()
            self._timeline = Timeline(self._clock(), self._now, Fraction(value))

    def now(self) -> datetime:
        """The true simulated UTC instant (after bringing the physics up to date)."""
        with self._lock:
            self._sync()
            return self._now

    def advance(self, delta: timedelta) -> None:
        """Move simulated time forward by ``delta`` and run the physics over it."""
        if delta < timedelta(0):
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._sync()
            self._timeline.sim_anchor += delta
            self._sync()

    def pump_clock(self) -> datetime:
        """The pump's own clock reading (UTC-aware), offset and drift included."""
        with self._lock:
            self._sync()
            return self.pump_clock_at(self._now)

    @property
    def clock_drift_ppm(self) -> Fraction:
        return self._pump_clock.drift_ppm

    def set_clock_drift(
        self, *, ppm: Fraction | int | None = None, seconds_per_day: Fraction | int | None = None
    ) -> None:
        """Change how fast the pump clock runs: ``ppm`` or ``seconds_per_day`` (+ = fast)."""
        with self._lock:
            self._sync()
            self._pump_clock.rebase(self._now, self.pump_clock_at(self._now))
            if seconds_per_day is not None:
                self._pump_clock.drift_ppm = Fraction(seconds_per_day) * US_PER_S / SECONDS_PER_DAY
            elif ppm is not None:
                self._pump_clock.drift_ppm = Fraction(ppm)

    def set_clock(self, pump_time: datetime) -> None:
        """Set the pump clock (the console's "set clock" command); logged."""
        require_aware(pump_time)
        with self._lock:
            self._sync()
            old = self.pump_clock_at(self._now)
            self._pump_clock.rebase(self._now, pump_time.astimezone(UTC))
            # The pump keeps its place in a single-bolus program across a clock change.
            self._program_start_pump += pump_time - old
            self._log(EventKind.CLOCK_SET, {"old": old.isoformat(), "new": pump_time.isoformat()})
