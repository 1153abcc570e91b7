"""Delivery accuracy per refill and drift across refills.

Accuracy at a refill = volume actually delivered since the previous fill / volume the
programs were expected to deliver, both from figures recorded on the refills:

* volume after the previous fill = that refill's ``added_ul``. The refill procedure
  aspirates the whole residual before the new drug goes in, so the reservoir holds what
  was added. Drug left behind by an incomplete aspiration is not measured anywhere; it
  makes the next refill look like over-delivery, which is one of the causes
  :func:`itbconsole.dosing.refill_discrepancy` names for "less came back than expected".
* expected delivered = volume after the previous fill - this refill's stored
  ``expected_residual_ul`` (the figure the nurse compared against at the time; it is 0
  when the programs would have emptied the pump, and then everything was expected out).
* actual delivered and accuracy: :func:`itbconsole.dosing.refill_discrepancy` (actual =
  expected residual + expected delivered - withdrawn = fill - withdrawn).

The first refill of a pump has no earlier fill on record, so it has no accuracy. Pending
refills (the pump update was uncertain) are left out until they are resolved.

Drift (why it matters: a pump that slowly under-delivers is a withdrawal risk that no single
refill shows, since each one is inside the tolerance band): a run of at least
``min_run`` consecutive refills, ending at the latest one, either all below (above) 100 %
and each lower (higher) than the one before, by at least ``min_total_change_pct`` points in
all; or all more than ``steady_margin_pct`` points below (above) 100 %.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from fractions import Fraction

from itbconsole import dosing
from itbconsole.alarms import WITHDRAWAL_SIGNS
from itbconsole.display import fmt_local_day
from itbconsole.model import Refill, RefillStatus

UNDER = "under"
OVER = "over"


@dataclass(frozen=True)
class RefillAccuracy:
    """One refill's delivery accuracy and the figures it came from."""

    refill: Refill
    previous_fill_at: datetime
    fill_ul: int
    """Volume in the reservoir after the previous fill (its ``added_ul``)."""
    expected_delivered_ul: int
    discrepancy: dosing.RefillDiscrepancy

    @property
    def at(self) -> datetime:
        return self.refill.at

    @property
    def accuracy_pct(self) -> Fraction:
        pct = self.discrepancy.accuracy_pct
        assert pct is not None  # only refills with an expected delivery are kept
        return pct

    @property
    def outside_band(self) -> bool:
        return self.discrepancy.accuracy_flag


@dataclass(frozen=True)
class DriftRule:
    """Clinic settings for calling a run of refills a drift (see the module docstring)."""

    min_run: int = 3
    steady_margin_pct: Fraction = Fraction(5)
    min_total_change_pct: Fraction = Fraction(3)

    def __post_init__(self) -> None:
        if self.min_run < 2:
            raise ValueError("A drift needs a run of at least 2 refills.")


@dataclass(frozen=True)
class Drift:
    """A run of refills, ending at the latest one, drifting the same way."""

    direction: str  # UNDER or OVER
    accuracies_pct: tuple[Fraction, ...]
    since: datetime
    message: str

    @property
    def count(self) -> int:
        return len(self.accuracies_pct)


def refill_accuracies(
    refills: Sequence[Refill],
    capacity_ul: int,
    thresholds: dosing.DiscrepancyThresholds | None = None,
    tz: tzinfo = UTC,
) -> tuple[list[RefillAccuracy], list[str]]:
    """Accuracy of every confirmed refill after the first (same pump), oldest first, and
    plain-words notes for refills that could not be assessed (each names the refill by its
    day in ``tz``, the clinic's zone: :func:`itbconsole.display.fmt_local_day`)."""
    th = thresholds or dosing.DiscrepancyThresholds()
    out: list[RefillAccuracy] = []
    notes: list[str] = []
    confirmed = sorted(
        (r for r in refills if r.status == RefillStatus.CONFIRMED), key=lambda r: r.at
    )
    for previous, refill in itertools.pairwise(confirmed):
        expected_delivered = previous.added_ul - refill.expected_residual_ul
        when = fmt_local_day(refill.at, tz)
        if expected_delivered < 0:
            notes.append(
                f"Refill of {when}: the expected residual is more than was added at the "
                "previous fill, so its accuracy cannot be computed; check the record."
            )
            continue
        try:
            disc = dosing.refill_discrepancy(
                expected_residual_ul=refill.expected_residual_ul,
                withdrawn_ul=refill.withdrawn_ul,
                capacity_ul=capacity_ul,
                expected_delivered_ul=expected_delivered,
                thresholds=th,
            )
        except dosing.DosingError as exc:
            notes.append(f"Refill of {when}: accuracy not computed ({exc})")
            continue
        if disc.accuracy is None:
            notes.append(f"Refill of {when}: nothing was expected to be delivered.")
            continue
        out.append(RefillAccuracy(refill, previous.at, previous.added_ul, expected_delivered, disc))
    return out, notes


def _run_length(values: Sequence[Fraction], inside: list[bool], monotonic: list[bool]) -> int:
    """Length of the run ending at the last value where ``inside`` holds and each value
    keeps the direction (``monotonic[i]``: value i moved the right way from value i-1)."""
    n = 0
    for i in range(len(values) - 1, -1, -1):
        if not inside[i]:
            break
        n += 1
        if i == 0 or not monotonic[i]:
            break
    return n


def _pct(value: Fraction) -> str:
    return f"{float(value):.0f} %"


def detect_drift(
    accuracies_pct: Sequence[Fraction], since: Sequence[datetime], rule: DriftRule | None = None
) -> Drift | None:
    """The drift ending at the latest refill, if any (see the module docstring).

    ``accuracies_pct`` oldest first; ``since[i]`` is the time of refill i.
    """
    rule = rule or DriftRule()
    values = list(accuracies_pct)
    best: tuple[int, str] | None = None
    for direction in (UNDER, OVER):
        sign = -1 if direction == UNDER else 1
        beyond = [sign * (v - 100) > 0 for v in values]
        moving = [i > 0 and sign * (values[i] - values[i - 1]) > 0 for i in range(len(values))]
        trend = _run_length(values, beyond, moving)
        if trend >= rule.min_run:
            change = sign * (values[-1] - values[-trend])
            if change < rule.min_total_change_pct:
                trend = 0
        steady_inside = [sign * (v - 100) > rule.steady_margin_pct for v in values]
        steady = _run_length(values, steady_inside, [True] * len(values))
        run = max(trend, steady)
        if run >= rule.min_run and (best is None or run > best[0]):
            best = (run, direction)
    if best is None:
        return None
    run, direction = best
    run_values = tuple(values[-run:])
    listed = ", ".join(_pct(v) for v in run_values)
    if direction == UNDER:
        message = (
            f"Delivery has been lower than programmed at the last {run} refills ({listed}): "
            "the pump may be slowly under-delivering (motor stall, catheter occlusion), a "
            f"withdrawal risk. {WITHDRAWAL_SIGNS} Consider a pump and catheter check."
        )
    else:
        message = (
            f"Delivery has been higher than programmed at the last {run} refills ({listed}): "
            "the pump may be over-delivering, or the residual was not fully aspirated, an "
            "overdose risk. Check for drowsiness and slow breathing, and review how the "
            "residual is withdrawn."
        )
    return Drift(direction, run_values, since[len(values) - run], message)


__all__ = [
    "OVER",
    "UNDER",
    "Drift",
    "DriftRule",
    "RefillAccuracy",
    "detect_drift",
    "refill_accuracies",
]
