"""The dosing error and the checks every formula runs on its inputs.

Separate because every other module of the package starts with these checks: one wording
for each refusal ("Concentration must be more than 0 mcg/mL.") wherever it is raised.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from itbconsole.units import Number, to_fraction


class DosingError(ValueError):
    """Inputs that cannot give a clinically meaningful answer. The message is for the user."""


def require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise DosingError("Times must carry a timezone (for example 2026-03-29T09:00+01:00).")


def checked_non_negative(value: Number, what: str) -> Fraction:
    frac = to_fraction(value)
    if frac < 0:
        raise DosingError(f"{what} cannot be negative.")
    return frac


def checked_positive(value: Number, what: str) -> Fraction:
    frac = to_fraction(value)
    if frac <= 0:
        raise DosingError(f"{what} must be more than 0.")
    return frac


def checked_concentration(value: Number) -> Fraction:
    frac = to_fraction(value)
    if frac <= 0:
        raise DosingError("Concentration must be more than 0 mcg/mL.")
    return frac


def checked_days(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DosingError(f"{what} must be a whole number of days, 0 or more.")
    return value
