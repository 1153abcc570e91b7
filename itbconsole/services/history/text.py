"""How the history writes times, volumes, programs and what a correction changed.

Why one module: every kind of row, and every correction of it, writes a time, a volume or a
program the same way; a correction row names each changed field with the label the
record's own row uses (``_FIELDS``), so a reader can match the two.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from itbconsole import dosing
from itbconsole.display import (
    fmt_capacity,
    fmt_clock_offset,
    fmt_day,
    fmt_dose_per_day,
    fmt_ml,
    fmt_moment,
    fmt_volts,
)
from itbconsole.model import Mode, Program
from itbconsole.store import records as rec


def when_text(at: datetime, tz: tzinfo, *, day_only: bool = False) -> str:
    """``14 Jul 2026 10:20 BST`` (the zone's abbreviation keeps the repeated hour of a
    clock change unambiguous); ``14 Jul 2026`` for a record kept by date."""
    if day_only:
        return fmt_day(at.astimezone(tz).date())
    return fmt_moment(at, tz)


def stored_moment_text(text: str, tz: tzinfo) -> str:
    """A moment kept as ISO 8601 text in an action's payload (a pump clock read, the time
    it was set to), written like every other moment, to the second since a clock's drift
    is the point; a time kept without a zone is UTC, the pump clock's zone; text that is
    not a moment is shown as kept."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return fmt_moment(moment, tz, seconds=True)


def day_start(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) a local calendar day starts in ``tz``: what a record kept by date
    only sorts by."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def signed_ml(ul: int) -> str:
    """``+0.15 mL``, ``-0.15 mL``, ``0.00 mL``."""
    sign = "+" if ul > 0 else "-" if ul < 0 else ""
    return f"{sign}{fmt_ml(abs(ul))}"


def mode_text(mode: Mode) -> str:
    return mode.value.replace("_", " ")


def dose_text(program: Program) -> str:
    """``simple continuous, 415.0 mcg per 24 h``."""
    return f"{mode_text(program.mode)}, {fmt_dose_per_day(dosing.program_daily_dose_mcg(program))}"


def _stamp_text(stamp: rec.Stamp, tz: tzinfo) -> str:
    return f"{when_text(stamp.at, tz)} by {stamp.by} ({stamp.role.value})"


def _offset_text(seconds: int) -> str:
    """``7 min 0 s fast (pump ahead of this computer)``."""
    offset = fmt_clock_offset(seconds)
    if seconds == 0:
        return offset
    return f"{offset} (pump {'ahead of' if seconds > 0 else 'behind'} this computer)"


#: Field labels and value texts for describing what a correction changed.
_FIELDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "withdrawn_ul": ("withdrawn", fmt_ml),
    "expected_residual_ul": ("expected residual", fmt_ml),
    "added_ul": ("volume added", fmt_ml),
    "reservoir_ul": ("reservoir", fmt_ml),
    "alarm_volume_ul": ("low-reservoir alarm volume", fmt_ml),
    "reservoir_capacity_ul": ("reservoir", fmt_capacity),
    "pump_dead_volume_ul": ("pump internal volume", fmt_ml),
    "concentration_mcg_ml": ("concentration", lambda v: f"{v} mcg/mL"),
    "catheter_length_cm": ("catheter length", lambda v: f"{v} cm"),
    "catheter_ul_per_cm": ("catheter volume", lambda v: f"{v} µL/cm"),
    "battery_mv": ("battery", fmt_volts),
    "expiry": ("expiry", fmt_day),
    "date_of_birth": ("date of birth", fmt_day),
    "implant_date": ("implant date", lambda v: fmt_day(v) if v else "none"),
    "old": ("program before", dose_text),
    "new": ("new program", dose_text),
    "program": ("program", dose_text),
    "readback": ("read-back", lambda v: dose_text(v) if v is not None else "none"),
    "patient_id": ("patient record", lambda v: "none" if v is None else str(v)),
    "nhs_number": ("NHS number", lambda v: v or "none"),
}


def _value_text(name: str, value: Any, tz: tzinfo) -> str:
    if name in _FIELDS:
        return _FIELDS[name][1](value)
    if isinstance(value, datetime):
        return when_text(value, tz)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "; ".join(str(v) for v in value) or "none"
    return "none" if value is None or value == "" else str(value)


def _changes(old: Any, new: Any, tz: tzinfo) -> list[str]:
    """What differs between two versions of a record: ``status pending → confirmed``."""
    out = []
    for f in fields(old):
        if f.name in ("id", "eri_date", "eos_date", "pump_alarm_date"):
            continue
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before != after:
            label = _FIELDS.get(f.name, (f.name.replace("_", " "), str))[0]
            out.append(
                f"{label} {_value_text(f.name, before, tz)} → {_value_text(f.name, after, tz)}"
            )
    return out
