"""What a simulated pump holds: its settings and its state, set up in one place.

:class:`PumpState` is the base every part of :class:`~drivers.simulator.pump.SimPump` builds
on (event log, alarms, motor, readings, commands, faults, saved state). Separate so the
state is declared once, with its meaning, and each part reads and changes the same
attributes under the same lock. Two steps belong to later parts and are only named here:
:meth:`PumpState._sync` (the motor runs the physics up to now) and
:meth:`PumpState._evaluate` (the alarms follow the state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from drivers.simulator.battery import BatteryModel
from drivers.simulator.clock import Clock, PumpClock, Timeline, require_aware, system_clock
from drivers.simulator.program_arithmetic import default_checksum
from itbconsole.model import STOPPED, Program, PumpEvent
from itbconsole.units import to_fraction


@dataclass
class ActiveAlarm:
    raised_at: datetime  # pump clock
    acknowledged: bool = False


@dataclass
class StagedProgram:
    program: Program
    checksum: int


@dataclass
class GivenBolus:
    at: datetime  # true time
    dose_mcg: Decimal
    kind: str


@dataclass
class CommitFault:
    alteration: Callable[[Program], Program]
    once: bool


class PumpState:
    """A simulated pump's settings and state (see :class:`~drivers.simulator.pump.SimPump`).

    Times passed in and out are timezone-aware. Internally ``_now`` is the true simulated
    UTC instant; the pump's own clock is :meth:`pump_clock_at` (offset and drift applied).
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
        alarm_date_early_days: int = 0,
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
        if alarm_date_early_days < 0:
            raise ValueError("the reported alarm date can only be made earlier")
        #: Days the pump reports its low-reservoir alarm date earlier than its own
        #: projection (a pump that projects more cautiously than the console does).
        self.alarm_date_early_days = alarm_date_early_days
        self._clock = clock
        real_now = clock()
        require_aware(real_now)
        sim_start = (start or real_now).astimezone(UTC)
        self._timeline = Timeline(real_now, sim_start, Fraction(speed))
        self._now = sim_start
        self._pump_clock = PumpClock(sim_start, sim_start + clock_offset, Fraction(clock_drift_ppm))
        self._estimate = Fraction(reservoir_ul)
        self._actual = Fraction(reservoir_ul)
        self._battery_mv = Fraction(battery_mv)
        self._eri_at: datetime | None = None  # true time
        self._program = program
        self._program_start_pump = self.pump_clock_at(sim_start)
        self._bridge_remaining_ul = Fraction(0)
        self._bridge_concentration = 0
        self._staged: StagedProgram | None = None
        self._commit_fault: CommitFault | None = None
        self._motor_stalled = False
        self._physical_refill = False
        self._alarms: dict[str, ActiveAlarm] = {}
        self._stop_cause: str | None = None
        self._events: list[PumpEvent] = []
        self._boluses: list[GivenBolus] = []
        self.delivered_ul_total = Fraction(0)  # actual volume pushed out since creation
        # mcg accrued since the last motor tick (pushed at the next one).
        self._pending_mcg = Fraction(0)
        self._evaluate()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def pump_clock_at(self, true_time: datetime) -> datetime:
        """The pump's own clock reading at the true instant ``true_time``."""
        return self._pump_clock.at(true_time)

    def _sync(self) -> None:
        """Run the physics up to the simulated now (:class:`~drivers.simulator.motor.Motor`)."""
        raise NotImplementedError

    def _evaluate(self) -> None:
        """Raise and clear condition alarms (:class:`~drivers.simulator.alarms.PumpAlarms`)."""
        raise NotImplementedError
