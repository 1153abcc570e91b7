"""Boluses on the simulated pump: a clinician's single bolus and the patient's button, with
its lockout and daily maximum.

A bolus's volume leaves the reservoir at once, when given, as the console's arithmetic
counts a bolus (an instant); while a bridge clears the line, old drug leaves first.
Separate because boluses are the one delivery outside the motor's ticks, with refusal rules
a patient meets directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from drivers.simulator.alarms import Alarm
from drivers.simulator.errors import PumpCommandError
from drivers.simulator.event_log import EventKind
from drivers.simulator.motor import Motor
from drivers.simulator.pump_state import GivenBolus
from itbconsole.units import UL_PER_ML, to_fraction


@dataclass
class PatientBolusResult:
    accepted: bool
    reason: str = ""
    volume_ul: Fraction = field(default_factory=Fraction)


class Boluses(Motor):
    """Single boluses, patient boluses, and the record of both."""

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
        self._boluses.append(GivenBolus(self._now, dose_mcg, kind))
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
