"""Display text is exact (decimal rounding of exact values) and locale-free."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from itbconsole import display


def test_quantities_are_written_exactly() -> None:
    assert display.fmt_volts(2945) == "2.94 V"  # half to even, never a binary float's guess
    assert display.fmt_volts(2955) == "2.96 V"
    assert display.fmt_capacity(20_000) == "20 mL"
    assert display.fmt_capacity(18_500) == "18.5 mL"
    assert display.ml_text(200) == "0.2" and display.ml_text(40_000) == "40"
    assert display.fmt_dose_per_day(Decimal("517.5")) == "517.5 mcg per 24 h"
    assert display.fmt_dose_per_day(Fraction(1, 3)) == "0.3 mcg per 24 h"
    assert display.fmt_rate(Fraction(125, 6)) == "20.83 mcg/h"
    assert display.fmt_percent(Fraction(25, 2), signed=True) == "+12 %"
    assert display.fmt_percent(-3) == "-3 %"


def test_days_are_written_in_english_whatever_the_locale() -> None:
    assert display.fmt_day(date(2026, 1, 5)) == "05 Jan 2026"
    assert display.fmt_weekday(date(2026, 11, 30)) == "Mon 30 Nov 2026"
