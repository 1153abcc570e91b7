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


def test_moments_are_one_form_in_the_clinics_zone() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    summer = datetime(2026, 7, 14, 9, 20, 5, tzinfo=UTC)
    assert display.fmt_moment(summer, london) == "14 Jul 2026 10:20 BST"
    assert display.fmt_moment(summer, london, seconds=True) == "14 Jul 2026 10:20:05 BST"
    assert display.fmt_moment(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), london) == (
        "30 Nov 2026 23:30 GMT"
    )
    # The clinic's calendar decides the day: 23:30 UTC is already tomorrow in Sydney.
    sydney = ZoneInfo("Australia/Sydney")
    assert display.fmt_local_day(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), sydney) == (
        "01 Dec 2026"
    )


def test_days_from_today_read_as_a_person_says_them() -> None:
    assert display.fmt_days_from_today(0) == "today"
    assert display.fmt_days_from_today(1) == "in 1 day"
    assert display.fmt_days_from_today(90) == "in 90 days"
    assert display.fmt_days_from_today(-1) == "yesterday"
    assert display.fmt_days_from_today(-30) == "30 days ago"


def test_clock_drift_says_how_much_and_which_way() -> None:
    assert display.fmt_clock_offset(419) == "6 min 59 s fast"
    assert display.fmt_clock_offset(420) == "7 min 0 s fast"
    assert display.fmt_clock_offset(-26.4) == "26 s slow"
    assert display.fmt_clock_offset(0.2) == "in step"
    assert display.fmt_clock_offset(-(2 * 3600 + 5 * 60)) == "2 h 5 min slow"
    assert display.fmt_duration(3 * 86_400 + 4 * 3600) == "3 days 4 h"


def test_compact_axis_dates_use_the_same_month_names() -> None:
    from itbconsole.display import fmt_day_month, fmt_month

    assert fmt_day_month(date(2026, 1, 5)) == "05 Jan"
    assert fmt_month(date(2026, 1, 5)) == "Jan 2026"
