"""Dose change: the current and the new dose per 24 h side by side, in mcg and %.

Separate because the review screen and the drug-library limits on % change both read it,
and a change from 0 mcg/day has no percentage.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from itbconsole.dosing.checks import checked_non_negative
from itbconsole.units import Number


@dataclass(frozen=True)
class DoseChange:
    """Current vs new dose per 24 h, as the side-by-side review screen shows it."""

    current_mcg_per_day: Fraction
    new_mcg_per_day: Fraction
    change_mcg: Fraction
    change_pct: Fraction | None
    """None when the current dose is 0: a percentage of nothing is undefined."""
    note: str


def dose_change(current_mcg_per_day: Number, new_mcg_per_day: Number) -> DoseChange:
    """Change (mcg/day) = new - current; change (%) = change / current x 100.

    Source: domain.md ("always show the resulting total mcg per 24 h and the change from
    the current dose, in mcg and %"). When the current dose is 0 the percentage is None and
    the note says why; drug-library limits on % change then cannot apply.
    """
    current = checked_non_negative(current_mcg_per_day, "The current dose")
    new = checked_non_negative(new_mcg_per_day, "The new dose")
    change = new - current
    if current == 0:
        pct = None
        note = (
            "The current dose is 0 mcg/day, so the change has no percentage; "
            "check the new dose against the starting-dose limits instead."
        )
    else:
        pct = change / current * 100
        note = ""
    return DoseChange(current, new, change, pct, note)
