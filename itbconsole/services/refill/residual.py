"""The expected residual: what should be left in the reservoir, worked out from the last
refill on record and the program history since (:func:`expected_residual_for`), with every
input it came from (:class:`ResidualDerivation`) so the screen can show how."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.display import fmt_moment
from itbconsole.forecast import PUMP_CLOCK, ProgramTimeline, boluses_given, fill_from_refill
from itbconsole.model import (
    BolusGiven,
    ProgramSegment,
    Pump,
    PumpEvent,
    Reading,
    Refill,
    RefillStatus,
)
from itbconsole.store.queries import PatientHistory
from itbconsole.units import fmt_mcg, fmt_ml, round_decimal


@dataclass(frozen=True)
class ResidualDerivation:
    """The expected residual and every input it came from, so the screen can show how it
    was derived (domain.md: every result shown with its inputs)."""

    basis: str
    """"last refill" (dosing from the last fill and the program history) or "pump
    estimate" (no refill on record: the pump's own estimate is all there is)."""
    last_refill: Refill | None
    fill_ul: int
    filled_at: datetime | None
    at: datetime
    segments: tuple[ProgramSegment, ...]
    boluses: tuple[BolusGiven, ...]
    forecast: dosing.ResidualForecast | None
    expected_residual_ul: int
    expected_delivered_ul: int | None
    pump_estimate_ul: int
    notes: tuple[str, ...] = ()

    def explanation(self, tz: tzinfo = UTC) -> list[str]:
        """Plain-words lines: fill, delivery, residual, and what the pump itself says, with
        each moment written as every screen writes one, in the clinic's zone ``tz``."""

        def show(moment: datetime) -> str:
            return fmt_moment(moment, tz)

        if self.forecast is None or self.filled_at is None:
            return [
                "No refill is on record for this pump, so the expected residual is the "
                f"pump's own estimate: {fmt_ml(self.pump_estimate_ul)}.",
                *self.notes,
            ]
        lines = [
            f"Last fill: {fmt_ml(self.fill_ul)} on {show(self.filled_at)}.",
            f"Programmed delivery since ({len(self.segments)} program period"
            f"{'s' if len(self.segments) != 1 else ''}, {len(self.boluses)} bolus"
            f"{'es' if len(self.boluses) != 1 else ''}): "
            f"{fmt_ml(self.forecast.programmed_delivery_ul)}.",
        ]
        for seg in self.segments:
            dose = dosing.program_daily_dose_mcg(seg.program)
            lines.append(
                f"  from {show(max(seg.start, self.filled_at))}: {fmt_mcg(dose)}/24 h at "
                f"{seg.concentration_mcg_ml} mcg/mL"
            )
        lines.append(
            f"Expected residual = {fmt_ml(self.fill_ul)} - "
            f"{fmt_ml(self.forecast.programmed_delivery_ul)} = "
            f"{fmt_ml(self.expected_residual_ul)}"
            + (
                " (the programmed delivery would have emptied the reservoir)"
                if self.forecast.emptied
                else ""
            )
            + "."
        )
        lines.append(f"The pump's own estimate: {fmt_ml(self.pump_estimate_ul)}.")
        lines.extend(self.notes)
        return lines


def expected_residual_for(
    history: PatientHistory,
    pump: Pump,
    reading: Reading,
    events: Sequence[PumpEvent],
    tz: tzinfo,
    bridges: dict[datetime, tuple[int, int]] | None = None,
    *,
    logged: Callable[[datetime, datetime], Sequence[PumpEvent]] | None = None,
) -> ResidualDerivation:
    """Expected residual from the latest refill record (its time and added volume) and
    the program history since (:class:`itbconsole.forecast.ProgramTimeline`, the same one
    the Trends curve uses), by :func:`itbconsole.dosing.expected_residual`. The bridge the
    refill started and each single bolus count once, when they happened.

    Flex steps are integrated on the pump's own clock, which the protocol keeps on UTC
    (docs/protocol.md), never on the clinic's zone ``tz``: a clinic zone would move every
    flex step by an hour across a daylight-saving change. ``tz`` is for calendar dates only.

    The boluses come from ``events`` (this interrogation's log) and the entries already
    stored: ``logged(since, until)`` gives this pump's stored entries on the patient's record
    between two moments (:meth:`itbconsole.store.Store.pump_events_between`, an indexed
    read of only the entries since the last refill). Without it every stored entry of the
    patient is read from ``history.events``: the same figure, at the cost of decoding the
    whole log (15,000 entries took about 100 ms).
    """
    refills = sorted(
        (r for r in history.refills if r.pump_serial == pump.serial and r.at <= reading.at),
        key=lambda r: (r.at, r.id or 0),
    )
    if not refills:
        return ResidualDerivation(
            basis="pump estimate",
            last_refill=None,
            fill_ul=reading.reservoir_ul,
            filled_at=None,
            at=reading.at,
            segments=(),
            boluses=(),
            forecast=None,
            expected_residual_ul=reading.reservoir_ul,
            expected_delivered_ul=None,
            pump_estimate_ul=reading.reservoir_ul,
        )
    last = refills[-1]
    mine = [r for r in history.readings if r.pump_serial == pump.serial]
    changes = [c for c in history.program_changes if c.pump_serial == pump.serial]
    notes: list[str] = []
    on_record = ProgramTimeline(mine, changes)
    if on_record and on_record.entries[-1][1] != reading.program:
        notes.append(
            "The pump's program now differs from the last one on record: the change is "
            "counted from this interrogation, so the expected residual may be off."
        )
    timeline = ProgramTimeline([*mine, reading], changes)
    bridge = (bridges or {}).get(last.at, (0, 0))
    fill = fill_from_refill(last, None, bridge)
    segments, more = timeline.segments(last.at, reading.at, fill)
    notes.extend(more)
    stored = history.events if logged is None else logged(last.at, reading.at)
    all_events = [*stored, *events]
    boluses = boluses_given(all_events, pump.serial, last.at, reading.at, last.concentration_mcg_ml)
    if not segments:
        return ResidualDerivation(
            basis="pump estimate",
            last_refill=last,
            fill_ul=last.added_ul,
            filled_at=last.at,
            at=reading.at,
            segments=(),
            boluses=(),
            forecast=None,
            expected_residual_ul=reading.reservoir_ul,
            expected_delivered_ul=None,
            pump_estimate_ul=reading.reservoir_ul,
            notes=tuple(notes),
        )
    # The pump counts flex minutes on its own clock (UTC), not the clinic's wall clock.
    forecast = dosing.expected_residual(
        last.added_ul, last.at, reading.at, segments, PUMP_CLOCK, boluses
    )
    residual = int(round_decimal(forecast.residual_ul, 0))
    delivered = int(round_decimal(min(forecast.programmed_delivery_ul, Fraction(last.added_ul)), 0))
    if bridge[0]:
        notes.append(
            f"The refill started a bridge bolus of {fmt_ml(bridge[0], 3)} (old drug at "
            f"{bridge[1]} mcg/mL): counted once, at the old concentration's rate."
        )
    if last.status != RefillStatus.CONFIRMED:
        notes.append(f"The last refill on record is {last.status}: the pump may not know it.")
    return ResidualDerivation(
        basis="last refill",
        last_refill=last,
        fill_ul=last.added_ul,
        filled_at=last.at,
        at=reading.at,
        segments=segments,
        boluses=boluses,
        forecast=forecast,
        expected_residual_ul=residual,
        expected_delivered_ul=delivered,
        pump_estimate_ul=reading.reservoir_ul,
        notes=tuple(notes),
    )
