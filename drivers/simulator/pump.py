"""SimPump: the simulated pump's state, physics, alarms, event log and saved state.

How the pump delivers (its own physics, written apart from the console's arithmetic):

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
  :mod:`itbconsole.dosing` (integrals over continuous time). This module imports nothing
  from it: it counts motor ticks, and its own flex schedule, day totals and date projection
  are coded here. An end-to-end test comparing the console's arithmetic with the simulator
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
* Simulated time is derived from an injectable real clock times a speed factor, plus any
  explicit :meth:`SimPump.advance`; tests inject a :class:`ManualClock` and nothing moves
  unless they say so.

All public methods take the pump's lock: the pty/TCP server threads and a test or UI thread
may use one pump at once.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.protocol import ProtocolError, program_checksum
from itbconsole.model import MINUTES_PER_DAY, STOPPED, FlexStep, Mode, Program, PumpEvent
from itbconsole.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, UL_PER_ML, to_fraction

Clock = Callable[[], datetime]

#: End of Service follows the Elective Replacement Indicator after this long (domain.md).
EOS_AFTER_ERI = timedelta(days=90)
#: The motor steps once per tick of pump-clock time, on every whole pump-clock minute, and
#: pushes the volume due for the tick just ended. Delivery lags the continuous ideal by at
#: most one tick's volume and is never ahead of it.
MOTOR_TICK = timedelta(seconds=60)
#: 2: adds ``pending_mcg`` (dose accrued in the tick in progress). Version 1 still loads.
STATE_VERSION = 2
_READABLE_STATE_VERSIONS = (1, 2)
_US_PER_S = 1_000_000
_US_PER_DAY = SECONDS_PER_DAY * _US_PER_S
_US_PER_HOUR = SECONDS_PER_HOUR * _US_PER_S
_TICK_US = int(MOTOR_TICK.total_seconds()) * _US_PER_S
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- the pump's own
# program arithmetic (independent of itbconsole.dosing)


def day_schedule_mcg(steps: Sequence[FlexStep]) -> Fraction:
    """mcg one 24-hour flex day delivers: each step's rate (mcg/h) for the minutes until the
    next step starts (the last until midnight)."""
    total = Fraction(0)
    for i, step in enumerate(steps):
        until = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        total += to_fraction(step.rate_mcg_per_hour) * Fraction(until - step.start_minute, 60)
    return total


def programmed_day_mcg(program: Program, weekday: int | None = None) -> Fraction:
    """The pump's programmed mcg per day, patient boluses excluded: flex, the default
    schedule's day (or ``weekday``'s, 0 = Monday); single bolus, the continuous rate after
    the bolus; stopped, 0."""
    if program.mode is Mode.STOPPED:
        return Fraction(0)
    if program.mode is Mode.FLEX:
        steps = program.flex_steps if weekday is None else program.steps_for_weekday(weekday)
        return day_schedule_mcg(steps)
    return to_fraction(program.daily_dose_mcg)


def largest_day_mcg(program: Program) -> Fraction:
    """The most the pump may deliver in a day: the largest programmed day (flex: over the
    seven weekdays) plus every patient bolus allowed (dose per bolus x maximum per day)."""
    if program.mode is Mode.FLEX:
        base = max(programmed_day_mcg(program, weekday) for weekday in range(7))
    else:
        base = programmed_day_mcg(program)
    if program.patient_bolus is not None:
        bolus = program.patient_bolus
        base += to_fraction(bolus.dose_mcg) * bolus.max_per_day
    return base


def _ticks_to_reach(first: Fraction, per: Fraction, room: Fraction, ticks: int) -> int | None:
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


class PumpCommandError(Exception):
    """The pump refuses a command. ``reason`` is the protocol's refusal code name in lower
    case (``not_staged``, ``checksum_mismatch``, ``out_of_range``, ``end_of_service``,
    ``motor_stall``, ``reservoir_empty``, ``bad_program``, ``invalid_state``); the message is
    for the user (it travels back to the console as the refusal's reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Alarm:
    """Alarm names, as the pump reports them (the protocol's alarm-bit names)."""

    LOW_RESERVOIR = "low_reservoir"
    EMPTY = "reservoir_empty"
    ERI = "eri"
    EOS = "end_of_service"
    MOTOR_STALL = "motor_stall"
    RESET = "pump_reset"

    #: Alarms that stay until their condition clears; acknowledging only silences them.
    CONDITIONS = frozenset({LOW_RESERVOIR, EMPTY, ERI, EOS, MOTOR_STALL})


class EventKind:
    """Event log entry kinds (the protocol's event names)."""

    REFILL = "refill"
    PROGRAM_CHANGE = "program_change"
    PATIENT_BOLUS = "patient_bolus"
    PATIENT_BOLUS_DENIED = "patient_bolus_denied"
    SINGLE_BOLUS = "single_bolus"
    BRIDGE_BOLUS = "bridge_bolus"
    DELIVERY_STOPPED = "delivery_stopped"
    DELIVERY_RESUMED = "delivery_resumed"
    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_TEST = "alarm_test"
    CLOCK_SET = "clock_set"
    RESET = "reset"


class ManualClock:
    """A real-time clock that only moves when told: deterministic tests inject it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        _require_aware(self.now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def system_clock() -> datetime:
    return datetime.now(UTC)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("simulator times must carry a timezone")


def _us(delta: timedelta) -> int:
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * _US_PER_S + delta.microseconds


def default_checksum(program: Program) -> int:
    """The protocol's program checksum (CRC-32 of the program block), so a checksum the
    pump returns from :meth:`SimPump.stage_program` is the one the console computes."""
    return program_checksum(program)


def scale_program(program: Program, factor: Decimal) -> Program:
    """The same program with every rate and dose multiplied by ``factor``: the shape of the
    field fault where a battery fault reset the flow to a very low rate."""
    from dataclasses import replace

    from itbconsole.model import FlexStep

    def steps(seq: tuple[FlexStep, ...]) -> tuple[FlexStep, ...]:
        return tuple(FlexStep(s.start_minute, s.rate_mcg_per_hour * factor) for s in seq)

    return replace(
        program,
        daily_dose_mcg=program.daily_dose_mcg * factor,
        flex_steps=steps(program.flex_steps),
        flex_weekday_steps=tuple((d, steps(s)) for d, s in program.flex_weekday_steps),
        bolus_dose_mcg=program.bolus_dose_mcg * factor,
    )


@dataclass(frozen=True)
class BatteryModel:
    """Battery voltage falls with time and with delivered volume (motor work).

    Defaults give about six and a half years to ERI at 0.25 mL/day; all are settings, not
    facts (domain.md: the battery lasts 5 to 7 years)."""

    eri_threshold_mv: int = 2900
    mv_per_day: Fraction = Fraction(12, 100)
    mv_per_ml: Fraction = Fraction(1, 10)


@dataclass(frozen=True)
class PumpStatus:
    """A snapshot of what the pump reports about itself."""

    reservoir_ul: int
    reservoir_capacity_ul: int
    alarm_volume_ul: int
    alarm_date: date | None
    battery_mv: int
    eri: bool
    eos: bool
    eos_date: date | None
    eri_date: date | None
    alarms: tuple[str, ...]
    unacknowledged_alarms: tuple[str, ...]
    pump_clock: datetime
    delivering: bool
    drug: str
    concentration_mcg_ml: int


@dataclass
class _ActiveAlarm:
    raised_at: datetime  # pump clock
    acknowledged: bool = False


@dataclass
class _Timeline:
    """Where simulated time stands: true UTC, derived from a real clock times ``speed``."""

    real_anchor: datetime
    sim_anchor: datetime
    speed: Fraction

    def sim_now(self, real_now: datetime) -> datetime:
        elapsed_us = _us(real_now - self.real_anchor)
        scaled = math.floor(Fraction(elapsed_us) * self.speed)
        return self.sim_anchor + timedelta(microseconds=max(0, scaled))


@dataclass
class _Staged:
    program: Program
    checksum: int


@dataclass
class _Bolus:
    at: datetime  # true time
    dose_mcg: Decimal
    kind: str


@dataclass
class _CommitFault:
    alteration: Callable[[Program], Program]
    once: bool


@dataclass
class PatientBolusResult:
    accepted: bool
    reason: str = ""
    volume_ul: Fraction = field(default_factory=Fraction)


class SimPump:
    """A simulated implanted pump. See the module docstring for the physics.

    Times passed in and out are timezone-aware. Internally ``_now`` is the true simulated
    UTC instant; the pump's own clock is :meth:`pump_clock` (offset and drift applied).
    """

    def __init__(
        self,
        *,
        model: str = "SIM-40",
        reservoir_capacity_ul: int = 40_000,
        serial: str = "SIM0000001",
        firmware: str = "2.4.1",
        drug: str = "Lioresal Intrathecal",
        drug_code: int = 1,
        concentration_mcg_ml: int = 2000,
        reservoir_ul: int | Fraction = 20_000,
        alarm_volume_ul: int = 2_000,
        program: Program = STOPPED,
        battery_mv: int | Fraction = 3200,
        battery: BatteryModel | None = None,
        clock: Clock = system_clock,
        speed: float | Fraction = 1,
        clock_zone: str = "UTC",
        clock_drift_ppm: Fraction | int = 0,
        clock_offset: timedelta = timedelta(0),
        delivery_error: Fraction | Decimal | int = 0,
        pump_dead_volume_ul: int = 250,
        catheter_length_cm: Decimal = Decimal(50),
        catheter_ul_per_cm: Decimal = Decimal("2.2"),
        checksum: Callable[[Program], int] = default_checksum,
        start: datetime | None = None,
    ) -> None:
        if reservoir_capacity_ul not in (20_000, 40_000):
            raise ValueError("a simulated pump holds 20 mL or 40 mL")
        self._lock = threading.RLock()
        self.model = model
        self.reservoir_capacity_ul = reservoir_capacity_ul
        self.serial = serial
        self.firmware = firmware
        self.drug = drug
        self.drug_code = drug_code
        self.resets = 0
        self.motor_stalls = 0
        self.concentration_mcg_ml = concentration_mcg_ml
        self.alarm_volume_ul = alarm_volume_ul
        self.battery = battery or BatteryModel()
        self.pump_dead_volume_ul = pump_dead_volume_ul
        self.catheter_length_cm = catheter_length_cm
        self.catheter_ul_per_cm = catheter_ul_per_cm
        self.checksum = checksum
        self.zone = ZoneInfo(clock_zone)
        self.delivery_error = to_fraction(delivery_error)
        self._clock = clock
        real_now = clock()
        _require_aware(real_now)
        sim_start = (start or real_now).astimezone(UTC)
        self._timeline = _Timeline(real_now, sim_start, Fraction(speed))
        self._now = sim_start
        # pump clock = base_pump + (true - base_true) * (1 + drift_ppm / 1e6)
        self._drift_ppm = Fraction(clock_drift_ppm)
        self._clock_base_true = sim_start
        self._clock_base_pump = sim_start + clock_offset
        self._estimate = Fraction(reservoir_ul)
        self._actual = Fraction(reservoir_ul)
        self._battery_mv = Fraction(battery_mv)
        self._eri_at: datetime | None = None  # true time
        self._program = program
        self._program_start_pump = self.pump_clock_at(sim_start)
        self._bridge_remaining_ul = Fraction(0)
        self._bridge_concentration = 0
        self._staged: _Staged | None = None
        self._commit_fault: _CommitFault | None = None
        self._motor_stalled = False
        self._physical_refill = False
        self._alarms: dict[str, _ActiveAlarm] = {}
        self._stop_cause: str | None = None
        self._events: list[PumpEvent] = []
        self._boluses: list[_Bolus] = []
        self.delivered_ul_total = Fraction(0)  # actual volume pushed out since creation
        # mcg accrued since the last motor tick (pushed at the next one).
        self._pending_mcg = Fraction(0)
        self._evaluate()

    # ------------------------------------------------------------------ time

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def speed(self) -> Fraction:
        return self._timeline.speed

    @speed.setter
    def speed(self, value: float | Fraction) -> None:
        with self._lock:
            self._sync()
            self._timeline = _Timeline(self._clock(), self._now, Fraction(value))

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

    def pump_clock_at(self, true_time: datetime) -> datetime:
        scaled = Fraction(_us(true_time - self._clock_base_true)) * (
            1 + self._drift_ppm / _US_PER_S
        )
        return self._clock_base_pump + timedelta(microseconds=round(scaled))

    def pump_clock(self) -> datetime:
        """The pump's own clock reading (UTC-aware), offset and drift included."""
        with self._lock:
            self._sync()
            return self.pump_clock_at(self._now)

    @property
    def clock_drift_ppm(self) -> Fraction:
        return self._drift_ppm

    def set_clock_drift(
        self, *, ppm: Fraction | int | None = None, seconds_per_day: Fraction | int | None = None
    ) -> None:
        """Change how fast the pump clock runs: ``ppm`` or ``seconds_per_day`` (+ = fast)."""
        with self._lock:
            self._sync()
            self._rebase_clock(self.pump_clock_at(self._now))
            if seconds_per_day is not None:
                self._drift_ppm = Fraction(seconds_per_day) * _US_PER_S / SECONDS_PER_DAY
            elif ppm is not None:
                self._drift_ppm = Fraction(ppm)

    def set_clock(self, pump_time: datetime) -> None:
        """Set the pump clock (the console's "set clock" command); logged."""
        _require_aware(pump_time)
        with self._lock:
            self._sync()
            old = self.pump_clock_at(self._now)
            self._rebase_clock(pump_time.astimezone(UTC))
            # The pump keeps its place in a single-bolus program across a clock change.
            self._program_start_pump += pump_time - old
            self._log(EventKind.CLOCK_SET, {"old": old.isoformat(), "new": pump_time.isoformat()})

    def _rebase_clock(self, pump_time: datetime) -> None:
        self._clock_base_true = self._now
        self._clock_base_pump = pump_time

    def _sync(self) -> None:
        target = self._timeline.sim_now(self._clock())
        if target > self._now:
            self._run_until(target)

    # ------------------------------------------------------------------ physics

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
        return _us(self.pump_clock_at(true_time) - _EPOCH)

    def _true_at(self, pump_us: int) -> datetime:
        """The first true instant (whole microsecond) at which the pump clock reads
        ``pump_us`` or later: when a tick on the pump clock really happens."""
        base = _us(self._clock_base_pump - _EPOCH)
        rate = 1 + self._drift_ppm / _US_PER_S
        wanted = pump_us - base
        if rate == 1:
            delta = wanted
        else:
            delta = math.floor((wanted - 1) / rate) - 1  # reads below ``wanted``
            while base + round(delta * rate) < pump_us:
                delta += 1
        return self._clock_base_true + timedelta(microseconds=delta)

    def _offset_at(self, pump_us: int) -> timedelta | None:
        return (_EPOCH + timedelta(microseconds=pump_us)).astimezone(self.zone).utcoffset()

    def _rate_at(self, pump_us: int) -> tuple[Fraction, int | None]:
        """The program's rate (mcg per pump-clock microsecond) at pump time ``pump_us`` and
        the pump time it next changes (None: never, while this program runs)."""
        program = self._program
        if program.mode is Mode.STOPPED:
            return Fraction(0), None
        continuous = to_fraction(program.daily_dose_mcg) / _US_PER_DAY
        if program.mode is Mode.SIMPLE_CONTINUOUS:
            return continuous, None
        if program.mode is Mode.SINGLE_BOLUS:
            start = _us(self._program_start_pump - _EPOCH)
            duration = program.bolus_duration_minutes * 60 * _US_PER_S
            if pump_us < start:
                return Fraction(0), start
            if pump_us < start + duration:
                return to_fraction(program.bolus_dose_mcg) / duration, start + duration
            return continuous, None
        # Flex: the step whose window holds the pump clock's wall time in its zone.
        local = (_EPOCH + timedelta(microseconds=pump_us)).astimezone(self.zone)
        wall = local.replace(tzinfo=None)
        steps = program.steps_for_weekday(wall.weekday())
        minute = wall.hour * 60 + wall.minute
        i = max(j for j, s in enumerate(steps) if s.start_minute <= minute)
        until = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        wall_end = datetime.combine(wall.date(), time(0)) + timedelta(minutes=until)
        end = pump_us + _us(wall_end - wall)
        offset = local.utcoffset()
        if self._offset_at(end) != offset:
            # The wall clock jumps (DST) before the step ends: the rate may change there.
            # Zones change offset at most once a day, so bisect for that instant.
            lo, hi = pump_us, end
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._offset_at(mid) == offset:
                    lo = mid
                else:
                    hi = mid
            end = hi
        return to_fraction(steps[i].rate_mcg_per_hour) / _US_PER_HOUR, end

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
        hits = [k for room in rooms if (k := _ticks_to_reach(first_ul, tick_ul, room, ticks))]
        if hits:
            ticks = min(hits)
            end = self._true_at(first_tick + (ticks - 1) * _TICK_US)

        def pushed(k: int) -> tuple[Fraction, Fraction, Fraction]:
            """(estimate volume, actual volume, bridge left) after the first k ticks."""
            if k == 0:
                return Fraction(0), Fraction(0), bridge
            prog = min(self._push_volume(first_mcg + (k - 1) * tick_mcg), estimate)
            return prog, min(prog * factor, actual), max(Fraction(0), bridge - prog)

        per_us = self.battery.mv_per_day / _US_PER_DAY
        per_ul = self.battery.mv_per_ml / UL_PER_ML
        threshold = self.battery.eri_threshold_mv

        def tick_time(k: int) -> datetime:
            return now if k == 0 else self._true_at(first_tick + (k - 1) * _TICK_US)

        def battery(k: int, at: datetime) -> Fraction:
            return self._battery_mv - per_us * _us(at - now) - per_ul * pushed(k)[1]

        if self._eri_at is None and battery(ticks, end) <= threshold:
            # ERI falls in this stretch: find the first tick that leaves the battery at or
            # below the threshold, then whether time alone gets there before that tick.
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
                ticks, end = before, by_time
            elif crossing_tick is not None:
                ticks, end = crossing_tick, limit

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
        self._battery_mv -= per_us * _us(end - now)
        self._now = end
        if self._delivering():
            # Dose of the tick now in progress, carried to the next tick.
            self._pending_mcg += self._due_mcg(last_p, self._pump_us(end))

    def _evaluate(self) -> None:
        """Raise and clear condition alarms from the current state."""
        self._set_alarm(Alarm.EMPTY, self._estimate <= 0)
        self._set_alarm(Alarm.LOW_RESERVOIR, self._estimate <= self.alarm_volume_ul)
        self._set_alarm(Alarm.MOTOR_STALL, self._motor_stalled)
        if self._eri_at is None and self._battery_mv <= self.battery.eri_threshold_mv:
            self._eri_at = self._now
        self._set_alarm(Alarm.ERI, self._eri_at is not None)
        self._set_alarm(
            Alarm.EOS, self._eri_at is not None and self._now >= self._eri_at + EOS_AFTER_ERI
        )
        cause = next(
            (a for a in (Alarm.EOS, Alarm.MOTOR_STALL, Alarm.EMPTY) if a in self._alarms), None
        )
        if cause != self._stop_cause:
            if cause is not None:
                self._log(EventKind.DELIVERY_STOPPED, {"alarm": cause})
            else:
                self._log(EventKind.DELIVERY_RESUMED, {})
            self._stop_cause = cause

    def _set_alarm(self, name: str, active: bool) -> None:
        if active and name not in self._alarms:
            self._alarms[name] = _ActiveAlarm(self.pump_clock_at(self._now))
            self._log(EventKind.ALARM_RAISED, {"alarm": name})
        elif not active and name in self._alarms and name in Alarm.CONDITIONS:
            del self._alarms[name]
            self._log(EventKind.ALARM_CLEARED, {"alarm": name})

    def _log(self, kind: str, detail: dict[str, Any]) -> None:
        index = len(self._events)  # 0-based and gapless: the log is never truncated
        self._events.append(
            PumpEvent(self.serial, index, self.pump_clock_at(self._now), kind, detail)
        )

    # ------------------------------------------------------------------ reading

    @property
    def program(self) -> Program:
        with self._lock:
            self._sync()
            return self._program

    @property
    def staged_program(self) -> Program | None:
        with self._lock:
            return None if self._staged is None else self._staged.program

    @property
    def reservoir_exact_ul(self) -> Fraction:
        """The pump's own estimate of its reservoir, exact."""
        with self._lock:
            self._sync()
            return self._estimate

    @property
    def reservoir_ul(self) -> int:
        """The estimate as the pump reports it: whole microlitres, rounded down (never claims
        drug it may not have)."""
        return math.floor(self.reservoir_exact_ul)

    @property
    def actual_reservoir_exact_ul(self) -> Fraction:
        """What is really in the reservoir (what a refill needle would withdraw)."""
        with self._lock:
            self._sync()
            return self._actual

    @property
    def battery_mv(self) -> int:
        with self._lock:
            self._sync()
            return math.floor(self._battery_mv)

    @property
    def eri_at(self) -> datetime | None:
        with self._lock:
            self._sync()
            return self._eri_at

    @property
    def dead_volume_ul(self) -> Fraction:
        """Pump internal volume plus catheter length x volume per cm."""
        return Fraction(self.pump_dead_volume_ul) + to_fraction(
            self.catheter_length_cm
        ) * to_fraction(self.catheter_ul_per_cm)

    @property
    def bridge_remaining_ul(self) -> Fraction:
        with self._lock:
            self._sync()
            return self._bridge_remaining_ul

    def alarms(self) -> tuple[str, ...]:
        with self._lock:
            self._sync()
            return tuple(sorted(self._alarms))

    def delivering(self) -> bool:
        with self._lock:
            self._sync()
            return self._delivering()

    def alarm_date(self) -> date | None:
        """When the low-reservoir alarm is due by the pump clock: the pump's own projection
        at its largest programmed day (flex: the largest weekday) plus every patient bolus
        allowed (the Prometra rule in domain.md); None when not delivering."""
        with self._lock:
            self._sync()
            daily_ul = largest_day_mcg(self._program) * UL_PER_ML / self.concentration_mcg_ml
            now = self.pump_clock_at(self._now)
            if self._estimate <= self.alarm_volume_ul:
                return now.astimezone(self.zone).date()
            if daily_ul <= 0 or not self._delivering():
                return None
            days = (self._estimate - self.alarm_volume_ul) / daily_ul
            when = now + timedelta(microseconds=math.floor(days * SECONDS_PER_DAY * _US_PER_S))
            return when.astimezone(self.zone).date()

    def _eri_date(self) -> date | None:
        """ERI date by the pump clock: when it was reached, or projected from the battery's
        fall at the programmed daily volume; None when it cannot be projected."""
        if self._eri_at is not None:
            return self.pump_clock_at(self._eri_at).astimezone(self.zone).date()
        daily_ml = programmed_day_mcg(self._program) / self.concentration_mcg_ml
        drop_per_day = self.battery.mv_per_day + self.battery.mv_per_ml * daily_ml
        if drop_per_day <= 0:
            return None
        days = (self._battery_mv - self.battery.eri_threshold_mv) / drop_per_day
        if days > 36_500:
            return None
        when = self.pump_clock_at(self._now) + timedelta(
            microseconds=math.floor(days * SECONDS_PER_DAY * _US_PER_S)
        )
        return when.astimezone(self.zone).date()

    @property
    def program_started(self) -> datetime:
        """Pump-clock time the active program became active."""
        with self._lock:
            self._sync()
            return self._program_start_pump

    def status(self) -> PumpStatus:
        with self._lock:
            self._sync()
            eri_date = self._eri_date()
            eos_date = None if eri_date is None else eri_date + EOS_AFTER_ERI
            return PumpStatus(
                reservoir_ul=math.floor(self._estimate),
                reservoir_capacity_ul=self.reservoir_capacity_ul,
                alarm_volume_ul=self.alarm_volume_ul,
                alarm_date=self.alarm_date(),
                battery_mv=math.floor(self._battery_mv),
                eri=self._eri_at is not None,
                eos=Alarm.EOS in self._alarms,
                eri_date=eri_date,
                eos_date=eos_date,
                alarms=tuple(sorted(self._alarms)),
                unacknowledged_alarms=tuple(
                    sorted(k for k, a in self._alarms.items() if not a.acknowledged)
                ),
                pump_clock=self.pump_clock_at(self._now),
                delivering=self._delivering(),
                drug=self.drug,
                concentration_mcg_ml=self.concentration_mcg_ml,
            )

    def events(self, start: int = 0, limit: int | None = None) -> list[PumpEvent]:
        """Event log entries with index >= ``start``, oldest first (resumable paging).
        Indices start at 0 and each new event takes the next one."""
        with self._lock:
            self._sync()
            out = self._events[max(0, start) :]
            return out if limit is None else out[:limit]

    @property
    def event_count(self) -> int:
        """Events ever logged: also the index the next event will get."""
        with self._lock:
            self._sync()
            return len(self._events)

    # ------------------------------------------------------------------ commands

    def stage_program(self, program: Program) -> int:
        """First phase of a program write: hold ``program`` and return its checksum."""
        with self._lock:
            self._sync()
            if program.mode is Mode.FLEX and not program.flex_steps:
                raise PumpCommandError("bad_program", "The flex program has no steps.")
            try:
                checksum = self.checksum(program)
            except ProtocolError as exc:
                raise PumpCommandError(
                    "bad_program", f"The program cannot be stored: {exc}"
                ) from exc
            self._staged = _Staged(program, checksum)
            return checksum

    def commit_program(self, checksum: int) -> Program:
        """Second phase: make the staged program active if ``checksum`` matches it."""
        with self._lock:
            self._sync()
            if self._staged is None:
                raise PumpCommandError(
                    "not_staged", "No program is staged. Send the program again."
                )
            if checksum != self._staged.checksum:
                raise PumpCommandError(
                    "checksum_mismatch",
                    "The commit checksum does not match the staged program; nothing changed. "
                    "Send the program again.",
                )
            new = self._staged.program
            self._staged = None
            if self._commit_fault is not None:
                new = self._commit_fault.alteration(new)
                if self._commit_fault.once:
                    self._commit_fault = None
            old = self._program
            self._program = new
            self._program_start_pump = self.pump_clock_at(self._now)
            self._log(
                EventKind.PROGRAM_CHANGE,
                {"old": old.to_dict(), "new": new.to_dict(), "checksum": checksum},
            )
            return new

    def update_reservoir(
        self,
        volume_ul: int,
        *,
        drug: str | None = None,
        drug_code: int | None = None,
        concentration_mcg_ml: int | None = None,
        alarm_volume_ul: int | None = None,
        bridge_volume_ul: int = 0,
        bridge_duration_min: int = 0,
    ) -> None:
        """Record a refill: the new volume, drug, concentration and alarm volume.

        A bridge bolus (``bridge_volume_ul`` > 0, normally the dead volume) makes the pump
        push that volume at the *old* concentration's volume rate, following the program,
        then switch to the new concentration: the tubing still holds old drug
        (domain.md, "Bridge bolus"; a ProgramSegment at the old concentration).
        ``bridge_duration_min`` is what the console expects it to take; it is recorded.
        Unless the fill itself was simulated with :meth:`aspirate` / :meth:`inject`, the
        actual reservoir is taken to hold what the console says.
        """
        with self._lock:
            self._sync()
            if not 0 <= volume_ul <= self.reservoir_capacity_ul:
                raise PumpCommandError(
                    "out_of_range",
                    f"The volume must be between 0 and {self.reservoir_capacity_ul} µL.",
                )
            if concentration_mcg_ml is not None and concentration_mcg_ml <= 0:
                raise PumpCommandError("out_of_range", "Concentration must be more than 0 mcg/mL.")
            alarm = self.alarm_volume_ul if alarm_volume_ul is None else alarm_volume_ul
            if not 0 <= alarm < self.reservoir_capacity_ul:
                raise PumpCommandError(
                    "out_of_range", "The alarm volume must be between 0 and the capacity."
                )
            if not 0 <= bridge_volume_ul <= self.reservoir_capacity_ul:
                raise PumpCommandError("out_of_range", "The bridge volume is out of range.")
            self._settle_tick()  # the step in progress is due from the old fill
            old_conc = self.concentration_mcg_ml
            new_conc = concentration_mcg_ml or old_conc
            self.alarm_volume_ul = alarm
            if bridge_volume_ul > 0:
                self._bridge_remaining_ul = Fraction(bridge_volume_ul)
                self._bridge_concentration = old_conc
            self._estimate = Fraction(volume_ul)
            if not self._physical_refill:
                self._actual = Fraction(volume_ul)
            self._physical_refill = False
            if drug is not None:
                self.drug = drug
            if drug_code is not None:
                self.drug_code = drug_code
            self.concentration_mcg_ml = new_conc
            self._log(
                EventKind.REFILL,
                {"reservoir_ul": volume_ul, "concentration_mcg_ml": new_conc, "drug": self.drug},
            )
            if bridge_volume_ul > 0:
                self._log(
                    EventKind.BRIDGE_BOLUS,
                    {"volume_ul": bridge_volume_ul, "duration_min": bridge_duration_min},
                )
            self._evaluate()

    def aspirate(self) -> int:
        """Simulate the nurse withdrawing the residual: returns whole µL withdrawn."""
        with self._lock:
            self._sync()
            self._settle_tick()
            withdrawn = math.floor(self._actual)
            self._actual -= withdrawn
            self._physical_refill = True
            return withdrawn

    def inject(self, volume_ul: int, *, into_pocket: bool = False) -> None:
        """Simulate the nurse injecting drug; a pocket fill never reaches the reservoir."""
        with self._lock:
            self._sync()
            self._physical_refill = True
            if not into_pocket:
                self._actual = min(Fraction(self.reservoir_capacity_ul), self._actual + volume_ul)

    def _bolus_volume(self, dose_mcg: Decimal) -> Fraction:
        """Volume a bolus pushes: while a bridge clears, old drug first (split by mass, as
        the motor's steps are), then the new."""
        mcg = to_fraction(dose_mcg)
        if self._bridge_remaining_ul <= 0:
            return mcg * UL_PER_ML / self.concentration_mcg_ml
        at_old = mcg * UL_PER_ML / self._bridge_concentration
        if at_old <= self._bridge_remaining_ul:
            return at_old
        rest = mcg - self._bridge_remaining_ul * self._bridge_concentration / UL_PER_ML
        return self._bridge_remaining_ul + rest * UL_PER_ML / self.concentration_mcg_ml

    def _deliver_now(self, dose_mcg: Decimal, kind: str, duration_min: int = 0) -> Fraction:
        prog = min(self._bolus_volume(dose_mcg), self._estimate)
        if self._bridge_remaining_ul > 0:  # the bolus pushes old drug out of the line too
            self._bridge_remaining_ul = max(Fraction(0), self._bridge_remaining_ul - prog)
        actual = min(prog * self._actual_factor, self._actual)
        self._estimate -= prog
        self._actual -= actual
        self.delivered_ul_total += actual
        self._battery_mv -= self.battery.mv_per_ml * actual / UL_PER_ML
        self._boluses.append(_Bolus(self._now, dose_mcg, kind))
        self._log(
            EventKind.PATIENT_BOLUS if kind == "patient" else EventKind.SINGLE_BOLUS,
            {"dose_mcg": str(dose_mcg), "duration_min": duration_min},
        )
        self._evaluate()
        return prog

    def give_bolus(self, dose_mcg: Decimal, duration_min: int = 0) -> Fraction:
        """A clinician's single bolus. Its volume leaves the reservoir at once, as the console's
        arithmetic counts a bolus (an instant); ``duration_min`` is recorded. Returns the
        programmed volume in µL."""
        with self._lock:
            self._sync()
            if dose_mcg <= 0:
                raise PumpCommandError("out_of_range", "A bolus needs a dose above 0 mcg.")
            self._refuse_if_cannot_deliver()
            return self._deliver_now(dose_mcg, "single", duration_min)

    def _refuse_if_cannot_deliver(self) -> None:
        if self._motor_stalled:
            raise PumpCommandError("motor_stall", "The pump motor has stalled.")
        if Alarm.EOS in self._alarms:
            raise PumpCommandError("end_of_service", "The pump has reached End of Service.")
        if self._estimate <= 0:
            raise PumpCommandError("reservoir_empty", "The reservoir is empty.")

    def press_patient_bolus(self) -> PatientBolusResult:
        """The patient presses their bolus button: lockout and daily maximum enforced
        (the daily maximum over any rolling 24 hours)."""
        with self._lock:
            self._sync()
            settings = self._program.patient_bolus
            if settings is None:
                return PatientBolusResult(False, "not_enabled")
            try:
                self._refuse_if_cannot_deliver()
            except PumpCommandError as exc:
                return PatientBolusResult(False, exc.reason)
            mine = [b for b in self._boluses if b.kind == "patient"]
            day_ago = self._now - timedelta(days=1)
            reason = ""
            if mine and self._now - mine[-1].at < timedelta(minutes=settings.lockout_minutes):
                reason = "lockout"
            elif sum(1 for b in mine if b.at > day_ago) >= settings.max_per_day:
                reason = "daily_maximum"
            if reason:
                self._log(
                    EventKind.PATIENT_BOLUS_DENIED,
                    {"dose_mcg": str(settings.dose_mcg), "reason": reason},
                )
                return PatientBolusResult(False, reason)
            volume = self._deliver_now(settings.dose_mcg, "patient", settings.duration_minutes)
            return PatientBolusResult(True, "", volume)

    def boluses(self) -> list[tuple[datetime, Decimal, str]]:
        """Boluses given: (pump-clock time, dose mcg, kind)."""
        with self._lock:
            return [(self.pump_clock_at(b.at), b.dose_mcg, b.kind) for b in self._boluses]

    def acknowledge_alarm(self, name: str | None = None) -> tuple[str, ...]:
        """Silence one alarm (or all). Condition alarms stay active until their cause
        clears; latched ones (reset) are cleared. Returns the names acknowledged."""
        with self._lock:
            self._sync()
            names = [name] if name is not None else list(self._alarms)
            if name is not None and name not in self._alarms:
                raise PumpCommandError("invalid_state", f"Alarm '{name}' is not active.")
            for n in names:
                self._log(EventKind.ALARM_ACKNOWLEDGED, {"alarm": n})
                if n in Alarm.CONDITIONS:
                    self._alarms[n].acknowledged = True
                else:
                    del self._alarms[n]
                    self._log(EventKind.ALARM_CLEARED, {"alarm": n})
            return tuple(names)

    def alarm_test(self) -> None:
        """Sound the alarm tones so the patient knows them; logged, no state change."""
        with self._lock:
            self._sync()
            self._log(EventKind.ALARM_TEST, {})

    # ------------------------------------------------------------------ faults on the pump

    def stall_motor(self) -> None:
        """Make the motor stall: delivery stops and the alarm is raised."""
        with self._lock:
            self._sync()
            if not self._motor_stalled:
                self.motor_stalls += 1
            self._motor_stalled = True
            self._evaluate()

    def clear_motor_stall(self) -> None:
        with self._lock:
            self._sync()
            self._motor_stalled = False
            self._evaluate()

    def simulate_reset(self, reason: int = 1) -> None:
        """A memory/reset fault: logged, and a latched alarm until acknowledged."""
        with self._lock:
            self._sync()
            self.resets += 1
            self._staged = None  # a reset clears the staged program (docs/protocol.md)
            self._log(EventKind.RESET, {"reason": reason})
            self._set_alarm(Alarm.RESET, True)

    def alter_committed_programs(
        self,
        alteration: Callable[[Program], Program] | None = None,
        *,
        once: bool = True,
    ) -> None:
        """Make the next commit (or every commit) store a different program than the one
        staged, while still answering "committed": the console's read-back must catch it.
        Default alteration: every rate and dose divided by ten (the field fault where the
        flow was reset to a very low rate). :meth:`clear_commit_fault` removes it."""
        with self._lock:
            fn = alteration or (lambda p: scale_program(p, Decimal("0.1")))
            self._commit_fault = _CommitFault(fn, once)

    def clear_commit_fault(self) -> None:
        with self._lock:
            self._commit_fault = None

    def set_battery_mv(self, mv: int) -> None:
        with self._lock:
            self._sync()
            self._battery_mv = Fraction(mv)
            self._evaluate()

    def set_eri_at(self, when: datetime) -> None:
        """Put the pump at ERI since ``when`` (true time): EOS follows 90 days later."""
        with self._lock:
            self._sync()
            self._eri_at = when.astimezone(UTC)
            self._battery_mv = min(self._battery_mv, Fraction(self.battery.eri_threshold_mv))
            self._evaluate()

    # ------------------------------------------------------------------ saved state

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume this pump later, JSON-safe."""
        with self._lock:
            self._sync()

            def frac(x: Fraction) -> str:
                return f"{x.numerator}/{x.denominator}"

            return {
                "version": STATE_VERSION,
                "model": self.model,
                "reservoir_capacity_ul": self.reservoir_capacity_ul,
                "serial": self.serial,
                "firmware": self.firmware,
                "drug": self.drug,
                "concentration_mcg_ml": self.concentration_mcg_ml,
                "alarm_volume_ul": self.alarm_volume_ul,
                "battery": {
                    "eri_threshold_mv": self.battery.eri_threshold_mv,
                    "mv_per_day": frac(self.battery.mv_per_day),
                    "mv_per_ml": frac(self.battery.mv_per_ml),
                },
                "pump_dead_volume_ul": self.pump_dead_volume_ul,
                "catheter_length_cm": str(self.catheter_length_cm),
                "catheter_ul_per_cm": str(self.catheter_ul_per_cm),
                "clock_zone": self.zone.key,
                "delivery_error": frac(self.delivery_error),
                "speed": frac(self.speed),
                "now": self._now.isoformat(),
                "drift_ppm": frac(self._drift_ppm),
                "clock_base_true": self._clock_base_true.isoformat(),
                "clock_base_pump": self._clock_base_pump.isoformat(),
                "estimate_ul": frac(self._estimate),
                "actual_ul": frac(self._actual),
                "battery_mv": frac(self._battery_mv),
                "eri_at": None if self._eri_at is None else self._eri_at.isoformat(),
                "program": self._program.to_dict(),
                "program_start_pump": self._program_start_pump.isoformat(),
                "bridge_remaining_ul": frac(self._bridge_remaining_ul),
                "bridge_concentration": self._bridge_concentration,
                "staged": None
                if self._staged is None
                else {"program": self._staged.program.to_dict(), "checksum": self._staged.checksum},
                "motor_stalled": self._motor_stalled,
                "stop_cause": self._stop_cause,
                "physical_refill": self._physical_refill,
                "alarms": {
                    k: {"raised_at": a.raised_at.isoformat(), "acknowledged": a.acknowledged}
                    for k, a in self._alarms.items()
                },
                "events": [
                    {"index": e.index, "at": e.at.isoformat(), "kind": e.kind, "detail": e.detail}
                    for e in self._events
                ],
                "boluses": [
                    {"at": b.at.isoformat(), "dose_mcg": str(b.dose_mcg), "kind": b.kind}
                    for b in self._boluses
                ],
                "delivered_ul_total": frac(self.delivered_ul_total),
                "pending_mcg": frac(self._pending_mcg),
            }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        *,
        clock: Clock = system_clock,
        checksum: Callable[[Program], int] = default_checksum,
    ) -> SimPump:
        """Resume a saved pump. Simulated time resumes at the later of the saved time and
        the clock's now: a real pump keeps pumping while the console is away. Reads the
        current state version and version 1 (saved before motor ticks: nothing carried)."""
        if state.get("version") not in _READABLE_STATE_VERSIONS:
            raise ValueError(f"unsupported simulator state version {state.get('version')!r}")

        def frac(text: str) -> Fraction:
            return Fraction(text)

        def when(text: str) -> datetime:
            return datetime.fromisoformat(text)

        saved_now = when(state["now"])
        pump = cls(
            model=state["model"],
            reservoir_capacity_ul=state["reservoir_capacity_ul"],
            serial=state["serial"],
            firmware=state["firmware"],
            drug=state["drug"],
            concentration_mcg_ml=state["concentration_mcg_ml"],
            reservoir_ul=frac(state["estimate_ul"]),
            alarm_volume_ul=state["alarm_volume_ul"],
            program=Program.from_dict(state["program"]),
            battery_mv=frac(state["battery_mv"]),
            battery=BatteryModel(
                eri_threshold_mv=state["battery"]["eri_threshold_mv"],
                mv_per_day=frac(state["battery"]["mv_per_day"]),
                mv_per_ml=frac(state["battery"]["mv_per_ml"]),
            ),
            clock=clock,
            speed=frac(state["speed"]),
            clock_zone=state["clock_zone"],
            delivery_error=frac(state["delivery_error"]),
            pump_dead_volume_ul=state["pump_dead_volume_ul"],
            catheter_length_cm=Decimal(state["catheter_length_cm"]),
            catheter_ul_per_cm=Decimal(state["catheter_ul_per_cm"]),
            checksum=checksum,
            start=saved_now,
        )
        with pump._lock:
            pump._events = [
                PumpEvent(pump.serial, e["index"], when(e["at"]), e["kind"], e["detail"])
                for e in state["events"]
            ]
            pump._alarms = {
                k: _ActiveAlarm(when(a["raised_at"]), a["acknowledged"])
                for k, a in state["alarms"].items()
            }
            pump._actual = frac(state["actual_ul"])
            pump._drift_ppm = frac(state["drift_ppm"])
            pump._clock_base_true = when(state["clock_base_true"])
            pump._clock_base_pump = when(state["clock_base_pump"])
            pump._eri_at = None if state["eri_at"] is None else when(state["eri_at"])
            pump._program_start_pump = when(state["program_start_pump"])
            pump._bridge_remaining_ul = frac(state["bridge_remaining_ul"])
            pump._bridge_concentration = state["bridge_concentration"]
            staged = state["staged"]
            pump._staged = (
                None
                if staged is None
                else _Staged(Program.from_dict(staged["program"]), staged["checksum"])
            )
            pump._motor_stalled = state["motor_stalled"]
            pump._stop_cause = state["stop_cause"]
            pump._physical_refill = state["physical_refill"]
            pump._boluses = [
                _Bolus(when(b["at"]), Decimal(b["dose_mcg"]), b["kind"]) for b in state["boluses"]
            ]
            pump.delivered_ul_total = frac(state["delivered_ul_total"])
            # Version 1 pumped continuously and carried nothing between ticks.
            pump._pending_mcg = frac(state.get("pending_mcg", "0"))
            real_now = clock()
            resume = max(saved_now, real_now.astimezone(UTC))
            pump._timeline = _Timeline(real_now, resume, pump._timeline.speed)
            pump._sync()
        return pump

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically (a crash never leaves half a file)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_state(), indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock = system_clock,
        checksum: Callable[[Program], int] = default_checksum,
    ) -> SimPump:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_state(data, clock=clock, checksum=checksum)
