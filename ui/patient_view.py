"""Patient view: who, which pump, and tabs (Overview first)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, tzinfo
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_capacity, fmt_day
from itbconsole.model import Patient, Pump
from itbconsole.services.overview import PumpOverview
from ui.history_view import HistoryTab
from ui.overview import OverviewTab, pump_drift
from ui.trends import TrendsTab

if TYPE_CHECKING:
    from itbconsole.services.clinic import ClinicService


def format_nhs(number: str | None) -> str:
    """``NHS 943 476 5919`` in the NHS's 3-3-4 grouping, never wrapped apart."""
    if not number:
        return keep_together("no NHS number")
    return keep_together(f"NHS {number[:3]} {number[3:6]} {number[6:]}")


def keep_together(text: str) -> str:
    """``text`` with non-breaking spaces: a narrow header wraps between items, never
    inside one (a number split over two lines is misread)."""
    return text.replace(" ", "\u00a0")


#: Enough rounds of posted layout requests for a label's new height to reach the window
#: and come back down (each widget level posts the next request: label, card, scroll
#: area, tabs, splitter, window).
LAYOUT_ROUNDS = 16


def settle_layouts() -> None:
    """Run the layout requests now, round after round, until every wrapped label has the
    height its words need: a label that wraps onto another line grows one widget level
    per round of the event loop, and a frame painted between rounds cuts its last lines
    off (a nurse sees the text clipped, then jump into place)."""
    for _ in range(LAYOUT_ROUNDS):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)


#: Between the items of the patient header's details line: it may wrap after the dot,
#: never before it (a line never starts with a separator).
SEPARATOR = "\u00a0\u00a0·  "


class PatientHeader(QFrame):
    edit_requested = Signal()
    register_pump_requested = Signal()
    refill_requested = Signal()
    program_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientHeader")
        self.name = QLabel()
        self.name.setObjectName("patientName")
        self.name.setAccessibleName("Patient name")
        self.details = QLabel()
        self.details.setAccessibleName("Patient details")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setWordWrap(True)  # wrap rather than squeeze the patient list at 1366 px
        self.pump = QLabel()
        self.pump.setWordWrap(True)
        self.pump.setAccessibleName("Pump")
        self.pump.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_button = QPushButton("&Edit patient...")
        self.register_button = QPushButton("&Register pump...")
        self.refill_button = QPushButton("Start re&fill...")
        self.refill_button.setObjectName("primary")
        self.program_button = QPushButton("Change pro&gram...")
        left = QVBoxLayout()
        left.setSpacing(2)
        left.addWidget(self.name)
        left.addWidget(self.details)
        left.addWidget(self.pump)
        self.history = QLabel()
        self.history.setObjectName("patientHistory")
        self.history.setWordWrap(True)
        self.history.setAccessibleName("Device history")
        self.history.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left.addWidget(self.history)
        buttons = QGridLayout()
        buttons.addWidget(self.refill_button, 0, 0)
        buttons.addWidget(self.program_button, 1, 0)
        buttons.addWidget(self.edit_button, 0, 1)
        buttons.addWidget(self.register_button, 1, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(left, 1)
        layout.addLayout(buttons)
        self.edit_button.clicked.connect(self.edit_requested)
        self.register_button.clicked.connect(self.register_pump_requested)
        self.refill_button.clicked.connect(self.refill_requested)
        self.program_button.clicked.connect(self.program_requested)

    def show_patient(
        self, patient: Patient, pump: Pump | None, today: date, history: str = ""
    ) -> None:
        self.name.setText(patient.display_name)
        self.details.setText(
            SEPARATOR.join(
                (
                    keep_together(
                        f"Born {fmt_day(patient.date_of_birth)} ({patient.age_on(today)} y)"
                    ),
                    keep_together(f"Hospital no. {patient.hospital_number}"),
                    format_nhs(patient.nhs_number),
                    keep_together(f"{patient.origin.value.capitalize()} origin"),
                )
            )
        )
        if pump is None:
            self.pump.setText("No pump registered")
        else:
            self.pump.setText(
                f"Pump {pump.model}, serial {pump.serial}, {fmt_capacity(pump.reservoir_capacity_ul)} reservoir"
                + (f", implanted {fmt_day(pump.implant_date)}" if pump.implant_date else "")
            )
        self.history.setText(f"History: {history}" if history else "")
        self.history.setVisible(bool(history))
        self.register_button.setText("Change &pump..." if pump else "&Register pump...")
        self.refill_button.setEnabled(pump is not None)
        self.program_button.setEnabled(pump is not None)


class PatientView(QWidget):
    """Header plus tabs. Shown empty with a hint until a patient is chosen."""

    def __init__(
        self, tz: tzinfo, parent: QWidget | None = None, *, clinic: ClinicService | None = None
    ) -> None:
        super().__init__(parent)
        self.header = PatientHeader()
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient tabs")
        self.overview = OverviewTab(tz)
        self.tabs.addTab(self.overview, "&Overview")
        self.trends = TrendsTab()
        self.tabs.addTab(self.trends, "&Trends")
        # The History tab reads through ``clinic`` (else the window's: ui.host.Host.clinic)
        # when it is shown, and again whenever the patient is shown while it is open.
        self.history = HistoryTab()
        self.history.clinic = clinic
        self.tabs.addTab(self.history, "Histor&y")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.placeholder = QLabel(
            "Choose a patient from the list, or interrogate a pump to find its patient."
        )
        self.placeholder.setObjectName("emptyMessage")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)
        self.patient: Patient | None = None
        self.pump: Pump | None = None
        self._history_stale = True
        self.show_patient(None, None, None, date.today())

    def show_patient(
        self,
        patient: Patient | None,
        pump: Pump | None,
        overview: PumpOverview | None,
        today: date,
        *,
        history: str = "",
    ) -> None:
        # Nothing paints until the new words have their heights: the reservoir bar repaints
        # at once when its value is set, and would show the labels before they grow.
        self.setUpdatesEnabled(False)
        try:
            self._fill(patient, pump, overview, today, history)
            settle_layouts()
        finally:
            self.setUpdatesEnabled(True)

    def _fill(
        self,
        patient: Patient | None,
        pump: Pump | None,
        overview: PumpOverview | None,
        today: date,
        history: str,
    ) -> None:
        self.patient = patient
        self.pump = pump
        has = patient is not None
        self.placeholder.setVisible(not has)
        self.header.setVisible(has)
        self.tabs.setVisible(has)
        if patient is not None:
            self.header.show_patient(patient, pump, today, history)
            if overview is not None and pump is not None and overview.drift is None:
                overview = self.with_drift(overview, patient, pump)
            self.overview.show_overview(overview, has_pump=pump is not None)
        self._history_stale = True
        if self.tabs.currentWidget() is self.history:
            self._load_history()

    def clinic_service(self) -> ClinicService | None:
        """The clinic service given, else the one of the window this view is in."""
        return self.history.clinic or getattr(self.window(), "clinic", None)

    def with_drift(self, overview: PumpOverview, patient: Patient, pump: Pump) -> PumpOverview:
        """The overview with the pump's delivery drift (:func:`ui.overview.pump_drift`)."""
        clinic = self.clinic_service()
        if clinic is None or patient.id is None:
            return overview
        return replace(overview, drift=pump_drift(clinic, patient.id, pump))

    def _tab_changed(self, _index: int) -> None:
        # A tab hidden while the patient was filled in lays its words out when shown: before
        # it paints, else its wrapped labels show cut off for a frame or two.
        settle_layouts()
        if self.tabs.currentWidget() is self.history and self._history_stale:
            self._load_history()

    def _load_history(self) -> None:
        self._history_stale = False
        self.history.show_patient(self.patient.id if self.patient is not None else None)
