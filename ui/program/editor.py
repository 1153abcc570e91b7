"""The program editor: edit, review side by side, send and verify.

Three pages in one dialog, as the clinician programmer works: **Edit** (mode, doses, flex
steps, patient bolus, with the total per 24 h, the change, the alarm date and the dose
profile always in view), **Review** (current vs pending, every changed line marked, reasons
for any soft-limit override, confirmation) and **Result** (what the pump read back).

The dialog holds no rule: every keystroke re-runs :func:`itbconsole.services.programming.
check_program` and shows its findings next to the field they concern. It does not talk to
the pump either: it emits :attr:`send_requested` / :attr:`prepare_requested` and the
controller (:mod:`ui.program.controller`) runs the link job and stores the records.

The pages are classes of their own modules (``edit_page``, ``edit_form`` and
``live_check`` for Edit, ``review_page``, ``result_page``), over the shared
:class:`~ui.program.editor_base.EditorBase`; this module puts them together and keeps the
header, loading a program into the form, and saving one for review.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from itbconsole import dosing
from itbconsole.display import fmt_local_day, fmt_moment
from itbconsole.model import FlexStep, Mode, Program
from itbconsole.services import programming as svc
from itbconsole.units import round_decimal
from ui.program.editor_base import EditorContext, fmt_amount
from ui.program.result_page import ResultPage
from ui.program.review_page import ReviewPage


class ProgramEditorDialog(ResultPage, ReviewPage):
    """Edit -> Review -> Result. Non-modal to the event loop (window-modal), so tests and
    the link thread's callbacks drive it without a nested ``exec()``. Its signals
    (:attr:`send_requested`, :attr:`prepare_requested`, :attr:`recheck_requested`) and
    page numbers are declared on :class:`~ui.program.editor_base.EditorBase`."""

    def __init__(self, ctx: EditorContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.check: svc.ProgramCheck | None = None
        self.prepared_id: int | None = None
        self.result_outcome: str | None = None
        self.setWindowTitle(f"Change program - {ctx.patient_name}, pump {ctx.pump.serial}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(1260, 700)
        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_edit_page())
        self.pages.addWidget(self._build_review_page())
        self.pages.addWidget(self._build_result_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self._build_header())
        layout.addWidget(self.pages, 1)
        self.pages.currentChanged.connect(
            lambda index: self.template.setEnabled(index == self.EDIT)
        )  # templates load into the Edit page only
        self.load_program(ctx.state.program)
        self.concentration.set_text(str(ctx.state.concentration_mcg_ml))
        self.recompute()

    def _build_header(self) -> QWidget:
        ctx = self.ctx
        s = ctx.state
        when = fmt_moment(s.read_at, ctx.tz)
        source = (
            f"read from the pump at {when}"
            if s.live
            else f"from the reading of {when} (not connected: you can prepare "
            "a program for review; connect to the pump to send one)"
        )
        self.source_label = QLabel(
            f"<b>{ctx.patient_name}</b> - pump {ctx.pump.serial} ({ctx.pump.model}). "
            f"Current program {source}. Signed in: {ctx.user.name} ({ctx.user.role.value})."
        )
        self.source_label.setWordWrap(True)
        self.prepared_label = QLabel()
        self.prepared_label.setWordWrap(True)
        self.load_prepared_button = QPushButton("&Load prepared program")
        self.load_prepared_button.setAccessibleName("Load the program prepared for review")
        self.load_prepared_button.clicked.connect(self.load_prepared)
        prepared_row = QHBoxLayout()
        prepared_row.addWidget(self.prepared_label, 1)
        prepared_row.addWidget(self.load_prepared_button)
        self.prepared_box = QWidget()
        self.prepared_box.setLayout(prepared_row)
        self.prepared_box.setStyleSheet("background: #e8f0fb;")
        prepared_row.setContentsMargins(6, 3, 6, 3)
        p = ctx.prepared
        self.prepared_box.setVisible(p is not None)
        if p is not None:
            total = dosing.program_daily_dose_mcg(p.program)
            self.prepared_label.setText(
                f"A program prepared by {p.prepared_by} ({p.prepared_role.value}) on "
                f"{fmt_moment(p.prepared_at, ctx.tz)} is waiting for review: "
                f"{svc.MODE_TEXT[p.program.mode]}, {fmt_amount(total)} mcg/24 h at "
                f"{p.concentration_mcg_ml} mcg/mL. Reason: {p.reason}"
            )
        self.template = QComboBox()
        self.template.setAccessibleName("Start from")
        self.template.addItem("the program running now", ("current", None))
        if p is not None:
            self.template.addItem("the prepared program", ("prepared", None))
        for change in self.ctx.recent:
            total = dosing.program_daily_dose_mcg(change.new)
            self.template.addItem(
                f"change of {fmt_local_day(change.at, ctx.tz)}: "
                f"{svc.MODE_TEXT[change.new.mode]}, {fmt_amount(total)} mcg/24 h",
                ("recent", change.new),
            )
        self.template.activated.connect(self._template_chosen)
        start_label = QLabel("&Start from:")
        start_label.setBuddy(self.template)
        top = QHBoxLayout()
        top.addWidget(self.source_label, 1)
        top.addWidget(start_label)
        top.addWidget(self.template)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.prepared_box)
        return box

    def load_program(self, program: Program) -> None:
        """Fill the form from ``program`` (the current one, a prepared or a recent one)."""
        key = {
            Mode.SIMPLE_CONTINUOUS: "simple",
            Mode.FLEX: "flex",
            Mode.SINGLE_BOLUS: "single",
            Mode.STOPPED: "simple",
        }[program.mode]
        daily = dosing.program_daily_dose_mcg(program)
        self.daily.set_text(fmt_amount(daily, 3).rstrip("0").rstrip("."))
        if program.mode is Mode.FLEX:
            self.flex.set_steps(program.flex_steps)
        else:
            rate = round_decimal(daily / 24, 3) if daily else Decimal(0)
            self.flex.set_steps([FlexStep(0, rate)])
        weekday_days = {d for d, _ in program.flex_weekday_steps}
        for i, box in enumerate(self.weekday_boxes):
            box.blockSignals(True)
            box.setChecked(i in weekday_days)
            box.blockSignals(False)
        if program.flex_weekday_steps:
            self.weekday_flex.set_steps(program.flex_weekday_steps[0][1])
        else:
            self.weekday_flex.set_steps(list(self.flex_steps_or_default()))
        self.weekday_flex.setVisible(bool(weekday_days))
        self.single_dose.set_text(str(program.bolus_dose_mcg) if program.bolus_dose_mcg else "")
        self.single_duration.set_text(
            str(program.bolus_duration_minutes) if program.bolus_duration_minutes else ""
        )
        self.single_after.set_text(self.daily.text())
        self.priming_after.set_text(self.daily.text())
        self.priming_duration.set_text("60")
        pb = program.patient_bolus
        self.patient_bolus.setChecked(pb is not None)
        self.pb_dose.set_text(str(pb.dose_mcg) if pb else "")
        self.pb_duration.set_text(str(pb.duration_minutes) if pb else "10")
        self.pb_lockout.set_text(str(pb.lockout_minutes) if pb else "120")
        self.pb_per_day.set_text(str(pb.max_per_day) if pb else "")
        self.mode.setCurrentIndex(self.mode.findData(key))
        self.mode_pages.setCurrentIndex(self.mode.currentIndex())
        self.recompute()

    def load_prepared(self) -> None:
        p = self.ctx.prepared
        if p is None:
            return
        self.load_program(p.program)
        self.concentration.set_text(str(p.concentration_mcg_ml))
        self.reason.setText(p.reason)
        self.prepared_id = p.id
        self.template.setCurrentIndex(max(self.template.findData(("prepared", None)), 0))
        self.recompute()

    def _template_chosen(self, index: int) -> None:
        kind, program = self.template.itemData(index)
        if kind == "prepared":
            self.load_prepared()
            return
        self.prepared_id = None
        self.load_program(self.ctx.state.program if kind == "current" else program)

    def reasons_ok(self) -> bool:
        """The change's own reason is required for sending and for preparing alike."""
        ok = svc.reason_is_enough(self.reason.text())
        self.reason_error.setText(
            "" if ok else f"Type the reason for this change ({svc.REASON_HINT})."
        )
        self.reason_error.setVisible(not ok)
        return ok

    def prepare(self) -> None:
        """Save the program for review (no pump needed)."""
        self.recompute()
        if self.check is None or not self.reasons_ok():
            return
        conc = self.check.concentration_mcg_ml
        prep_check = svc.check_program(
            self.ctx.state,
            self.check.new,
            conc,
            self.ctx.user,
            self.ctx.library,
            self.ctx.tz,
            purpose="prepare",
            priming=self.check.priming,
            pump=self.ctx.pump,
            history=self.ctx.history,
            now=self.ctx.now,
            facts=self.ctx.facts,
            settings=self.ctx.settings,
            catheter_revised_on=self.ctx.catheter_revised_on,
        )
        try:
            prepared = svc.build_prepared(prep_check, self.reason.text(), self.ctx.user,
                                          at=self.ctx.now)  # fmt: skip
        except svc.ProgrammingError as exc:
            self.reason_error.setText(str(exc))
            self.reason_error.setVisible(True)
            return
        self.prepare_requested.emit(prepared)


__all__ = ["EditorContext", "ProgramEditorDialog"]
