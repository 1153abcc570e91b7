"""Flex step times: typed and shown as HH:MM on the pump's clock (UTC), with the local time
each step starts at and the next change of the local zone's offset, from which every step
starts at another local time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from itbconsole.model import FlexStep
from itbconsole.services.programming.findings import ProgrammingError

#: Pump-clock drift beyond which the editor warns that flex steps run at other times.
CLOCK_WARN_S = 120


def hhmm(minute: int) -> str:
    """Minutes after midnight as HH:MM (1440 as 24:00, the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_hhmm(text: str) -> int:
    """``"07:30"`` (or ``"7:30"``, ``"0730"``) -> 450. Refuses anything else with a
    message for the user: a step time is never guessed."""
    raw = text.strip()
    if ":" in raw:
        hours_text, _, minutes_text = raw.partition(":")
    elif raw.isdigit() and len(raw) in (3, 4):
        hours_text, minutes_text = raw[:-2], raw[-2:]
    else:
        hours_text, minutes_text = "", ""
    if not (hours_text.isdigit() and minutes_text.isdigit() and len(minutes_text) == 2):
        raise ProgrammingError(f"'{text}' is not a time: write it as HH:MM, e.g. 07:30.")
    hours, minutes = int(hours_text), int(minutes_text)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ProgrammingError(f"'{text}' is not a time of day (00:00 to 23:59).")
    return hours * 60 + minutes


def local_equivalent(minute: int, day: date, tz: tzinfo, clock_offset_s: float = 0.0) -> datetime:
    """The local time at which the pump clock (UTC, running ``clock_offset_s`` ahead)
    reads ``minute`` on ``day``."""
    pump_time = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(minutes=minute)
    return (pump_time - timedelta(seconds=clock_offset_s)).astimezone(tz)


def local_equivalents(
    steps: Sequence[FlexStep], day: date, tz: tzinfo, clock_offset_s: float = 0.0
) -> list[str]:
    """Each step's start as local time on ``day`` (HH:MM, "+1 d"/"-1 d" when the local
    time falls on another calendar day)."""
    out = []
    for step in steps:
        local = local_equivalent(step.start_minute, day, tz, clock_offset_s)
        shift = (local.date() - day).days
        suffix = "" if shift == 0 else f" ({'+' if shift > 0 else ''}{shift} d)"
        out.append(f"{local:%H:%M}{suffix}")
    return out


@dataclass(frozen=True)
class ZoneChange:
    """The next change of the local zone's offset from UTC."""

    day: date
    shift_minutes: int


def next_zone_change(start: datetime, tz: tzinfo, days: int = 370) -> ZoneChange | None:
    """The first local day after ``start`` whose UTC offset differs (a clock change), or
    None within ``days``. From that day the local time of every flex step moves by the
    shift, because the pump keeps UTC."""

    def offset(moment: datetime) -> timedelta:
        off = moment.astimezone(tz).utcoffset()
        return off if off is not None else timedelta(0)

    base = start.astimezone(UTC)
    first = offset(base)
    for n in range(1, days + 1):
        probe = base + timedelta(days=n)
        if offset(probe) != first:
            return ZoneChange(
                probe.astimezone(tz).date(), int((offset(probe) - first).total_seconds() // 60)
            )
    return None
