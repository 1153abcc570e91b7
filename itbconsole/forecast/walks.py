"""The alarm walks: from the anchor to the alarm volume (a) by the formula, every program
at its maximum daily volume, and (b) by the program's exact schedule on the pump clock with
each day's patient-bolus allowance at its start; the earlier instant is the alarm.

Separate because this is the exact, safety-critical integration behind the alarm date
(never later than a pump that follows its program), with the bridge drained first.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction

from itbconsole import dosing
from itbconsole.forecast.facts import Fill, PumpFacts
from itbconsole.forecast.timeline import PUMP_CLOCK, ProgramTimeline
from itbconsole.model import Mode, Program, ProgramChange
from itbconsole.units import SECONDS_PER_DAY, UL_PER_ML

#: A forecast walks no further than this: a program that takes longer to reach the alarm
#: volume has no alarm date worth showing (the drug's maximum interval governs long before).
HORIZON = timedelta(days=3660)

_Seg = tuple[datetime, Program, datetime | None, int]  # start, program, began, concentration


def segments_from(
    anchor_at: datetime,
    program: Program | None,
    began: datetime | None,
    conc: int,
    later: Sequence[ProgramChange],
) -> list[_Seg]:
    if program is None:
        return []
    segs: list[_Seg] = [(anchor_at, program, began, conc)]
    for c in later:
        segs.append((c.at, c.new, c.at, c.concentration_mcg_ml))
    return segs


@dataclass(frozen=True)
class _Bridge:
    remaining_ul: Fraction
    old_mcg_ml: int


def bridge_at(facts: PumpFacts, fill: Fill | None, anchor_at: datetime) -> _Bridge | None:
    """What is left of the latest fill's bridge at the anchor.

    At the fill itself: the whole bridge. At a later reading: the bridge less what the
    programs in force since the fill pushed (continuous delivery only, so the remainder is
    never under-counted). A bridge to a *stronger* drug drains the reservoir faster while it
    lasts, so a remainder counted in full errs early; a bridge to a weaker drug drains it
    slower, so there the remainder is left out (also early)."""
    if fill is None or fill.bridge_ul <= 0 or fill.bridge_from_mcg_ml <= 0:
        return None
    left = Fraction(fill.bridge_ul)
    old = fill.bridge_from_mcg_ml
    if anchor_at > fill.at:
        if old >= fill.concentration_mcg_ml:
            return None
        timeline = ProgramTimeline(
            [r for r in facts.readings if r.at <= anchor_at],
            [c for c in facts.changes if c.at <= anchor_at],
        )
        segments, _notes = timeline.segments(fill.at, anchor_at)
        for k, seg in enumerate(segments):
            end = segments[k + 1].start if k + 1 < len(segments) else anchor_at
            for lo, hi, rate in dosing.program_rate_pieces(
                _as_continuous(seg.program), seg.start, end, PUMP_CLOCK
            ):
                left -= rate * UL_PER_ML / old * _secs(lo, hi)
        if left <= 0:
            return None
    return _Bridge(left, old)


def _one_off_mcg(program: Program, began: datetime | None, lo: datetime) -> Fraction:
    """What is left of a single bolus at ``lo`` (all of it when its start is unknown)."""
    if program.mode is not Mode.SINGLE_BOLUS:
        return Fraction(0)
    total = Fraction(program.bolus_dose_mcg)
    if began is None or began >= lo:
        return total
    end = began + timedelta(minutes=program.bolus_duration_minutes)
    if end <= lo:
        return Fraction(0)
    left = Fraction(int((end - lo).total_seconds()), program.bolus_duration_minutes * 60)
    return total * min(left + Fraction(1, program.bolus_duration_minutes * 60), Fraction(1))


def _secs(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b."""
    d = b - a
    return Fraction(d.days * SECONDS_PER_DAY + d.seconds) + Fraction(d.microseconds, 10**6)


#: Microseconds a second: a datetime's finest unit, so every instant of a walk is a whole
#: number of them from its start.
_US = 10**6


def _us(a: datetime, b: datetime) -> int:
    """Exact microseconds from a to b."""
    d = b - a
    return (d.days * SECONDS_PER_DAY + d.seconds) * _US + d.microseconds


def _drain(
    start: datetime,
    pieces: Sequence[tuple[datetime, datetime, Fraction]],
    points: Sequence[tuple[datetime, Fraction]],
    conc_at: Callable[[datetime], int],
    bridge: _Bridge | None,
    target_ul: Fraction,
) -> datetime | None:
    """The first instant at which the volume drained from ``start`` reaches ``target_ul``.

    ``pieces`` are (from, to, mcg per second) in time order; ``points`` instant amounts
    (mcg). While a bridge is clearing, drug leaves at the old concentration's volume per
    mcg; after it, at the concentration in force. Exact; rounded down to the whole second
    (early rather than late).

    Why it is written this way: a flex program gives thousands of pieces to walk, and
    Fraction arithmetic on each held up the window for tens of milliseconds. Instants are
    whole microseconds from ``start`` (integers: compared and sorted at integer speed), and
    the volume of pieces after the bridge is summed as an integer over one common
    denominator. Every value is still an exact rational, the same as a walk in Fractions
    throughout gives, so the instant found is the same to the microsecond."""
    if target_ul <= 0:
        return start.replace(microsecond=0)
    left = bridge.remaining_ul if bridge else Fraction(0)
    old = bridge.old_mcg_ml if bridge else 0
    # (start µs, kind, end µs, mcg per second or mcg, concentration); kind 0: an amount
    # given at once, 1: a piece of constant rate.
    timeline: list[tuple[int, int, int, Fraction, int]] = []
    cuts = sorted({_us(start, p_at) for p_at, mcg in points if mcg > 0})
    for p_lo, p_hi, rate in pieces:
        if p_hi > p_lo and rate > 0:
            # Split each piece at the instants of the amounts given at once, so the walk
            # meets everything in time order.
            lo_us, hi_us, conc = _us(start, p_lo), _us(start, p_hi), conc_at(p_lo)
            k = bisect.bisect_right(cuts, lo_us)
            while k < len(cuts) and cuts[k] < hi_us:
                timeline.append((lo_us, 1, cuts[k], rate, conc))
                lo_us = cuts[k]
                k += 1
            timeline.append((lo_us, 1, hi_us, rate, conc))
    for p_at, mcg in points:
        if mcg > 0:
            timeline.append((_us(start, p_at), 0, 0, mcg, conc_at(p_at)))
    timeline.sort(key=lambda t: (t[0], t[1]))
    # µL per second at each (rate, concentration) after the bridge, and over a common
    # denominator: µL per µs = scaled[rate, conc] / (lcm x 10^6).
    # (Keyed by integers: a Fraction's hash costs a modular inverse.)
    keys = {(v.numerator, v.denominator, conc) for _lo, kind, _hi, v, conc in timeline if kind}
    ul_per_s = {key: Fraction(key[0] * UL_PER_ML, key[1] * key[2]) for key in keys}
    lcm = math.lcm(*(u.denominator for u in ul_per_s.values()))
    scaled = {key: u.numerator * (lcm // u.denominator) for key, u in ul_per_s.items()}
    denominator = lcm * _US
    drained = Fraction(0)  # what the amounts and the bridge's pieces took, and flushed sums
    summed = 0  # pieces since, in units of 1/denominator µL
    reach = 0  # the least ``summed`` that reaches the target (kept while drained is unchanged)
    stale = True
    for lo, kind, hi, value, conc in timeline:
        if left <= 0 and kind:  # a piece after the bridge: integers only
            if stale:
                rest = target_ul - drained
                reach = -((-rest.numerator * denominator) // rest.denominator)  # ceiling
                stale = False
            key = (value.numerator, value.denominator, conc)
            before = summed
            summed += scaled[key] * (hi - lo)
            if summed >= reach:  # this piece reaches the target
                rest = target_ul - drained - Fraction(before, denominator)
                return _instant(start, Fraction(lo, _US) + rest / ul_per_s[key])
            continue
        if summed:  # back to Fractions: the sum so far joins what was drained
            drained += Fraction(summed, denominator)
            summed = 0
        stale = True
        if kind == 0:  # an amount given at once
            per_mcg = Fraction(UL_PER_ML, old if left > 0 else conc)
            ul = value * per_mcg
            if left > 0 and ul > left:  # part old drug, part new
                ul = left + (value - left / per_mcg) * Fraction(UL_PER_ML, conc)
            left = max(Fraction(0), left - ul)
            drained += ul
            if drained >= target_ul:
                return _instant(start, Fraction(lo, _US))
            continue
        t, end = Fraction(lo, _US), Fraction(hi, _US)
        while t < end:
            bridging = left > 0
            rate_ul = value * UL_PER_ML / (old if bridging else conc)
            span = end - t
            if bridging:
                span = min(span, left / rate_ul)
            need = (target_ul - drained) / rate_ul
            if need <= span:
                return _instant(start, t + need)
            drained += rate_ul * span
            if bridging:
                left -= rate_ul * span
            t += span
    return None


def _instant(start: datetime, seconds: Fraction) -> datetime:
    return dosing.alarm_instant(start.replace(microsecond=0), seconds / SECONDS_PER_DAY) or start


def _as_continuous(program: Program) -> Program:
    """A single-bolus program without its bolus (the walks count the bolus at once)."""
    if program.mode is not Mode.SINGLE_BOLUS:
        return program
    return Program(
        Mode.SIMPLE_CONTINUOUS,
        daily_dose_mcg=program.daily_dose_mcg,
        patient_bolus=program.patient_bolus,
    )


#: A flex schedule is set by weekday: on a clock that keeps one UTC offset it repeats weekly.
WEEK = timedelta(days=7)


def _schedule_pieces(
    program: Program, start: datetime, stop: datetime
) -> list[tuple[datetime, datetime, Fraction]]:
    """``dosing.program_rate_pieces`` on the pump clock over [start, stop), the same pieces.

    Why: a flex program walked for months is thousands of pieces, each a Decimal rate made
    a Fraction again. The pump clock (UTC) keeps one offset, so the pieces of a week from a
    midnight repeat every week: worked out once (from the first midnight), then shifted.
    Days are never merged into one piece, so the list is the one worked out day by day."""
    if program.mode is not Mode.FLEX or PUMP_CLOCK is not UTC:
        return dosing.program_rate_pieces(program, start, stop, PUMP_CLOCK)
    midnight = datetime.combine(start.astimezone(UTC).date() + timedelta(days=1), time(0), UTC)
    if stop <= midnight + WEEK:
        return dosing.program_rate_pieces(program, start, stop, PUMP_CLOCK)
    out = dosing.program_rate_pieces(program, start, midnight, PUMP_CLOCK)
    week = dosing.program_rate_pieces(program, midnight, midnight + WEEK, PUMP_CLOCK)
    shift = timedelta(0)
    while week:
        for lo, hi, rate in week:
            if lo + shift >= stop:
                return out
            out.append((lo + shift, min(hi + shift, stop), rate))
        shift += WEEK
    return out


def earliest_alarm(
    anchor_at: datetime,
    volume_ul: int,
    alarm_ul: int,
    segments: Sequence[_Seg],
    bridge: _Bridge | None,
) -> tuple[datetime | None, str]:
    """The earliest of the two walks (formula and exact schedule); see the package docstring."""
    target = Fraction(volume_ul - alarm_ul)
    if target <= 0:
        return anchor_at.replace(microsecond=0), "the reservoir is at or below the alarm volume"
    horizon = anchor_at + HORIZON

    def conc_at(moment: datetime) -> int:
        conc = segments[0][3]
        for start, _p, _b, c in segments:
            if start <= moment:
                conc = c
        return conc

    ends = [s[0] for s in segments[1:]] + [horizon]
    # (a) the formula: the maximum daily dose spread evenly, single boluses at once.
    pieces_a: list[tuple[datetime, datetime, Fraction]] = []
    points: list[tuple[datetime, Fraction]] = []
    for (start, program, began, _c), end in zip(segments, ends, strict=True):
        rate = dosing.max_daily_dose_mcg(program) / SECONDS_PER_DAY
        pieces_a.append((start, end, rate))
        one_off = _one_off_mcg(program, began, start)
        if one_off:
            points.append((max(start, began or start), one_off))
    formula = _drain(anchor_at, pieces_a, points, conc_at, bridge, target)
    # (b) the exact schedule on the pump clock, each day's bolus allowance at its start.
    limit = formula if formula is not None else horizon
    pieces_b: list[tuple[datetime, datetime, Fraction]] = []
    points_b = list(points)
    for (start, program, _began, _c), end in zip(segments, ends, strict=True):
        stop = min(end, limit + timedelta(seconds=1))
        if stop <= start:
            continue
        pieces_b += _schedule_pieces(_as_continuous(program), start, stop)
        pb = program.patient_bolus
        if pb is not None and pb.max_per_day > 0:
            allowance = Fraction(pb.dose_mcg) * pb.max_per_day
            points_b.append((start, allowance))
            day = datetime.combine(
                start.astimezone(PUMP_CLOCK).date() + timedelta(days=1), time(0), PUMP_CLOCK
            )
            while day < stop:
                points_b.append((day, allowance))
                day += timedelta(days=1)
    exact = _drain(anchor_at, pieces_b, points_b, conc_at, bridge, target)
    if formula is None and exact is None:
        return None, ""
    if exact is not None and (formula is None or exact < formula):
        return exact, (
            "the program's own schedule with each day's patient boluses taken at once "
            "reaches the alarm volume first"
        )
    return formula, "maximum daily volume (every allowed patient bolus counted)"
