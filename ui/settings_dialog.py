"""Tools > Clinic settings: the clinic's numbers every date and status is computed with,
and what every printout carries (the clinic's name, its 24 h telephone, an address line,
the paper size).

Everyone may look; only an administrator may change them, with a note saying why (the change
is stored as a new version with who and when, and every forecast is recomputed). The values
and their limits are :class:`itbconsole.settings.ClinicSettings`'; this dialog only edits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import available_timezones

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from itbconsole.settings import PAPER_SIZES, ClinicSettings, SettingsError

#: (setting, label, unit, lowest, highest) in the order the form shows them.
FIELDS: tuple[tuple[str, str, str, int, int], ...] = (
    ("refill_margin_days", "Refill margin before the alarm date", "days", 0, 60),
    ("due_soon_days", "Due soon within", "days", 0, 180),
    ("eri_to_eos_days", "End of Service after ERI (when the pump gives no date)", "days", 1, 365),
    ("clock_warning_s", "Warn when the pump clock is off by more than", "s", 1, 86_400),
    ("trip_margin_days", "Drug must last after a trip's return", "days", 0, 60),
    ("small_reservoir_max_ul", "Small reservoir: up to", "µL", 0, 100_000),
    ("small_reservoir_limit_ul", "Discrepancy limit, small reservoir", "µL", 0, 100_000),
    ("large_reservoir_limit_ul", "Discrepancy limit, large reservoir", "µL", 0, 100_000),
    ("accuracy_low_pct", "Lowest accepted delivery accuracy", "%", 0, 100),
    ("accuracy_high_pct", "Highest accepted delivery accuracy", "%", 100, 1000),
    ("idle_lock_minutes", "Lock the window after no use for", "min", 1, 60),
    ("reading_stale_days", "Say a reading's age in the headline after", "days", 1, 365),
)
THIS_COMPUTER = "(this computer's zone)"
#: (setting, label, placeholder) of the clinic's contact, printed on every printout.
CONTACT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("clinic_name", "Clinic name (on every printout)", "e.g. Neurorehabilitation ITB Service"),
    ("clinic_phone_24h", "24 h contact telephone", "e.g. +44 20 7946 0000"),
    ("clinic_address", "Address line (optional)", "e.g. St Elsewhere Hospital, London"),
)
#: (setting, label, placeholder) of what the FHIR export for the hospital needs.
HOSPITAL_FIELDS: tuple[tuple[str, str, str], ...] = (
    (
        "hospital_number_system",
        "Hospital number system (FHIR)",
        "the URI of the hospital's MRN numbers, e.g. urn:oid:2.16.840.1.113883.2.1.3.2",
    ),
)
PAPER_TEXT = {"A4": "A4 (210 x 297 mm)", "Letter": "US Letter (8.5 x 11 in)"}


class ClinicSettingsDialog(QDialog):
    def __init__(
        self, settings: ClinicSettings, *, editable: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Clinic settings")
        self.settings = settings
        self.editable = editable
        self.result_value: tuple[ClinicSettings, str] | None = None
        form = QFormLayout()
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.setAccessibleName("Clinic time zone")
        self.zone.addItem(THIS_COMPUTER)
        self.zone.addItems(sorted(z for z in available_timezones() if "/" in z))
        self.zone.setCurrentText(settings.zone or THIS_COMPUTER)
        form.addRow("Clinic time zone", self.zone)
        self.spins: dict[str, QSpinBox] = {}
        for name, label, unit, low, high in FIELDS:
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setSuffix(f" {unit}")
            spin.setValue(int(getattr(settings, name)))
            spin.setAccessibleName(label)
            self.spins[name] = spin
            form.addRow(label, spin)
        self.texts: dict[str, QLineEdit] = {}
        for name, label, hint in (*CONTACT_FIELDS, *HOSPITAL_FIELDS):
            edit = QLineEdit(str(getattr(settings, name)))
            edit.setPlaceholderText(hint)
            edit.setAccessibleName(label)
            self.texts[name] = edit
            form.addRow(label, edit)
        self.paper = QComboBox()
        self.paper.setAccessibleName("Paper size of printouts")
        for size in PAPER_SIZES:
            self.paper.addItem(PAPER_TEXT.get(size, size), size)
        self.paper.setCurrentIndex(max(0, self.paper.findData(settings.paper_size)))
        form.addRow("Paper size of printouts", self.paper)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Why the clinic changes them (stored with the change)")
        self.note.setAccessibleName("Reason for the change")
        form.addRow("Reason", self.note)
        self.message = QLabel()
        self.message.setObjectName("formError")
        self.message.setWordWrap(True)
        intro = QLabel(
            "Every alarm date, refill-by date and status is computed with these values. "
            + (
                "Changes are stored with your name and reason; every forecast is recomputed."
                if editable
                else "Only an administrator can change them."
            )
        )
        intro.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
            if editable
            else QDialogButtonBox.StandardButton.Close
        )
        buttons.accepted.connect(self.accept_if_valid)
        buttons.rejected.connect(self.reject)
        for widget in (
            self.zone, self.note, self.paper, *self.spins.values(), *self.texts.values()
        ):  # fmt: skip
            widget.setEnabled(editable)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        zone = self.zone.currentText().strip()
        return {
            "zone": "" if zone in ("", THIS_COMPUTER) else zone,
            **{name: spin.value() for name, spin in self.spins.items()},
            # One line each, spaces tidied (validated by ClinicSettings).
            **{name: " ".join(edit.text().split()) for name, edit in self.texts.items()},
            "paper_size": str(self.paper.currentData()),
        }

    def accept_if_valid(self) -> None:
        if not self.editable:
            self.reject()
            return
        try:
            new = replace(self.settings, **self.values())
        except SettingsError as exc:
            self.message.setText(str(exc))
            for name, edit in self.texts.items():
                if f"({name})" in str(exc):
                    edit.setFocus()
            return
        note = " ".join(self.note.text().split())
        if new == self.settings:
            self.message.setText("Nothing has changed.")
            return
        if len(note) < 5:
            self.message.setText("Say why the clinic changes these settings (a few words).")
            self.note.setFocus()
            return
        self.result_value = (new, note)
        self.accept()

    def ask(self) -> tuple[ClinicSettings, str] | None:
        return self.result_value if self.exec() == QDialog.DialogCode.Accepted else None
