"""What a workflow (the refill wizard, the program change) needs from the window it runs
in: a small protocol instead of the whole main window.

Why: a workflow that takes the main window can reach any of its members, and the window
imports the workflows, so the two grow into each other. A workflow states here what it
uses: the clinic service (its only door to the records), the link, the prompts, the clock,
which patient is open and which pump is connected, and a way to refresh the lists and show
a status message. The main window provides it; a test may provide a smaller one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from PySide6.QtWidgets import QMessageBox, QWidget

from itbconsole.services.clinic import ClinicService
from ui.dialogs import show_error
from ui.link_worker import LinkBridge


class Prompts:
    """The window's modal questions and messages, in one replaceable object, so tests can
    answer them without a modal event loop."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    def error(self, title: str, message: str) -> None:
        show_error(self.parent, title, message)

    def critical(self, title: str, message: str) -> None:
        QMessageBox.critical(self.parent, title, message)

    def confirm(self, title: str, message: str) -> bool:
        answer = QMessageBox.question(self.parent, title, message)
        return answer == QMessageBox.StandardButton.Yes


class PromptsLike(Protocol):
    def error(self, title: str, message: str) -> None: ...
    def critical(self, title: str, message: str) -> None: ...
    def confirm(self, title: str, message: str) -> bool: ...


class Host(Protocol):
    """The window a workflow runs in."""

    clinic: ClinicService
    link: LinkBridge
    current_patient_id: int | None
    connected_identity: Any
    last_interrogation: datetime | None
    refill_wizard: Any

    @property
    def prompts(self) -> PromptsLike: ...

    def now(self) -> datetime: ...
    def refresh_patients(self) -> None: ...
    def open_patient(self, patient_id: int) -> None: ...
    def show_status(self, text: str, timeout_ms: int = 0) -> None: ...
    def host_widget(self) -> QWidget: ...
