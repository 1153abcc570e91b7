"""Volumes and rates: daily volume from a dose, and a flex day's totals and per-step rates.

Separate because these are the per-day and per-hour figures a screen shows beside a
program (mcg/h next to mL/h), independent of any calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from itbconsole.dosing.checks import DosingError, checked_concentration
from itbconsole.dosing.instants import MINUTES_PER_DAY
from itbconsole.model import FlexStep
from itbconsole.units import Number, to_fraction


def daily_volume_ml(dose_mcg_per_day: Number, concentration_mcg_ml: Number) -> Fraction:
    """Daily volume (mL/day) = daily dose (mcg/day) / concentration (mcg/mL).

    Source: domain.md, "The arithmetic". Example: 500 / 2000 = 0.25 mL/day.
    """
    conc = checked_concentration(concentration_mcg_ml)
    dose = to_fraction(dose_mcg_per_day)
    if dose < 0:
        raise DosingError("Daily dose cannot be negative.")
    return dose / conc


def flex_daily_total_mcg(steps: Sequence[FlexStep]) -> Fraction:
    """Total mcg over one 24-hour flex day.

    Formula: sum over steps of rate (mcg/h) x step length (h), where a step lasts until the
    next step's start and the last step until 24:00. Source: SynchroMed II flex mode
    (domain.md). On a 23- or 25-hour DST day the pump delivers a different total; see
    :func:`program_delivered_mcg`.
    """
    total = Fraction(0)
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        total += to_fraction(step.rate_mcg_per_hour) * Fraction(end - step.start_minute, 60)
    return total


@dataclass(frozen=True)
class FlexStepRate:
    """One flex step with its rates in both units, so a screen can show mcg/h next to
    mL/h (the ISMP flex error was a per-hour rate entered as a per-day dose)."""

    start_minute: int
    end_minute: int
    rate_mcg_per_hour: Fraction
    rate_ml_per_hour: Fraction
    step_mcg: Fraction
    step_ml: Fraction

    @property
    def hours(self) -> Fraction:
        return Fraction(self.end_minute - self.start_minute, 60)


def flex_step_rates(
    steps: Sequence[FlexStep], concentration_mcg_ml: Number
) -> tuple[FlexStepRate, ...]:
    """Per-step rates of a flex day.

    Formulas: rate (mL/h) = rate (mcg/h) / concentration (mcg/mL); step dose (mcg) =
    rate (mcg/h) x step hours; step volume (mL) = step dose / concentration. A step lasts
    until the next step's start, the last one until 24:00. Source: domain.md.
    """
    conc = checked_concentration(concentration_mcg_ml)
    out = []
    for i, step in enumerate(steps):
        end = steps[i + 1].start_minute if i + 1 < len(steps) else MINUTES_PER_DAY
        rate = to_fraction(step.rate_mcg_per_hour)
        step_mcg = rate * Fraction(end - step.start_minute, 60)
        out.append(
            FlexStepRate(
                start_minute=step.start_minute,
                end_minute=end,
                rate_mcg_per_hour=rate,
                rate_ml_per_hour=rate / conc,
                step_mcg=step_mcg,
                step_ml=step_mcg / conc,
            )
        )
    return tuple(out)
