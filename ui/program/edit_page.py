"""The program editor's Edit page: mode, concentration, the page of each mode (simple,
flex with its pump-clock note and weekday schedule, single bolus, priming), patient bolus
and reason on the left; the total, the change, the alarm date, the dose profile and the
limit checks always in view on the right."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day
from itbconsole.model import FlexStep
from itbconsole.services import programming as svc
from ui.program.editor_base import EditorBase
from ui.program.widgets import (
    BLOCK_COLOUR,
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


class EditPage(EditorBase):
    """Builds the Edit page and reacts to its mode and weekday choices."""

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
                f"From {fmt_day(zone_change.day)} the clocks change and every step will start "
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

    def flex_steps_or_default(self) -> tuple[FlexStep, ...]:
        try:
            return self.flex.steps()
        except FieldError:
            return (FlexStep(0, Decimal(0)),)

    def _mode_changed(self, index: int) -> None:
        self.mode_pages.setCurrentIndex(index)
        self.recompute()

    def _weekdays_changed(self, _on: bool) -> None:
        any_day = any(b.isChecked() for b in self.weekday_boxes)
        if any_day and not self.weekday_flex.isVisible():
            self.weekday_flex.set_steps(list(self.flex_steps_or_default()))
        self.weekday_flex.setVisible(any_day)
        self.recompute()
