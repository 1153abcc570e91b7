"""The forecast's inputs: one pump's readings, confirmed fills and program changes
(:class:`PumpFacts`), built from the records, and the "what if" copies the reviews use.

Separate because every caller (clinic service, refill and program reviews, Trends) builds
facts the same way, and only confirmed fills and verified changes are in force.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from itbconsole.model import ChangeOutcome, Program, ProgramChange, Reading, Refill, RefillStatus


@dataclass(frozen=True)
class Fill:
    """A confirmed refill as the forecast needs it."""

    at: datetime
    volume_ul: int
    concentration_mcg_ml: int
    product: str
    expiry: date
    max_interval_days: int | None
    bridge_ul: int = 0
    bridge_from_mcg_ml: int = 0
    """Concentration in the pump's line before the fill (the bridge pushes it out)."""


@dataclass(frozen=True)
class PumpFacts:
    """Everything about one pump the forecast reads. Build it with :func:`facts_from`."""

    serial: str
    alarm_volume_ul: int
    readings: tuple[Reading, ...] = ()
    """Oldest first; a reading's ``pump_alarm_date`` is the pump's own projected alarm date
    (the store attaches it from ``pump_alarm_reports``)."""
    fills: tuple[Fill, ...] = ()
    changes: tuple[ProgramChange, ...] = ()
    """Verified (succeeded) program changes, oldest first."""
    uncertain: tuple[ProgramChange, ...] = ()
    """Program changes whose outcome is not known yet: the dates are those of the worse case,
    with or without them, until an interrogation settles them."""
    battery_report: tuple[date | None, date | None] | None = None
    eri_window: tuple[datetime | None, datetime] | None = None
    """(last reading without ERI before it showed, first reading showing ERI)."""
    fallback_max_interval_days: int | None = None
    """The shortest interval of any refill product: used when the fill's product is unknown."""

    @property
    def latest_reading(self) -> Reading | None:
        return self.readings[-1] if self.readings else None

    @property
    def latest_fill(self) -> Fill | None:
        return self.fills[-1] if self.fills else None


BridgeLookup = Callable[[Refill], tuple[int, int]]
IntervalLookup = Callable[[str, int], int | None]


def fill_from_refill(
    refill: Refill, max_interval_days: int | None, bridge: tuple[int, int] = (0, 0)
) -> Fill:
    return Fill(
        at=refill.at,
        volume_ul=refill.added_ul,
        concentration_mcg_ml=refill.concentration_mcg_ml,
        product=refill.product,
        expiry=refill.expiry,
        max_interval_days=max_interval_days,
        bridge_ul=bridge[0],
        bridge_from_mcg_ml=bridge[1],
    )


def facts_from(
    serial: str,
    alarm_volume_ul: int,
    readings: Iterable[Reading],
    refills: Iterable[Refill],
    changes: Iterable[ProgramChange],
    *,
    interval_of: IntervalLookup,
    bridge_of: BridgeLookup | None = None,
    battery_report: tuple[date | None, date | None] | None = None,
    fallback_max_interval_days: int | None = None,
) -> PumpFacts:
    """The forecast's inputs for pump ``serial`` from its records (any order, any pump:
    other pumps' records are ignored). Only confirmed refills are fills; succeeded program
    changes are in force; uncertain ones are kept apart (the forecast takes the worse case)."""
    mine = sorted((r for r in readings if r.pump_serial == serial), key=lambda r: (r.at, r.id or 0))
    fills = tuple(
        fill_from_refill(
            r,
            interval_of(r.product, r.concentration_mcg_ml),
            bridge_of(r) if bridge_of else (0, 0),
        )
        for r in sorted(refills, key=lambda r: (r.at, r.id or 0))
        if r.pump_serial == serial and r.status == RefillStatus.CONFIRMED
    )
    mine_changes = sorted(
        (c for c in changes if c.pump_serial == serial), key=lambda c: (c.at, c.id or 0)
    )
    done = tuple(c for c in mine_changes if c.outcome == ChangeOutcome.SUCCEEDED)
    open_changes = tuple(c for c in mine_changes if c.outcome == ChangeOutcome.UNCERTAIN)
    window: tuple[datetime | None, datetime] | None = None
    for i, reading in enumerate(mine):
        if reading.eri:
            window = (mine[i - 1].at if i > 0 else None, reading.at)
            break
    return PumpFacts(
        serial=serial,
        alarm_volume_ul=alarm_volume_ul,
        readings=tuple(mine),
        fills=fills,
        changes=done,
        uncertain=open_changes,
        battery_report=battery_report,
        eri_window=window,
        fallback_max_interval_days=fallback_max_interval_days,
    )


def with_reading(facts: PumpFacts, reading: Reading) -> PumpFacts:
    """The same pump with an interrogation that is not stored yet (the refill's identify)."""
    return replace(facts, readings=tuple(sorted((*facts.readings, reading), key=lambda r: r.at)))


def with_fill(facts: PumpFacts, fill: Fill) -> PumpFacts:
    """The same pump as if ``fill`` had been confirmed (the refill review's "after")."""
    return replace(facts, fills=tuple(sorted((*facts.fills, fill), key=lambda f: f.at)))


def with_change(facts: PumpFacts, at: datetime, old: Program, new: Program, conc: int) -> PumpFacts:
    """The same pump as if ``new`` had been sent and verified at ``at`` (program review)."""
    change = ProgramChange(facts.serial, at, old, new, conc, reason="(pending review)")
    return replace(facts, changes=tuple(sorted((*facts.changes, change), key=lambda c: c.at)))
