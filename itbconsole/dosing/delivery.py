"""Delivery over time: a program's constant-rate pieces between two instants, the mcg it
delivers, and the volume a history of program segments and boluses takes from the reservoir.

Separate because the expected residual, the Trends curves and the forecast's walks all
integrate delivery the same way, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from fractions import Fraction

from itbconsole.dosing.checks import DosingError, require_aware
from itbconsole.dosing.instants import as_utc, exact_seconds
from itbconsole.dosing.wall_clock import Piece, flex_pieces
from itbconsole.model import BolusGiven, Mode, Program, ProgramSegment
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML, to_fraction


def _program_pieces(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> list[Piece]:
    """Delivery of ``program`` over [start, end) as constant-rate pieces (mcg per second)."""
    start, end = as_utc(start), as_utc(end)
    if end <= start or program.mode is Mode.STOPPED:
        return []
    if program.mode is Mode.SIMPLE_CONTINUOUS:
        return [(start, end, to_fraction(program.daily_dose_mcg) / SECONDS_PER_DAY)]
    if program.mode is Mode.FLEX:
        return flex_pieces(program, start, end, tz)
    # SINGLE_BOLUS: the bolus spread evenly over its duration, then the continuous rate.
    origin = as_utc(program_start) if program_start is not None else start
    bolus_end = origin + timedelta(minutes=program.bolus_duration_minutes)
    pieces: list[Piece] = []
    lo, hi = max(start, origin), min(end, bolus_end)
    if hi > lo:
        rate = to_fraction(program.bolus_dose_mcg) / (program.bolus_duration_minutes * 60)
        pieces.append((lo, hi, rate))
    lo = max(start, bolus_end)
    if end > lo:
        pieces.append((lo, end, to_fraction(program.daily_dose_mcg) / SECONDS_PER_DAY))
    return pieces


def program_rate_pieces(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> list[tuple[datetime, datetime, Fraction]]:
    """The program's delivery over [start, end) as (from, to, mcg per second) pieces of
    constant rate, in time order: what :func:`program_delivered_mcg` integrates. Flex steps
    follow the wall clock of ``tz``; a single bolus is spread over its duration from
    ``program_start``."""
    require_aware(start, end)
    return _program_pieces(program, start, end, tz, program_start)


def program_delivered_mcg(
    program: Program,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    program_start: datetime | None = None,
) -> Fraction:
    """mcg the program delivers between ``start`` and ``end`` (absolute time), boluses by the
    patient excluded.

    * simple continuous: daily dose x elapsed seconds / 86 400;
    * flex: each step's rate (mcg/h) x the time the wall clock of ``tz`` spends inside the
      step's window during [start, end) (so 23 h or 25 h on DST days);
    * single bolus: the bolus (spread evenly over its duration from ``program_start``) plus
      the continuous rate after it.
    """
    require_aware(start, end)
    if program_start is not None:
        require_aware(program_start)
    return sum(
        (
            rate * exact_seconds(lo, hi)
            for lo, hi, rate in _program_pieces(program, start, end, tz, program_start)
        ),
        Fraction(0),
    )


def delivery_timeline(
    segments: Sequence[ProgramSegment],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    boluses: Iterable[BolusGiven],
) -> tuple[list[Piece], list[tuple[datetime, Fraction]]]:
    """Continuous delivery (µL per second) and instant boluses (µL) in [start, end)."""
    require_aware(start, end)
    if end < start:
        raise DosingError("The end of the period is before its start.")
    ordered = sorted(segments, key=lambda s: s.start)
    pieces: list[Piece] = []
    for i, seg in enumerate(ordered):
        require_aware(seg.start)
        seg_end = ordered[i + 1].start if i + 1 < len(ordered) else end
        lo, hi = max(seg.start, start), min(seg_end, end)
        if hi <= lo:
            continue
        for p_lo, p_hi, mcg_per_s in _program_pieces(
            seg.program, lo, hi, tz, program_start=seg.program_start or seg.start
        ):
            pieces.append((p_lo, p_hi, mcg_per_s * UL_PER_ML / seg.concentration_mcg_ml))
    events: list[tuple[datetime, Fraction]] = []
    for bolus in boluses:
        require_aware(bolus.at)
        if bolus.concentration_mcg_ml <= 0:
            raise DosingError("A bolus's concentration must be more than 0 mcg/mL.")
        if start <= bolus.at < end:
            events.append(
                (
                    as_utc(bolus.at),
                    to_fraction(bolus.dose_mcg) * UL_PER_ML / bolus.concentration_mcg_ml,
                )
            )
    return pieces, events


def segments_delivered_ul(
    segments: Sequence[ProgramSegment],
    start: datetime,
    end: datetime,
    tz: tzinfo,
    boluses: Iterable[BolusGiven] = (),
) -> Fraction:
    """Volume (µL) leaving the reservoir between ``start`` and ``end``.

    Formula: for each program segment, delivered mcg / concentration (mcg/mL) x 1000, plus
    each bolus given in the window (patient, single, priming or bridge): dose /
    concentration x 1000. Segments are in time order; each lasts until the next one starts
    (the last until ``end``). Programs can change between refills, so the history is
    integrated piecewise. Source: domain.md, expected residual.
    """
    pieces, events = delivery_timeline(segments, start, end, tz, boluses)
    total = sum((rate * exact_seconds(lo, hi) for lo, hi, rate in pieces), Fraction(0))
    return total + sum((ul for _, ul in events), Fraction(0))
