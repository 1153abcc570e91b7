"""The :class:`Forecast`: one pump's dates and what they rest on, as every screen,
printout, query and command reads them.

Separate from its computation (:mod:`itbconsole.forecast.compute`) so the value, its
summary and its status can be read without the walks that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction

from itbconsole.forecast.bounds import DatedEvent, RefillBound, local_day
from itbconsole.forecast.facts import Fill
from itbconsole.forecast.status import StatusOn
from itbconsole.forecast.summary import ForecastSummary, status_on
from itbconsole.model import Program
from itbconsole.settings import ClinicSettings


@dataclass(frozen=True)
class Forecast:
    """One pump's dates and what they rest on. ``status_on(today)`` gives the status."""

    serial: str
    settings: ClinicSettings
    has_data: bool
    anchor_at: datetime | None
    anchor_volume_ul: int | None
    anchor_kind: str
    """"reading" (the pump's estimate) or "refill" (the volume added)."""
    alarm_volume_ul: int
    program: Program | None
    """The program in force after the last verified change."""
    concentration_mcg_ml: int | None
    delivering: bool
    not_delivering_reason: str
    max_daily_volume_ul: Fraction
    alarm_at: datetime | None
    alarm_day: date | None
    alarm_rule: str
    """Which walk set the alarm instant, or the pump's own projection, in words."""
    refill_by: date | None
    governing: RefillBound | None
    bounds: tuple[RefillBound, ...]
    fill: Fill | None
    eri: DatedEvent | None
    end_of_service: DatedEvent | None
    derivation: str
    notes: tuple[str, ...] = field(default=())
    empty_at: datetime | None = None
    """When the reservoir would be empty at the maximum daily volume after the alarm."""
    attention: tuple[str, ...] = ()
    """Sentences saying why the pump needs checking now: urgent alarms on the last
    interrogation that do not stop delivery (reset, memory fault, unknown codes), a
    concentration that differs from the records."""
    low_alarm_on: bool = False
    """The pump's own low-reservoir alarm was on at the last interrogation."""
    uncertain: bool = False
    """A program change with an unknown outcome: the dates are the worse case."""
    console_alarm_at: datetime | None = None
    """The console's own alarm instant (the earlier of the two walks), before the pump's own
    projected alarm date is counted; ``alarm_at`` is the earlier of the two."""

    @property
    def refill_by_reason(self) -> str:
        return self.governing.text if self.governing else self.not_delivering_reason

    def status_on(self, today: date) -> StatusOn:
        return status_on(self, today)

    def summary(self) -> ForecastSummary:
        return ForecastSummary(
            serial=self.serial,
            has_data=self.has_data,
            delivering=self.delivering,
            not_delivering_reason=self.not_delivering_reason,
            anchor_at=self.anchor_at,
            alarm_at=self.alarm_at,
            alarm_day=self.alarm_day,
            refill_by=self.refill_by,
            governing=self.governing.kind if self.governing else None,
            governing_text=self.governing.text if self.governing else "",
            eri_day=self.eri.day if self.eri else None,
            eri_source=self.eri.source if self.eri else None,
            eos_day=self.end_of_service.day if self.end_of_service else None,
            eos_source=self.end_of_service.source if self.end_of_service else None,
            due_soon_days=self.settings.due_soon_days,
            note=self.notes[0] if self.notes else "",
            empty_day=local_day(self.empty_at, self.settings) if self.empty_at else None,
            attention=self.attention,
            low_alarm_on=self.low_alarm_on,
            uncertain=self.uncertain,
        )
