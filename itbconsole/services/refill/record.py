"""Recording a refill: the outcome of the pump update stored atomically with the
interrogation and the read-back (:class:`RefillOutcome`: confirmed, pending when the outcome
is unknown, failed), with a note of everything explained and acknowledged on the way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from itbconsole.model import ChangeOutcome, Reading, Refill, RefillStatus
from itbconsole.services.refill.identify import Identification
from itbconsole.services.refill.pump_update import StatusLike, UpdateStep
from itbconsole.services.refill.steps import RefillError, Step


@dataclass(frozen=True)
class RefillOutcome:
    """Step 6 and 7: what happened and what was stored."""

    status: str  # confirmed | pending | failed
    message: str
    refill: Refill
    stored_at: datetime
    stored_by: str


class RecordStep(UpdateStep):
    """Step 6's outcome recorded, and the end of a
    :class:`~itbconsole.services.refill.session.RefillSession`."""

    def record_update(
        self, outcome: ChangeOutcome | str, message: str, read_back: StatusLike | None = None
    ) -> RefillOutcome:
        """Store the refill atomically with who and when (the audit entry is the store's),
        together with the identify interrogation and the read-back reading.

        ``outcome`` is the pump update's: "succeeded" (read back and equal: confirmed),
        "uncertain" (link lost: pending until the next interrogation) or "failed" (the
        pump certainly did not take it: stored as failed so the drug and lot given are not
        lost; the nurse is told to update the pump again).
        """
        self._require(Step.UPDATE)
        if outcome not in tuple(ChangeOutcome):
            raise RefillError(f"Unknown pump update outcome '{outcome}'.")
        ident = self._ident()
        assert self.withdrawal is not None and self.new_drug_check is not None
        assert self.concentration is not None
        nd = self.new_drug_check.new_drug
        status = {
            ChangeOutcome.SUCCEEDED: RefillStatus.CONFIRMED,
            ChangeOutcome.UNCERTAIN: RefillStatus.PENDING,
            ChangeOutcome.FAILED: RefillStatus.FAILED,
        }[ChangeOutcome(outcome)]
        if status == RefillStatus.CONFIRMED and not self.compare_read_back(read_back):
            status = RefillStatus.PENDING
            message = (
                "The pump answered, but what it read back differs from what was sent. "
                "The refill is kept as pending: interrogate the pump again."
            )
        # A confirmed refill took effect when the pump read it back: dated then, with the
        # read-back's reading (the pump's own dates after the refill), not seconds later.
        at = (
            read_back.read_at
            if status == RefillStatus.CONFIRMED and read_back is not None
            else self.now()
        )
        refill = Refill(
            pump_serial=ident.pump.serial,
            at=at,
            withdrawn_ul=self.withdrawal.withdrawn_ul,
            expected_residual_ul=self.withdrawal.discrepancy.expected_residual_ul,
            added_ul=nd.added_ul,
            product=nd.product.product,
            concentration_mcg_ml=nd.product.concentration_mcg_ml,
            lot=nd.lot,
            expiry=nd.expiry,
            status=status,
            note=self._note(status, message),
        )
        with self.store.atomic():
            if not self.reading_saved:
                self.store.add_interrogation(
                    ident.reading, self.events, self.user, patient_id=self.patient_id
                )
            bridge = None
            if self.concentration.bridge_volume_ul:
                bridge = (
                    self.concentration.bridge_volume_ul,
                    self.concentration.current_mcg_ml,
                    self.concentration.bridge_duration_min,
                )
            saved = self.store.add_refill(
                refill, self.user, patient_id=self.patient_id, bridge=bridge
            )
            if status == RefillStatus.CONFIRMED and read_back is not None:
                self.store.add_reading(
                    self._after_reading(ident, read_back), self.user, patient_id=self.patient_id
                )
        self.reading_saved = True
        assert saved.id is not None
        stamp = self.store.stamp("refills", saved.id)
        self.outcome = RefillOutcome(status, message, saved, stamp.at, stamp.by)
        self.step = Step.RECORD
        return self.outcome

    def _after_reading(self, ident: Identification, status: StatusLike) -> Reading:
        return Reading(
            pump_serial=ident.pump.serial,
            at=status.read_at,
            pump_clock=status.pump_clock,
            reservoir_ul=status.reservoir_ul,
            alarm_volume_ul=status.alarm_volume_ul,
            battery_mv=status.battery_mv,
            eri=status.eri,
            eos=status.eos,
            concentration_mcg_ml=status.concentration_mcg_ml,
            program=ident.reading.program,
            alarms=tuple(status.alarms),
            # The pump's own dates as it read them back after the refill: its projected
            # alarm date keeps its lead over the console's (the forecast's rule).
            pump_alarm_date=status.alarm_date,
            eri_date=status.eri_date,
            eos_date=status.eos_date,
        )

    def _note(self, status: str, message: str) -> str:
        assert self.new_drug_check is not None and self.concentration is not None
        parts: list[str] = []
        if self.mismatch_note:
            parts.append(f"Concentration difference at identify explained: {self.mismatch_note}")
        if self.discrepancy_note:
            parts.append(f"Discrepancy: {self.discrepancy_note}")
        if self.withdrawn_checked:
            parts.append(self.withdrawn_checked)
        parts.extend(self.new_drug_check.checked)
        if self.new_drug_check.brand_change:
            parts.append(self.new_drug_check.brand_change)
        nd = self.new_drug_check.new_drug
        if nd.gtin:
            parts.append(f"GTIN {nd.gtin}" + (f", serial {nd.serial}" if nd.serial else ""))
        if self.concentration.bridge_volume_ul:
            parts.append(
                f"Bridge bolus {self.concentration.bridge_volume_ul} uL over "
                f"{self.concentration.bridge_duration_min} min"
            )
        if self.concentration.prepared is not None:
            parts.append(
                f"Concentration change with the program prepared by "
                f"{self.concentration.prepared.prepared_by or 'a clinician'}"
            )
        acknowledged = (
            self.review_result.to_acknowledge
            if self.review_result is not None
            else self.new_drug_check.warnings
        )
        parts.extend(f"Acknowledged: {w}" for w in acknowledged)
        if status != RefillStatus.CONFIRMED:
            parts.append(f"Pump update {status}: {message}")
        return "; ".join(parts)

    def finish(self) -> None:
        self._require(Step.RECORD)
        if self.outcome is None:
            raise RefillError("The refill has not been recorded yet.")
        self.step = Step.DONE
