"""Local-time labels for a time axis that holds absolute instants.

Why not the plotting library's own date axis: it labels ticks in the *computer's* zone, and
the clinic's zone is a setting of the console (a laptop set to UTC would label a London
clinic's readings an hour off all summer). Here every tick is a real instant (float epoch
seconds, UTC) placed at a local calendar boundary of the clinic's zone, so a day tick sits
at local midnight on both sides of a clock change and the hour after 00:00 on the
spring-forward night is labelled 02:00. Plain Python, so the rules are tested without Qt.

The words come from :mod:`itbconsole.display` (never ``strftime``, whose month names follow
the locale Qt sets for the process), so a date on the plot reads as on every other screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from itbconsole.display import fmt_day_month, fmt_moment, fmt_month

#: (unit, step, approximate seconds per step), finest last.
_STEPS: tuple[tuple[str, int, float], ...] = (
    ("year", 10, 10 * 365.25 * 86_400),
    ("year", 5, 5 * 365.25 * 86_400),
    ("year", 2, 2 * 365.25 * 86_400),
    ("year", 1, 365.25 * 86_400),
    ("month", 6, 6 * 30.44 * 86_400),
    ("month", 3, 3 * 30.44 * 86_400),
    ("month", 1, 30.44 * 86_400),
    ("day", 14, 14 * 86_400),
    ("day", 7, 7 * 86_400),
    ("day", 2, 2 * 86_400),
    ("day", 1, 86_400),
    ("hour", 12, 12 * 3_600),
    ("hour", 6, 6 * 3_600),
    ("hour", 3, 3 * 3_600),
    ("hour", 1, 3_600),
    ("minute", 30, 1_800),
    ("minute", 15, 900),
    ("minute", 5, 300),
    ("minute", 1, 60),
)


def to_local(epoch_s: float, tz: tzinfo) -> datetime:
    """The local wall-clock time of an instant (epoch seconds) in ``tz``."""
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(tz)


def format_local(epoch_s: float, tz: tzinfo, *, seconds: bool = False) -> str:
    """``29 Mar 2026 02:30 BST``: a point of the plot (epoch seconds) as
    :func:`itbconsole.display.fmt_moment` writes a moment; the zone's abbreviation keeps a
    time read off the plot in the hour around a clock change unambiguous."""
    return fmt_moment(to_local(epoch_s, tz), tz, seconds=seconds)


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()


def _calendar_ticks(lo: float, hi: float, tz: tzinfo, unit: str, step: int) -> Iterator[float]:
    start = to_local(lo, tz)
    if unit == "year":
        year = start.year - start.year % step
        while True:
            moment = _midnight(date(year, 1, 1), tz)
            if moment > hi:
                return
            if moment >= lo:
                yield moment
            year += step
    elif unit == "month":
        index = start.year * 12 + start.month - 1
        index -= index % step
        while True:
            moment = _midnight(date(index // 12, index % 12 + 1, 1), tz)
            if moment > hi:
                return
            if moment >= lo:
                yield moment
            index += step
    else:  # day: weeks start on Monday; other steps count days from 1 Jan 1970
        day = start.date()
        if step == 7:
            day -= timedelta(days=day.weekday())
        else:
            day -= timedelta(days=(day - date(1970, 1, 1)).days % step)
        while True:
            moment = _midnight(day, tz)
            if moment > hi:
                return
            if moment >= lo:
                yield moment
            day += timedelta(days=step)


def _clock_ticks(lo: float, hi: float, tz: tzinfo, unit: str, step: int) -> Iterator[float]:
    """Every whole minute (or hour) of absolute time whose *local* reading is a multiple of
    ``step``: walking absolute time keeps both 01:00s of the fall-back night and skips the
    01:00 that never happens in spring."""
    every = 60 if unit == "minute" else 3_600
    moment = float((int(lo) // every) * every)
    while moment <= hi:
        if moment >= lo:
            local = to_local(moment, tz)
            value = local.minute if unit == "minute" else local.hour
            if local.second == 0 and value % step == 0 and (unit == "minute" or local.minute == 0):
                yield moment
        moment += every


def local_ticks(lo: float, hi: float, tz: tzinfo, max_ticks: int = 8) -> list[tuple[float, str]]:
    """Ticks for the span [lo, hi] (epoch seconds): at most about ``max_ticks`` instants on
    local calendar boundaries of ``tz``, with their labels, coarsest unit that fits.

    Labels: years ``2026``; months ``Mar 2026``; days ``29 Mar``; hours and minutes
    ``02:00`` (local midnight shows the date instead). Compact, as a tick is about 95 px
    wide, and written by :mod:`itbconsole.display`.
    """
    if not hi > lo or max_ticks < 1:
        return []
    span = hi - lo
    unit, step = "year", 10
    for candidate_unit, candidate_step, seconds in _STEPS:
        if span / seconds > max_ticks:
            break
        unit, step = candidate_unit, candidate_step
    if unit in ("year", "month", "day"):
        values = list(_calendar_ticks(lo, hi, tz, unit, step))
    else:
        values = list(_clock_ticks(lo, hi, tz, unit, step))
    out = []
    for value in values:
        local = to_local(value, tz)
        if unit == "year":
            label = f"{local.year}"
        elif unit == "month":
            label = fmt_month(local.date())
        elif unit == "day" or (local.hour == 0 and local.minute == 0):
            label = fmt_day_month(local.date())
        else:
            label = f"{local.hour:02d}:{local.minute:02d}"
        out.append((value, label))
    return out


__all__ = ["format_local", "local_ticks", "to_local"]
