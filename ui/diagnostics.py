"""Link diagnostics: the driver's counters, for a nurse on the phone to IT support."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import pump_jobs
from ui.link_worker import LinkBridge


class DiagnosticsDialog(QDialog):
    def __init__(self, link: LinkBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Link diagnostics")
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Counter", "Value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setAccessibleName("Link counters")
        self.message = QLabel("Reading counters...")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        refresh = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        refresh.clicked.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(420, 420)
        self.link = link
        self.refresh()

    def refresh(self) -> None:
        self.link.submit(
            "diagnostics",
            pump_jobs.diagnostics,
            self.show_counters,
            lambda e: self.message.setText(pump_jobs.plain_message(e)),
        )

    def show_counters(self, counters: dict[str, Any]) -> None:
        self.message.setText(
            "Counters since the port was opened. Many CRC errors or retries mean a poor "
            "position of the programmer head or a faulty cable."
            if counters
            else "No port is open."
        )
        self.table.setRowCount(len(counters))
        for row, (name, value) in enumerate(counters.items()):
            self.table.setItem(row, 0, QTableWidgetItem(name.replace("_", " ")))
            self.table.setItem(row, 1, QTableWidgetItem(str(value)))
