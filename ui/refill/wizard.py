"""The refill wizard: seven pages over one :class:`RefillSession`.

Why a plain dialog with a page stack rather than QWizard: the pump update (step 6) runs on
the link thread and the wizard must refuse Back and Cancel once it is on the wire; a small
``next()`` / ``back()`` / ``cancel()`` API is easier to hold to that, and tests drive it
directly with no modal loop. Messages go through the main window's ``prompts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
)

from itbconsole.display import fmt_day, fmt_local_day
from itbconsole.forecast import Forecast
from itbconsole.model import ChangeOutcome, RefillStatus
from itbconsole.services.clinic import SavedInterrogation, TrainingPump, UnknownPump, WrongPatient
from itbconsole.services.refill import (
    STEP_TITLES,
    Identification,
    PendingResolution,
    RefillError,
    RefillSession,
    Step,
)
from itbconsole.store import StoreError
from itbconsole.units import fmt_ml
from ui.dialogs import ask_save_path
from ui.link_worker import BackgroundCall, JobContext
from ui.refill.pages import (
    ConcentrationPage,
    IdentifyPage,
    NewDrugPage,
    Page,
    RecordPage,
    ReviewPage,
    UpdatePage,
    WithdrawPage,
)
from ui.refill.record import refill_record_html, write_refill_pdf

if TYPE_CHECKING:
    from ui.host import Host

log = logging.getLogger(__name__)

#: Said while the interrogation that settles earlier pending refills is being saved.
SAVING_TEXT = "Saving the interrogation and settling the earlier pending refills..."

PAGE_STEPS = (
    Step.IDENTIFY,
    Step.WITHDRAW,
    Step.NEW_DRUG,
    Step.CONCENTRATION,
    Step.REVIEW,
    Step.UPDATE,
    Step.RECORD,
)


class RefillWizard(QDialog):
    """The guided refill for the window's open patient."""

    finished_refill = Signal(str)  # the stored refill's status

    def __init__(self, window: Host, session: RefillSession | None = None) -> None:
        super().__init__(window.host_widget())
        assert window.current_patient_id is not None
        self.window_ = window
        self.session = session or RefillSession(
            window.clinic, window.current_patient_id, now=window.now
        )
        self.busy = False
        #: The interrogation being saved (with the pending refills it settles) on a worker
        #: thread of its own; None when no save runs.
        self.saving: BackgroundCall | None = None
        #: Runs on the link thread right before the update goes on the wire (tests use it
        #: to drop the link at that moment).
        self.before_update: Callable[[], None] | None = None
        self.last_pdf: Path | None = None
        #: Where to save the record (the save dialog; a test puts a path here instead).
        self.ask_pdf_path: Callable[[str], str | None] = self._ask_pdf_path
        #: The pump update's outcome (outcome, message, read-back) while it is not saved yet:
        #: the pump answered but the store failed. Kept so it can be saved again, and so
        #: Cancel can never turn it into "failed".
        self.unsaved: tuple[str, str, Any] | None = None
        patient = window.clinic.patient(window.current_patient_id)
        self.setWindowTitle(f"Refill - {patient.display_name}")
        self.setModal(False)
        self.resize(960, 640)

        self.steps = QListWidget()
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.steps.setMaximumWidth(210)
        for step in PAGE_STEPS:
            self.steps.addItem(f"{int(step)}. {STEP_TITLES[step]}")
        self.identify_page = IdentifyPage()
        self.withdraw_page = WithdrawPage()
        self.new_drug_page = NewDrugPage()
        self.concentration_page = ConcentrationPage()
        self.review_page = ReviewPage()
        self.update_page = UpdatePage()
        self.record_page = RecordPage()
        self.pages: dict[Step, Page] = {
            Step.IDENTIFY: self.identify_page,
            Step.WITHDRAW: self.withdraw_page,
            Step.NEW_DRUG: self.new_drug_page,
            Step.CONCENTRATION: self.concentration_page,
            Step.REVIEW: self.review_page,
            Step.UPDATE: self.update_page,
            Step.RECORD: self.record_page,
        }
        self.stack = QStackedWidget()
        for step in PAGE_STEPS:
            self.stack.addWidget(self.pages[step])

        self.back_button = QPushButton("< &Back")
        self.next_button = QPushButton("&Next >")
        self.next_button.setObjectName("primary")
        # Enter moves on (the default button); Escape asks before anything is discarded
        # (reject below).
        self.next_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        for button in (self.back_button, self.cancel_button):
            button.setAutoDefault(False)
        # A button on a page (Interrogate now, Scan...) never takes Enter from Next when it
        # gets the focus: Enter would start the pump read again instead of moving on.
        for button in self.stack.findChildren(QPushButton):
            button.setAutoDefault(False)
        # The button that sends to the pump is never cut short: wide enough for its longest
        # label, and the footer's words wrap instead of pushing it.
        self.next_button.setMinimumWidth(
            max(
                self.next_button.fontMetrics().horizontalAdvance(text.replace("&", ""))
                for text in ("Confirm and update pump", "Finish", "Next >")
            )
            + 40
        )
        buttons = QHBoxLayout()
        self.footer = QLabel("")
        self.footer.setWordWrap(True)
        self.footer.setObjectName("detail")
        buttons.addWidget(self.footer, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        body = QHBoxLayout()
        body.addWidget(self.steps)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)

        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.cancel_button.clicked.connect(self.reject)
        self.identify_page.interrogate_button.clicked.connect(self.interrogate)
        self.withdraw_page.withdrawn.textChanged.connect(lambda _t: self._check_withdrawn())
        line = self.new_drug_page.product.lineEdit()
        assert line is not None
        line.returnPressed.connect(self.read_product_field)
        self.update_page.send_button.clicked.connect(self.send_update)
        # "Confirm and update pump" on the review sends at once: no second "Send" press.
        self.update_page.send_button.setVisible(False)
        self.update_page.retry_button.clicked.connect(self.send_update)
        self.update_page.record_failed_button.clicked.connect(self.record_failed)
        self.update_page.retry_save_button.clicked.connect(self.retry_save)
        self.record_page.pdf_button.clicked.connect(self.save_pdf_clicked)
        self.new_drug_page.set_products([(p.id, p.label) for p in self.session.refill_products()])
        self.current = Step.IDENTIFY
        self._show(Step.IDENTIFY)

    # ------------------------------------------------------------------ navigation

    def page(self, step: Step) -> Page:
        return self.pages[step]

    def _show(self, step: Step) -> None:
        self.current = step
        self.stack.setCurrentWidget(self.pages[step])
        self.steps.setCurrentRow(PAGE_STEPS.index(step))
        self._update_buttons()

    def _update_buttons(self) -> None:
        step = self.current
        sent = self.session.update_sent
        self.back_button.setEnabled(
            not self.busy and not sent and step not in (Step.IDENTIFY, Step.RECORD)
        )
        self.cancel_button.setEnabled(not self.busy and step is not Step.RECORD)
        self.next_button.setText(
            "&Finish"
            if step is Step.RECORD
            else ("&Confirm and update pump" if step is Step.REVIEW else "&Next >")
        )
        enabled = not self.busy
        if step is Step.IDENTIFY:
            enabled = enabled and self.session.identification is not None
        if step is Step.CONCENTRATION:
            enabled = enabled and self.session.concentration is not None
        if step is Step.UPDATE:
            enabled = False  # the page's own buttons move on
        self.next_button.setEnabled(enabled)
        self.identify_page.interrogate_button.setEnabled(not self.busy)
        self.footer.setText(
            "The pump update is on the wire: wait for its outcome." if self.busy and sent else ""
        )

    def next(self) -> bool:
        """Validate the current page with the service and go to the next one. Returns
        True when it moved on; a refusal is shown next to the field it is about."""
        if self.busy:
            return False
        page = self.pages[self.current]
        page.clear_errors()
        try:
            moved = self._advance()
        except RefillError as exc:
            page.show_error(exc.field or "page", str(exc))
            return False
        self._update_buttons()
        return moved

    def _advance(self) -> bool:
        s = self.session
        step = self.current
        if step is Step.IDENTIFY:
            if s.identification is None:
                raise RefillError("Interrogate the pump first.")
            if s.identification.concentration_mismatch:
                s.explain_concentration_mismatch(self.identify_page.mismatch_note.toPlainText())
            self._enter_withdraw()
        elif step is Step.WITHDRAW:
            check = s.enter_withdrawn(self.withdraw_page.withdrawn.text())
            if check.needs_acknowledgement:
                s.acknowledge_discrepancy(
                    self.withdraw_page.note.toPlainText(),
                    slip_checked=self.withdraw_page.slip_ok.isChecked(),
                )
            self._show(Step.NEW_DRUG)
        elif step is Step.NEW_DRUG:
            self._enter_new_drug()
        elif step is Step.CONCENTRATION:
            if s.concentration is None:
                raise RefillError(
                    "The concentration check must pass: go back and choose "
                    "the prescribed concentration."
                )
            self.review_page.show_review(s.review())
            self._show(Step.REVIEW)
        elif step is Step.REVIEW:
            s.confirm(warnings_acknowledged=self.review_page.acknowledge.isChecked())
            self._show(Step.UPDATE)
            self.update_page.send_button.setEnabled(True)
            self.send_update()
        elif step is Step.RECORD:
            self.finish()
            return True
        else:
            return False
        return True

    def back(self) -> bool:
        if self.busy or self.session.update_sent or self.current in (Step.IDENTIFY, Step.RECORD):
            return False
        index = PAGE_STEPS.index(self.current)
        self._show(PAGE_STEPS[index - 1])
        return True

    def cancel(self) -> bool:
        """Cancel before the update: nothing is sent and no refill is stored. Once the
        update was sent the refill must be recorded; after a certain failure it is
        recorded as failed."""
        if self.saving is not None:
            self.window_.prompts.error("Refill", SAVING_TEXT)
            return False
        if self.busy:
            self.window_.prompts.error(
                "Refill", "The pump update is on the wire: wait for its outcome."
            )
            return False
        if self.unsaved is not None:
            # The pump answered (updated, or maybe updated): never record that as failed.
            # Try to save the same outcome once more; if the store still fails, say so.
            self.retry_save()
            return False
        if self.session.update_sent:
            self.record_failed()
            return False
        if self.session.step not in (Step.CANCELLED, Step.DONE):
            self.session.cancel()
        self.window_.show_status(self.cancel_message(), 8000)
        self.close()
        return True

    def has_entries(self) -> bool:
        """Whether cancelling now would throw away anything the nurse did (an
        interrogation, a typed volume, a scanned vial)."""
        return self.session.identification is not None or any(
            field.text().strip()
            for field in (
                self.withdraw_page.withdrawn,
                self.new_drug_page.lot,
                self.new_drug_page.expiry,
                self.new_drug_page.added,
            )
        )

    def reject(self) -> None:
        """Escape and the Cancel button: on the record page that is Finish; before the
        update it asks first (one stray Escape must not discard the refill); once the
        update is on the wire or sent, :meth:`cancel` refuses or records it."""
        if self.session.step in (Step.DONE, Step.CANCELLED):
            super().reject()  # already settled (Qt's close calls reject too)
            return
        if self.current is Step.RECORD:
            self.finish()
            return
        if self.confirm_discard():
            self.cancel()

    def confirm_discard(self) -> bool:
        """Ask before a cancel throws away what was entered (through the window's prompts,
        the tests' seam). True when there is nothing to lose or the nurse agrees; an update
        on the wire or sent is never discarded here (:meth:`cancel` refuses or records it)."""
        if self.busy or self.session.update_sent or self.unsaved is not None:
            return True
        if not self.has_entries():
            return True
        return self.window_.prompts.confirm(
            "Cancel the refill?",
            "Cancel this refill? What you entered is discarded and the pump is not "
            "updated. Press No to go on with the refill.",
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter in the product field is a scanner ending a barcode (read_product_field),
        never "Next"."""
        line = self.new_drug_page.product.lineEdit()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.focusWidget() is line:
            event.accept()
            return
        super().keyPressEvent(event)

    def cancel_message(self) -> str:
        """What a cancel before the update left behind, truthfully: the interrogation may
        have been saved already (and earlier pending refills settled by it)."""
        if self.session.reading_saved:
            settled = (
                " Earlier pending refills it settled stay settled."
                if self.session.resolutions
                else ""
            )
            return (
                "Refill cancelled: the pump and the refill records are unchanged; the "
                f"interrogation reading was saved.{settled}"
            )
        return "Refill cancelled: the pump and the refill records are unchanged."

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.saving is not None:
            event.ignore()
            self.window_.prompts.error("Refill", SAVING_TEXT)
            return
        if self.busy or (self.session.update_sent and self.session.outcome is None):
            event.ignore()
            self.window_.prompts.error(
                "Refill", "The pump update has been sent: wait for its outcome and record it."
            )
            return
        if self.session.step not in (Step.CANCELLED, Step.DONE, Step.RECORD):
            if not self.confirm_discard():
                event.ignore()
                return
            self.session.cancel()
        super().closeEvent(event)

    # ------------------------------------------------------------------ 1 identify

    def interrogate(self) -> None:
        """Interrogate now, on the link thread, then check the pump is this patient's."""
        window = self.window_
        if window.connected_identity is None:
            self.identify_page.show_error(
                "page", "Connect to the pump first (choose the port and press Connect)."
            )
            return
        if self.busy or self.session.update_sent:
            return
        from ui import pump_jobs

        serial = window.connected_identity.serial
        since = window.clinic.next_event_index(serial)
        self.identify_page.clear_errors()
        self.identify_page.status.setText("Interrogating...")
        self._set_busy(True)
        window.link.submit(
            "refill interrogation",
            lambda ctx: pump_jobs.interrogate(ctx, since_index=since),
            self._identified,
            self._identify_failed,
        )

    def _identified(self, result: Any) -> None:
        """The pump answered: check it is this patient's (a wrong-patient, unknown or
        training pump is refused here, before anything is written), show what it says, and
        when earlier refills of it are pending, save the interrogation to settle them, on a
        worker thread (thousands of new log entries take a second to write)."""
        self._set_busy(False)
        window = self.window_
        window.last_interrogation = window.now()
        try:
            ident = self.session.identify(
                result.reading,
                result.events,
                simulated=result.simulated,
                events_missing=result.events_missing,
                events_error=result.events_error,
            )
        except RefillError as exc:
            self.identify_page.status.setText("The pump's event log was not read to the end.")
            self.identify_page.show_error(exc.field or "page", str(exc))
            return
        except (TrainingPump, WrongPatient, UnknownPump) as exc:
            self._refused(exc)
            return
        self.identify_page.show_identification(ident, window.clinic.tz)
        if ident.pending:
            self._settle_pending(simulated=result.simulated)
        self._update_buttons()

    def _refused(self, exc: TrainingPump | WrongPatient | UnknownPump) -> None:
        """Say why the pump's data was not saved (nothing was written)."""
        prompts = self.window_.prompts
        if isinstance(exc, TrainingPump):
            self.identify_page.status.setText("Training pump: nothing was saved.")
            prompts.critical("Training pump - refill blocked", str(exc))
        elif isinstance(exc, WrongPatient):
            self.identify_page.status.setText("Wrong pump: nothing was saved.")
            prompts.critical(
                "Wrong patient - refill blocked",
                f"{exc} Refill the pump of {exc.open_patient.display_name} only after "
                "interrogating that patient's pump.",
            )
        else:
            self.identify_page.status.setText("Unknown pump: nothing was saved.")
            prompts.error("Pump not registered", str(exc))

    def _settle_pending(self, *, simulated: bool) -> None:
        """Save this interrogation, which settles the pump's pending refills, through the
        clinic's saver on a worker thread with its own connection (as the main window saves
        an interrogation); in place for an in-memory database. The saver checks the pump's
        owner again as it writes."""
        session, window = self.session, self.window_
        ident = session.identification
        assert ident is not None
        saver = None
        if not session.reading_saved:
            saver = window.clinic.interrogation_saver(
                ident.reading, session.events, session.patient_id, simulated=simulated
            )
        if saver is None:
            try:
                resolved = session.resolve_pending()
            except StoreError as exc:
                self._pending_not_settled(exc)
            else:
                self._pending_settled(resolved)
            return
        self.identify_page.pending.setText(SAVING_TEXT)
        job = BackgroundCall(saver, "refill-interrogation-save", self)
        job.done.connect(lambda outcome: self._saved_in_background(ident, *outcome))
        job.failed.connect(lambda error: self._not_saved_in_background(ident, error))
        self.saving = job
        self._set_busy(True)
        job.start()

    def _saved_in_background(
        self, ident: Identification, saved: SavedInterrogation, forecast: Forecast
    ) -> None:
        self.saving = None
        self._set_busy(False)
        window = self.window_
        window.clinic.keep_forecast(ident.reading.pump_serial, forecast)
        session = self.session
        if session.identification is not ident:
            return  # identified again meanwhile: that interrogation settles its own
        session.reading_saved = True
        session.resolutions = list(saved.refill_resolutions)
        self._pending_settled(session.resolutions)
        self._update_buttons()

    def _not_saved_in_background(self, ident: Identification, error: BaseException) -> None:
        self.saving = None
        self._set_busy(False)
        if self.session.identification is not ident:
            return
        if isinstance(error, (TrainingPump, WrongPatient, UnknownPump)):
            # The pump's registration changed since it was identified: nothing was saved,
            # and the refill cannot go on with this identification.
            self.session.identification = None
            self.identify_page.pending.setText("")
            self._refused(error)
        elif isinstance(error, StoreError):
            self._pending_not_settled(error)
        else:
            log.error("Saving the refill's interrogation failed", exc_info=error)
            self._pending_not_settled(error)
        self._update_buttons()

    def _pending_settled(self, resolved: list[PendingResolution]) -> None:
        window = self.window_
        self.identify_page.pending.setText(
            "\n".join(
                f"Earlier refill of {fmt_local_day(r.before.at, window.clinic.tz)}"
                f" was pending: now {r.status}. {r.reason}"
                for r in resolved
            )
        )
        if any(r.status == RefillStatus.FAILED for r in resolved):
            window.prompts.error(
                "Earlier refill not in the pump",
                "\n".join(r.reason for r in resolved if r.status == RefillStatus.FAILED),
            )
        window.refresh_patients()

    def _pending_not_settled(self, exc: BaseException) -> None:
        self.identify_page.pending.setText(f"Pending refills not settled: {exc}")

    def _identify_failed(self, error: BaseException) -> None:
        from ui import pump_jobs

        self._set_busy(False)
        message = pump_jobs.plain_message(error)
        self.identify_page.status.setText("Interrogation failed.")
        self.identify_page.show_error("page", message)
        self.window_.prompts.error("Interrogation failed", message)

    # ------------------------------------------------------------------ 2 withdraw

    def _enter_withdraw(self) -> None:
        ident = self.session.identification
        assert ident is not None
        tz = self.window_.clinic.tz
        self.withdraw_page.show_derivation(ident.residual.explanation(tz))
        self._check_withdrawn()
        self._show(Step.WITHDRAW)

    def _check_withdrawn(self) -> None:
        """Live check as the nurse types: the figures, or the reason the text is refused."""
        ident = self.session.identification
        if ident is None or self.session.update_sent:
            return
        page = self.withdraw_page
        page.error("withdrawn").setVisible(False)
        text = page.withdrawn.text()
        check = None
        if text.strip() and self.session.step >= Step.WITHDRAW:
            try:
                check = self.session.enter_withdrawn(text)
            except RefillError as exc:
                page.show_error("withdrawn", str(exc))
        page.show_check(check, ident.residual.expected_residual_ul)

    # ------------------------------------------------------------------ 3 new drug

    def read_product_field(self) -> bool:
        """The product field got Enter: a scanned GS1 barcode fills GTIN, lot and expiry
        (and the product when the library knows the GTIN)."""
        page = self.new_drug_page
        text = page.product.currentText()
        if not self.session.looks_like_barcode(text):
            return False
        page.clear_errors()
        try:
            data, product = self.session.read_barcode(text)
        except RefillError as exc:
            page.product.setEditText("")
            page.show_error("product", str(exc))
            return False
        page.gtin, page.serial = data.gtin, data.serial
        if data.lot:
            page.lot.setText(data.lot)
        if data.expiry:
            page.expiry.setText(data.expiry.isoformat())
        if product is not None:
            page.product.setCurrentIndex(page.product.findData(product.id))
            page.scan_info.setText(f"Scanned: GTIN {data.gtin} is {product.label}.")
        else:
            page.product.setCurrentIndex(-1)
            page.product.setEditText("")
            page.scan_info.setText(
                f"Scanned GTIN {data.gtin}: not in the drug library, so choose the product "
                "from the list. The GTIN is recorded with the refill."
            )
        return True

    def _enter_new_drug(self) -> None:
        page = self.new_drug_page
        if self.session.looks_like_barcode(page.product.currentText()):
            self.read_product_field()
        try:
            check = self.session.enter_new_drug(
                page.product_id(),
                page.lot.text(),
                page.expiry.text(),
                page.added.text(),
                gtin=page.gtin,
                serial=page.serial,
                volume_checked=page.volume_ok.isChecked(),
            )
        except RefillError as exc:
            if exc.field == "added_check":
                page.volume_ok.setVisible(True)
            raise
        page.show_check(check)
        ident = self.session.identification
        assert ident is not None
        cpage = self.concentration_page
        cpage.clear_errors()
        cpage.show_values(
            ident.reading.concentration_mcg_ml, check.new_drug.product.concentration_mcg_ml
        )
        prepared = self.window_.clinic.prepared_program(ident.pump.serial)
        try:
            cpage.show_check(self.session.check_concentration(prepared))
        except RefillError as exc:
            cpage.show_check(None)
            cpage.show_error("page", str(exc))
        self._show(Step.CONCENTRATION)

    # ------------------------------------------------------------------ 6 update

    def send_update(self) -> None:
        """Send the reservoir update on the link thread; the outcome comes back to
        :meth:`_update_done`."""
        if self.busy:
            return
        try:
            update = self.session.reservoir_update()
        except RefillError as exc:
            self.update_page.show_error("page", str(exc))
            return
        if self.window_.connected_identity is None:
            self.update_page.show_error(
                "page", "The pump is not connected. Connect, then press Try again."
            )
            self.update_page.retry_button.setVisible(True)
            return
        self.session.mark_sent()
        hook = self.before_update
        page = self.update_page
        page.clear_errors()
        page.send_button.setEnabled(False)
        page.retry_button.setVisible(False)
        page.record_failed_button.setVisible(False)
        page.outcome.setText("")
        page.sending.setText(
            f"Sending: {fmt_ml(update.volume_ul)} of {update.drug_name} "
            f"{update.concentration_mcg_ml} mcg/mL"
            + (
                f", bridge bolus {fmt_ml(update.bridge_volume_ul, 3)} over "
                f"{update.bridge_duration_min} min"
                if update.bridge_volume_ul
                else ""
            )
            + "..."
        )
        self._set_busy(True)

        session, user = self.session, self.window_.clinic.user

        def job(ctx: JobContext) -> Any:
            from ui import pump_jobs

            client = pump_jobs.connected_client(ctx)
            pump_jobs.require_pump(ctx, client.identify(), update.pump_serial)
            return session.write_update(client, user, hook)

        self.window_.link.submit("refill update", job, self._update_done, self._not_sent)

    def _not_sent(self, error: BaseException) -> None:
        from ui import pump_jobs

        self._set_busy(False)
        try:
            self.session.not_sent()
        except RefillError:
            # The write may have started: the outcome is unknown, never "not sent".
            self._update_done(
                (
                    ChangeOutcome.UNCERTAIN,
                    f"The refill was sent but its outcome is unknown ({error}).",
                    None,
                )
            )
            return
        message = (
            str(error)
            if isinstance(error, pump_jobs.DifferentPump | RefillError)
            else pump_jobs.plain_message(error) + " Nothing was sent."
        )
        page = self.update_page
        page.sending.setText("")
        page.outcome.setText("Not sent.")
        page.show_error("page", message)
        page.retry_button.setVisible(True)
        self._update_buttons()
        self.window_.prompts.error("Pump not updated", message)

    def _update_done(self, result: tuple[str, str, Any]) -> None:
        self._set_busy(False)
        outcome, message, read_back = result
        page = self.update_page
        page.sending.setText("")
        if outcome == ChangeOutcome.FAILED:
            page.outcome.setText("The pump did not take the refill.")
            page.detail.setText(
                f"{message}\nThe drug is in the reservoir but the pump's record is not "
                "updated. Try again, or record the refill as failed so the drug and lot given "
                "are kept."
            )
            page.retry_button.setVisible(True)
            page.record_failed_button.setVisible(True)
            self._update_buttons()
            return
        self.unsaved = (outcome, message, read_back if hasattr(read_back, "reservoir_ul") else None)
        self._save_outcome()

    def retry_save(self) -> bool:
        """Save the pump update's outcome again (the same outcome and read-back: the pump
        is not asked again). Returns True when it was saved."""
        if self.busy or self.unsaved is None or self.session.outcome is not None:
            return False
        return self._save_outcome()

    def _save_outcome(self) -> bool:
        assert self.unsaved is not None
        outcome, message, read_back = self.unsaved
        page = self.update_page
        try:
            stored = self.session.record_update(outcome, message, read_back)
        except Exception as exc:  # the pump's outcome stands whatever the store says
            log.exception("Refill outcome not saved")
            self._save_failed(outcome, exc)
            return False
        self.unsaved = None
        page.retry_save_button.setVisible(False)
        page.clear_errors()
        if stored.status == RefillStatus.CONFIRMED:
            page.outcome.setText("Done: the pump recorded the refill and it was read back.")
            page.detail.setText(message)
        else:
            page.outcome.setText("Outcome unknown: the pump may or may not have the refill.")
            page.detail.setText(
                f"{message}\nThe refill is saved as PENDING with everything you entered. "
                "Interrogate the pump again (or start the next refill): that settles it."
            )
            self.window_.prompts.error(
                "Pump update not confirmed",
                "The link was lost while the pump was being updated, so it is not known "
                "whether the pump has the refill. Everything you entered is saved as a "
                "pending refill. Interrogate the pump again to settle it.",
            )
        self._enter_record()
        return True

    def _save_failed(self, outcome: str, exc: Exception) -> None:
        """The pump answered but the refill could not be saved: keep the outcome, say
        plainly what the pump has, and offer to save again. Never "did not take it"."""
        s = self.session
        nd = s.new_drug_check.new_drug if s.new_drug_check else None
        ident = s.identification
        details = (
            f"pump {ident.pump.serial if ident else '?'}, withdrawn "
            f"{fmt_ml(s.withdrawal.withdrawn_ul) if s.withdrawal else '?'}, added "
            f"{fmt_ml(nd.added_ul) if nd else '?'} of "
            f"{nd.product.label if nd else '?'}, lot {nd.lot if nd else '?'}, expiry "
            f"{fmt_day(nd.expiry) if nd else '?'}"
        )
        pump_state = (
            "The pump WAS updated (it read back the new volume)."
            if outcome == ChangeOutcome.SUCCEEDED
            else "The pump MAY have been updated: the outcome is unknown."
        )
        text = (
            f"{pump_state} The refill could not be saved to the records ({exc}). Do not "
            "refill or update the pump again. Everything you entered is kept on this screen "
            f"and written to the log ({details}). Press Retry saving; if it still fails, "
            "write these details in the notes and tell the system administrator."
        )
        log.error("Refill not saved after the pump update (%s): %s; %s", outcome, details, exc)
        page = self.update_page
        page.outcome.setText(pump_state)
        page.detail.setText(details)
        page.show_error("page", text)
        page.retry_button.setVisible(False)
        page.record_failed_button.setVisible(False)
        page.retry_save_button.setVisible(True)
        self._update_buttons()
        self.window_.prompts.error("Refill not saved", text)

    def record_failed(self) -> None:
        """Record the refill as failed (the pump certainly did not take it). Never once the
        pump answered with an outcome that is kept unsaved (updated or uncertain)."""
        if (
            self.busy
            or self.unsaved is not None
            or self.session.outcome is not None
            or not self.session.update_sent
        ):
            return
        try:
            self.session.record_update(
                ChangeOutcome.FAILED, "The pump did not take the update; recorded without it."
            )
        except (RefillError, StoreError) as exc:
            self.window_.prompts.error("Refill not saved", str(exc))
            return
        self._enter_record()

    # ------------------------------------------------------------------ 7 record

    def _enter_record(self) -> None:
        printable = self.session.printable()
        self.record_page.summary.setText(refill_record_html(printable))
        self._show(Step.RECORD)
        window = self.window_
        window.refresh_patients()
        if window.current_patient_id is not None:
            window.open_patient(window.current_patient_id)
        self.finished_refill.emit(self.session.outcome.status if self.session.outcome else "")

    def suggested_pdf_name(self) -> str:
        """The record's file name (ISO 8601 date and time, UTC, like every file)."""
        outcome = self.session.outcome
        if outcome is None:
            return "refill.pdf"
        serial = self.session.printable().pump_serial
        return f"refill-{serial}-{outcome.stored_at.astimezone(UTC):%Y%m%d-%H%M}.pdf"

    def save_pdf_clicked(self) -> None:
        """Save PDF...: ask where (the Documents folder first), then write the record."""
        path = self.ask_pdf_path(self.suggested_pdf_name())
        if path:
            self.export_pdf(path)

    def _ask_pdf_path(self, suggested: str) -> str | None:
        return ask_save_path(self, "Save refill record", suggested, "PDF (*.pdf)")

    def export_pdf(self, path: str | Path) -> Path:
        """Write the printable refill record as a PDF (the file dialog's seam)."""
        target = write_refill_pdf(self.session.printable(), path, self.window_.clinic.settings)
        self.last_pdf = target
        self.record_page.saved.setText(f"Saved: {target}")
        self.window_.clinic.record_action(
            "refill_record_exported",
            {
                "refill_id": self.session.outcome.refill.id if self.session.outcome else None,
                "path": str(target),
            },
        )
        return target

    def finish(self) -> None:
        self.session.finish()
        self.close()

    # ------------------------------------------------------------------ helpers

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()
