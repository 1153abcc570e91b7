"""Program history and bolus history: which program ran when (:class:`ProgramTimeline`,
sliced into :class:`~itbconsole.model.ProgramSegment` periods, with a fill's bridge) and the
boluses the pump logged.

Separate because the refill's expected residual and the Trends depletion curve both read
it, so they can never disagree.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from itbconsole import dosing
from itbconsole.forecast.facts import Fill
from itbconsole.model import (
    BolusGiven,
    ChangeOutcome,
    Program,
    ProgramChange,
    ProgramSegment,
    PumpEvent,
    Reading,
)
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML

#: Flex schedules follow the pump's own clock, which protocol v1 keeps on UTC
#: (docs/protocol.md, "Time"). Every delivery integral in the console uses this zone.
PUMP_CLOCK = UTC


class ProgramTimeline:
    """One pump's program history (verified changes and what readings showed), built once
    and sliced into :class:`ProgramSegment` periods for any stretch of time.

    The refill's expected residual and the Trends depletion curve both use it, so they can
    never disagree. Consecutive entries with the same program are one run: a single-bolus
    program keeps the start of its run, so its bolus is counted once, when it happened."""

    def __init__(self, readings: Iterable[Reading], changes: Iterable[ProgramChange]) -> None:
        done = sorted(
            (c for c in changes if c.outcome == ChangeOutcome.SUCCEEDED), key=lambda c: c.at
        )
        readings = list(readings)
        known: list[tuple[datetime, int, Program, int]] = [
            (c.at, 1, c.new, c.concentration_mcg_ml) for c in done
        ] + [(r.at, 0, r.program, r.concentration_mcg_ml) for r in readings]
        first_reading = min((r.at for r in readings), default=None)
        if done and (first_reading is None or done[0].at <= first_reading):
            # Before the first change on record, the program it replaced was running.
            known.append((done[0].at, -1, done[0].old, done[0].concentration_mcg_ml))
        known.sort(key=lambda k: (k[0], k[1]))
        self.entries: list[tuple[datetime, Program, int, datetime]] = []
        for at, _kind, program, conc in known:
            if self.entries and self.entries[-1][1] == program:
                began = self.entries[-1][3]
            else:
                began = at
            self.entries.append((at, program, conc, began))
        self._times = [e[0] for e in self.entries]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def segments(
        self,
        since: datetime,
        until: datetime,
        fill: Fill | None = None,
    ) -> tuple[tuple[ProgramSegment, ...], tuple[str, ...]]:
        """The periods from ``since`` to ``until``. With ``fill`` (a fill at ``since``) the
        drug is the fill's concentration, after its bridge (old drug in the dead volume at
        the old concentration's rate) has cleared."""
        notes: list[str] = []
        if not self.entries:
            return (), ("No program is on record for this pump.",)
        i = bisect.bisect_right(self._times, since)
        if i == 0:
            start = self.entries[0]
            notes.append(
                "No program is on record from before the last fill: the first one "
                "recorded after it is assumed to have run from the fill."
            )
        else:
            start = self.entries[i - 1]

        def conc(value: int) -> int:
            return fill.concentration_mcg_ml if fill is not None else value

        segs: list[ProgramSegment] = [
            ProgramSegment(since, start[1], conc(start[2]), program_start=start[3])
        ]
        j = bisect.bisect_right(self._times, until)
        for at, program, c, began in self.entries[i:j]:
            last = segs[-1]
            if last.program == program and last.concentration_mcg_ml == conc(c):
                continue
            segs.append(ProgramSegment(at, program, conc(c), program_start=began))
        if fill is not None and fill.bridge_ul > 0 and fill.bridge_from_mcg_ml > 0:
            segs = _with_bridge(segs, since, until, fill)
        return tuple(segs), tuple(notes)


def _with_bridge(
    segs: list[ProgramSegment], since: datetime, until: datetime, fill: Fill
) -> list[ProgramSegment]:
    """Insert the bridge: from the fill, the line's old drug at the old concentration
    until the bridge volume has gone, then the fill's drug."""
    left = Fraction(fill.bridge_ul)
    old = fill.bridge_from_mcg_ml
    end: datetime | None = None
    for k, seg in enumerate(segs):
        seg_end = segs[k + 1].start if k + 1 < len(segs) else until
        for lo, hi, rate in dosing.program_rate_pieces(
            seg.program, seg.start, seg_end, PUMP_CLOCK, program_start=seg.program_start
        ):
            ul_s = rate * UL_PER_ML / old
            if ul_s <= 0:
                continue
            span = Fraction(int((hi - lo).total_seconds()))
            if ul_s * span >= left:
                end = dosing.alarm_instant(lo, left / ul_s / SECONDS_PER_DAY)
                break
            left -= ul_s * span
        if end is not None:
            break
    if end is None:
        end = until
    out: list[ProgramSegment] = []
    for k, seg in enumerate(segs):
        seg_end = segs[k + 1].start if k + 1 < len(segs) else until
        if seg.start < end:
            out.append(ProgramSegment(seg.start, seg.program, old, seg.program_start))
            if end < seg_end:
                out.append(
                    ProgramSegment(end, seg.program, seg.concentration_mcg_ml, seg.program_start)
                )
        else:
            out.append(seg)
    return out


def boluses_given(
    events: Iterable[PumpEvent],
    serial: str,
    since: datetime,
    until: datetime,
    concentration_mcg_ml: int,
) -> tuple[BolusGiven, ...]:
    """Patient and clinician boluses the pump logged between ``since`` and ``until``
    (each log entry once). A single-bolus *program* is counted by the program history."""
    out: list[BolusGiven] = []
    seen: set[int] = set()
    for event in events:
        if event.pump_serial != serial or event.index in seen:
            continue
        if event.kind in ("patient_bolus", "single_bolus") and since <= event.at <= until:
            seen.add(event.index)
            dose = Decimal(int(event.detail.get("dose_ng", 0))) / 1000
            if dose > 0:
                kind = event.kind.removesuffix("_bolus")
                out.append(BolusGiven(event.at, dose, concentration_mcg_ml, kind=kind))
    return tuple(sorted(out, key=lambda b: b.at))
