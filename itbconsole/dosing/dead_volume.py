"""Boluses that move the line's dead volume: the bridge bolus after a concentration
change and the priming bolus after an implant or a catheter revision.

Separate because both rest on the dead volume of the pump and catheter, not on the
program's schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from itbconsole.dosing.checks import (
    DosingError,
    checked_concentration,
    checked_non_negative,
    checked_positive,
)
from itbconsole.model import Pump
from itbconsole.units import UL_PER_ML, Number, to_fraction


@dataclass(frozen=True)
class BridgeBolus:
    """The bridge bolus that clears old drug from the dead volume after a concentration
    change, and what would happen without it."""

    dose_mcg_per_day: Fraction
    old_concentration_mcg_ml: Fraction
    new_concentration_mcg_ml: Fraction
    dead_volume_ul: Fraction
    needed: bool
    """False when the concentration does not change."""
    bridge_volume_ml: Fraction
    bridge_rate_ml_per_day: Fraction
    bridge_hours: Fraction
    bridge_mcg: Fraction
    """Old drug pushed out by the bridge (dead volume x old concentration)."""
    dose_during_bridge_mcg_day: Fraction
    unbridged_dose_mcg_day: Fraction
    unbridged_hours: Fraction
    """How long the wrong dose would last without a bridge."""


def bridge_bolus(
    dose_mcg_per_day: Number,
    old_concentration_mcg_ml: Number,
    new_concentration_mcg_ml: Number,
    dead_volume_ul: Number,
) -> BridgeBolus:
    """Bridge bolus on a concentration change.

    The tubing and catheter still hold old drug (dead volume = pump internal volume +
    catheter length x volume per cm, :attr:`itbconsole.model.Pump.dead_volume_ul`).

    Formulas: bridge volume = dead volume; bridge rate (mL/day) = dose (mcg/day) / old
    concentration; bridge duration (h) = dead volume (mL) / bridge rate x 24; with the
    bridge the patient gets the prescribed dose throughout. Without it the pump runs at
    dose / new concentration (mL/day) but pushes old drug, so the patient gets
    dose x old / new (mcg/day) for dead volume / (dose / new) x 24 hours: an overdose when
    the refill is weaker, an underdose (withdrawal risk) when it is stronger.
    Source: domain.md, bridge bolus.
    """
    dose = checked_positive(dose_mcg_per_day, "The daily dose for a bridge")
    old = checked_concentration(old_concentration_mcg_ml)
    new = checked_concentration(new_concentration_mcg_ml)
    dead = checked_non_negative(dead_volume_ul, "The dead volume")
    dead_ml = dead / UL_PER_ML
    bridge_rate = dose / old
    return BridgeBolus(
        dose_mcg_per_day=dose,
        old_concentration_mcg_ml=old,
        new_concentration_mcg_ml=new,
        dead_volume_ul=dead,
        needed=old != new and dead > 0,
        bridge_volume_ml=dead_ml,
        bridge_rate_ml_per_day=bridge_rate,
        bridge_hours=dead_ml / bridge_rate * 24,
        bridge_mcg=dead_ml * old,
        dose_during_bridge_mcg_day=dose,
        unbridged_dose_mcg_day=dose * old / new,
        unbridged_hours=dead_ml / (dose / new) * 24,
    )


@dataclass(frozen=True)
class PrimingBolus:
    """Volume to prime after an implant (pump and catheter) or a catheter revision
    (catheter only)."""

    pump_dead_volume_ul: Fraction
    catheter_volume_ul: Fraction
    catheter_only: bool
    volume_ul: Fraction


def priming_bolus(pump: Pump, *, catheter_only: bool = False) -> PrimingBolus:
    """Priming volume (µL) = pump internal dead volume + catheter length (cm) x catheter
    volume per cm (µL/cm); after a catheter revision only the catheter part.

    Source: domain.md (priming bolus after implant or catheter revision). Why it matters:
    priming software that delivered early and then too little led to FDA Class I recalls
    (2013, 2016), so the console shows the volume it expects.
    """
    catheter = to_fraction(pump.catheter_length_cm) * to_fraction(pump.catheter_ul_per_cm)
    if catheter < 0 or pump.pump_dead_volume_ul < 0:
        raise DosingError("Dead volumes cannot be negative.")
    pump_part = Fraction(pump.pump_dead_volume_ul)
    return PrimingBolus(
        pump_dead_volume_ul=pump_part,
        catheter_volume_ul=catheter,
        catheter_only=catheter_only,
        volume_ul=catheter if catheter_only else pump_part + catheter,
    )
