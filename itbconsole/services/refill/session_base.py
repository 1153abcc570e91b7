"""What a refill session keeps between its steps and how it moves between them: the state
each step fills in, the rule that a step needs the ones before it, and that going back
discards what later steps decided. The steps themselves are in their own modules;
:class:`~itbconsole.services.refill.session.RefillSession` puts them together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from itbconsole import dosing
from itbconsole.model import PumpEvent, User
from itbconsole.services.clinic import ClinicService
from itbconsole.services.refill.steps import STEP_TITLES, RefillError, Step
from itbconsole.services.settlement import PendingResolution
from itbconsole.store import Store

if TYPE_CHECKING:
    from itbconsole.services.refill.concentration import ConcentrationCheck
    from itbconsole.services.refill.identify import Identification
    from itbconsole.services.refill.new_drug import NewDrugCheck
    from itbconsole.services.refill.record import RefillOutcome
    from itbconsole.services.refill.review import Review
    from itbconsole.services.refill.withdrawal import WithdrawalCheck


class SessionBase:
    """The state of one refill appointment and the navigation between its steps."""

    def __init__(
        self,
        clinic: ClinicService,
        patient_id: int,
        *,
        thresholds: dosing.DiscrepancyThresholds | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clinic = clinic
        self.store: Store = clinic.store
        self.user: User = clinic.user
        self.tz = clinic.tz
        self.patient_id = patient_id
        self.thresholds = thresholds or clinic.settings.thresholds
        self.now = now
        self.step = Step.IDENTIFY
        self.identification: Identification | None = None
        self.events: tuple[PumpEvent, ...] = ()
        self.reading_saved = False
        self.withdrawal: WithdrawalCheck | None = None
        self.discrepancy_note = ""
        #: A withdrawn volume that looked like a decimal slip, confirmed at step 2.
        self.withdrawn_checked = ""
        self.new_drug_check: NewDrugCheck | None = None
        self.concentration: ConcentrationCheck | None = None
        self.review_result: Review | None = None
        self.confirmed = False
        self.update_sent = False
        #: The reservoir update may have reached the pump (set just before the command goes
        #: on the wire): from then on :meth:`not_sent` is refused.
        self.write_started = False
        self.mismatch_note = ""
        self.outcome: RefillOutcome | None = None
        self.resolutions: list[PendingResolution] = []

    # ------------------------------------------------------------------ navigation

    def _require(self, step: Step) -> None:
        if self.step in (Step.DONE, Step.CANCELLED):
            raise RefillError("This refill is finished. Start a new one.")
        if self.step < step:
            raise RefillError(f"Complete '{STEP_TITLES[Step(self.step)]}' first.")

    def _reset_after(self, step: Step) -> None:
        if self.update_sent:
            raise RefillError("The pump update has been sent: earlier steps cannot change now.")
        if step < Step.WITHDRAW:
            self.withdrawal, self.discrepancy_note, self.withdrawn_checked = None, "", ""
        if step < Step.NEW_DRUG:
            self.new_drug_check = None
        if step < Step.CONCENTRATION:
            self.concentration = None
        if step < Step.REVIEW:
            self.review_result = None
        self.confirmed = False
        self.step = Step(min(self.step, step + 1)) if self.step > step else self.step

    def cancel(self) -> None:
        """Stop before the pump update: nothing was sent and no refill is stored (the
        interrogation reading may have been saved already, see :attr:`reading_saved`)."""
        if self.update_sent:
            raise RefillError(
                "The pump update has been sent: the refill must be recorded (it is kept as "
                "pending when the outcome is unknown)."
            )
        self.step = Step.CANCELLED

    def _ident(self) -> Identification:
        if self.identification is None:
            raise RefillError("Interrogate the pump first.")
        return self.identification

    def _today(self) -> date:
        return self.now().astimezone(self.tz).date()
