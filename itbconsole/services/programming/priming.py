"""The priming bolus after an implant or a catheter revision: its volume and dose worked
out from the dead volumes recorded on the pump (:class:`PrimingPlan`), and the program that
delivers it. :func:`~itbconsole.services.programming.pump_rules.rule_priming` checks it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from itbconsole import dosing
from itbconsole.model import Mode, Program, Pump
from itbconsole.services.programming.findings import ProgrammingError
from itbconsole.units import UL_PER_ML


@dataclass(frozen=True)
class PrimingPlan:
    """A priming bolus after implant (pump and catheter) or after a catheter revision
    (catheter only): its volume from the recorded dead volumes, and its dose at the
    reservoir's concentration."""

    priming: dosing.PrimingBolus
    concentration_mcg_ml: int
    dose_mcg: Decimal
    duration_minutes: int

    @property
    def volume_ul(self) -> Fraction:
        return self.priming.volume_ul


def priming_plan(
    pump: Pump, concentration_mcg_ml: int, duration_minutes: int, *, catheter_only: bool = False
) -> PrimingPlan:
    """Dose (mcg) = priming volume (µL) x concentration (mcg/mL) / 1000, rounded down to
    the 0.001 mcg the pump can take (never more than the dead volume holds)."""
    priming = dosing.priming_bolus(pump, catheter_only=catheter_only)
    exact = priming.volume_ul * concentration_mcg_ml / UL_PER_ML
    dose = Decimal(int(exact * 1000)).scaleb(-3)
    return PrimingPlan(priming, concentration_mcg_ml, dose, duration_minutes)


def priming_program(
    plan: PrimingPlan, daily_dose_after_mcg: Decimal, patient_bolus: Any = None
) -> Program:
    """The program that delivers ``plan`` as a single bolus, then ``daily_dose_after_mcg``
    continuous. Refused when the dead volume is not recorded (nothing to prime with)."""
    if plan.dose_mcg <= 0:
        raise ProgrammingError(
            "The pump's dead volume and catheter are not recorded, so the priming volume "
            "cannot be worked out. Record them on the pump first."
        )
    return Program(
        Mode.SINGLE_BOLUS,
        daily_dose_mcg=daily_dose_after_mcg,
        bolus_dose_mcg=plan.dose_mcg,
        bolus_duration_minutes=plan.duration_minutes,
        patient_bolus=patient_bolus,
    )
