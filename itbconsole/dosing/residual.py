"""The expected residual: what should be left in the reservoir at a moment after a fill,
and when it would have run dry.

Separate because it is the figure a refill is checked against (the discrepancy) and it
walks the delivery timeline in time order to find the empty instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from fractions import Fraction

from itbconsole.dosing.checks import DosingError, require_aware
from itbconsole.dosing.delivery import delivery_timeline
from itbconsole.dosing.instants import add_seconds_utc, as_utc, exact_seconds
from itbconsole.dosing.wall_clock import Piece
from itbconsole.model import BolusGiven, ProgramSegment


@dataclass(frozen=True)
class ResidualForecast:
    """Expected reservoir volume at a moment after a fill, and how it was derived."""

    fill_ul: int
    filled_at: datetime
    at: datetime
    programmed_delivery_ul: Fraction
    """Everything the programs and boluses would have pumped (may exceed the fill)."""
    residual_ul: Fraction
    """fill - delivery, never below 0."""
    emptied: bool
    """True when the programmed delivery would have emptied the reservoir by ``at``."""
    empty_at: datetime | None
    """The instant (UTC, rounded up to the second) the reservoir would have run dry."""


def expected_residual(
    fill_ul: int,
    filled_at: datetime,
    at: datetime,
    segments: Sequence[ProgramSegment],
    tz: tzinfo,
    boluses: Iterable[BolusGiven] = (),
) -> ResidualForecast:
    """Expected residual (µL) = volume after the last fill (µL) - all programmed delivery
    since (µL): continuous and flex segments, single, patient, priming and bridge boluses.

    Inputs: ``fill_ul`` volume in the reservoir right after the fill (µL); ``filled_at`` and
    ``at`` aware instants; ``segments`` the program history (the segment in force at the
    fill must start at or before it); ``tz`` the pump clock's zone for flex steps.
    A reservoir cannot hold less than nothing: the residual stops at 0 and ``empty_at``
    tells when the pump would have run dry (withdrawal risk). Source: domain.md.
    """
    require_aware(filled_at, at)
    if isinstance(fill_ul, bool) or fill_ul < 0:
        raise DosingError("The volume after the fill cannot be negative.")
    if at < filled_at:
        raise DosingError("The moment asked about is before the fill.")
    pieces, events = delivery_timeline(segments, filled_at, at, tz, boluses)
    # Split continuous pieces at bolus instants so that the walk below meets every amount in
    # time order (pieces never overlap one another).
    cuts = sorted({when for when, _ in events})
    split: list[Piece] = []
    for lo, hi, rate in pieces:
        for cut in cuts:
            if lo < cut < hi:
                split.append((lo, cut, rate))
                lo = cut
        split.append((lo, hi, rate))
    timeline: list[tuple[datetime, int, datetime, Fraction]] = [
        (lo, 1, hi, rate) for lo, hi, rate in split
    ] + [(when, 0, when, ul) for when, ul in events]
    timeline.sort(key=lambda item: (item[0], item[1]))
    delivered = Fraction(0)
    empty_at: datetime | None = None
    for lo, kind, hi, value in timeline:
        amount = value if kind == 0 else value * exact_seconds(lo, hi)
        if empty_at is None and delivered + amount >= fill_ul and amount > 0:
            if kind == 0 or fill_ul == delivered:
                empty_at = as_utc(lo)
            else:
                empty_at = add_seconds_utc(lo, (fill_ul - delivered) / value, up=True)
        delivered += amount
    residual = max(Fraction(fill_ul) - delivered, Fraction(0))
    return ResidualForecast(
        fill_ul=fill_ul,
        filled_at=filled_at,
        at=at,
        programmed_delivery_ul=delivered,
        residual_ul=residual,
        emptied=empty_at is not None,
        empty_at=empty_at,
    )
