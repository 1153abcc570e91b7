"""Tools > Clinic settings: the clinic's numbers every date and status is computed with.

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

from itbconsole.settings import ClinicSettings, SettingsError

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
)
THIS_COMPUTER = "(this computer's zone)"


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
        for widget in (self.zone, self.note, *self.spins.values()):
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
        }

    def accept_if_valid(self) -> None:
        if not self.editable:
            self.reject()
            return
        try:
            new = replace(self.settings, **self.values())
        except SettingsError as exc:
            self.message.setText(str(exc))
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
