"""The program editor: edit, review side by side, send and verify.

Three pages in one dialog, as the clinician programmer works: **Edit** (mode, doses, flex
steps, patient bolus, with the total per 24 h, the change, the alarm date and the dose
profile always in view), **Review** (current vs pending, every changed line marked, reasons
for any soft-limit override, confirmation) and **Result** (what the pump read back).

The dialog holds no rule: every keystroke re-runs :func:`itbconsole.services.programming.
check_program` and shows its findings next to the field they concern. It does not talk to
the pump either: it emits :attr:`send_requested` / :attr:`prepare_requested` and the
controller (:mod:`ui.program.controller`) runs the link job and stores the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from itbconsole import dosing
from itbconsole.druglib import DrugLibrary
from itbconsole.forecast import PumpFacts
from itbconsole.model import (
    ChangeOutcome,
    FlexStep,
    Mode,
    ModelError,
    PatientBolus,
    PreparedProgram,
    Program,
    ProgramChange,
    Pump,
    User,
)
from itbconsole.services import programming as svc
from itbconsole.settings import ClinicSettings
from itbconsole.units import round_decimal
from ui.program.widgets import (
    BLOCK_COLOUR,
    SOFT_COLOUR,
    FieldError,
    FlexTable,
    ProfilePlot,
    UnitField,
    error_label,
)

MODES = (
    ("simple", "Simple continuous"),
    ("flex", "Flex (steps through the day)"),
    ("single", "Single bolus, then continuous"),
    ("priming", "Priming bolus (implant or catheter revision)"),
)
CHANGED_BG = QColor("#fff3cd")


def _fmt(value: object, places: int = 1) -> str:
    return str(round_decimal(value, places))  # type: ignore[arg-type]


@dataclass(frozen=True)
class EditorContext:
    """What the editor needs to know, gathered by the controller."""

    patient_name: str
    pump: Pump
    state: svc.PumpState
    library: DrugLibrary
    tz: tzinfo
    user: User
    now: datetime
    prepared: PreparedProgram | None = None
    recent: Sequence[ProgramChange] = ()
    history: Sequence[ProgramChange] = ()  # the patient's stored program changes (24 h rule)
    facts: PumpFacts | None = None  # the pump's records, for the forecast
    settings: ClinicSettings | None = None
    connected: bool = True
    catheter_revised_on: date | None = None  # the last catheter revision on record


class _ModePages(QWidget):
    """One page per mode; only the current one is shown, and the area takes only its
    height (a stacked widget would keep the height of the tallest, the flex tables)."""

    def __init__(self) -> None:
        super().__init__()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._pages: list[QWidget] = []
        self._current = 0

    def addWidget(self, page: QWidget) -> None:  # named as QStackedWidget.addWidget
        self._pages.append(page)
        self._layout.addWidget(page)
        page.setVisible(len(self._pages) - 1 == self._current)

    def setCurrentIndex(self, index: int) -> None:
        self._current = index
        for i, page in enumerate(self._pages):
            page.setVisible(i == index)

    def currentIndex(self) -> int:
        return self._current


class ProgramEditorDialog(QDialog):
    """Edit -> Review -> Result. Non-modal to the event loop (window-modal), so tests and
    the link thread's callbacks drive it without a nested ``exec()``."""

    send_requested = Signal(object)  # svc.ApprovedChange (the record and the check it passed)
    prepare_requested = Signal(object)  # PreparedProgram
    recheck_requested = Signal()
    EDIT, REVIEW, RESULT = range(3)

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

    # ================================================================== building

    def _build_header(self) -> QWidget:
        ctx = self.ctx
        s = ctx.state
        when = s.read_at.astimezone(ctx.tz)
        source = (
            f"read from the pump at {when:%H:%M}"
            if s.live
            else f"from the reading of {when:%d %b %Y %H:%M} (not connected: you can prepare "
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
                f"{p.prepared_at.astimezone(ctx.tz):%d %b %Y %H:%M} is waiting for review: "
                f"{svc.MODE_TEXT[p.program.mode]}, {_fmt(total)} mcg/24 h at "
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
                f"change of {change.at.astimezone(ctx.tz):%d %b %Y}: "
                f"{svc.MODE_TEXT[change.new.mode]}, {_fmt(total)} mcg/24 h",
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

    def _build_edit_page(self) -> QWidget:
        ctx = self.ctx
        form_widget = QWidget()
        outer = QVBoxLayout(form_widget)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)  # spare height below the form, not between its rows
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.mode = QComboBox()
        for key, text in MODES:
            self.mode.addItem(text, key)
        self.mode.setAccessibleName("Program mode")
        self._row(form, "&Mode:", self.mode)
        self.concentration = UnitField("Concentration", "mcg/mL")
        self.concentration_note = QLabel(
            f"The pump reports {ctx.state.concentration_mcg_ml} mcg/mL"
            + (f" ({ctx.state.drug_name})" if ctx.state.drug_name else "")
            + " in its reservoir. A program is sent only at that concentration."
        )
        self.concentration_note.setWordWrap(True)
        conc_box = QWidget()
        conc_layout = QVBoxLayout(conc_box)
        conc_layout.setContentsMargins(0, 0, 0, 0)
        conc_layout.addWidget(self.concentration)
        conc_layout.addWidget(self.concentration_note)
        self._row(form, "&Concentration:", conc_box, self.concentration.edit)

        self.mode_pages = _ModePages()
        self.mode_pages.addWidget(self._simple_page())
        self.mode_pages.addWidget(self._flex_page())
        self.mode_pages.addWidget(self._single_page())
        self.mode_pages.addWidget(self._priming_page())
        form.addRow(self.mode_pages)

        self.patient_bolus = QGroupBox("&Patient bolus (patient's own programmer)")
        self.patient_bolus.setCheckable(True)
        self.patient_bolus.setAccessibleName("Patient bolus on or off")
        pb_form = QFormLayout(self.patient_bolus)
        self.pb_dose = UnitField("Patient bolus dose", "mcg")
        self.pb_duration = UnitField("Patient bolus duration", "min")
        self.pb_lockout = UnitField("Lockout between boluses", "min")
        self.pb_per_day = UnitField("Boluses allowed per day", "a day")
        self._row(pb_form, "Dose:", self.pb_dose, self.pb_dose.edit)
        self._row(pb_form, "Duration:", self.pb_duration, self.pb_duration.edit)
        self._row(pb_form, "Lockout:", self.pb_lockout, self.pb_lockout.edit)
        self._row(pb_form, "Most per day:", self.pb_per_day, self.pb_per_day.edit)
        form.addRow(self.patient_bolus)

        self.reason = QLineEdit()
        self.reason.setAccessibleName("Reason for this change")
        self.reason.setPlaceholderText("why the program is being changed (recorded)")
        self.reason_error = error_label()
        reason_box = QWidget()
        reason_layout = QVBoxLayout(reason_box)
        reason_layout.setContentsMargins(0, 0, 0, 0)
        reason_layout.addWidget(self.reason)
        reason_layout.addWidget(self.reason_error)
        self._row(form, "&Reason:", reason_box, self.reason)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_widget)

        # Right: always-visible summary and plot.
        summary = QWidget()
        right = QVBoxLayout(summary)
        right.setContentsMargins(6, 0, 0, 0)
        self.total_label = QLabel()
        self.total_label.setAccessibleName("Total per 24 hours")
        font = QFont(self.total_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.total_label.setFont(font)
        self.change_label = QLabel()
        self.change_label.setAccessibleName("Change from the current program")
        self.change_label.setWordWrap(True)
        self.forecast_label = QLabel()
        self.forecast_label.setAccessibleName("Alarm and refill dates")
        self.forecast_label.setWordWrap(True)
        self.findings_label = QLabel()
        self.findings_label.setAccessibleName("Limit checks")
        self.findings_label.setWordWrap(True)
        self.findings_label.setTextFormat(Qt.TextFormat.RichText)
        self.findings_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.plot = ProfilePlot()
        for w in (self.total_label, self.change_label, self.forecast_label):
            right.addWidget(w)
        right.addWidget(self.plot, 2)
        findings_scroll = QScrollArea()
        findings_scroll.setWidgetResizable(True)
        findings_scroll.setWidget(self.findings_label)
        findings_scroll.setMinimumHeight(90)
        right.addWidget(findings_scroll, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(summary)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([700, 540])

        self.cancel_button = QPushButton("Cancel")
        self.prepare_button = QPushButton("Save for re&view")
        self.prepare_button.setAccessibleName("Save the program for a clinician to review")
        self.review_button = QPushButton("Re&view and send...")
        self.review_button.setAccessibleName("Review the change side by side before sending")
        self.review_button.setDefault(True)
        self.review_button.setVisible(ctx.user.can_send_program())
        self.send_hint = QLabel()
        self.send_hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.send_hint, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.prepare_button)
        buttons.addWidget(self.review_button)
        self.cancel_button.clicked.connect(self.reject)
        self.prepare_button.clicked.connect(self.prepare)
        self.review_button.clicked.connect(self.go_review)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        self.mode.currentIndexChanged.connect(self._mode_changed)
        for f in self._fields():
            f.changed.connect(self.recompute)
        self.flex.changed.connect(self.recompute)
        self.weekday_flex.changed.connect(self.recompute)
        for box in self.weekday_boxes:
            box.toggled.connect(self._weekdays_changed)
        self.patient_bolus.toggled.connect(lambda _on: self.recompute())
        self.priming_implant.toggled.connect(lambda _on: self.recompute())
        self.reason.textChanged.connect(lambda _t: self._update_buttons())
        return page

    def _row(self, form: QFormLayout, label: str, widget: QWidget,
             buddy: QWidget | None = None) -> None:  # fmt: skip
        text = QLabel(label)
        text.setBuddy(buddy or widget)
        form.addRow(text, widget)

    def _simple_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.daily = UnitField("Daily dose", "mcg/24 h")
        self._row(form, "&Daily dose:", self.daily, self.daily.edit)
        return page

    def _flex_page(self) -> QWidget:
        ctx = self.ctx
        today = ctx.now.astimezone(ctx.tz).date()
        offset = ctx.now.astimezone(ctx.tz).utcoffset()
        offset_h = 0 if offset is None else offset.total_seconds() / 3600
        zone_change = svc.next_zone_change(ctx.now, ctx.tz)
        note = (
            "<b>Step times are PUMP-CLOCK times (UTC).</b> The pump keeps UTC; local time here "
            f"is now UTC{offset_h:+g} h, shown next to each step. "
        )
        if zone_change is not None:
            note += (
                f"From {zone_change.day:%d %b %Y} the clocks change and every step will start "
                f"{abs(zone_change.shift_minutes)} min "
                f"{'earlier' if zone_change.shift_minutes > 0 else 'later'} in local time. "
            )
        if abs(ctx.state.clock_offset_s) > svc.CLOCK_WARN_S:
            note += (
                f"<span style='color:{BLOCK_COLOUR}'>The pump clock is "
                f"{abs(ctx.state.clock_offset_s) / 60:.0f} min "
                f"{'fast' if ctx.state.clock_offset_s > 0 else 'slow'}: steps run at its "
                "times.</span>"
            )
        self.zone_note = QLabel(note)
        self.zone_note.setWordWrap(True)
        self.zone_note.setAccessibleName("How flex step times are counted")
        self.flex = FlexTable("Daily schedule", ctx.tz, today, ctx.state.clock_offset_s)
        self.weekday_boxes = [QCheckBox(day) for day in svc.WEEKDAYS]
        days = QHBoxLayout()
        days.addWidget(QLabel("Different schedule on:"))
        for box in self.weekday_boxes:
            box.setAccessibleName(f"Different schedule on {box.text()}")
            days.addWidget(box)
        days.addStretch(1)
        self.weekday_flex = FlexTable("Weekday schedule", ctx.tz, today, ctx.state.clock_offset_s)
        self.weekday_flex.setVisible(False)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.zone_note)
        layout.addWidget(self.flex)
        layout.addLayout(days)
        layout.addWidget(self.weekday_flex)
        return page

    def _single_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.single_dose = UnitField("Bolus dose", "mcg")
        self.single_duration = UnitField("Bolus duration", "min")
        self.single_after = UnitField("Continuous dose after the bolus", "mcg/24 h")
        self._row(form, "&Bolus dose:", self.single_dose, self.single_dose.edit)
        self._row(form, "D&uration:", self.single_duration, self.single_duration.edit)
        self._row(form, "&Then:", self.single_after, self.single_after.edit)
        return page

    def _priming_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.priming_implant = QRadioButton("After implant: pump and catheter")
        self.priming_revision = QRadioButton("After catheter revision: catheter only")
        self.priming_implant.setChecked(True)
        which = QWidget()
        which_layout = QVBoxLayout(which)
        which_layout.setContentsMargins(0, 0, 0, 0)
        which_layout.addWidget(self.priming_implant)
        which_layout.addWidget(self.priming_revision)
        form.addRow("Priming:", which)
        self.priming_volume = QLabel()
        self.priming_volume.setWordWrap(True)
        self.priming_volume.setAccessibleName("Priming volume and dose")
        form.addRow("Volume:", self.priming_volume)
        self.priming_duration = UnitField("Priming duration", "min")
        self.priming_after = UnitField("Continuous dose after priming", "mcg/24 h")
        self._row(form, "Du&ration:", self.priming_duration, self.priming_duration.edit)
        self._row(form, "T&hen:", self.priming_after, self.priming_after.edit)
        return page

    def _build_review_page(self) -> QWidget:
        self.review_title = QLabel(
            "<b>Review: current and pending program side by side.</b> Changed lines are "
            "marked \u25b6 and highlighted. Check each against the prescription."
        )
        self.review_title.setWordWrap(True)
        self.review_table = QTableWidget(0, 3)
        self.review_table.setHorizontalHeaderLabels(["", "Current (on the pump)", "Pending"])
        self.review_table.setAccessibleName("Current and pending program side by side")
        self.review_table.verticalHeader().setVisible(False)
        self.review_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.review_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.review_table.setWordWrap(True)
        self.review_plot = ProfilePlot()
        self.overrides_box = QGroupBox("Limits and warnings")
        self.overrides_layout = QFormLayout(self.overrides_box)
        self.override_edits: dict[str, QLineEdit] = {}
        self.override_categories: dict[str, QComboBox] = {}
        self.second_clinician = QLineEdit()
        self.confirm_box = QCheckBox(
            "I have checked the pending program against the prescription and the concentration "
            "in the reservoir."
        )
        self.confirm_box.setAccessibleName("Confirm the pending program was checked")
        self.review_error = error_label()
        self.back_button = QPushButton("< &Back to edit")
        self.send_button = QPushButton("&Send to pump")
        self.send_button.setAccessibleName("Send the pending program to the pump")
        # Only a clinician or an administrator sends: a nurse saves for a clinician instead.
        can_send = self.ctx.user.can_send_program()
        self.send_button.setVisible(can_send)
        self.send_button.setEnabled(False)
        self.review_prepare_button = QPushButton("Save for &clinician review")
        self.review_prepare_button.setAccessibleName(
            "Save the program for a clinician to review and send"
        )
        self.review_prepare_button.setVisible(not can_send)
        self.review_prepare_button.clicked.connect(self.prepare)
        self.sending_label = QLabel()
        self.sending_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sending_label, 1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.review_prepare_button)
        buttons.addWidget(self.send_button)
        self.back_button.clicked.connect(lambda: self.pages.setCurrentIndex(self.EDIT))
        self.send_button.clicked.connect(self.send)
        self.confirm_box.toggled.connect(lambda _on: self._update_send_button())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.review_title)
        left_layout.addWidget(self.review_table, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.addWidget(self.review_plot, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.overrides_box)
        right_layout.addWidget(scroll, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([720, 520])
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(split, 1)
        layout.addWidget(self.confirm_box)
        layout.addWidget(self.review_error)
        layout.addLayout(buttons)
        return page

    def _build_result_page(self) -> QWidget:
        self.result_title = QLabel()
        self.result_title.setAccessibleName("Result")
        font = QFont(self.result_title.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.result_title.setFont(font)
        self.result_title.setWordWrap(True)
        self.result_text = QLabel()
        self.result_text.setAccessibleName("What the pump reported")
        self.result_text.setWordWrap(True)
        self.result_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recheck_button = QPushButton("&Check the pump again")
        self.recheck_button.setAccessibleName("Read the pump's program to settle the outcome")
        self.recheck_button.clicked.connect(self.recheck_requested.emit)
        self.close_button = QPushButton("&Close")
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.recheck_button)
        buttons.addWidget(self.close_button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.result_title)
        layout.addWidget(self.result_text)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    # ================================================================== loading

    def load_program(self, program: Program) -> None:
        """Fill the form from ``program`` (the current one, a prepared or a recent one)."""
        key = {
            Mode.SIMPLE_CONTINUOUS: "simple",
            Mode.FLEX: "flex",
            Mode.SINGLE_BOLUS: "single",
            Mode.STOPPED: "simple",
        }[program.mode]
        daily = dosing.program_daily_dose_mcg(program)
        self.daily.set_text(_fmt(daily, 3).rstrip("0").rstrip("."))
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

    def flex_steps_or_default(self) -> tuple[FlexStep, ...]:
        try:
            return self.flex.steps()
        except FieldError:
            return (FlexStep(0, Decimal(0)),)

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

    def _mode_changed(self, index: int) -> None:
        self.mode_pages.setCurrentIndex(index)
        self.recompute()

    def _weekdays_changed(self, _on: bool) -> None:
        any_day = any(b.isChecked() for b in self.weekday_boxes)
        if any_day and not self.weekday_flex.isVisible():
            self.weekday_flex.set_steps(list(self.flex_steps_or_default()))
        self.weekday_flex.setVisible(any_day)
        self.recompute()

    # ================================================================== reading the form

    def _clear_messages(self) -> None:
        for f in self._fields():
            f.show_message("")

    def _fields(self) -> list[UnitField]:
        return [
            self.concentration,
            self.daily,
            self.single_dose,
            self.single_duration,
            self.single_after,
            self.priming_duration,
            self.priming_after,
            self.pb_dose,
            self.pb_duration,
            self.pb_lockout,
            self.pb_per_day,
        ]

    @staticmethod
    def _dose(field: UnitField) -> Decimal:
        try:
            return field.dose()
        except FieldError as exc:
            field.show_message(str(exc))
            raise

    @staticmethod
    def _whole(field: UnitField, low: int, high: int) -> int:
        try:
            return field.whole(low, high)
        except FieldError as exc:
            field.show_message(str(exc))
            raise

    def pending(self) -> tuple[Program | None, svc.PrimingPlan | None, int | None]:
        """The program as typed (None when a field cannot be read; its message is shown
        next to it), the priming plan in priming mode, and the concentration typed."""
        self._clear_messages()
        ok = True
        conc: int | None = None
        try:
            conc = self._whole(self.concentration, 1, 100_000)
        except FieldError:
            ok = False
        pb: PatientBolus | None = None
        if self.patient_bolus.isChecked():
            try:
                pb = PatientBolus(
                    dose_mcg=self._dose(self.pb_dose),
                    duration_minutes=self._whole(self.pb_duration, 0, 1440),
                    lockout_minutes=self._whole(self.pb_lockout, 0, 1440),
                    max_per_day=self._whole(self.pb_per_day, 0, 99),
                )
            except FieldError:
                ok = False
            except ModelError as exc:
                self.pb_dose.show_message(str(exc))
                ok = False
        key = self.mode.currentData()
        program: Program | None = None
        plan: svc.PrimingPlan | None = None
        try:
            if key == "simple":
                daily = self._dose(self.daily)
                program = Program(Mode.SIMPLE_CONTINUOUS, daily_dose_mcg=daily, patient_bolus=pb)
            elif key == "flex":
                program = self._flex_program(pb)
            elif key == "single":
                dose = self._dose(self.single_dose)
                minutes = self._whole(self.single_duration, 1, 1440)
                after = self._dose(self.single_after)
                program = Program(
                    Mode.SINGLE_BOLUS,
                    daily_dose_mcg=after,
                    bolus_dose_mcg=dose,
                    bolus_duration_minutes=minutes,
                    patient_bolus=pb,
                )
            else:
                minutes = self._whole(self.priming_duration, 1, 1440)
                after = self._dose(self.priming_after)
                plan = self._priming_plan(conc or self.ctx.state.concentration_mcg_ml, minutes)
                program = svc.priming_program(plan, after, pb)
        except FieldError:
            program = None
        except (ModelError, svc.ProgrammingError) as exc:
            target = {"simple": self.daily, "single": self.single_dose}.get(
                key, self.priming_duration
            )
            target.show_message(str(exc))
            program = None
        if not ok:
            program = None
        return program, plan, conc

    def _flex_program(self, pb: PatientBolus | None) -> Program | None:
        try:
            steps = self.flex.steps()
        except FieldError:
            return None  # the table shows its own message
        weekdays: tuple[tuple[int, tuple[FlexStep, ...]], ...] = ()
        days = [i for i, b in enumerate(self.weekday_boxes) if b.isChecked()]
        if days:
            try:
                other = self.weekday_flex.steps()
            except FieldError:
                return None
            weekdays = tuple((d, other) for d in days)
        try:
            return Program(
                Mode.FLEX, flex_steps=steps, flex_weekday_steps=weekdays, patient_bolus=pb
            )
        except ModelError as exc:
            self.flex.error.setText(str(exc))
            self.flex.error.setVisible(True)
            return None

    def _priming_plan(self, conc: int, minutes: int) -> svc.PrimingPlan:
        plan = svc.priming_plan(
            self.ctx.pump, conc, minutes, catheter_only=self.priming_revision.isChecked()
        )
        pr = plan.priming
        self.priming_volume.setText(
            f"{_fmt(plan.volume_ul)} µL = "
            + ("" if pr.catheter_only else f"pump {_fmt(pr.pump_dead_volume_ul)} µL + ")
            + f"catheter {_fmt(pr.catheter_volume_ul)} µL "
            f"({self.ctx.pump.catheter_length_cm} cm x {self.ctx.pump.catheter_ul_per_cm} µL/cm); "
            f"{plan.dose_mcg} mcg at {conc} mcg/mL over {minutes} min"
        )
        return plan

    # ================================================================== checking

    def recompute(self) -> None:
        """Re-read the form and re-run the programming service's check."""
        if not hasattr(self, "plot"):
            return  # still building
        self.flex.concentration = self._safe_conc()
        self.weekday_flex.concentration = self.flex.concentration
        self.flex.refresh()
        if self.weekday_flex.isVisible():
            self.weekday_flex.refresh()
        program, plan, conc = self.pending()
        self.check = None
        if program is not None and conc is not None:
            try:
                self.check = svc.check_program(
                    self.ctx.state,
                    program,
                    conc,
                    self.ctx.user,
                    self.ctx.library,
                    self.ctx.tz,
                    purpose="send" if self.ctx.user.can_send_program() else "prepare",
                    priming=plan,
                    pump=self.ctx.pump,
                    history=self.ctx.history,
                    now=self.ctx.now,
                    facts=self.ctx.facts,
                    settings=self.ctx.settings,
                    catheter_revised_on=self.ctx.catheter_revised_on,
                )
            except (svc.ProgrammingError, dosing.DosingError) as exc:
                self.concentration.show_message(str(exc))
        self._show_summary(program)
        self._update_buttons()

    def _safe_conc(self) -> int:
        text = self.concentration.text().strip()
        return int(text) if text.isdigit() and int(text) > 0 else 0

    def _show_summary(self, program: Program | None) -> None:
        state = self.ctx.state
        current_total = dosing.program_daily_dose_mcg(state.program)
        self.plot.show_programs(state.program, program)
        c = self.check
        if program is None or c is None:
            self.total_label.setText("Total: -  (correct the marked fields)")
            self.change_label.setText(f"Current: {_fmt(current_total)} mcg/24 h")
            self.forecast_label.setText("")
            self.findings_label.setText("")
            return
        total = dosing.program_daily_dose_mcg(program)
        text = f"Total: {_fmt(total)} mcg/24 h"
        if program.flex_weekday_steps:
            days = ", ".join(svc.WEEKDAYS[d] for d, _ in program.flex_weekday_steps)
            other = dosing.program_daily_dose_mcg(program, program.flex_weekday_steps[0][0])
            text += f"  ({days}: {_fmt(other)} mcg/24 h)"
        self.total_label.setText(text)
        lines = [
            f"Change from the current {_fmt(current_total)} mcg/24 h: "
            f"<b>{svc.change_text(c.change)}</b>",
        ]
        if c.change.note:
            lines.append(c.change.note)
        maximum = dosing.max_24h_dose_mcg(program)
        if maximum != total:
            lines.append(
                f"Maximum 24 h dose with every allowed bolus: <b>{_fmt(maximum)} mcg</b> "
                "(the figure the dose limits apply to)"
            )
        if program.mode is Mode.SIMPLE_CONTINUOUS and total:
            lines.append(f"Rate: {_fmt(total / 24, 3)} mcg/h")
        if program.mode is Mode.SINGLE_BOLUS:
            lines.append(
                f"Bolus {program.bolus_dose_mcg} mcg over {program.bolus_duration_minutes} min "
                "first (not drawn on the profile), then the continuous rate."
            )
        self.change_label.setText("<br>".join(lines))
        nf, cf = c.new_forecast, c.current_forecast
        tz = self.ctx.tz
        alarm = (
            "none (not delivering)"
            if nf.alarm_at is None
            else (f"{nf.alarm_at.astimezone(tz):%d %b %Y}")
        )
        refill = "-" if cf.refill_by is None else f"{cf.refill_by:%d %b %Y}"
        new_refill = "-" if nf.refill_by is None else f"{nf.refill_by:%d %b %Y}"
        self.forecast_label.setText(
            f"Low-reservoir alarm with the new program: <b>{alarm}</b> "
            f"(refill by {new_refill}). Planned refill with the current program: {refill}. "
            f"Reservoir {state.reservoir_ul / 1000:.2f} mL at {state.read_at.astimezone(tz):%d %b %H:%M}."
        )
        self._show_findings(c)

    def _show_findings(self, c: svc.ProgramCheck) -> None:
        parts = []
        field_map: dict[str, list[UnitField]] = {
            "daily_dose": [self.daily, self.single_after, self.priming_after],
            "bolus": [self.single_dose, self.priming_duration],
            "patient_bolus": [self.pb_dose],
            "concentration": [self.concentration],
        }
        for f in c.findings:
            if f.severity is svc.Severity.BLOCK:
                colour, word = BLOCK_COLOUR, "Blocked"
            elif f.severity is svc.Severity.SOFT:
                colour, word = SOFT_COLOUR, "Needs a reason"
            else:
                colour, word = SOFT_COLOUR, "Warning"
            parts.append(f"<p><b style='color:{colour}'>{word}:</b> {f.message}</p>")
            for field in field_map.get(f.field, []):
                if field.isVisible() and not field.error.text():
                    field.show_message(f"{word}: {f.message}", colour)
            if f.field == "flex":
                self.flex.error.setText(f"{word}: {f.message}")
                self.flex.error.setStyleSheet(f"color: {colour};")
                self.flex.error.setVisible(True)
        if not parts:
            parts.append("<p style='color:#0b6b2f'><b>Within every drug-library limit.</b></p>")
        product = c.product.label if c.product else "no drug-library product"
        parts.append(f"<p style='color:#555'>Limits: {product}.</p>")
        self.findings_label.setText("".join(parts))

    def _update_buttons(self) -> None:
        c = self.check
        user = self.ctx.user
        hint = ""
        # What blocks sending but not preparing: a program prepared for a coming refill may
        # name the new concentration, and anyone may prepare (prepare() checks it again
        # with purpose "prepare", and the service refuses what still blocks).
        blocks = [] if c is None else [f for f in c.blocks if f.rule not in svc.SEND_ONLY_RULES]
        self.prepare_button.setEnabled(c is not None and not blocks)
        can_review = (
            c is not None and not c.blocked and self.ctx.connected and (self.ctx.state.live)
        )
        self.review_button.setEnabled(can_review)
        if not user.can_send_program():
            hint = "Signed in as a nurse: save the program for a clinician to review and send."
        elif not (self.ctx.connected and self.ctx.state.live):
            hint = "Not connected to this pump: you can save the program for review."
        elif c is not None and c.blocked:
            hint = "Blocked: see the limit checks."
        self.send_hint.setText(hint)

    # ================================================================== actions

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

    def go_review(self) -> None:
        """To the side-by-side review (only when nothing blocks the change)."""
        self.recompute()
        c = self.check
        if c is None or c.blocked or not self.reasons_ok():
            return
        rows = svc.review_rows(c, self.ctx.tz)
        self.review_table.setRowCount(len(rows))
        bold = QFont(self.review_table.font())
        bold.setBold(True)
        for i, row in enumerate(rows):
            label = ("\u25b6 " if row.changed else "   ") + row.label
            items = [QTableWidgetItem(label), QTableWidgetItem(row.current),
                     QTableWidgetItem(row.pending)]  # fmt: skip
            for item in items:
                if row.changed:
                    item.setBackground(QBrush(CHANGED_BG))
                    item.setFont(bold)
                item.setToolTip("changed" if row.changed else "unchanged")
                item.setData(Qt.ItemDataRole.AccessibleDescriptionRole,
                             "changed" if row.changed else "unchanged")  # fmt: skip
            for col, item in enumerate(items):
                self.review_table.setItem(i, col, item)
        self.review_plot.show_programs(c.state.program, c.new)
        while self.overrides_layout.rowCount():
            self.overrides_layout.removeRow(0)
        self.override_edits = {}
        self.override_categories = {}
        for f in c.findings:
            if f.severity is svc.Severity.SOFT:
                text = QLabel(f"<b style='color:{SOFT_COLOUR}'>Soft limit:</b> {f.message}")
                text.setWordWrap(True)
                category = QComboBox()
                category.setAccessibleName(f"Why the limit is overridden: {f.rule}")
                category.addItem("Choose why...", "")
                for name in svc.OVERRIDE_CATEGORIES:
                    category.addItem(name, name)
                category.currentIndexChanged.connect(lambda _i: self._update_send_button())
                edit = QLineEdit()
                edit.setAccessibleName(f"Note on overriding: {f.rule}")
                edit.setPlaceholderText(f"what was agreed, with whom ({svc.REASON_HINT})")
                edit.textChanged.connect(lambda _t: self._update_send_button())
                self.override_edits[f.key] = edit
                self.override_categories[f.key] = category
                self.overrides_layout.addRow(text)
                self.overrides_layout.addRow("Why:", category)
                self.overrides_layout.addRow("Note:", edit)
            elif f.severity is svc.Severity.WARNING:
                text = QLabel(f"<b style='color:{SOFT_COLOUR}'>Warning:</b> {f.message}")
                text.setWordWrap(True)
                self.overrides_layout.addRow(text)
        self.second_clinician = QLineEdit()
        self.second_clinician.setAccessibleName("Second clinician confirming the override")
        self.second_clinician.setPlaceholderText("name of the second clinician who checked it")
        self.second_clinician.textChanged.connect(lambda _t: self._update_send_button())
        severe = svc.second_check_findings(c)
        if severe:
            note = QLabel(
                "<b>A second clinician must confirm</b> the override of "
                + ", ".join(sorted({f.rule.replace("_", " ") for f in severe}))
                + ": they check the program and the reason with you."
            )
            note.setWordWrap(True)
            self.overrides_layout.addRow(note)
            self.overrides_layout.addRow("Second clinician:", self.second_clinician)
        if not c.findings:
            self.overrides_layout.addRow(QLabel("Within every drug-library limit."))
        self.overrides_layout.addRow(QLabel(f"Reason for the change: {self.reason.text()}"))
        self.confirm_box.setChecked(False)
        self.review_error.setVisible(False)
        self.sending_label.setText("")
        self.pages.setCurrentIndex(self.REVIEW)
        self.review_table.resizeRowsToContents()  # after layout, at the real column widths
        self._update_send_button()
        self.review_table.setFocus()

    def override_reasons(self) -> dict[str, str]:
        """Each soft-limit override as the service stores it: the category, then the note."""
        out = {}
        for key, edit in self.override_edits.items():
            category = self.override_categories[key].currentData() or ""
            out[key] = svc.override_text(category, edit.text()) if category else edit.text()
        return out

    def _update_send_button(self) -> None:
        c = self.check
        ready = (
            c is not None
            and self.ctx.user.can_send_program()
            and self.confirm_box.isChecked()
            and not svc.missing_reasons(
                c, self.reason.text(), self.override_reasons(), self.second_clinician.text()
            )
        )
        self.send_button.setEnabled(bool(ready))

    def send(self) -> None:
        """Build the change record and ask the controller to send it."""
        c = self.check
        if c is None:
            return
        if not self.ctx.user.can_send_program():
            self.review_error.setText(
                "Only a clinician or an administrator can send a program: save it for "
                "clinician review instead."
            )
            self.review_error.setVisible(True)
            return
        if not self.confirm_box.isChecked():
            self.review_error.setText("Tick the box to confirm you checked the pending program.")
            self.review_error.setVisible(True)
            return
        try:
            approved = svc.approve(
                c,
                self.reason.text(),
                self.override_reasons(),
                at=self.ctx.now,
                second_clinician=self.second_clinician.text(),
            )
        except svc.ProgrammingError as exc:
            self.review_error.setText(str(exc))
            self.review_error.setVisible(True)
            return
        self.send_requested.emit(approved)

    def set_sending(self, sending: bool) -> None:
        self.send_button.setEnabled(not sending)
        self.back_button.setEnabled(not sending)
        self.sending_label.setText(
            "Sending to the pump: keep the programmer head over the pump..." if sending else ""
        )

    def show_result(self, outcome: ChangeOutcome | str, message: str, details: str = "") -> None:
        """The last page: what the pump confirmed, in plain words."""
        outcome = ChangeOutcome(outcome)
        self.result_outcome = outcome
        titles = {
            ChangeOutcome.SUCCEEDED: ("Program sent and verified", "#0b6b2f"),
            ChangeOutcome.FAILED: ("Program NOT changed", BLOCK_COLOUR),
            ChangeOutcome.UNCERTAIN: (
                "UNCERTAIN: the pump may or may not run the new program",
                BLOCK_COLOUR,
            ),
        }
        title, colour = titles[outcome]
        self.result_title.setText(title)
        self.result_title.setStyleSheet(f"color: {colour}; font-size: 15pt; font-weight: bold;")
        what_next = {
            ChangeOutcome.SUCCEEDED: "The new program is active; it was read back from the pump and is "
            "identical to the program sent. Interrogate to update the patient's overview.",
            ChangeOutcome.FAILED: "The pump keeps its previous program. Nothing changed for the patient.",
            ChangeOutcome.UNCERTAIN: "This change is stored as UNCERTAIN and the patient is flagged until "
            "it is settled. Keep the programmer head over the pump and press 'Check the pump "
            "again', or interrogate before the patient leaves. A link error never means the "
            "pump stopped: it carries on with whichever program it has.",
        }[outcome]
        self.result_text.setText(f"<p>{message}</p><p>{what_next}</p>{details}")
        self.recheck_button.setVisible(outcome == ChangeOutcome.UNCERTAIN)
        self.pages.setCurrentIndex(self.RESULT)
        self.close_button.setFocus()
