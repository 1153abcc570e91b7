"""Sending an approved change: :func:`send_program` (link thread: authorise, check the pump
is as the change assumed, check again, write in two phases, read back), its
:class:`SendResult`, and the one order of a send (:class:`ProgramSend`): the intent stored
before the first byte (:func:`record_intent`), the record settled after
(:func:`record_result`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from itbconsole import dosing
from itbconsole.model import ChangeOutcome, Program, ProgramChange, User
from itbconsole.services.programming.approval import ApprovedChange, send_refusal
from itbconsole.services.programming.check import recheck
from itbconsole.services.programming.findings import fmt_amount
from itbconsole.services.programming.state import PumpState

if TYPE_CHECKING:
    from drivers.pump_client import PumpClient
    from itbconsole.store import Store


@dataclass(frozen=True)
class SendResult:
    """What happened at the pump. ``sent`` is False when the pre-send check stopped it
    (nothing was written)."""

    outcome: ChangeOutcome
    message: str
    readback: Program | None = None
    sent: bool = True

    @property
    def succeeded(self) -> bool:
        return self.outcome == ChangeOutcome.SUCCEEDED


def send_program(
    client: PumpClient,
    approved: ApprovedChange,
    user: User,
    *,
    deadline_s: float | None = 60.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendResult:
    """Authorise, check the pump is still as the change assumed, check again, then write,
    read back and compare. Runs on the link thread; touches no records.

    Before a byte is sent: ``user`` must be allowed to send and be the one who approved
    the change, and the approved check must still pass with the reasons given
    (:func:`send_refusal`). Then the pump must be ``change.pump_serial``, report
    ``change.concentration_mcg_ml`` and run ``change.old``; and every rule is run again on
    the state the pump reports now (:func:`recheck`). Otherwise nothing is written
    (``sent`` False, outcome failed). Then the two-phase write of
    :meth:`PumpClient.write_program`; success only when the program read back equals the
    one sent. An unanswered commit whose read-back is impossible is uncertain.
    """
    from drivers.link import LinkError
    from drivers.pump_client import Interrogation, WriteOutcome

    change = approved.change
    refusal = send_refusal(approved, user)
    if refusal:
        return SendResult(ChangeOutcome.FAILED, f"{refusal} Nothing was sent.", sent=False)
    try:
        identity = client.identify(deadline_s=deadline_s)
        status = client.read_status(deadline_s=deadline_s)
        active, started = client.read_program(deadline_s=deadline_s)
    except LinkError as exc:
        return SendResult(
            ChangeOutcome.FAILED, f"{exc} Nothing was sent; the pump keeps its program.", sent=False
        )
    problem = ""
    if identity.serial != change.pump_serial:
        problem = (
            f"The pump under the programmer head is {identity.serial}, not {change.pump_serial}."
        )
    elif status.concentration_mcg_ml != change.concentration_mcg_ml:
        problem = (
            f"The pump reports {status.concentration_mcg_ml} mcg/mL in its reservoir, "
            f"not {change.concentration_mcg_ml} mcg/mL as programmed."
        )
    elif active != change.old:
        problem = (
            "The pump's program has changed since the editor read it. Interrogate "
            "again and start the change from the program the pump runs now."
        )
    elif approved.check.context is not None:
        live = PumpState.from_interrogation(Interrogation(identity, status, active, started))
        again = send_refusal(approved, user, recheck(approved.check, live, now()))
        if again:
            problem = f"Checked again on the pump's state now: {again}"
    if problem:
        return SendResult(ChangeOutcome.FAILED, problem + " Nothing was sent.", active, sent=False)
    result = client.write_program(change.new, current=change.old, deadline_s=deadline_s)
    readback = result.read_back if isinstance(result.read_back, Program) else None
    if result.outcome is WriteOutcome.SUCCEEDED and readback == change.new:
        return SendResult(
            ChangeOutcome.SUCCEEDED,
            "The pump runs the new program: read back and identical to the program sent.",
            readback,
        )
    if result.outcome is WriteOutcome.FAILED:
        return SendResult(ChangeOutcome.FAILED, result.message, readback)
    message = result.message
    if readback is not None and readback != change.new:
        message = (
            "The pump reports a DIFFERENT program from the one sent: it delivers "
            f"{fmt_amount(dosing.program_daily_dose_mcg(readback))} mcg/24 h, the program sent "
            f"{fmt_amount(dosing.program_daily_dose_mcg(change.new))} mcg/24 h. Interrogate the "
            "pump again now and correct the program before the patient leaves."
        )
    return SendResult(ChangeOutcome.UNCERTAIN, message, readback)


@dataclass(frozen=True)
class ProgramSend:
    """One send of an approved change, in its only order. :meth:`ClinicService.begin_program_send`
    authorises it and stores the change as *uncertain* before the first byte goes to the
    pump (a crash mid-write leaves the patient flagged, not the change unrecorded);
    :meth:`run` (link thread) checks and writes; :meth:`ClinicService.finish_program_send`
    settles the record with what the pump said."""

    approved: ApprovedChange
    user: User
    prepared_id: int | None = None

    @property
    def intent(self) -> ProgramChange:
        return self.approved.change

    def run(self, client: PumpClient, *, deadline_s: float | None = 60.0) -> SendResult:
        return send_program(client, self.approved, self.user, deadline_s=deadline_s)


def record_intent(
    store: Store,
    change: ProgramChange,
    user: User,
    *,
    patient_id: int | None = None,
    at: datetime | None = None,
) -> ProgramChange:
    """Store the change as *uncertain* before anything is sent. If the console stops
    mid-write (crash, power cut) the patient stays flagged until an interrogation settles
    it, instead of the change vanishing from the record. Its time is when it is sent
    (``at``, default now), not when the editor was opened: the 24-hour change window and
    the single-bolus count are measured from it."""
    return store.add_program_change(
        replace(change, outcome=ChangeOutcome.UNCERTAIN, at=at or datetime.now(UTC)),
        user,
        patient_id=patient_id,
    )


def record_result(
    store: Store,
    intent: ProgramChange,
    result: SendResult,
    user: User,
    *,
    prepared_id: int | None = None,
) -> ProgramChange:
    """Settle the stored intent with what the pump said: succeeded or failed rows correct
    it (with the read-back); an uncertain outcome stays uncertain (a read-back that differs
    is kept in the audit log) until :func:`resolve_uncertain` settles it. A prepared program
    it came from is closed as sent only when the change succeeded; after an uncertain
    outcome it stays open until :func:`resolve_uncertain` settles it as succeeded."""
    assert intent.id is not None
    settled = intent
    if result.outcome in (ChangeOutcome.SUCCEEDED, ChangeOutcome.FAILED):
        note = result.message if result.sent else f"Not sent: {result.message}"
        settled = store.resolve_program_change(
            intent.id, result.outcome, user, readback=result.readback, note=note
        )
    elif result.readback is not None:
        store.record_action(
            "program_readback_differs",
            {
                "program_change_id": intent.id,
                "pump_serial": intent.pump_serial,
                "readback": result.readback.to_dict(),
                "message": result.message,
            },
            user,
        )
    if prepared_id is not None and result.outcome == ChangeOutcome.SUCCEEDED:
        store.mark_prepared_program_sent(prepared_id, settled.id or intent.id, user)
    return settled
