"""How quantities and dates are written for people: one home for display text.

Why one module: the same dose or date written two ways on two screens (or rounded in
binary floating point on one of them) makes a nurse wonder which is right. Every screen,
printout and export writes volumes, doses, rates, voltages and days with these helpers,
exactly (decimal rounding of exact values, never ``float``), and in English whatever the
computer's locale.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from itbconsole.units import Number, fmt_mcg, fmt_ml, round_decimal, ul_to_ml

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def fmt_day(d: date) -> str:
    """``05 Jan 2026`` (the list formats thousands of these, so without strftime)."""
    return f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}"


def fmt_weekday(d: date) -> str:
    """``Mon 05 Jan 2026``."""
    return f"{_DAYS[d.weekday()]} {fmt_day(d)}"


def fmt_volts(mv: int) -> str:
    """Battery millivolts as volts: ``2.95 V``."""
    return f"{round_decimal(Fraction(mv, 1000), 2)} V"


def ml_text(ul: int) -> str:
    """Microlitres as millilitres to type into a field, without unit or trailing zeros."""
    ml = ul_to_ml(ul)
    return str(ml.to_integral_value() if ml == ml.to_integral_value() else ml.normalize())


def fmt_capacity(ul: int) -> str:
    """A reservoir size: ``20 mL`` (``18.5 mL`` if it is not whole)."""
    return f"{ml_text(ul)} mL"


def fmt_dose_per_day(mcg: Number, places: int = 1) -> str:
    """``500.0 mcg per 24 h``."""
    return f"{fmt_mcg(mcg, places)} per 24 h"


def fmt_rate(mcg_per_hour: Number, places: int = 2) -> str:
    """``20.83 mcg/h``."""
    return f"{round_decimal(mcg_per_hour, places)} mcg/h"


def fmt_percent(value: Number, places: int = 0, *, signed: bool = False) -> str:
    """``+12 %``; exact rounding."""
    text = str(round_decimal(value, places))
    if signed and not text.startswith("-") and Decimal(text) != 0:
        text = "+" + text
    return f"{text} %"


__all__ = [
    "fmt_capacity",
    "fmt_day",
    "fmt_dose_per_day",
    "fmt_mcg",
    "fmt_ml",
    "fmt_percent",
    "fmt_rate",
    "fmt_volts",
    "fmt_weekday",
    "ml_text",
]
