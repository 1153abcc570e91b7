"""Runs a program change for the window: reads the pump, opens the editor, stores records,
sends on the link thread and shows what the pump confirmed.

The order of a send is the service's (:class:`~itbconsole.services.programming.ProgramSend`):
the clinic service authorises it and stores the change as *uncertain* before the first byte
goes to the pump; the link thread runs it (authorise again, check the pump, check again,
write, read back, compare); back on the GUI thread the clinic service settles the record.
This controller only moves it between threads and shows the result. Serial I/O never runs
on the GUI thread.
"""

from __future__ import annotations

import logging
from html import escape
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from itbconsole.model import ChangeOutcome, PreparedProgram, Program, ProgramChange, Pump
from itbconsole.services import programming as svc

# The review's own rows for one program (the Result page shows the read-back in the same
# words as the side-by-side review).
from itbconsole.services.programming import program_rows
from itbconsole.store import StoreError
from ui import pump_jobs
from ui.link_worker import JobContext
from ui.printing import show_print_preview
from ui.program.editor import EditorContext, ProgramEditorDialog
from ui.program.record import ProgramChangeRecord, program_change_printout, suggested_file_name

if TYPE_CHECKING:
    from ui.host import Host

log = logging.getLogger(__name__)

#: How many recent program changes the editor offers as templates.
RECENT_TEMPLATES = 5


def read_pump_state(ctx: JobContext) -> svc.PumpState:
    """Link-thread job: identity, status and program, as the editor's starting point."""
    ctx.progress("Reading the pump's program", 0, 1)
    state = svc.PumpState.from_interrogation(pump_jobs.connected_client(ctx).interrogate())
    ctx.progress("Program read", 1, 1)
    return state


def send_job(send: svc.ProgramSend) -> Any:
    """Link-thread job: the service's send (authorise, check, write, read back, compare)."""

    def job(ctx: JobContext) -> svc.SendResult:
        ctx.progress("Sending the program", 0, 1)
        return send.run(pump_jobs.connected_client(ctx))

    return job


def read_program_job(ctx: JobContext) -> tuple[str, int, Program]:
    """Link-thread job: which pump is under the head (serial), the concentration it
    reports, and its program, so an uncertain change is settled only from its own pump."""
    client = pump_jobs.connected_client(ctx)
    identity = client.identify()
    status = client.read_status()
    program, _started = client.read_program()
    return identity.serial, status.concentration_mcg_ml, program


class ProgramEditorController(QObject):
    """One program-change session for the window's open patient."""

    def __init__(self, window: Host) -> None:
        super().__init__(window.host_widget())
        self.window = window
        self.dialog: ProgramEditorDialog | None = None
        self.sending: svc.ProgramSend | None = None
        self.result: svc.SendResult | None = None
        self.patient_id: int | None = window.current_patient_id
        self.pump: Pump | None = None
        #: What the pump last said about the change sent (a re-check settles it): the
        #: outcome, in words, and the program read back, for the printed record.
        self.answer: tuple[ChangeOutcome, str, Program | None] | None = None

    # ------------------------------------------------------------------ opening

    def start(self) -> None:
        w = self.window
        clinic = w.clinic
        if self.patient_id is None:
            w.prompts.error("Change program", "Open the patient's record first.")
            return
        self.pump = clinic.pump_of(self.patient_id)
        if self.pump is None:
            w.prompts.error(
                "Change program",
                "No pump is registered to this patient. Register the pump, interrogate it, "
                "then change its program.",
            )
            return
        connected = w.connected_identity
        if connected is not None and connected.serial != self.pump.serial:
            w.prompts.error(
                "Change program",
                f"The pump under the programmer head is {connected.serial}, but this patient's "
                f"pump is {self.pump.serial}. Check the patient and the pump.",
            )
            return
        if connected is not None:
            if w.link.busy:
                w.prompts.error(
                    "Change program",
                    "The pump link is busy. Wait for it to finish, then try again.",
                )
                return
            w.show_status("Reading the pump's program...")
            w.link.submit("read program", read_pump_state, self._open, self._read_failed)
            return
        reading = clinic.latest_reading(self.patient_id, self.pump.serial)
        if reading is None:
            w.prompts.error(
                "Change program",
                "There is no reading of this pump yet. Connect and interrogate it first.",
            )
            return
        self._open(svc.PumpState.from_reading(reading, self._product_name(reading)))

    def _product_name(self, reading: Any) -> str:
        assert self.patient_id is not None
        clinic = self.window.clinic
        history = clinic.patient_history(self.patient_id)
        found = clinic.product_in_pump(history, reading.pump_serial, reading.concentration_mcg_ml)
        return found or ""

    def _read_failed(self, error: BaseException) -> None:
        message = pump_jobs.plain_message(error)
        self.window.show_status(f"Program not read: {message}", 8000)
        self.window.prompts.error("Could not read the pump's program", message)

    def _open(self, state: svc.PumpState) -> None:
        w = self.window
        clinic = w.clinic
        assert self.patient_id is not None and self.pump is not None
        if state.pump_serial != self.pump.serial:
            w.prompts.error(
                "Change program",
                f"The pump answered as {state.pump_serial}, not {self.pump.serial}. Nothing "
                "was changed.",
            )
            return
        history = clinic.patient_history(self.patient_id)
        recent = sorted(
            (
                c
                for c in history.program_changes
                if c.pump_serial == self.pump.serial and c.outcome == ChangeOutcome.SUCCEEDED
            ),
            key=lambda c: c.at,
            reverse=True,
        )[:RECENT_TEMPLATES]
        ctx = EditorContext(
            patient_name=history.patient.display_name,
            pump=self.pump,
            state=state,
            library=clinic.library,
            tz=clinic.tz,
            user=clinic.user,
            now=w.now(),
            prepared=clinic.prepared_program(self.pump.serial),
            recent=tuple(recent),
            history=tuple(c for c in history.program_changes if c.pump_serial == self.pump.serial),
            facts=clinic.pump_facts(self.pump.serial),
            settings=clinic.settings,
            catheter_revised_on=clinic.last_catheter_revision(self.pump.serial),
            connected=w.connected_identity is not None,
        )
        self.dialog = ProgramEditorDialog(ctx, w.host_widget())
        self.dialog.setObjectName("programEditor")
        self.dialog.send_requested.connect(self.send)
        self.dialog.prepare_requested.connect(self.prepare)
        self.dialog.recheck_requested.connect(self.recheck)
        self.dialog.print_requested.connect(self.print_record)
        self.dialog.finished.connect(self._closed)
        w.show_status("Program editor open.", 4000)
        self.dialog.open()

    def _closed(self, _result: int) -> None:
        if self.dialog is not None:
            self.dialog.setObjectName("")  # the next editor is the window's programEditor
            self.dialog.deleteLater()

    # ------------------------------------------------------------------ actions

    def prepare(self, prepared: PreparedProgram) -> None:
        w = self.window
        try:
            saved = w.clinic.prepare_program(prepared, self.patient_id)
        except StoreError as exc:
            w.prompts.error("Program not saved", str(exc))
            return
        w.show_status(
            f"Program saved for review (record {saved.id}); a clinician can load it in the "
            "program editor.",
            10000,
        )
        if self.dialog is not None:
            self.dialog.accept()

    @property
    def intent(self) -> ProgramChange | None:
        """The stored change being sent (None before a send)."""
        return self.sending.intent if self.sending is not None else None

    def send(self, approved: svc.ApprovedChange) -> None:
        w = self.window
        assert self.dialog is not None
        session = getattr(w, "session", None)
        if session is not None and session.locked:
            return  # nothing is sent from behind the lock screen
        if w.connected_identity is None:
            w.prompts.error("Program not sent", "Connect to the pump first.")
            return
        if w.link.busy:
            w.prompts.error("Program not sent", "The pump link is busy. Try again in a moment.")
            return
        try:
            self.sending = w.clinic.begin_program_send(
                approved, self.patient_id, self.dialog.prepared_id
            )
        except svc.ProgrammingError as exc:
            w.prompts.error("Program not sent", str(exc))
            return
        except StoreError as exc:
            w.prompts.error("Program not sent", f"{exc} Nothing was sent to the pump.")
            return
        self.dialog.set_sending(True)
        w.link.submit("send program", send_job(self.sending), self._sent, self._send_crashed)

    def _sent(self, result: svc.SendResult) -> None:
        w = self.window
        assert self.sending is not None and self.dialog is not None
        self.result = result
        self.answer = (result.outcome, result.message, result.readback)
        # What the pump did is shown first, whatever happens to the record after it.
        self.dialog.set_sending(False)
        self.dialog.show_result(result.outcome, result.message, self._details(result))
        if not self._save_result(result):  # the change stays stored as uncertain
            self.dialog.show_result(
                result.outcome, result.message, self._details(result), recorded=False
            )
        w.refresh_patients()
        if self.patient_id is not None:
            w.open_patient(self.patient_id)
        w.show_status(f"Program change: {result.outcome}. {result.message}", 10000)

    def _save_result(self, result: svc.SendResult) -> bool:
        """Settle the stored change with the pump's outcome. If the database refuses (locked
        by another program, disk full...), say what the pump did and offer to try again:
        until it is saved the change stays stored as *uncertain*, so the patient stays
        flagged, never unrecorded."""
        w = self.window
        assert self.sending is not None
        while True:
            try:
                w.clinic.finish_program_send(self.sending, result)
                return True
            except Exception as exc:  # the pump's outcome stands whatever the store says
                log.exception("Program change %s not settled", self.sending.intent.id)
                detail = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
                if not w.prompts.confirm(
                    "Record not saved",
                    f"The pump's answer: {result.outcome.upper()}. {result.message}\n\n"
                    f"The record of this change could not be saved ({detail}). It stays "
                    "recorded as uncertain, and the patient flagged, until it is saved or the "
                    "pump is read again. Try saving it again now?",
                ):
                    return False

    def _send_crashed(self, error: BaseException) -> None:
        """The job itself failed (not a pump answer): the change may have reached the pump,
        so it stays uncertain."""
        message = pump_jobs.plain_message(error)
        self._sent(svc.SendResult(ChangeOutcome.UNCERTAIN, message))

    def _details(self, result: svc.SendResult) -> str:
        """The whole program read back from the pump (mode, every flex step, single and
        patient boluses, maximum 24 h dose) beside what was sent, row by row, so the
        clinician sees the read-back itself, not only that it matched."""
        if result.readback is None or self.intent is None:
            return ""
        return readback_table(self.intent.new, result.readback, self.intent.concentration_mcg_ml)

    def recheck(self) -> None:
        """Read the pump's program again to settle an uncertain change."""
        w = self.window
        if w.connected_identity is None or w.link.busy:
            w.prompts.error("Check the pump", "Connect to the pump (and wait for the link).")
            return
        w.link.submit("read program", read_program_job, self._rechecked, self._read_failed)

    def _rechecked(self, read: tuple[str, int, Program]) -> None:
        w = self.window
        assert self.intent is not None and self.dialog is not None
        serial, concentration, program = read
        try:
            settled = w.clinic.resolve_uncertain_change(
                self.intent,
                program,
                pump_serial=serial,
                concentration_mcg_ml=concentration,
                prepared_id=self.dialog.prepared_id,
            )
        except (svc.ProgrammingError, svc.SettlementError, StoreError) as exc:
            self.dialog.show_result(ChangeOutcome.UNCERTAIN, f"Not settled: {exc}")
            return
        if settled is None:
            self.dialog.show_result(
                ChangeOutcome.UNCERTAIN,
                "The pump runs neither the previous nor the new program. Interrogate it and "
                "review its program now.",
            )
            return
        message = "Settled by reading the pump's program again: " + (
            "it runs the new program."
            if settled.outcome == ChangeOutcome.SUCCEEDED
            else "it still runs the previous program."
        )
        self.answer = (settled.outcome, message, program)
        self.dialog.show_result(
            settled.outcome, message, readback_table(self.intent.new, program, concentration)
        )
        w.refresh_patients()
        if self.patient_id is not None:
            w.open_patient(self.patient_id)  # the Overview shows the settled program

    # ------------------------------------------------------------------ the printed record

    def change_record(self) -> ProgramChangeRecord | None:
        """The program-change record of the change sent (None before a send)."""
        if self.sending is None or self.answer is None or self.patient_id is None:
            return None
        clinic = self.window.clinic
        outcome, message, readback = self.answer
        return ProgramChangeRecord(
            patient=clinic.patient(self.patient_id),
            approved=self.sending.approved,
            sender=self.sending.user,
            outcome=outcome,
            message=message,
            readback=readback,
            tz=clinic.tz,
            training=clinic.training,
            record_id=self.intent.id if self.intent is not None else None,
        )

    def print_record(self) -> Any:
        """Print preview of the record (print, or save as PDF from its toolbar); returns the
        preview dialog, or None when nothing was sent."""
        record = self.change_record()
        if record is None:
            self.window.prompts.error("Print record", "Nothing was sent: there is no record.")
            return None
        clinic = self.window.clinic
        try:
            clinic.record_action(
                "program_change_record_printed",
                {"program_change_id": record.record_id, "pump": record.approved.change.pump_serial},
            )
        except StoreError as exc:
            self.window.prompts.error("Print record", f"{exc} Nothing was printed.")
            return None
        return show_print_preview(
            self.dialog,
            program_change_printout(record, clinic.settings),
            suggested_name=suggested_file_name(record),
        )


def readback_table(sent: Program, read_back: Program, concentration_mcg_ml: int) -> str:
    """Sent against read back, one row per field of the program, as HTML for the Result
    page. The rows are the review's own (services.programming.review), so the two screens
    describe a program in the same words; a row that differs is marked."""
    sent_rows = program_rows(sent, concentration_mcg_ml)
    read_rows = program_rows(read_back, concentration_mcg_ml)

    def cell(text: str) -> str:
        return "<br>".join(escape(line) for line in text.splitlines()) or "-"

    rows = []
    for label, value in read_rows.items():
        other = sent_rows.get(label, "")
        style = "" if other == value else " style='color:#b00020; font-weight:bold'"
        mark = "" if other == value else " (differs)"
        rows.append(
            f"<tr{style}><td>{escape(label)}{mark}</td><td>{cell(value)}</td>"
            f"<td>{cell(other)}</td></tr>"
        )
    return (
        "<p><b>Read back from the pump:</b></p>"
        "<table cellspacing='0' cellpadding='3' border='1' style='border-collapse: collapse'>"
        "<tr><th align='left'></th><th align='left'>Read back</th><th align='left'>Sent</th></tr>"
        + "".join(rows)
        + "</table>"
    )
