"""Step 6 of a refill: the confirmed update sent to the pump (:class:`ReservoirUpdate`),
written on the link thread by the refill's own nurse, marked as sent before it goes on the
wire (from then on it must be recorded), and its read-back compared with what was sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from itbconsole.model import Action, ChangeOutcome, User
from itbconsole.services.refill.session_base import SessionBase
from itbconsole.services.refill.steps import RefillError, Step
from itbconsole.services.settlement import READ_BACK_TOLERANCE_UL

if TYPE_CHECKING:
    from drivers.pump_client import PumpClient


class StatusLike(Protocol):
    """What a pump status read-back offers (``drivers.pump_client.PumpStatus`` fits)."""

    read_at: datetime
    pump_clock: datetime
    reservoir_ul: int
    alarm_volume_ul: int
    battery_mv: int
    eri: bool
    eos: bool
    alarms: tuple[str, ...]
    concentration_mcg_ml: int
    drug_name: str
    alarm_date: date | None  # the pump's own projected low-reservoir alarm day
    eri_date: date | None
    eos_date: date | None


@dataclass(frozen=True)
class ReservoirUpdate:
    """What step 6 sends to the pump (``PumpClient.update_reservoir``'s arguments)."""

    pump_serial: str
    volume_ul: int
    concentration_mcg_ml: int
    drug_name: str
    alarm_volume_ul: int
    bridge_volume_ul: int = 0
    bridge_duration_min: int = 0


class UpdateStep(SessionBase):
    """Step 6 of a :class:`~itbconsole.services.refill.session.RefillSession`, from the
    nurse's confirmation of the review."""

    def confirm(self, *, warnings_acknowledged: bool = False) -> ReservoirUpdate:
        """The nurse has reviewed current against new. Warnings (from the identification,
        a possible decimal slip in the volume added, drug expiring before the alarm date)
        must be acknowledged explicitly."""
        self._require(Step.REVIEW)
        if self.review_result is None:
            raise RefillError("Review the refill before confirming it.")
        ident = self._ident()
        if ident.concentration_mismatch and not self.mismatch_note:
            raise RefillError(
                "The pump's concentration differs from the records: explain it first.",
                "mismatch_note",
            )
        if self.review_result.to_acknowledge and not warnings_acknowledged:
            raise RefillError(
                "Read and acknowledge the warnings before updating the pump.", "warnings"
            )
        self.confirmed = True
        self.step = Step.UPDATE
        return self.reservoir_update()

    def reservoir_update(self) -> ReservoirUpdate:
        """What to send to the pump. Only after confirmation."""
        self._require(Step.UPDATE)
        if not self.confirmed:
            raise RefillError("Confirm the review before the pump is updated.")
        ident = self._ident()
        assert self.new_drug_check is not None and self.concentration is not None
        nd = self.new_drug_check.new_drug
        return ReservoirUpdate(
            pump_serial=ident.pump.serial,
            volume_ul=nd.added_ul,
            concentration_mcg_ml=nd.product.concentration_mcg_ml,
            drug_name=nd.product.product,
            alarm_volume_ul=ident.reading.alarm_volume_ul,
            bridge_volume_ul=self.concentration.bridge_volume_ul,
            bridge_duration_min=self.concentration.bridge_duration_min,
        )

    def mark_sent(self) -> None:
        """Called just before the update goes on the wire: from now on the refill must be
        recorded (pending if the outcome is unknown), never silently dropped."""
        self._require(Step.UPDATE)
        self.reservoir_update()
        self.update_sent = True
        self.write_started = False  # a new attempt: nothing of it is on the wire yet

    def begin_write(self) -> None:
        """Called (on the link thread) right before the reservoir command is written: from
        now on the update may have reached the pump, so it can no longer be called not
        sent; its outcome is succeeded, failed or uncertain."""
        if not self.update_sent:
            raise RefillError("The pump update was not marked as sent.")
        self.write_started = True

    def write_update(
        self,
        client: PumpClient,
        user: User,
        before_write: Callable[[], None] | None = None,
    ) -> tuple[ChangeOutcome, str, StatusLike | None]:
        """Link thread: write the confirmed update to the pump and return (outcome, message,
        read-back) for :meth:`record_update`. Refuses (RefillError, nothing sent) unless
        ``user`` is this refill's nurse and may update a pump, and the update was confirmed
        and marked sent. The caller has checked that the pump under the head is this one.
        Once the command may be on the wire any failure is *uncertain*, never "not sent"."""
        from drivers.pump_client import BridgeBolus

        refusal = user.refusal(Action.REFILL)
        if not refusal and user != self.user:
            refusal = f"This refill was started by {self.user.name}; {user.name} cannot send it."
        if refusal:
            raise RefillError(f"{refusal} Nothing was sent.")
        update = self.reservoir_update()
        if not self.update_sent:
            raise RefillError("The pump update was not marked as sent.")
        if before_write is not None:
            before_write()
        self.begin_write()
        bridge = (
            BridgeBolus(update.bridge_volume_ul, update.bridge_duration_min)
            if update.bridge_volume_ul
            else None
        )
        try:
            result = client.update_reservoir(
                update.volume_ul,
                update.concentration_mcg_ml,
                update.drug_name,
                alarm_volume_ul=update.alarm_volume_ul,
                bridge=bridge,
            )
        except Exception as exc:  # the command may have reached the pump
            return (
                ChangeOutcome.UNCERTAIN,
                f"The refill was sent but its outcome is unknown ({exc}).",
                None,
            )
        read_back = result.read_back if hasattr(result.read_back, "reservoir_ul") else None
        return ChangeOutcome(result.outcome), result.message, read_back

    def not_sent(self) -> None:
        """The link failed before the update went on the wire (the pump's identity could
        not be checked, or it was another pump): nothing was sent, so the nurse may try
        again or cancel. Refused once the write may have started: such an update must be
        recorded (pending when its outcome is unknown), never dropped."""
        if self.write_started:
            raise RefillError(
                "The update may have reached the pump: it must be recorded (as pending when "
                "the outcome is unknown), not dropped."
            )
        self.update_sent = False

    def compare_read_back(self, read_back: StatusLike | None) -> bool:
        """The pump's status after the update matches what was sent (the console checks
        it too, not only the driver)."""
        if read_back is None:
            return False
        sent = self.reservoir_update()
        return (
            read_back.concentration_mcg_ml == sent.concentration_mcg_ml
            and read_back.drug_name == sent.drug_name
            and read_back.alarm_volume_ul == sent.alarm_volume_ul
            and sent.volume_ul - READ_BACK_TOLERANCE_UL <= read_back.reservoir_ul <= sent.volume_ul
        )
