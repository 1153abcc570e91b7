"""What a rule looks at (:class:`CheckInput`) and the small measures every rule shares: a
program's dose per weekday, its maximum 24 h dose, its flex steps, and a value held against
a drug-library limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from decimal import Decimal
from fractions import Fraction

from itbconsole import dosing
from itbconsole.druglib import DrugProduct, Limit, LimitCheck
from itbconsole.forecast import Forecast
from itbconsole.model import FlexStep, Mode, Program, Pump, User
from itbconsole.services.programming.findings import Finding, Severity, fmt_amount
from itbconsole.services.programming.priming import PrimingPlan
from itbconsole.services.programming.state import PumpState


@dataclass(frozen=True)
class CheckInput:
    """Everything a rule may look at."""

    state: PumpState
    new: Program
    concentration_mcg_ml: int
    product: DrugProduct | None
    user: User
    purpose: str  # "send" or "prepare"
    priming: PrimingPlan | None
    current_forecast: Forecast
    new_forecast: Forecast
    tz: tzinfo
    pump: Pump | None = None
    supplied_priming: PrimingPlan | None = None
    baseline: Program | None = None  # the program in force 24 h ago (see change_baseline)
    last_nonzero: Program | None = None  # the last program on record that delivered a dose
    recent_single_boluses_mcg: tuple[Fraction, ...] = ()
    """Single boluses sent to this pump in the 24 hours before this change."""
    records_concentration_mcg_ml: int | None = None
    """The concentration of the last confirmed refill on record (None: no refill)."""
    catheter_revised_on: date | None = None
    """The last catheter revision on record for this pump."""


def max_24h(c: CheckInput, program: Program) -> Fraction:
    """The maximum 24 h dose of ``program`` (every allowed bolus counted); a priming bolus
    fills the pump and catheter, it is checked against the dead volume instead."""
    total = dosing.max_24h_dose_mcg(program)
    if program is c.new and (c.priming is not None or c.supplied_priming is not None):
        total -= Fraction(program.bolus_dose_mcg) if program.mode is Mode.SINGLE_BOLUS else 0
    return total


def daily_totals(program: Program) -> list[Fraction]:
    """The programmed dose of each weekday (0 = Monday), patient boluses excluded."""
    return [dosing.program_daily_dose_mcg(program, wd) for wd in range(7)]


def all_steps(program: Program) -> list[FlexStep]:
    """Every flex step of ``program``, the weekday schedules' too (none unless flex)."""
    if program.mode is not Mode.FLEX:
        return []
    steps = list(program.flex_steps)
    for _day, day_steps in program.flex_weekday_steps:
        steps.extend(day_steps)
    return steps


def limit_finding(
    limit: Limit, value: Fraction, what: str, unit: str, field_name: str, rule: str
) -> Finding | None:
    """HARD or SOFT finding for ``value`` against ``limit``; None when within."""
    verdict = limit.check(Decimal(value.numerator) / Decimal(value.denominator))
    if verdict is LimitCheck.WITHIN:
        return None
    sign = "+" if unit == "%" and value > 0 else ""
    shown = f"{sign}{fmt_amount(value)} {unit}"
    if verdict is LimitCheck.HARD:
        return Finding(
            rule,
            Severity.BLOCK,
            f"{what} {shown} is outside the hard limit {limit.hard_min} to {limit.hard_max} "
            f"{unit}. It cannot be programmed; check the number and its unit.",
            field_name,
        )
    return Finding(
        rule,
        Severity.SOFT,
        f"{what} {shown} is outside the usual range {limit.soft_min} to {limit.soft_max} "
        f"{unit}. Check it; to go ahead, type the clinical reason.",
        field_name,
    )
