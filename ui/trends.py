"""The Trends tab. A light shell: the plots (``ui/trends_view.py``, which loads pyqtgraph)
are built the first time the tab is shown, so the main window opens without paying for a
plotting library the nurse may not use in this session."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService
    from ui.trends_view import TrendsView


class TrendsTab(QWidget):
    """Shows one patient's history as plots; everything but ``show_patient`` is the view's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view: TrendsView | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def view(self) -> TrendsView:
        if self._view is None:
            from ui.trends_view import TrendsView

            self._view = TrendsView(self)
            self._layout.addWidget(self._view)
            self._view.show()  # a child added to a visible parent stays hidden otherwise
        return self._view

    def show_patient(self, clinic: ClinicService, patient_id: int | None, now: datetime) -> None:
        """Load and draw ``patient_id``'s history (None clears the tab). It returns at once:
        the series are read on a worker thread and drawn when they arrive (the view's
        ``drawn`` signal), and a newer call makes an older one stale."""
        self.view().show_patient(clinic, patient_id, now)

    def __getattr__(self, name: str) -> Any:
        if name in ("_view", "_layout") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.view(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Public attributes (seams such as ``ask_export_path``) belong to the view.
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            setattr(self.view(), name, value)
