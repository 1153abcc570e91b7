"""Step 5 of a refill: current against new, side by side (:class:`Review`), with the
refill-by date and its reason, and the warnings the nurse must acknowledge before the pump
is updated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from itbconsole.display import fmt_day, fmt_local_day
from itbconsole.forecast import Forecast, action_by
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import Step, dose_text
from itbconsole.units import fmt_ml


@dataclass(frozen=True)
class ReviewRow:
    label: str
    current: str
    new: str

    @property
    def changed(self) -> bool:
        return self.current != self.new


@dataclass(frozen=True)
class Review:
    rows: tuple[ReviewRow, ...]
    forecast_before: Forecast
    forecast_after: Forecast
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    to_acknowledge: tuple[str, ...] = ()
    """Warnings the nurse must acknowledge before the pump is updated."""


class ReviewStep(SessionBase):
    """Step 5 of a :class:`~itbconsole.services.refill.session.RefillSession`."""

    def review(self) -> Review:
        """Current against new, side by side."""
        self._require(Step.REVIEW)
        ident = self._ident()
        assert self.new_drug_check is not None and self.concentration is not None
        nd = self.new_drug_check.new_drug
        before = ident.forecast_now
        after = self.new_drug_check.forecast

        def when(moment: datetime | None) -> str:
            return "none (not delivering)" if moment is None else fmt_local_day(moment, self.tz)

        def day(d: date | None) -> str:
            return "-" if d is None else fmt_day(d)

        rows: tuple[ReviewRow, ...] = (
            ReviewRow("Reservoir volume", fmt_ml(ident.reading.reservoir_ul), fmt_ml(nd.added_ul)),
            ReviewRow("Drug", ident.product_in_pump, nd.product.product),
            ReviewRow(
                "Concentration",
                f"{ident.reading.concentration_mcg_ml} mcg/mL",
                f"{nd.product.concentration_mcg_ml} mcg/mL",
            ),
            ReviewRow(
                "Daily dose",
                dose_text(ident.reading.program),
                dose_text(self.concentration.program_after),
            ),
            ReviewRow("Low-reservoir alarm", when(before.alarm_at), when(after.alarm_at)),
            # "Replace the pump by" when End of Service sets the date: no refill moves it.
            ReviewRow(
                f"{action_by(after.governing.kind if after.governing else None)} by",
                day(before.refill_by),
                day(after.refill_by),
            ),
            ReviewRow("Lot / expiry", "-", f"{nd.lot} / {fmt_day(nd.expiry)}"),
        )
        prepared = self.concentration.prepared
        if prepared is not None:
            rows += (
                ReviewRow(
                    "Prepared program (not sent)",
                    "-",
                    f"{dose_text(prepared.program)}: to be sent next by a clinician from "
                    "Change program",
                ),
            )
        others = [b for b in after.bounds if b is not after.governing]
        notes = [
            f"{action_by(after.governing.kind if after.governing else None)} by "
            f"{day(after.refill_by)}: {after.refill_by_reason}."
            + (
                " Other limits: " + "; ".join(f"{day(b.day)} ({b.text})" for b in others) + "."
                if others
                else ""
            ),
        ]
        if self.new_drug_check.brand_change:
            notes.append(self.new_drug_check.brand_change)
        if self.concentration.bridge is not None and self.concentration.bridge_volume_ul:
            notes.append(self.concentration.message)
        if prepared is not None:
            notes.append(
                "The refill does not send the prepared program: the daily dose, alarm and "
                "refill-by dates above are for the pump's current program, which keeps "
                "running. A clinician sends the prepared program from Change program "
                "straight after the refill; the dates change then."
            )
        to_acknowledge = [*ident.warnings, *self.new_drug_check.warnings]
        warnings = list(to_acknowledge)
        if self.mismatch_note:
            warnings.append(f"Concentration difference explained: {self.mismatch_note}")
        if self.withdrawal is not None and self.withdrawal.needs_acknowledgement:
            warnings.append(f"Discrepancy acknowledged: {self.discrepancy_note}")
        if self.withdrawn_checked:
            warnings.append(self.withdrawn_checked)
        warnings.extend(self.new_drug_check.checked)
        self.review_result = Review(
            rows, before, after, tuple(warnings), tuple(notes), tuple(to_acknowledge)
        )
        return self.review_result
