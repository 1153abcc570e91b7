"""The refill wizard's pages. Each page holds its fields and shows what the refill service
computed; none of them decides anything (the rules are in itbconsole.services.refill).

Fields are public attributes so tests fill them as a nurse would, and each input has an
error label next to it (``errors[field]``) for the message the service gives.
"""

from __future__ import annotations

from datetime import tzinfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from itbconsole import dosing
from itbconsole.alarms import describe
from itbconsole.display import fmt_moment
from itbconsole.services.refill import (
    ConcentrationCheck,
    Identification,
    NewDrugCheck,
    Review,
    WithdrawalCheck,
)
from itbconsole.trends import Drift
from itbconsole.units import fmt_mcg, fmt_ml, round_decimal
from ui.overview import pump_drift


def error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def unit_field(edit: QLineEdit, unit: str, error: QLabel) -> QWidget:
    """A number field with its unit next to it and its error message under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    row = QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(QLabel(unit))
    row.addStretch(1)
    layout.addLayout(row)
    layout.addWidget(error)
    return box


def with_error(widget: QWidget, error: QLabel) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(widget)
    layout.addWidget(error)
    return box


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("cardTitle")
    return label


def value_label() -> QLabel:
    label = QLabel("-")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class Page(QWidget):
    """A wizard page with a title, an explanation and per-field error labels."""

    title = ""
    intro = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.errors: dict[str, QLabel] = {}
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(16, 12, 16, 12)
        self.layout_.setSpacing(8)
        title = QLabel(self.title)
        title.setObjectName("patientName")
        self.layout_.addWidget(title)
        if self.intro:
            intro = QLabel(self.intro)
            intro.setWordWrap(True)
            intro.setObjectName("detail")
            self.layout_.addWidget(intro)

    def error(self, name: str) -> QLabel:
        if name not in self.errors:
            self.errors[name] = error_label()
        return self.errors[name]

    def show_error(self, name: str, message: str) -> None:
        label = self.errors.get(name) or self.errors.get("page")
        if label is None:
            label = self.error("page")
            self.layout_.addWidget(label)
        label.setText(message)
        label.setVisible(bool(message))

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.setText("")
            label.setVisible(False)


# --------------------------------------------------------------------------- 1 identify


class IdentifyPage(Page):
    title = "1. Identify the pump"
    intro = (
        "Place the programmer head over the pump and interrogate it now. The pump must be "
        "the one registered to this patient."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.interrogate_button = QPushButton("&Interrogate now")
        self.interrogate_button.setObjectName("primary")
        self.status = QLabel("Not interrogated yet.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.interrogate_button)
        row.addWidget(self.status, 1)
        self.layout_.addLayout(row)
        grid = QFormLayout()
        grid.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.values: dict[str, QLabel] = {}
        for key, label in (
            ("patient", "Patient"),
            ("pump", "Pump"),
            ("reservoir", "Reservoir (pump estimate)"),
            ("drug", "Drug"),
            ("concentration", "Concentration"),
            ("program", "Program"),
            ("alarm", "Low-reservoir alarm"),
            ("alarms", "Active alarms"),
        ):
            self.values[key] = value_label()
            grid.addRow(label, self.values[key])
        self.layout_.addLayout(grid)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setProperty("warning", True)
        self.layout_.addWidget(self.warnings)
        # Shown when the pump's concentration differs from the records: the refill is
        # blocked until the nurse explains it (stored with the refill).
        self.mismatch_note = QPlainTextEdit()
        self.mismatch_note.setPlaceholderText(
            "Required: the pump's concentration differs from the records. What did you check, "
            "and which clinician agreed which is right?"
        )
        self.mismatch_note.setMaximumHeight(64)
        self.mismatch_note.setAccessibleName("Note explaining the concentration difference")
        self.mismatch_box = with_error(self.mismatch_note, self.error("mismatch_note"))
        self.mismatch_box.setVisible(False)
        self.layout_.addWidget(self.mismatch_box)
        self.pending = QLabel("")
        self.pending.setWordWrap(True)
        self.layout_.addWidget(self.pending)
        self.layout_.addWidget(self.error("page"))
        self.layout_.addStretch(1)

    def show_identification(self, ident: Identification, tz: tzinfo) -> None:
        r = ident.reading
        p = ident.pump
        self.values["patient"].setText(
            f"{ident.patient.display_name} (hospital number {ident.patient.hospital_number})"
        )
        self.values["pump"].setText(f"{p.model}, serial {p.serial}")
        self.values["reservoir"].setText(
            f"{fmt_ml(r.reservoir_ul)} of {fmt_ml(p.reservoir_capacity_ul)}"
        )
        self.values["drug"].setText(ident.product_in_pump)
        self.values["concentration"].setText(f"{r.concentration_mcg_ml} mcg/mL")
        dose = dosing.program_daily_dose_mcg(r.program)
        self.values["program"].setText(
            f"{r.program.mode.value.replace('_', ' ')}, {fmt_mcg(dose)} per 24 h"
            + (
                f", patient bolus {fmt_mcg(r.program.patient_bolus.dose_mcg)} up to "
                f"{r.program.patient_bolus.max_per_day} a day"
                if r.program.patient_bolus
                else ""
            )
        )
        alarm = ident.forecast_now.alarm_at
        self.values["alarm"].setText(
            "none (not delivering)" if alarm is None else fmt_moment(alarm, tz)
        )
        self.values["alarms"].setText(
            "; ".join(describe(a).title for a in r.alarms) if r.alarms else "none"
        )
        self.warnings.setText("\n".join(ident.warnings))
        self.mismatch_box.setVisible(ident.concentration_mismatch)
        self.mismatch_note.setPlainText("")
        self.status.setText(f"Interrogated at {fmt_moment(r.at, tz, seconds=True)}.")


# --------------------------------------------------------------------------- 2 withdraw


class WithdrawPage(Page):
    title = "2. Withdraw the residual"
    intro = (
        "Aspirate the reservoir completely and enter the volume withdrawn. It is compared "
        "with the volume the programs since the last fill should have left."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout()
        self.withdrawn = QLineEdit()
        self.withdrawn.setPlaceholderText("e.g. 12.35")
        self.withdrawn.setAccessibleName("Volume withdrawn in millilitres")
        self.withdrawn.setMaximumWidth(140)
        form.addRow("Volume &withdrawn", unit_field(self.withdrawn, "mL", self.error("withdrawn")))
        self.layout_.addLayout(form)
        grid = QGridLayout()
        self.expected = QLabel("-")
        self.discrepancy = QLabel("-")
        self.accuracy = QLabel("-")
        for col, (label, widget) in enumerate(
            (
                ("Expected residual", self.expected),
                ("Discrepancy", self.discrepancy),
                ("Delivery accuracy", self.accuracy),
            )
        ):
            grid.addWidget(heading(label), 0, col)
            widget.setObjectName("bigValue")
            grid.addWidget(widget, 1, col)
        self.layout_.addLayout(grid)
        # The pump's delivery drift over its earlier refills (the Overview's and the Trends
        # tab's rule): a pump drifting under is a withdrawal risk to keep in mind here.
        self.drift = QLabel("")
        self.drift.setObjectName("warningText")
        self.drift.setWordWrap(True)
        self.drift.setAccessibleName("Delivery drift")
        self.drift.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.drift.setVisible(False)
        self.layout_.addWidget(self.drift)
        self.derivation = QLabel("")
        self.derivation.setWordWrap(True)
        self.derivation.setObjectName("detail")
        self.derivation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout_.addWidget(heading("How the expected residual was derived"))
        self.layout_.addWidget(self.derivation)
        self.flag = QFrame()
        self.flag.setObjectName("card")
        self.flag.setStyleSheet("#card { border: 2px solid #b00020; background: #fdf1f2; }")
        flag_layout = QVBoxLayout(self.flag)
        self.flag_text = QLabel("")
        self.flag_text.setWordWrap(True)

        self.flag_text.setProperty("warning", True)
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText(
            "Required: what you checked (needle position, aspiration, patient's signs) and "
            "who you told."
        )
        self.note.setMaximumHeight(64)
        self.note.setAccessibleName("Note acknowledging the discrepancy")
        # A likely decimal slip is confirmed on its own, here where it was typed.
        self.slip_ok = QCheckBox("I checked the decimal point: the volume withdrawn is right")
        self.slip_ok.setVisible(False)
        self.withdrawn.textChanged.connect(lambda _t: self.slip_ok.setChecked(False))
        flag_layout.addWidget(self.flag_text)
        flag_layout.addWidget(self.note)
        flag_layout.addWidget(self.error("note"))
        flag_layout.addWidget(self.slip_ok)
        flag_layout.addWidget(self.error("slip"))
        self.flag.setVisible(False)
        self.layout_.addWidget(self.flag)
        self.layout_.addStretch(1)

    def show_derivation(self, lines: list[str]) -> None:
        self.derivation.setText("\n".join(lines))
        self.show_drift(self.drift_of_refill())

    def drift_of_refill(self) -> Drift | None:
        """The drift of the pump this refill identified (the wizard this page is in: its
        session's identification and clinic service); None before identification."""
        session = getattr(self.window(), "session", None)
        ident = getattr(session, "identification", None)
        clinic = getattr(session, "clinic", None)
        if ident is None or clinic is None or ident.patient.id is None:
            return None
        return pump_drift(clinic, ident.patient.id, ident.pump)

    def show_drift(self, drift: Drift | None) -> None:
        self.drift.setText(
            "" if drift is None else f"Delivery drift at earlier refills. {drift.message}"
        )
        self.drift.setVisible(drift is not None)

    def show_check(self, check: WithdrawalCheck | None, expected_ul: int) -> None:
        self.expected.setText(fmt_ml(expected_ul))
        if check is None:
            self.discrepancy.setText("-")
            self.accuracy.setText("-")
            self.flag.setVisible(False)
            self.slip_ok.setVisible(False)
            return
        d = check.discrepancy
        self.slip_ok.setVisible(bool(check.slip_hint))
        self.discrepancy.setText(f"{check.discrepancy_text} ({d.direction})")
        self.accuracy.setText(check.accuracy_text)
        self.flag.setVisible(check.needs_acknowledgement)
        if check.needs_acknowledgement:
            text = (
                f"{check.meaning} (Clinic limits: {fmt_ml(d.limit_ul)} either way, accuracy "
                f"{round_decimal(d.thresholds.accuracy_low_pct, 0)}-"
                f"{round_decimal(d.thresholds.accuracy_high_pct, 0)} %.)"
            )
            if check.slip_hint:
                text += f"\n{check.slip_hint}"
            self.flag_text.setText(text + "\nAcknowledge with a note to go on.")
            # Re-run the layout now: a wrapped label in a frame that was hidden keeps a
            # stale height otherwise, and the last lines of the warning are cut off.
            self.flag_text.updateGeometry()
            self.flag.updateGeometry()
            self.layout_.invalidate()
            self.layout_.activate()


# --------------------------------------------------------------------------- 3 new drug


class NewDrugPage(Page):
    title = "3. New drug"
    intro = (
        "Scan the vial's barcode into the product field, or choose the product from the "
        "drug library and type the lot and expiry from the label."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.product = QComboBox()
        self.product.setEditable(True)
        self.product.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.product.setMinimumWidth(320)
        self.product.setAccessibleName("Product: scan the barcode here or choose")
        line = self.product.lineEdit()
        assert line is not None
        line.setPlaceholderText("Scan the barcode here, or choose")
        form.addRow("&Product", with_error(self.product, self.error("product")))
        self.scan_info = QLabel("")
        self.scan_info.setObjectName("detail")
        self.scan_info.setWordWrap(True)
        form.addRow("", self.scan_info)
        self.lot = QLineEdit()
        self.lot.setMaximumWidth(200)
        self.lot.setAccessibleName("Lot number")
        form.addRow("&Lot", with_error(self.lot, self.error("lot")))
        self.expiry = QLineEdit()
        self.expiry.setPlaceholderText("as on the vial, e.g. 31/03/2027")
        self.expiry.setToolTip(
            "31/03/2027, 31.03.2027, 2027-03-31 or 31 MAR 2027; a month alone (03/2027, "
            "2027-03) means the end of that month."
        )
        self.expiry.setMaximumWidth(200)
        self.expiry.setAccessibleName("Expiry date")
        form.addRow("&Expiry", with_error(self.expiry, self.error("expiry")))
        self.added = QLineEdit()
        self.added.setPlaceholderText("e.g. 40.0")
        self.added.setMaximumWidth(140)
        self.added.setAccessibleName("Volume added in millilitres")
        form.addRow("Volume &added", unit_field(self.added, "mL", self.error("added")))
        # Shown when the volume looks like a decimal slip (4.0 for 40): its own tick, here.
        self.volume_ok = QCheckBox("I checked the decimal point: the volume added is right")
        self.volume_ok.setVisible(False)
        self.added.textChanged.connect(lambda _t: self._volume_changed())
        form.addRow("", with_error(self.volume_ok, self.error("added_check")))
        self.capacity = QLabel("")
        self.capacity.setObjectName("detail")
        form.addRow("", self.capacity)
        self.layout_.addLayout(form)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setProperty("warning", True)
        self.layout_.addWidget(self.warnings)
        self.layout_.addWidget(self.error("page"))
        self.layout_.addStretch(1)
        self.gtin: str | None = None
        self.serial: str | None = None

    def _volume_changed(self) -> None:
        """A new volume needs its own check: the earlier tick does not carry over."""
        self.volume_ok.setChecked(False)
        self.volume_ok.setVisible(False)
        self.error("added_check").setVisible(False)

    def set_products(self, items: list[tuple[str, str]]) -> None:
        self.product.clear()
        for product_id, label in items:
            self.product.addItem(label, product_id)
        self.product.setCurrentIndex(-1)
        self.product.setEditText("")

    def product_id(self) -> str:
        """The chosen library product's id ("" when the text is not one of the list)."""
        index = self.product.findText(self.product.currentText().strip())
        return "" if index < 0 else str(self.product.itemData(index))

    def show_check(self, check: NewDrugCheck | None) -> None:
        self.warnings.setText("" if check is None else "\n".join(check.warnings))


# --------------------------------------------------------------------------- 4 concentration


class ConcentrationPage(Page):
    title = "4. Concentration check"
    intro = (
        "The new drug's concentration must be the prescribed one, the concentration in the "
        "pump now. A different concentration needs a program prepared by a clinician."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout()
        self.current = QLabel("-")
        self.new = QLabel("-")
        for col, (label, widget) in enumerate(
            (("Prescribed (in the pump)", self.current), ("New drug", self.new))
        ):
            grid.addWidget(heading(label), 0, col)
            widget.setObjectName("bigValue")
            grid.addWidget(widget, 1, col)
        self.layout_.addLayout(grid)
        # The pump's delivery drift over its earlier refills (the Overview's and the Trends
        # tab's rule): a pump drifting under is a withdrawal risk to keep in mind here.
        self.drift = QLabel("")
        self.drift.setObjectName("warningText")
        self.drift.setWordWrap(True)
        self.drift.setAccessibleName("Delivery drift")
        self.drift.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.drift.setVisible(False)
        self.layout_.addWidget(self.drift)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.layout_.addWidget(self.result)
        self.bridge = QLabel("")
        self.bridge.setWordWrap(True)
        self.bridge.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout_.addWidget(self.bridge)
        self.layout_.addWidget(self.error("page"))
        self.layout_.addStretch(1)

    def show_values(self, current: int, new: int) -> None:
        self.current.setText(f"{current} mcg/mL")
        self.new.setText(f"{new} mcg/mL")

    def show_check(self, check: ConcentrationCheck | None) -> None:
        if check is None:
            self.result.setText("")
            self.bridge.setText("")
            return
        self.result.setText(check.message)
        b = check.bridge
        if b is None or not check.bridge_volume_ul:
            self.bridge.setText("")
            return
        self.bridge.setText(
            "Bridge bolus (sent with the reservoir update):\n"
            f"  dead volume (pump + catheter): {fmt_ml(b.dead_volume_ul, 3)}\n"
            f"  delivered at the old drug's rate: {round_decimal(b.bridge_rate_ml_per_day, 3)} "
            "mL/day\n"
            f"  duration: {round_decimal(b.bridge_hours, 1)} h "
            f"({check.bridge_duration_min} min)\n"
            f"  dose meanwhile: {fmt_mcg(b.dose_during_bridge_mcg_day)} per 24 h "
            f"({fmt_mcg(b.bridge_mcg)} of old drug pushed out)\n"
            f"  without a bridge: {fmt_mcg(b.unbridged_dose_mcg_day)} per 24 h for "
            f"{round_decimal(b.unbridged_hours, 1)} h"
        )


# --------------------------------------------------------------------------- 5 review


class ReviewPage(Page):
    title = "5. Review"
    intro = "Check current against new before the pump is updated."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "Current", "New"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.layout_.addWidget(self.table)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setObjectName("detail")
        self.layout_.addWidget(self.notes)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setProperty("warning", True)
        self.layout_.addWidget(self.warnings)
        self.acknowledge = QCheckBox("I have read the warnings above")
        self.acknowledge.setVisible(False)
        self.layout_.addWidget(with_error(self.acknowledge, self.error("warnings")))
        self.layout_.addWidget(self.error("page"))
        self.layout_.addStretch(1)

    def show_review(self, review: Review) -> None:
        self.table.setRowCount(len(review.rows))
        for row, item in enumerate(review.rows):
            cells = (item.label, item.current, item.new)
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if (col == 2 and item.changed) or col == 0:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                self.table.setItem(row, col, cell)
        self.table.resizeRowsToContents()
        height = (
            self.table.horizontalHeader().height()
            + 4
            + sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        )
        self.table.setMaximumHeight(height)
        self.notes.setText("\n".join(review.notes))
        self.warnings.setText("\n".join(review.warnings))
        needs_ack = bool(review.to_acknowledge)
        self.acknowledge.setVisible(needs_ack)
        self.acknowledge.setChecked(False)


# --------------------------------------------------------------------------- 6 update


class UpdatePage(Page):
    title = "6. Update the pump"
    intro = (
        "Keep the programmer head over the pump. The refill is sent, read back from the pump "
        "and compared before it is reported as done."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.send_button = QPushButton("&Send to pump")
        self.send_button.setObjectName("primary")
        self.retry_button = QPushButton("&Try again")
        self.retry_button.setVisible(False)
        self.record_failed_button = QPushButton("&Record without pump update")
        self.record_failed_button.setVisible(False)
        # The pump was updated but the refill could not be saved: save the same outcome again.
        self.retry_save_button = QPushButton("Retry &saving")
        self.retry_save_button.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.send_button)
        row.addWidget(self.retry_button)
        row.addWidget(self.record_failed_button)
        row.addWidget(self.retry_save_button)
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.sending = QLabel("")
        self.sending.setWordWrap(True)
        self.layout_.addWidget(self.sending)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.outcome.setObjectName("bigValue")
        self.layout_.addWidget(self.outcome)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.layout_.addWidget(self.detail)
        self.layout_.addWidget(self.error("page"))
        self.layout_.addStretch(1)


# --------------------------------------------------------------------------- 7 record


class RecordPage(Page):
    title = "7. Record"
    intro = "The refill is saved with your name and the time. Print or save the record."

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A scrolling view: the whole record is longer than a 768-pixel screen.
        self.summary = QTextBrowser()
        self.summary.setOpenLinks(False)
        self.layout_.addWidget(self.summary, 1)
        self.pdf_button = QPushButton("Save refill record as &PDF...")
        row = QHBoxLayout()
        row.addWidget(self.pdf_button)
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.saved = QLabel("")
        self.saved.setObjectName("detail")
        self.layout_.addWidget(self.saved)
