"""Refill discrepancy: the withdrawn volume against the expected residual, delivery
accuracy, and the clinic's thresholds for flagging them.

Separate because it is the check at every refill for over- and under-delivery and a
pocket fill, with wording a nurse acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from itbconsole.dosing.checks import DosingError

LESS_THAN_EXPECTED = "less than expected"
MORE_THAN_EXPECTED = "more than expected"
AS_EXPECTED = "as expected"


@dataclass(frozen=True)
class DiscrepancyThresholds:
    """Clinic settings for flagging a refill. No manufacturer threshold exists (domain.md).

    Defaults: more than 1.0 mL off for reservoirs up to 20 mL and 2.0 mL for larger ones
    (Maino 2017, pocket fill after a refill); delivery accuracy outside 85-115 % (Prometra
    accepts 85-115 %). For context, SynchroMed II's clinical mean is +2.5 % per refill
    (Wesemann 2014).
    """

    small_reservoir_max_ul: int = 20_000
    small_reservoir_limit_ul: int = 1_000
    large_reservoir_limit_ul: int = 2_000
    accuracy_low_pct: Fraction = Fraction(85)
    accuracy_high_pct: Fraction = Fraction(115)

    def __post_init__(self) -> None:
        if (
            min(
                self.small_reservoir_max_ul,
                self.small_reservoir_limit_ul,
                self.large_reservoir_limit_ul,
            )
            < 0
        ):
            raise DosingError("Discrepancy limits cannot be negative.")
        if not 0 <= self.accuracy_low_pct <= 100 <= self.accuracy_high_pct:
            raise DosingError("The accuracy range must contain 100 %.")

    def volume_limit_ul(self, capacity_ul: int) -> int:
        """The volume limit for a reservoir of ``capacity_ul``."""
        if capacity_ul <= self.small_reservoir_max_ul:
            return self.small_reservoir_limit_ul
        return self.large_reservoir_limit_ul


@dataclass(frozen=True)
class RefillDiscrepancy:
    """A refill's withdrawn volume compared with the expected residual, classified."""

    expected_residual_ul: int
    withdrawn_ul: int
    capacity_ul: int
    expected_delivered_ul: int | None
    thresholds: DiscrepancyThresholds
    after_refill: bool
    discrepancy_ul: int
    """withdrawn - expected (negative: less came back than expected)."""
    limit_ul: int
    actual_delivered_ul: int | None
    accuracy: Fraction | None
    """actual delivered / expected delivered (1 = exact); None without an expected delivery."""
    volume_flag: bool
    accuracy_flag: bool
    direction: str
    meaning: str

    @property
    def flag(self) -> bool:
        return self.volume_flag or self.accuracy_flag

    @property
    def accuracy_pct(self) -> Fraction | None:
        return None if self.accuracy is None else self.accuracy * 100


def refill_discrepancy(
    *,
    expected_residual_ul: int,
    withdrawn_ul: int,
    capacity_ul: int,
    expected_delivered_ul: int | None = None,
    thresholds: DiscrepancyThresholds | None = None,
    after_refill: bool = False,
) -> RefillDiscrepancy:
    """Refill discrepancy and delivery accuracy, flagged against clinic thresholds.

    Formulas: discrepancy (µL) = withdrawn - expected residual. With the expected delivery
    since the last fill (µL): actual delivered = (expected residual + expected delivered) -
    withdrawn (the volume after the last fill minus what came back), accuracy = actual
    delivered / expected delivered. Flag when |discrepancy| is more than the limit for the
    reservoir size, or accuracy is outside the range (bounds themselves are accepted).

    Meaning (domain.md): withdrawn < expected: over-delivery or incomplete aspiration;
    withdrawn > expected: under-delivery, motor stall or catheter occlusion, with a risk of
    withdrawal. ``after_refill``: the comparison is of the volume just after a refill, where
    a large difference may mean a pocket fill (Maino 2017; FDA Class I 2011).
    """
    th = thresholds or DiscrepancyThresholds()
    for value, what in (
        (expected_residual_ul, "The expected residual"),
        (withdrawn_ul, "The withdrawn volume"),
    ):
        if value < 0:
            raise DosingError(f"{what} cannot be negative.")
        if value > capacity_ul:
            raise DosingError(f"{what} is more than the reservoir capacity; check the figures.")
    if capacity_ul <= 0:
        raise DosingError("The reservoir capacity must be more than 0 mL.")
    discrepancy = withdrawn_ul - expected_residual_ul
    limit = th.volume_limit_ul(capacity_ul)
    volume_flag = abs(discrepancy) > limit
    accuracy: Fraction | None = None
    actual: int | None = None
    accuracy_flag = False
    if expected_delivered_ul is not None:
        if expected_delivered_ul < 0:
            raise DosingError("The expected delivered volume cannot be negative.")
        actual = expected_residual_ul + expected_delivered_ul - withdrawn_ul
        if expected_delivered_ul > 0:
            accuracy = Fraction(actual, expected_delivered_ul)
            pct = accuracy * 100
            accuracy_flag = not th.accuracy_low_pct <= pct <= th.accuracy_high_pct
    if discrepancy < 0:
        direction = LESS_THAN_EXPECTED
        cause = (
            "Less came back than expected: the pump may have over-delivered, or aspiration "
            "was incomplete. Check for overdose signs (drowsiness, slow breathing)."
        )
    elif discrepancy > 0:
        direction = MORE_THAN_EXPECTED
        cause = (
            "More came back than expected: the pump may have under-delivered (motor stall, "
            "catheter occlusion). Risk of withdrawal: check for itching, fever, rebound "
            "spasticity."
        )
    else:
        direction = AS_EXPECTED
        cause = "The withdrawn volume matches the expected residual."
    flagged = volume_flag or accuracy_flag
    if not flagged:
        meaning = (
            f"Within the clinic's limits. {cause}" if discrepancy else "Within the clinic's limits."
        )
    else:
        meaning = f"Outside the clinic's limits. {cause}"
        if after_refill:
            meaning += (
                " After a refill a difference this large may mean a pocket fill (drug in the "
                "pocket, not the reservoir): stop and check the fill before going on."
            )
        if expected_delivered_ul == 0 and accuracy is None:
            meaning += " Accuracy cannot be computed: nothing was expected to be delivered."
    return RefillDiscrepancy(
        expected_residual_ul=expected_residual_ul,
        withdrawn_ul=withdrawn_ul,
        capacity_ul=capacity_ul,
        expected_delivered_ul=expected_delivered_ul,
        thresholds=th,
        after_refill=after_refill,
        discrepancy_ul=discrepancy,
        limit_ul=limit,
        actual_delivered_ul=actual,
        accuracy=accuracy,
        volume_flag=volume_flag,
        accuracy_flag=accuracy_flag,
        direction=direction,
        meaning=meaning,
    )
