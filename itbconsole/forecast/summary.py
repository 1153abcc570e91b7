"""The stored summary of a forecast (table ``pump_forecast``) and :func:`status_on`, the
status on a day, which reads only the summary.

Separate because the clinic-wide list and worklist read stored summaries while screens hold
full forecasts: the status is computed from the summary in both cases (a full forecast is
summarised first), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from itbconsole.display import fmt_day
from itbconsole.forecast.bounds import Bound, DateSource, action_by
from itbconsole.forecast.status import Status, StatusOn

if TYPE_CHECKING:
    from itbconsole.forecast.result import Forecast


def status_on(fc: Forecast | ForecastSummary, today: date) -> StatusOn:
    """The status on ``today`` (the clinic's date), with its reason in words."""
    sm = fc if isinstance(fc, ForecastSummary) else fc.summary()
    days_refill = (sm.refill_by - today).days if sm.refill_by is not None else None
    days_alarm = (sm.alarm_day - today).days if sm.alarm_day is not None else None
    if not sm.has_data:
        return StatusOn(Status.NO_DATA, sm.not_delivering_reason, days_refill, None)
    if not sm.delivering:
        return StatusOn(Status.NOT_DELIVERING, sm.not_delivering_reason, days_refill, None)
    if sm.eos_day is not None and sm.eos_day <= today:
        return StatusOn(
            Status.NOT_DELIVERING,
            f"End of Service date {fmt_day(sm.eos_day)}"
            + (" (projected)" if sm.eos_source is DateSource.PROJECTED else "")
            + " has come: the pump may have stopped. Interrogate it now and replace it.",
            days_refill,
            days_alarm,
        )
    if sm.empty_day is not None and sm.empty_day <= today:
        return StatusOn(
            Status.NOT_DELIVERING,
            f"The reservoir is projected empty since {fmt_day(sm.empty_day)}: the pump may "
            "have stopped delivering. Interrogate and refill now.",
            days_refill,
            days_alarm,
        )
    if sm.attention:
        return StatusOn(Status.ATTENTION, " ".join(sm.attention), days_refill, days_alarm)
    if sm.low_alarm_on:
        return StatusOn(
            Status.OVERDUE,
            "The pump's own low-reservoir alarm is on: refill now.",
            days_refill,
            days_alarm,
        )
    if sm.alarm_day is not None and days_alarm is not None and days_alarm <= 0:
        return StatusOn(
            Status.OVERDUE,
            f"The low-reservoir alarm was due on {fmt_day(sm.alarm_day)}: refill now.",
            days_refill,
            days_alarm,
        )
    act = action_by(sm.governing)  # no refill moves End of Service
    if sm.refill_by is not None and days_refill is not None and days_refill < 0:
        return StatusOn(
            Status.OVERDUE,
            f"{act} was due by {fmt_day(sm.refill_by)} ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    if sm.refill_by is not None and days_refill is not None and days_refill <= sm.due_soon_days:
        when = "today" if days_refill == 0 else f"in {days_refill} days"
        return StatusOn(
            Status.DUE_SOON,
            f"{act} by {fmt_day(sm.refill_by)}, {when} ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    if sm.eri_day is not None and sm.eri_day <= today:
        eos = (
            f" before End of Service on {fmt_day(sm.eos_day)}"
            if sm.eos_day
            else " now: its End of Service date is not known and could be close"
        )
        return StatusOn(
            Status.DUE_SOON,
            f"Past ERI: book the pump replacement{eos}. {act} by "
            + (fmt_day(sm.refill_by) if sm.refill_by else "-")
            + f" ({sm.governing_text}).",
            days_refill,
            days_alarm,
        )
    reason = (
        f"{act} by {fmt_day(sm.refill_by)} ({sm.governing_text})."
        if sm.refill_by is not None
        else "No refill date: " + (sm.note or "nothing limits it.")
    )
    return StatusOn(Status.OK, reason, days_refill, days_alarm)


@dataclass(frozen=True)
class ForecastSummary:
    """The part of a :class:`Forecast` the clinic-wide list, worklist and queries need,
    small enough to keep per pump (table ``pump_forecast``). Made only by
    :meth:`Forecast.summary`, so it can never say something the forecast does not."""

    serial: str
    has_data: bool
    delivering: bool
    not_delivering_reason: str
    anchor_at: datetime | None
    alarm_at: datetime | None
    alarm_day: date | None
    refill_by: date | None
    governing: Bound | None
    governing_text: str
    eri_day: date | None
    eri_source: DateSource | None
    eos_day: date | None
    eos_source: DateSource | None
    due_soon_days: int
    note: str = ""
    empty_day: date | None = None
    attention: tuple[str, ...] = ()
    low_alarm_on: bool = False
    uncertain: bool = False

    def status_on(self, today: date) -> StatusOn:
        return status_on(self, today)

    def to_json(self) -> dict[str, object]:
        def d(v: date | datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "serial": self.serial,
            "has_data": self.has_data,
            "delivering": self.delivering,
            "not_delivering_reason": self.not_delivering_reason,
            "anchor_at": d(self.anchor_at),
            "alarm_at": d(self.alarm_at),
            "alarm_day": d(self.alarm_day),
            "refill_by": d(self.refill_by),
            "governing": None if self.governing is None else self.governing.value,
            "governing_text": self.governing_text,
            "eri_day": d(self.eri_day),
            "eri_source": None if self.eri_source is None else self.eri_source.name,
            "eos_day": d(self.eos_day),
            "eos_source": None if self.eos_source is None else self.eos_source.name,
            "due_soon_days": self.due_soon_days,
            "note": self.note,
            "empty_day": d(self.empty_day),
            "attention": list(self.attention),
            "low_alarm_on": self.low_alarm_on,
            "uncertain": self.uncertain,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ForecastSummary:
        get = data.get
        return cls(
            serial=data["serial"],
            has_data=data["has_data"],
            delivering=data["delivering"],
            not_delivering_reason=data["not_delivering_reason"],
            anchor_at=_dt(data["anchor_at"]),
            alarm_at=_dt(data["alarm_at"]),
            alarm_day=_dd(data["alarm_day"]),
            refill_by=_dd(data["refill_by"]),
            governing=None if data["governing"] is None else Bound(data["governing"]),
            governing_text=data["governing_text"],
            eri_day=_dd(data["eri_day"]),
            eri_source=_SOURCES.get(data["eri_source"]),
            eos_day=_dd(data["eos_day"]),
            eos_source=_SOURCES.get(data["eos_source"]),
            due_soon_days=int(data["due_soon_days"]),
            note=get("note", ""),
            empty_day=_dd(get("empty_day")),
            attention=tuple(get("attention") or ()),
            low_alarm_on=bool(get("low_alarm_on", False)),
            uncertain=bool(get("uncertain", False)),
        )


_SOURCES: dict[object, DateSource] = {s.name: s for s in DateSource}


def _dt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def _dd(v: str | None) -> date | None:
    return None if v is None else date.fromisoformat(v)
