"""The guided refill (placeholder until the refill workflow lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.main_window import MainWindow


def open_refill_wizard(window: MainWindow) -> None:
    """Start the refill workflow for the open patient (called by Pump > Start refill)."""
    window.prompts.error("Refill", "The guided refill is not available in this version.")
