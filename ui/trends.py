"""Trends tab (placeholder until the trends work lands): reservoir, battery, dose, accuracy."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService


class TrendsTab(QWidget):
    """Shows one patient's history as plots. ``show_patient`` is called by the main window
    whenever the open patient changes or new data is saved."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = QLabel("Trends are not available yet.")
        self.message.setObjectName("emptyMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)

    def show_patient(self, clinic: ClinicService, patient_id: int | None, now: datetime) -> None:
        """Load and draw ``patient_id``'s history (None clears the tab)."""
