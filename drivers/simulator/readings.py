"""What the simulated pump reports about itself: program, reservoir, battery, alarms, the
projected alarm and ERI dates, and the status snapshot the protocol sends.

A real pump cannot sense its volume; it reports an estimate (whole microlitres, rounded
down, so it never claims drug it may not have) and projects dates by its own clock.
Separate because these are read-only views: each brings the physics up to now, then reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from drivers.simulator.alarms import Alarm
from drivers.simulator.battery import EOS_AFTER_ERI
from drivers.simulator.clock import US_PER_S
from drivers.simulator.motor import Motor
from drivers.simulator.program_arithmetic import largest_day_mcg, programmed_day_mcg
from itbconsole.model import Program
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML, to_fraction


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


class Readings(Motor):
    """The pump's readings, each up to the simulated now."""

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

    def delivering(self) -> bool:
        with self._lock:
            self._sync()
            return self._delivering()

    def alarm_date(self) -> date | None:
        """When the low-reservoir alarm is due by the pump clock: the pump's own projection
        at its largest programmed day (flex: the largest weekday) plus every patient bolus
        allowed (the Prometra rule in domain.md), made ``alarm_date_early_days`` earlier
        when set; None when not delivering."""
        with self._lock:
            self._sync()
            daily_ul = largest_day_mcg(self._program) * UL_PER_ML / self.concentration_mcg_ml
            now = self.pump_clock_at(self._now)
            early = timedelta(days=self.alarm_date_early_days)
            if self._estimate <= self.alarm_volume_ul:
                return now.astimezone(self.zone).date() - early
            if daily_ul <= 0 or not self._delivering():
                return None
            days = (self._estimate - self.alarm_volume_ul) / daily_ul
            when = now + timedelta(microseconds=math.floor(days * SECONDS_PER_DAY * US_PER_S))
            return when.astimezone(self.zone).date() - early

    def _eri_date(self) -> date | None:
        """ERI date by the pump clock: when it was reached, or projected from the battery's
        fall at the programmed daily volume; None when it cannot be projected."""
        if self._eri_at is not None:
            return self.pump_clock_at(self._eri_at).astimezone(self.zone).date()
        daily_ml = programmed_day_mcg(self._program) / self.concentration_mcg_ml
        days = self.battery.days_to_eri(self._battery_mv, daily_ml)
        if days is None:
            return None
        when = self.pump_clock_at(self._now) + timedelta(
            microseconds=math.floor(days * SECONDS_PER_DAY * US_PER_S)
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
