"""Step 2 of a refill: the volume withdrawn against the expected residual
(:class:`WithdrawalCheck`: discrepancy, accuracy, a likely decimal slip), and the note a
discrepancy beyond the clinic's limits needs."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from itbconsole import dosing
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import RefillError, Step, parse_ml
from itbconsole.units import fmt_ml, round_decimal


@dataclass(frozen=True)
class WithdrawalCheck:
    """Step 2: the volume withdrawn against the expected residual."""

    withdrawn_ul: int
    discrepancy: dosing.RefillDiscrepancy
    slip_hint: str = ""

    @property
    def needs_acknowledgement(self) -> bool:
        return self.discrepancy.flag

    @property
    def accuracy_text(self) -> str:
        pct = self.discrepancy.accuracy_pct
        return "not computable" if pct is None else f"{round_decimal(pct, 1)} %"

    @property
    def discrepancy_text(self) -> str:
        d = self.discrepancy.discrepancy_ul
        return ("+" if d > 0 else "") + fmt_ml(d)

    @property
    def meaning(self) -> str:
        """The likely meaning, in plain words. Less than expected may also mean that the
        previous refill went partly into the pocket (domain.md: pocket fill)."""
        text = self.discrepancy.meaning
        if self.discrepancy.direction == dosing.LESS_THAN_EXPECTED:
            text += (
                " It may also mean the previous refill went partly into the pocket (pocket "
                "fill) and not the reservoir: check the pocket and the patient for overdose "
                "signs."
            )
        return text


def _slip_hint(withdrawn_ul: int, expected_ul: int, limit_ul: int, capacity_ul: int) -> str:
    """A decimal slip (41.7 typed for 4.17) gives a value ten times off; say what was
    probably meant when the shifted value would fit the expected residual."""
    for shifted in (Fraction(withdrawn_ul, 10), Fraction(withdrawn_ul * 10)):
        if shifted <= capacity_ul and abs(shifted - expected_ul) <= limit_ul:
            return f"Check the decimal point: {fmt_ml(shifted)} would match the expected residual."
    return ""


class WithdrawStep(SessionBase):
    """Step 2 of a :class:`~itbconsole.services.refill.session.RefillSession`."""

    def enter_withdrawn(self, text: str) -> WithdrawalCheck:
        """The volume withdrawn (mL) against the expected residual: discrepancy, accuracy,
        and whether it is beyond the clinic's thresholds."""
        self._require(Step.WITHDRAW)
        ident = self._ident()
        capacity = ident.pump.reservoir_capacity_ul
        withdrawn = parse_ml(text, "withdrawn", "Volume withdrawn")
        if withdrawn > capacity:
            raise RefillError(
                f"{fmt_ml(withdrawn)} is more than the reservoir holds ({fmt_ml(capacity)}). "
                "Check the decimal point (41.7 typed for 4.17?).",
                "withdrawn",
            )
        res = ident.residual
        try:
            discrepancy = dosing.refill_discrepancy(
                expected_residual_ul=min(res.expected_residual_ul, capacity),
                withdrawn_ul=withdrawn,
                capacity_ul=capacity,
                expected_delivered_ul=res.expected_delivered_ul,
                thresholds=self.thresholds,
            )
        except dosing.DosingError as exc:
            raise RefillError(str(exc), "withdrawn") from None
        hint = ""
        if discrepancy.flag:
            hint = _slip_hint(
                withdrawn, discrepancy.expected_residual_ul, discrepancy.limit_ul, capacity
            )
        self._reset_after(Step.WITHDRAW)
        self.withdrawal = WithdrawalCheck(withdrawn, discrepancy, hint)
        self.discrepancy_note = ""
        self.withdrawn_checked = ""
        self.step = Step.WITHDRAW
        if not discrepancy.flag:
            self.step = Step.NEW_DRUG
        return self.withdrawal

    def acknowledge_discrepancy(self, note: str, *, slip_checked: bool = False) -> None:
        """A flagged discrepancy needs a typed note (what was checked, who was told). When
        the volume looks like a decimal slip (ten times off the expected residual) the
        nurse also confirms the typed volume itself (``slip_checked``): the note explains
        the discrepancy, the tick says the number is not a typing error."""
        self._require(Step.WITHDRAW)
        check = self.withdrawal
        if check is None:
            raise RefillError("Enter the volume withdrawn first.", "withdrawn")
        text = " ".join(note.split())
        if check.needs_acknowledgement and len(text) < 5:
            raise RefillError(
                "The discrepancy is outside the clinic's limits: type a note saying what "
                "you checked and who you told before going on.",
                "note",
            )
        if check.slip_hint and not slip_checked:
            raise RefillError(
                f"{check.slip_hint} Correct the volume, or tick the box to confirm "
                f"{fmt_ml(check.withdrawn_ul)} is what you withdrew.",
                "slip",
            )
        self.discrepancy_note = text
        self.withdrawn_checked = (
            f"Volume withdrawn confirmed at step 2 ({fmt_ml(check.withdrawn_ul)}): "
            f"{check.slip_hint}"
            if check.slip_hint
            else ""
        )
        self.step = Step.NEW_DRUG
