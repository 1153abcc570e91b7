"""How quantities and dates are written for people: one home for display text.

Why one module: the same dose or date written two ways on two screens (or rounded in
binary floating point on one of them) makes a nurse wonder which is right. Every screen,
printout and export writes volumes, doses, rates, voltages and days with these helpers,
exactly (decimal rounding of exact values, never ``float``), and in English whatever the
computer's locale.

Dates on screen have one form, ``05 Jan 2026`` (:func:`fmt_day`), and a moment adds the
clinic's local time and zone, ``05 Jan 2026 14:30 GMT`` (:func:`fmt_moment`); files keep
ISO 8601 (:mod:`itbconsole.exports`).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction

from itbconsole import dosing
from itbconsole.model import Mode, Program
from itbconsole.units import Number, fmt_mcg, fmt_ml, round_decimal, ul_to_ml

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def fmt_day(d: date) -> str:
    """``05 Jan 2026`` (the list formats thousands of these, so without strftime)."""
    return f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}"


def fmt_weekday(d: date) -> str:
    """``Mon 05 Jan 2026``."""
    return f"{_DAYS[d.weekday()]} {fmt_day(d)}"


def fmt_day_month(d: date) -> str:
    """``05 Jan``: the compact day of a plot's axis tick, where the year is on the axis
    already (the same month names as :func:`fmt_day`, whatever the locale)."""
    return f"{d.day:02d} {_MONTHS[d.month - 1]}"


def fmt_month(d: date) -> str:
    """``Jan 2026``: a month, for a plot's axis tick."""
    return f"{_MONTHS[d.month - 1]} {d.year}"


def fmt_moment(moment: datetime, tz: tzinfo, *, seconds: bool = False) -> str:
    """``14 Jul 2026 10:20 BST``: a moment in the clinic's zone, with the zone's abbreviation
    (it keeps the repeated hour of a clock change apart)."""
    local = moment.astimezone(tz)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{fmt_day(local.date())} {clock} {local.tzname() or ''}".rstrip()


def fmt_local_day(moment: datetime, tz: tzinfo) -> str:
    """The clinic's calendar day of a moment: ``14 Jul 2026``."""
    return fmt_day(moment.astimezone(tz).date())


def fmt_days_from_today(days: int) -> str:
    """Calendar days from today: ``today``, ``in 1 day``, ``in 90 days``, ``yesterday``,
    ``30 days ago``."""
    if days == 0:
        return "today"
    if days == -1:
        return "yesterday"
    if days > 0:
        return f"in {days} day{'s' if days != 1 else ''}"
    return f"{-days} days ago"


def fmt_duration(seconds: float) -> str:
    """A length of time to the second, as a person says it: ``26 s``, ``7 min 0 s``,
    ``2 h 5 min``, ``3 days 4 h``."""
    total = int(abs(Decimal(str(seconds))).to_integral_value())
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def fmt_clock_offset(pump_minus_computer_s: float) -> str:
    """How far a pump's clock is from this computer's: ``7 min 0 s fast`` (the pump's clock
    is ahead), ``26 s slow`` (behind), ``in step`` (within half a second)."""
    if abs(pump_minus_computer_s) < 0.5:
        return "in step"
    return (
        f"{fmt_duration(pump_minus_computer_s)} {'fast' if pump_minus_computer_s > 0 else 'slow'}"
    )


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
    "fmt_clock_offset",
    "fmt_day",
    "fmt_day_month",
    "fmt_days_from_today",
    "fmt_dose_per_day",
    "fmt_duration",
    "fmt_local_day",
    "fmt_mcg",
    "fmt_ml",
    "fmt_moment",
    "fmt_month",
    "fmt_percent",
    "fmt_rate",
    "fmt_volts",
    "fmt_weekday",
    "ml_text",
]


def fmt_schedule_doses(program: Program) -> str:
    """The programmed dose per 24 h of each distinct day of the schedule, the usual day's
    first ("240.0 mcg per 24 h; Mon 960.0 mcg per 24 h"): what the refill record, the
    emergency card and the travel letter print (the doses from :mod:`itbconsole.dosing`)."""
    usual = dosing.program_daily_dose_mcg(program)
    if program.mode is not Mode.FLEX:
        return fmt_dose_per_day(usual)
    other: dict[Fraction, list[str]] = {}
    for day in range(7):
        dose = dosing.program_daily_dose_mcg(program, day)
        if dose != usual:
            other.setdefault(dose, []).append(_DAYS[day])
    parts = [fmt_dose_per_day(usual)]
    parts += [f"{', '.join(days)} {fmt_dose_per_day(dose)}" for dose, days in other.items()]
    return "; ".join(parts)
