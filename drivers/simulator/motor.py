"""The simulated pump's motor: how it delivers, tick by tick, by its own physics (written
apart from the console's arithmetic).

* **A stepping motor on a fixed tick.** The motor steps once every :data:`MOTOR_TICK`
  (60 s) of *pump-clock* time, at every whole pump-clock minute. At each tick it pushes the
  volume due for the tick just ended: the program's dose over that minute (simple
  continuous: daily dose / 86 400 per second; flex: the rate of the step whose window holds
  the pump clock's wall time in ``clock_zone``, by weekday schedule; single bolus: the
  bolus spread over its duration from the program start, then the continuous rate),
  converted to volume at the concentration in the line. While a bridge bolus is clearing
  the dead volume that is the *old* concentration; the tick that finishes the bridge pushes
  the rest of its dose at the new one (split by mass). A minute is the pump's quantum
  because every flex step starts on a whole minute and every zone offset in use is whole
  minutes, so no tick straddles a flex step; a program change, a bolus end or a clock
  change inside a tick is settled by the next tick (the dose of the part-tick is carried).
* **The bound.** Volume leaves only at the *end* of a tick, so the simulated pump never
  delivers before the continuous ideal and its cumulative delivery lags the ideal by at most
  one tick's volume (at the rate in force in the tick in progress): the reservoir estimate
  is at or above the continuous figure, by less than one tick's volume, and equal to it at
  every tick boundary. Everything is exact :class:`~fractions.Fraction` microlitres, so
  runs are repeatable and never depend on how time is sliced.
* **Why independent.** The console computes expected residuals and alarm dates with
  :mod:`itbconsole.dosing` (integrals over continuous time). The simulator imports nothing
  from it: it counts motor ticks here, and its own flex schedule, day totals and date
  projection are coded in :mod:`drivers.simulator.program_arithmetic` and
  :mod:`drivers.simulator.readings`. An end-to-end test comparing the console's arithmetic with the simulator
  therefore compares two independent computations, which agree within the bound above.
* **Fast over months.** Runs of whole ticks at a constant rate are computed in closed form
  (the rate only changes at flex step boundaries, DST changes in ``clock_zone``, the end
  of a single bolus, a program change or the end of a bridge), and threshold crossings
  (low reservoir, empty, actual volume gone, bridge cleared, battery at ERI) are found
  tick-exactly by counting the ticks until the estimate reaches the threshold: advancing a
  pump 150 days costs a few hundred steps, not 216 000.
* The pump delivers by its *own* clock (the same crystal drives its clock and its motor), so
  flex steps and ticks follow the pump's clock and a drifting clock shifts them (a fast
  clock delivers more per real day), as it would in a real pump. ``clock_zone`` says which
  wall clock flex minutes count in. The protocol keeps the pump clock on UTC
  (docs/protocol.md, "Time"), so a served pump defaults to ``UTC``; ``Europe/London`` (or
  any zone) models a pump whose clock was set to local time, with 23- and 25-hour days at
  the DST changes.
* A real pump cannot sense its volume: it reports an *estimate* from what it was told to
  deliver. ``delivery_error`` makes the **actual** volume fall faster or slower than the
  estimate (for example -8 % under-delivery), which is what a refill discrepancy detects.
  Low-reservoir and empty alarms follow the estimate and are raised at the tick that
  reaches them; delivery physically stops when either the estimate reaches zero (the pump
  stops itself) or the actual volume does (silently). Clinician and patient boluses leave
  at once, when given. The battery falls with time and with the volume pushed; ERI is the
  first instant it is at or below its threshold, End of Service 90 days later.

Separate because this is the pump's physics, the part end-to-end tests compare with the
console's arithmetic; everything else about the pump only asks it to run up to now.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from fractions import Fraction

from drivers.simulator.alarms import Alarm, PumpAlarms
from drivers.simulator.battery import EOS_AFTER_ERI, eri_in_stretch
from drivers.simulator.clock import US_PER_DAY, US_PER_S, micros
from drivers.simulator.program_arithmetic import rate_at
from itbconsole.model import Mode
from itbconsole.units import UL_PER_ML

#: The motor steps once per tick of pump-clock time, on every whole pump-clock minute, and
#: pushes the volume due for the tick just ended. Delivery lags the continuous ideal by at
#: most one tick's volume and is never ahead of it.
MOTOR_TICK = timedelta(seconds=60)
_TICK_US = int(MOTOR_TICK.total_seconds()) * US_PER_S


def ticks_to_reach(first: Fraction, per: Fraction, room: Fraction, ticks: int) -> int | None:
    """Smallest k in 1..ticks with first + (k - 1) x per >= room (the tick at which the
    cumulative push reaches ``room``), or None when it is not reached within ``ticks``."""
    if ticks < 1:
        return None
    if first >= room:
        return 1
    if per <= 0:
        return None
    k = 1 + math.ceil((room - first) / per)
    return k if k <= ticks else None


class Motor(PumpAlarms):
    """Runs the pump's physics from where it stood up to the simulated now."""

    def _sync(self) -> None:
        target = self._timeline.sim_now(self._clock())
        if target > self._now:
            self._run_until(target)

    def _delivering(self) -> bool:
        return self._program.mode is not Mode.STOPPED and self._motor_can_run()

    def _motor_can_run(self) -> bool:
        return (
            self._estimate > 0
            and self._actual > 0
            and not self._motor_stalled
            and Alarm.EOS not in self._alarms
        )

    def _rate_concentration(self) -> int:
        if self._bridge_remaining_ul > 0:
            return self._bridge_concentration
        return self.concentration_mcg_ml

    @property
    def _actual_factor(self) -> Fraction:
        return 1 + self.delivery_error

    def _pump_us(self, true_time: datetime) -> int:
        """The pump clock at ``true_time``, in microseconds since the Unix epoch."""
        return self._pump_clock.micros_at(true_time)

    def _true_at(self, pump_us: int) -> datetime:
        """The first true instant at which the pump clock reads ``pump_us`` or later."""
        return self._pump_clock.true_at(pump_us)

    def _rate_at(self, pump_us: int) -> tuple[Fraction, int | None]:
        """The program's rate (mcg per pump-clock microsecond) at pump time ``pump_us`` and
        the pump time it next changes (None: never, while this program runs)."""
        return rate_at(self._program, self._program_start_pump, self.zone, pump_us)

    def _push_volume(self, mcg: Fraction) -> Fraction:
        """µL that pushing ``mcg`` takes from the reservoir by the pump's reckoning: at the
        concentration in the line; a push that finishes a bridge takes the rest of the dead
        volume at the old concentration and the rest of its dose at the new one (by mass)."""
        conc = self._rate_concentration()
        volume = mcg * UL_PER_ML / conc
        bridge = self._bridge_remaining_ul
        if bridge > 0 and volume > bridge:
            volume = bridge + (volume - bridge) * conc / self.concentration_mcg_ml
        return volume

    def _settle_tick(self) -> None:
        """Push the dose carried in the tick in progress now, so it is charged to the fill
        it was due from (called before a refill or an aspiration changes the reservoir).
        A motor that cannot run never makes that step."""
        if self._pending_mcg and self._motor_can_run():
            prog = min(self._push_volume(self._pending_mcg), self._estimate)
            moved = min(prog * self._actual_factor, self._actual)
            self._estimate -= prog
            self._actual -= moved
            self.delivered_ul_total += moved
            if self._bridge_remaining_ul > 0:
                self._bridge_remaining_ul = max(Fraction(0), self._bridge_remaining_ul - prog)
            self._battery_mv -= self.battery.mv_per_ml * moved / UL_PER_ML
        self._pending_mcg = Fraction(0)

    def _due_mcg(self, p0: int, p1: int) -> Fraction:
        """mcg the program makes due over pump time [p0, p1) (used for part-ticks)."""
        total = Fraction(0)
        while p0 < p1:
            rate, end = self._rate_at(p0)
            stop = p1 if end is None else min(end, p1)
            total += rate * (stop - p0)
            p0 = stop
        return total

    def _run_until(self, target: datetime) -> None:
        while self._now < target:
            goal = target
            if self._eri_at is not None and Alarm.EOS not in self._alarms:
                eos_at = self._eri_at + EOS_AFTER_ERI
                if self._now < eos_at < goal:
                    goal = eos_at
            self._run_stretch(goal)
            self._evaluate()

    def _run_stretch(self, goal: datetime) -> None:
        """Advance towards ``goal`` through a run of ticks at one constant rate, stopping
        early at the end of the rate's piece or at the first tick (or instant, for the
        battery) where a threshold is reached, so alarms are raised when they happen."""
        now = self._now
        p0 = self._pump_us(now)
        rate, piece_end = Fraction(0), None
        if self._delivering():
            rate, piece_end = self._rate_at(p0)
        goal_p = self._pump_us(goal)
        cut = piece_end is not None and piece_end < goal_p
        stop_p = piece_end if cut and piece_end is not None else goal_p
        end = self._true_at(stop_p) if cut else goal
        ticks = stop_p // _TICK_US - p0 // _TICK_US if self._motor_can_run() else 0
        first_tick = (p0 // _TICK_US + 1) * _TICK_US

        # Tick 1 pushes what was carried plus the rest of its minute; later ticks a full one.
        first_mcg = self._pending_mcg + rate * (first_tick - p0)
        tick_mcg = rate * _TICK_US
        conc = self._rate_concentration()
        first_ul = first_mcg * UL_PER_ML / conc
        tick_ul = tick_mcg * UL_PER_ML / conc
        estimate, actual, bridge = self._estimate, self._actual, self._bridge_remaining_ul
        factor = self._actual_factor

        rooms = [estimate]  # the estimate reaches zero: the pump stops itself
        if Alarm.LOW_RESERVOIR not in self._alarms:
            rooms.append(estimate - self.alarm_volume_ul)
        if bridge > 0:
            rooms.append(bridge)  # the dead volume is cleared: the concentration changes
        if factor > 0:
            rooms.append(actual / factor)  # the real reservoir runs dry
        hits = [k for room in rooms if (k := ticks_to_reach(first_ul, tick_ul, room, ticks))]
        if hits:
            ticks = min(hits)
            end = self._true_at(first_tick + (ticks - 1) * _TICK_US)

        def pushed(k: int) -> tuple[Fraction, Fraction, Fraction]:
            """(estimate volume, actual volume, bridge left) after the first k ticks."""
            if k == 0:
                return Fraction(0), Fraction(0), bridge
            prog = min(self._push_volume(first_mcg + (k - 1) * tick_mcg), estimate)
            return prog, min(prog * factor, actual), max(Fraction(0), bridge - prog)

        per_us = self.battery.mv_per_day / US_PER_DAY
        per_ul = self.battery.mv_per_ml / UL_PER_ML
        threshold = self.battery.eri_threshold_mv

        def tick_time(k: int) -> datetime:
            return now if k == 0 else self._true_at(first_tick + (k - 1) * _TICK_US)

        def battery(k: int, at: datetime) -> Fraction:
            return self._battery_mv - per_us * micros(at - now) - per_ul * pushed(k)[1]

        if self._eri_at is None and battery(ticks, end) <= threshold:
            # ERI falls in this stretch: stop the run at the instant it is reached.
            ticks, end = eri_in_stretch(battery, tick_time, ticks, end, threshold, per_us)

        last_p = p0
        if ticks:
            prog, moved, bridge_left = pushed(ticks)
            self._estimate -= prog
            self._actual -= moved
            self.delivered_ul_total += moved
            self._bridge_remaining_ul = bridge_left if bridge > 0 else Fraction(0)
            self._battery_mv -= per_ul * moved
            self._pending_mcg = Fraction(0)
            last_p = first_tick + (ticks - 1) * _TICK_US
        self._battery_mv -= per_us * micros(end - now)
        self._now = end
        if self._delivering():
            # Dose of the tick now in progress, carried to the next tick.
            self._pending_mcg += self._due_mcg(last_p, self._pump_us(end))
