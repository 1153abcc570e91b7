"""Dialogs that create or change records: patient, pump registration, unknown pump.

Every field is validated where it is typed; a bad value gets a message next to it and the
dialog does not close, so nothing invalid reaches the store. Each dialog has ``ask()`` (modal)
and ``accept_if_valid()`` (what OK does), so tests can drive them without a modal loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal

from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day, ml_text
from itbconsole.druglib import DrugProduct
from itbconsole.model import ModelError, Origin, Patient, Pump
from itbconsole.pump_models import check_pump_model, find_model, pump_field_errors, pump_models
from itbconsole.services.patients import (
    DuplicatePatient,
    PatientForm,
    catheter_revision_errors,
    explant_errors,
    patient_from_form,
    status_change_errors,
)
from itbconsole.services.screening import (
    ASHWORTH,
    SCREENING_OUTCOMES,
    ScreeningError,
    ScreeningTrial,
)
from itbconsole.store import StoreError
from itbconsole.units import QuantityError, ml_to_ul, parse_decimal


def _error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


class _ValidatingDialog(QDialog):
    """A form whose messages sit under their fields. A message shown after OK is checked
    again as the nurse corrects the form: it goes as soon as its field is right, so a
    message never stays beside a value it no longer describes. The dialog grows to show
    every message whole."""

    #: Whether the general message comes from the same check as the fields (False when
    #: it is the service's refusal on OK, which only another OK can lift).
    recheck_general = True

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        # Field column takes the width; labels never squeeze a message into a clipped line.
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.errors: dict[str, QLabel] = {}
        self._rechecking = False
        self.setMinimumWidth(460)  # placeholders and messages read whole
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.general_error = _error_label()
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)

    def add_row(self, key: str, label: str, widget: QWidget) -> None:
        widget.setAccessibleName(label.replace("&", ""))
        error = _error_label()
        self.errors[key] = error
        box = QVBoxLayout()
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(error)
        container = QWidget()
        container.setLayout(box)
        box.setContentsMargins(0, 0, 0, 0)
        self.form.addRow(label, container)
        for signal_name in CHANGE_SIGNALS:
            signal = getattr(widget, signal_name, None)
            if signal is not None:
                signal.connect(self._value_changed)

    def set_error(self, key: str, message: str) -> None:
        label = self.errors.get(key, self.general_error)
        label.setText(message)
        label.setVisible(bool(message))
        self._fit_messages()

    def clear_errors(self) -> None:
        for label in [*self.errors.values(), self.general_error]:
            label.setText("")
            label.setVisible(False)

    def shown_errors(self) -> dict[str, str]:
        """The messages on show, by field (``general`` for the one under the form)."""
        shown = {k: label.text() for k, label in self.errors.items() if not label.isHidden()}
        if not self.general_error.isHidden():
            shown["general"] = self.general_error.text()
        return shown

    def validate(self) -> object | None:  # pragma: no cover - overridden
        """Check the form as OK would, without recording anything: the value, or None
        with the messages set."""
        raise NotImplementedError

    def _value_changed(self, *_args: object) -> None:
        """Check again the fields whose message is on show: a corrected field's message
        goes (or changes); fields not yet complained about stay quiet."""
        if self._rechecking:
            return
        before = self.shown_errors()
        if not before:
            return
        self._rechecking = True
        try:
            self.validate()
        finally:
            self._rechecking = False
        for key, label in [*self.errors.items(), ("general", self.general_error)]:
            if key == "general" and not self.recheck_general:
                if "general" in before:  # the service's refusal: only OK checks it again
                    label.setText(before["general"])
                    label.setVisible(True)
            elif key not in before:  # not complained about yet: stays quiet
                label.setText("")
                label.setVisible(False)
        self._fit_messages()

    def _fit_messages(self) -> None:
        """Grow the dialog (never shrink it under the nurse) so each wrapped message shows
        whole."""
        layout = self.layout()
        if layout is None:
            return
        layout.invalidate()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else -1
        needed = max(needed, layout.totalSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def accept_if_valid(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


#: The signals by which a form's widgets say their value changed.
CHANGE_SIGNALS = ("textChanged", "currentIndexChanged", "editTextChanged", "dateTimeChanged")


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


#: The date edit's "nothing typed yet" value (shown as a prompt, refused on save).
NO_DATE = QDate(1899, 12, 31)


class PatientDialog(_ValidatingDialog):
    """Create a patient, or correct one (the store keeps the earlier version)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        patient: Patient | None = None,
        today: date | None = None,
        check_identity: Callable[[Patient], None] | None = None,
    ) -> None:
        super().__init__("Edit patient" if patient else "New patient", parent)
        self.today = today or date.today()
        self.original = patient
        self.check_identity = check_identity
        self.family = QLineEdit(patient.family_name if patient else "")
        self.given = QLineEdit(patient.given_name if patient else "")
        self.dob = QDateEdit()
        self.dob.setDisplayFormat("dd/MM/yyyy")
        self.dob.setCalendarPopup(True)
        self.dob.setMaximumDate(_qdate(self.today))
        # No default date of birth: the lowest date stands for "not typed yet" and shows
        # as a prompt (Qt's special value), so 01/01/1980 is never saved by accident.
        self.dob.setMinimumDate(NO_DATE)
        self.dob.setSpecialValueText("Type the date of birth")
        self.dob.setDate(_qdate(patient.date_of_birth) if patient else NO_DATE)
        self.hospital = QLineEdit(patient.hospital_number if patient else "")
        self.nhs = QLineEdit(patient.nhs_number or "" if patient else "")
        self.nhs.setPlaceholderText("optional, 10 digits")
        self.origin = QComboBox()
        self.origin.addItem("Spinal", Origin.SPINAL.value)
        self.origin.addItem("Cerebral", Origin.CEREBRAL.value)
        if patient:
            self.origin.setCurrentIndex(self.origin.findData(patient.origin.value))
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why this record is being corrected")
        self.add_row("family", "&Family name", self.family)
        self.add_row("given", "&Given name", self.given)
        self.add_row("dob", "&Date of birth", self.dob)
        self.add_row("hospital", "&Hospital number", self.hospital)
        self.add_row("nhs", "&NHS number", self.nhs)
        self.add_row("origin", "&Origin of spasticity", self.origin)
        if patient:
            self.add_row("reason", "&Reason for change", self.reason)
        self.setMinimumWidth(440)

    def form_values(self) -> PatientForm:
        dob = self.dob.date()
        return PatientForm(
            family_name=self.family.text(),
            given_name=self.given.text(),
            date_of_birth=None if dob == NO_DATE else _pydate(dob),
            hospital_number=self.hospital.text(),
            nhs_number=self.nhs.text(),
            origin=str(self.origin.currentData()),
            reason=self.reason.text(),
            patient_id=self.original.id if self.original else None,
        )

    def patient(self) -> Patient | None:
        """The patient as typed, or None after showing what is wrong next to each field
        (the rules are the service's: itbconsole.services.patients)."""
        self.clear_errors()
        patient, errors = patient_from_form(self.form_values(), self.today)
        for key, message in errors.items():
            self.set_error(key, message)
        if patient is not None and self.check_identity is not None:
            try:
                self.check_identity(patient)
            except DuplicatePatient as exc:
                self.set_error(exc.field, str(exc))
                return None
        return patient

    def validate(self) -> Patient | None:
        return self.patient()

    def accept_if_valid(self) -> None:
        if self.patient() is not None:
            self.accept()

    def ask(self) -> Patient | None:
        return self.patient() if self.exec() == QDialog.DialogCode.Accepted else None


class PumpDialog(_ValidatingDialog):
    """Register a pump: model, serial, capacity, alarm volume, implant date, catheter."""

    def __init__(
        self,
        parent: QWidget | None = None,
        serial: str = "",
        capacity_ul: int | None = None,
        model: str = "",
        today: date | None = None,
        lock_serial: bool = False,
        alarm_ml: str = "2.0",
    ) -> None:
        super().__init__("Register pump", parent)
        self.today = today or date.today()
        self.reported_capacity_ul = capacity_ul if lock_serial else None
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.addItem("", None)
        for m in pump_models():
            self.model_combo.addItem(m.model, m.model)
        self.model_combo.setCurrentIndex(max(self.model_combo.findText(model), 0) if model else 0)
        if model and self.model_combo.findText(model) < 0:
            self.model_combo.setEditText(model)
        self.serial = QLineEdit(serial)
        self.serial.setReadOnly(lock_serial)
        self.capacity = QComboBox()
        self.capacity.addItem("20 mL", 20)
        self.capacity.addItem("40 mL", 40)
        self.capacity.setCurrentIndex(1 if capacity_ul == 40_000 else 0)
        self.alarm = QLineEdit(alarm_ml)
        self.implant = QDateEdit()
        self.implant.setDisplayFormat("dd/MM/yyyy")
        self.implant.setCalendarPopup(True)
        self.implant.setMaximumDate(_qdate(self.today))
        # No default implant date ("not known" until typed): it gates the priming bolus.
        self.implant.setMinimumDate(NO_DATE)
        self.implant.setSpecialValueText("Not known: type it from the implant card")
        self.implant.setDate(NO_DATE)
        # Values that feed the bridge and priming arithmetic are never prefilled silently:
        # the internal dead volume comes from the model catalogue (and says so) or stays
        # empty; the catheter's length and volume per cm are typed from the operation note.
        self.pump_dead = QLineEdit()
        self.pump_dead_source = QLabel("")
        self.pump_dead_source.setObjectName("detail")
        self.pump_dead_source.setWordWrap(True)
        self.catheter_length = QLineEdit()
        self.catheter_per_cm = QLineEdit()
        for edit, unit in (
            (self.alarm, "mL"),
            (self.pump_dead, "mL, from the manufacturer's manual"),
            (self.catheter_length, "cm, from the operation note"),
            (self.catheter_per_cm, "µL/cm, from the catheter's label"),
        ):
            edit.setPlaceholderText(unit)
        self.add_row("model", "Pump &model", self.model_combo)
        self.add_row("serial", "&Serial number", self.serial)
        if lock_serial and capacity_ul in (20_000, 40_000):
            # The pump reported its own capacity: the fill limit and discrepancy thresholds
            # depend on it, so it is not typed over.
            self.capacity.setEnabled(False)
        self.add_row("capacity", "Reservoir &capacity", self.capacity)
        self.add_row("alarm", "Low-reservoir &alarm volume (mL)", self.alarm)
        self.add_row("implant", "&Implant date", self.implant)
        self.add_row("pump_dead", "Pump internal &dead volume (mL)", self.pump_dead)
        self.form.addRow("", self.pump_dead_source)
        self.add_row("catheter_length", "Catheter &length (cm)", self.catheter_length)
        self.add_row("catheter_per_cm", "Catheter volume per cm (µL/cm)", self.catheter_per_cm)
        self.model_combo.currentTextChanged.connect(self._model_changed)
        self._model_changed(self.model_combo.currentText())
        self.setMinimumWidth(580)  # the implant date prompt and messages show whole

    def _model_changed(self, text: str) -> None:
        """The catalogue's values for a known model: its reservoir (unless the pump reported
        its own) and its internal dead volume, labelled with their source."""
        model = find_model(text)
        if model is None:
            self.pump_dead_source.setText("")
            self.capacity.setEnabled(self.reported_capacity_ul is None)
            return
        if self.reported_capacity_ul is None:
            self.capacity.setCurrentIndex(1 if model.reservoir_ul == 40_000 else 0)
            self.capacity.setEnabled(False)
        if model.internal_dead_volume_ul is not None:
            self.pump_dead.setText(ml_text(model.internal_dead_volume_ul))
            self.pump_dead_source.setText(f"From the model catalogue: {model.source}.")
        else:
            self.pump_dead.clear()
            self.pump_dead_source.setText(
                "Not in the model catalogue: enter it from the manufacturer's manual."
            )

    def _decimal(self, key: str, edit: QLineEdit, label: str) -> Decimal | None:
        try:
            return parse_decimal(edit.text(), field=label)
        except QuantityError as exc:
            self.set_error(key, str(exc))
            return None

    def pump(self) -> Pump | None:
        self.clear_errors()
        serial = self.serial.text().strip().upper()
        if not serial:
            self.set_error(
                "serial",
                "Enter the pump's serial number (from the implant card or an interrogation).",
            )
        capacity_ml = int(self.capacity.currentData())
        # Parsed here; their plausible ranges are the pump record's (pump_field_errors).
        alarm = self._decimal("alarm", self.alarm, "Alarm volume")
        dead = self._optional("pump_dead", self.pump_dead, "Pump dead volume")
        length = self._optional("catheter_length", self.catheter_length, "Catheter length")
        per_cm = self._optional("catheter_per_cm", self.catheter_per_cm, "Catheter volume per cm")
        model_name = self.model_combo.currentText().strip()
        if not model_name:
            self.set_error("model", "Choose the pump model (from the implant card).")
        if (
            not serial
            or not model_name
            or alarm is None
            or dead is None
            or length is None
            or per_cm is None
        ):
            return None
        implant = self.implant.date()
        try:
            pump = Pump(
                serial=serial,
                model=model_name,
                reservoir_capacity_ul=capacity_ml * 1000,
                alarm_volume_ul=ml_to_ul(alarm),
                implant_date=None if implant == NO_DATE else _pydate(implant),
                pump_dead_volume_ul=ml_to_ul(dead),
                catheter_length_cm=length,
                catheter_ul_per_cm=per_cm,
            )
            errors = pump_field_errors(pump)
            for key, message in errors.items():
                self.set_error(key, message)
            if errors:
                return None
            check_pump_model(pump, self.reported_capacity_ul)
            return pump
        except (ModelError, QuantityError) as exc:
            self.set_error("general", str(exc))
            return None

    def _optional(self, key: str, edit: QLineEdit, label: str) -> Decimal | None:
        """Empty means not known (0): the bridge and priming then refuse until it is typed."""
        if not edit.text().strip():
            return Decimal(0)
        return self._decimal(key, edit, label)

    def validate(self) -> Pump | None:
        return self.pump()

    def accept_if_valid(self) -> None:
        if self.pump() is not None:
            self.accept()

    def ask(self) -> Pump | None:
        return self.pump() if self.exec() == QDialog.DialogCode.Accepted else None


class UnknownPumpDialog(QDialog):
    """An interrogated pump belongs to nobody yet: register it to a new or an existing
    patient. Confirmation is explicit; the default is to do nothing."""

    def __init__(
        self,
        serial: str,
        model: str,
        patients: Sequence[Patient],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pump not registered")
        self.patients = list(patients)
        intro = QLabel(
            f"<b>Pump {model}, serial {serial}</b> is not registered to any patient.<br>"
            "Register it before its readings are saved. Check the serial against the patient's implant card."
        )
        intro.setWordWrap(True)
        self.existing_radio = QRadioButton("Register to an &existing patient:")
        self.new_radio = QRadioButton("Register to a &new patient")
        group = QButtonGroup(self)
        group.addButton(self.existing_radio)
        group.addButton(self.new_radio)
        self.patient_combo = QComboBox()
        self.patient_combo.setAccessibleName("Existing patient")
        for p in self.patients:
            self.patient_combo.addItem(
                f"{p.display_name} - {p.hospital_number} - born {fmt_day(p.date_of_birth)}", p.id
            )
        # Nobody is pre-selected, not even the open patient: the nurse chooses, against the
        # patient's implant card (a preselection once replaced a patient's pump unseen).
        self.patient_combo.setCurrentIndex(-1)
        self.existing_radio.setEnabled(bool(self.patients))
        self.patient_combo.setEnabled(bool(self.patients))
        self.existing_radio.toggled.connect(self.patient_combo.setEnabled)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Continue...")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.existing_radio)
        layout.addWidget(self.patient_combo)
        layout.addWidget(self.new_radio)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)

    def choice(self) -> tuple[str, int | None] | None:
        """("existing", patient_id), ("new", None), or None when nothing is chosen yet."""
        if self.existing_radio.isChecked() and self.patient_combo.currentIndex() >= 0:
            return "existing", self.patient_combo.currentData()
        if self.new_radio.isChecked():
            return "new", None
        return None

    def ask(self) -> tuple[str, int | None] | None:
        return self.choice() if self.exec() == QDialog.DialogCode.Accepted else None


def wrong_patient_message(open_name: str, owner_name: str, serial: str) -> str:
    return (
        f"The pump you interrogated (serial {serial}) belongs to {owner_name}, "
        f"not to {open_name}, whose record is open.\n\n"
        "Nothing has been saved. Check that the programmer head is over the right patient's pump, "
        f"or open {owner_name}'s record."
    )


__all__ = ["PatientDialog", "PumpDialog", "UnknownPumpDialog", "wrong_patient_message"]


EXPLANT_REASON_LABELS = {
    "end_of_service": "End of Service (battery)",
    "failure": "Pump failure",
    "infection": "Infection",
    "revision": "Revision surgery",
    "other": "Other (say what in the note)",
}


class ExplantDialog(_ValidatingDialog):
    """The old pump leaves the patient: when and why (its history stays with them)."""

    def __init__(
        self, serial: str, parent: QWidget | None = None, today: date | None = None
    ) -> None:
        super().__init__(f"Explant of pump {serial}", parent)
        self.today = today or date.today()
        intro = QLabel(
            f"Before a new pump is registered, record when pump <b>{serial}</b> was taken out "
            "and why. Its readings, refills and programs stay in the patient's record."
        )
        intro.setWordWrap(True)
        self.form.addRow(intro)
        self.when = QDateEdit()
        self.when.setDisplayFormat("dd/MM/yyyy")
        self.when.setCalendarPopup(True)
        self.when.setMaximumDate(_qdate(self.today))
        self.when.setDate(_qdate(self.today))
        self.reason = QComboBox()
        for key, label in EXPLANT_REASON_LABELS.items():
            self.reason.addItem(label, key)
        self.note = QLineEdit()
        self.note.setPlaceholderText("surgeon, findings, where the pump went")
        self.add_row("when", "&Explanted on", self.when)
        self.add_row("reason", "&Reason", self.reason)
        self.add_row("note", "&Note", self.note)

    def answer(self) -> tuple[date, str, str] | None:
        self.clear_errors()
        reason = str(self.reason.currentData())
        note = " ".join(self.note.text().split())
        errors = explant_errors(reason, note)
        for key, message in errors.items():
            self.set_error(key, message)
        if errors:
            return None
        return _pydate(self.when.date()), reason, note

    def validate(self) -> object | None:
        return self.answer()

    def accept_if_valid(self) -> None:
        if self.answer() is not None:
            self.accept()

    def ask(self) -> tuple[date, str, str] | None:
        return self.answer() if self.exec() == QDialog.DialogCode.Accepted else None


class CatheterRevisionDialog(_ValidatingDialog):
    """A catheter revision: the new catheter's length and volume per cm feed the dead
    volume (bridge bolus) and allow priming the catheter for 30 days."""

    def __init__(
        self, pump: Pump, parent: QWidget | None = None, today: date | None = None
    ) -> None:
        super().__init__(f"Catheter revision, pump {pump.serial}", parent)
        self.today = today or date.today()
        self.when = QDateEdit()
        self.when.setDisplayFormat("dd/MM/yyyy")
        self.when.setCalendarPopup(True)
        self.when.setMaximumDate(_qdate(self.today))
        self.when.setDate(_qdate(self.today))
        # No prefill: these figures feed the bridge and priming arithmetic.
        self.length = QLineEdit()
        self.length.setPlaceholderText(f"was {pump.catheter_length_cm} cm")
        self.per_cm = QLineEdit()
        self.per_cm.setPlaceholderText(f"was {pump.catheter_ul_per_cm} µL/cm")
        self.tip = QLineEdit()
        self.tip.setPlaceholderText("for example T10, if known")
        self.note = QLineEdit()
        self.note.setPlaceholderText("surgeon, reason")
        self.add_row("when", "&Revised on", self.when)
        self.add_row("length", "New catheter &length (cm)", self.length)
        self.add_row("per_cm", "&Volume per cm (µL/cm)", self.per_cm)
        self.add_row("tip", "&Tip level", self.tip)
        self.add_row("note", "&Note", self.note)

    def answer(self) -> tuple[date, Decimal, Decimal, str, str] | None:
        self.clear_errors()
        values: list[Decimal | None] = []
        for field, what in ((self.length, "catheter length"), (self.per_cm, "volume per cm")):
            try:
                values.append(parse_decimal(field.text(), field=what))
            except QuantityError:
                values.append(None)
        errors = catheter_revision_errors(values[0], values[1])
        for key, message in errors.items():
            self.set_error(key, message)
        if errors or values[0] is None or values[1] is None:
            return None
        return (
            _pydate(self.when.date()),
            values[0],
            values[1],
            " ".join(self.tip.text().split()),
            " ".join(self.note.text().split()),
        )

    def validate(self) -> object | None:
        return self.answer()

    def accept_if_valid(self) -> None:
        if self.answer() is not None:
            self.accept()

    def ask(self) -> tuple[date, Decimal, Decimal, str, str] | None:
        return self.answer() if self.exec() == QDialog.DialogCode.Accepted else None


PATIENT_STATUS_LABELS = {
    "candidate": "Candidate (before implant, screening)",
    "active": "Active",
    "inactive": "Inactive (transferred, explanted)",
    "deceased": "Deceased",
}


class PatientStatusDialog(_ValidatingDialog):
    """A patient's status from a date; nothing is deleted, only the worklist changes."""

    def __init__(
        self, current: str, parent: QWidget | None = None, today: date | None = None
    ) -> None:
        super().__init__("Patient status", parent)
        self.today = today or date.today()
        self.status = QComboBox()
        for key, label in PATIENT_STATUS_LABELS.items():
            self.status.addItem(label, key)
        self.status.setCurrentIndex(max(self.status.findData(current), 0))
        self.when = QDateEdit()
        self.when.setDisplayFormat("dd/MM/yyyy")
        self.when.setCalendarPopup(True)
        self.when.setMaximumDate(_qdate(self.today))
        self.when.setDate(_qdate(self.today))
        self.note = QLineEdit()
        self.note.setPlaceholderText("transferred to..., date and cause of death, ...")
        self.add_row("status", "&Status", self.status)
        self.add_row("when", "&From", self.when)
        self.add_row("note", "&Note", self.note)

    def answer(self) -> tuple[str, date, str] | None:
        self.clear_errors()
        status = str(self.status.currentData())
        note = " ".join(self.note.text().split())
        errors = status_change_errors(status, note)
        for key, message in errors.items():
            self.set_error(key, message)
        if errors:
            return None
        return status, _pydate(self.when.date()), note

    def validate(self) -> object | None:
        return self.answer()

    def accept_if_valid(self) -> None:
        if self.answer() is not None:
            self.accept()

    def ask(self) -> tuple[str, date, str] | None:
        return self.answer() if self.exec() == QDialog.DialogCode.Accepted else None


#: The times a screening trial's tone is scored (minutes after the dose): baseline, then
#: about hourly for 4 hours.
SCREENING_SCORE_TIMES = (0, 60, 120, 180, 240)
_NOT_SCORED = "not scored"


class ScreeningTrialDialog(_ValidatingDialog):
    """A screening test dose by lumbar puncture: dose, product and lot, Modified Ashworth
    scores at baseline and hourly, vital signs, adverse events and the outcome. Each OK is
    checked by ``submit`` (the service's rules); a refusal is shown here and nothing is
    recorded, with what was typed kept."""

    def __init__(
        self,
        patient_id: int,
        products: Sequence[DrugProduct],
        submit: Callable[[ScreeningTrial, str], object],
        parent: QWidget | None = None,
        *,
        now: datetime,
        tz: tzinfo,
    ) -> None:
        super().__init__("Screening test dose", parent)
        self.setMinimumWidth(520)
        self.patient_id = patient_id
        self.submit = submit
        self.tz = tz
        local = now.astimezone(tz)
        self.given = QDateTimeEdit()
        self.given.setDisplayFormat("dd/MM/yyyy HH:mm")
        self.given.setCalendarPopup(True)
        self.given.setDateTime(QDateTime(_qdate(local.date()), QTime(local.hour, local.minute)))
        self.given.setMaximumDateTime(self.given.dateTime())
        self.dose = QLineEdit()
        self.dose.setPlaceholderText("usually 50; 25 for small children; 75 or 100 on a later day")
        self.product = QComboBox()
        for p in products:
            label = f"{p.product} {p.concentration_mcg_ml} mcg/mL"
            self.product.addItem(label, (p.product, p.concentration_mcg_ml))
        self.lot = QLineEdit()
        self.scores: dict[int, QComboBox] = {}
        self.add_row("given", "&Given at (local)", self.given)
        self.add_row("dose", "&Dose (mcg)", self.dose)
        self.add_row("product", "&Product", self.product)
        self.add_row("lot", "&Lot", self.lot)
        for minutes in SCREENING_SCORE_TIMES:
            box = QComboBox()
            if minutes:
                box.addItem(_NOT_SCORED)
            else:
                box.addItem("choose...")
            box.addItems(list(ASHWORTH))
            self.scores[minutes] = box
            label = "&Baseline tone (MAS)" if minutes == 0 else f"Tone at {minutes // 60} h"
            self.add_row(f"score{minutes}", label, box)
        self.vitals = QLineEdit()
        self.vitals.setPlaceholderText("BP, pulse, SpO2, respiratory rate, sedation")
        self.adverse = QLineEdit()
        self.adverse.setPlaceholderText("none, or what happened and what was done")
        self.outcome = QComboBox()
        self.outcome.addItem("choose...", "")
        for outcome in SCREENING_OUTCOMES:
            self.outcome.addItem(outcome.capitalize(), outcome)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("needed for a dose outside 25 to 100 mcg")
        self.add_row("vitals", "&Vital signs", self.vitals)
        self.add_row("adverse", "&Adverse events", self.adverse)
        self.add_row("outcome", "&Outcome", self.outcome)
        self.add_row("reason", "&Clinical note", self.reason)

    def trial(self) -> ScreeningTrial | None:
        """The trial as typed, or None with each wrong field marked."""
        self.clear_errors()
        try:
            dose = parse_decimal(self.dose.text(), field="Dose")
        except QuantityError as exc:
            self.set_error("dose", str(exc))
            return None
        if self.scores[0].currentIndex() == 0:
            self.set_error("score0", "Record the baseline tone score (before the dose).")
            return None
        if not self.outcome.currentData():
            self.set_error("outcome", "Choose the outcome.")
            return None
        scores = tuple(
            (minutes, box.currentText())
            for minutes, box in self.scores.items()
            if box.currentIndex() > 0
        )
        q = self.given.dateTime()
        given = datetime(
            q.date().year(),
            q.date().month(),
            q.date().day(),
            q.time().hour(),
            q.time().minute(),
            tzinfo=self.tz,
        ).astimezone(UTC)
        name, conc = self.product.currentData()
        return ScreeningTrial(
            patient_id=self.patient_id,
            given_at=given,
            dose_mcg=dose,
            product=name,
            concentration_mcg_ml=conc,
            lot=self.lot.text(),
            outcome=str(self.outcome.currentData()),
            scores=scores,
            vitals=self.vitals.text().strip(),
            adverse_events=self.adverse.text().strip(),
        )

    #: The service's refusal (a dose out of range, trials too close) is shown until the
    #: next OK checks it again.
    recheck_general = False

    def validate(self) -> ScreeningTrial | None:
        return self.trial()

    def answer(self) -> bool:
        """Checks and records the trial; False (message shown, nothing recorded) if refused."""
        trial = self.trial()
        if trial is None:
            return False
        try:
            self.submit(trial, self.reason.text().strip())
        except (ScreeningError, StoreError) as exc:
            self.set_error("general", str(exc))
            return False
        return True

    def accept_if_valid(self) -> None:
        if self.answer():
            self.accept()

    def ask(self) -> bool:
        return self.exec() == QDialog.DialogCode.Accepted
