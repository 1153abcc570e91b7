"""The program editor (placeholder until dose programming lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.main_window import MainWindow


def open_program_editor(window: MainWindow) -> None:
    """Start a program change for the open patient (called by Pump > Change program)."""
    window.prompts.error("Program", "Dose programming is not available in this version.")
