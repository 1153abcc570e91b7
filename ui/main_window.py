"""The main window: device bar, patient list, patient view, menus and status bar."""

from __future__ import annotations

import gc
import importlib
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from itbconsole.display import fmt_day, fmt_moment
from itbconsole.model import ChangeOutcome, ModelError, Patient, Role
from itbconsole.services.clinic import (
    ClinicService,
    PumpReplacementNeeded,
    SavedInterrogation,
    TrainingPump,
    UnknownPump,
    WrongPatient,
)
from itbconsole.services.patients import DuplicatePatient
from itbconsole.store import StoreError
from itbconsole.units import ul_to_ml
from ui import pump_jobs
from ui.device_bar import DeviceBar, PortChoice
from ui.dialogs import OtherPortDialog, ask_save_path, show_about
from ui.host import Prompts
from ui.link_worker import BackgroundCall, LinkBridge
from ui.patient_list import ListReadResult, PatientListPanel, list_read

# The records' dialogs, link diagnostics and the backup are imported when first opened.
if TYPE_CHECKING:
    from ui.backup_job import BackupRun
    from ui.patient_view import PatientView
    from ui.records_dialogs import (
        CatheterRevisionDialog,
        ExplantDialog,
        PatientDialog,
        PatientStatusDialog,
        PumpDialog,
        ScreeningTrialDialog,
        UnknownPumpDialog,
    )
    from ui.worklist_view import WorklistView

log = logging.getLogger(__name__)


#: More pumps than this without a current forecast (first start after an update, new
#: clinic settings) are caught up a few at a time with a progress bar, not in one wait.
CATCH_UP_AT = 100
CATCH_UP_BATCH = 8
#: What the record's place says while nobody is chosen (ui.patient_view.PatientView's own
#: words, shown before the record is first made).
NO_PATIENT_TEXT = "Choose a patient from the list, or interrogate a pump to find its patient."
#: What the patient's record needs, left out of the start: imported a module a step once
#: the list is on screen (with the worklist's lines, MainWindow._work_ahead), then the record
#: is made, so that the first patient opened does not wait for them (about 70 ms).
RECORD_MODULES = (
    "itbconsole.trends",
    "itbconsole.services.programming",
    "itbconsole.services.worklist",
    "itbconsole.services.history",
    "itbconsole.services.overview",
    "ui.overview",
    "ui.history_view",
    "ui.patient_view",
)
#: When the serial ports are first listed, after the window shows (ms).
PORTS_AFTER_MS = 300
#: How long closing the window waits for an interrogation still being saved (its
#: transaction is all or nothing: cut short, nothing of it is kept).
SAVE_WAIT_S = 30.0


def keep_out_of_garbage_collection() -> None:
    """Move every object alive now (the window, the patient list's rows) out of the reach
    of Python's cyclic garbage collector (``gc.freeze``).

    Why: with 20,000 patients in memory a full collection walks about a million objects
    and holds the GUI thread for 200 ms or more, at whatever moment an allocation sets it
    off (a save, a search). The rows hold no reference cycles, so rows replaced later are
    still freed the ordinary way, by reference counting (no collection first: that is
    the very wait this avoids)."""
    gc.freeze()


class MainWindow(QMainWindow):
    """Owns the clinic session and the link bridge; every action is a small method that a
    test can call directly."""

    def __init__(
        self,
        clinic: ClinicService,
        *,
        log_path: Path,
        settings: QSettings,
        extra_ports: list[PortChoice] | None = None,
        discover_ports: Callable[[], list[PortChoice]] = pump_jobs.discover_ports,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.clinic = clinic
        self.log_path = log_path
        self.settings = settings
        self.extra_ports = extra_ports or []
        self.discover_ports = discover_ports
        self.now = now
        self.demo = demo
        self.current_patient_id: int | None = None
        self._catching_up: QTimer | None = None
        self._ahead: QTimer | None = None  # the worklist's lines made ahead (worklist_ahead)
        self._worklist_waiting = False  # View > Worklist chosen while its lines are made
        self.connected_identity: Any = None
        self.last_interrogation: datetime | None = None
        self.prompts = Prompts(self)
        self.refill_wizard: Any = None  # the open refill (ui.refill), one at a time
        self._list_read: BackgroundCall | None = None
        self._saving: BackgroundCall | None = None  # an interrogation being saved
        self._port_scan: BackgroundCall | None = None  # the serial ports being listed
        self._after_list: Callable[[], None] | None = None
        self._list_generation = 0  # a read started before a newer one is dropped
        self._closed = False
        self._saved_during_read = False
        self._list_key = ""  # the clinic's inputs_key the list's dates were read with
        # The clinic's day the list's statuses are for: a new day reads them again.
        self._list_day: date | None = None
        self._new_day_timer = QTimer(self)
        self._new_day_timer.setSingleShot(True)
        self._new_day_timer.timeout.connect(self.refresh_patients)
        self._progress_text: str | None = None  # the link job's step on the status bar

        title = "ITB Console"
        training = demo or clinic.training
        if training:
            title += " - TRAINING (simulated pumps, generated records)"
        self.setWindowTitle(title)
        self.link = LinkBridge(self)
        self.device_bar = DeviceBar()
        self.patient_list = PatientListPanel()
        # The patient's record (header and tabs) is made when it is first needed
        # (patient_view); until then its place shows what the record shows with nobody
        # chosen, so the window appears without building the record's tabs.
        self._patient_view: PatientView | None = None
        self._record_placeholder = QLabel(NO_PATIENT_TEXT)
        self._record_placeholder.setObjectName("emptyMessage")
        self._record_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.patient_list)
        splitter.addWidget(self._record_placeholder)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        # The list as narrow as whole names and every column allow (ui/patient_list.py);
        # the patient's record takes the rest of a 1366 px screen.
        list_width = self.patient_list.minimumSizeHint().width()
        splitter.setSizes([list_width, 1366 - list_width])
        self.splitter = splitter
        # The patients (list and record) and the clinic day's worklist share the window;
        # the worklist's page is made when first shown (worklist_view).
        self._worklist_view: WorklistView | None = None
        self.pages = QStackedWidget()
        self.pages.addWidget(splitter)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 0, 6, 6)
        # Always in view in demo mode and on a training database, whatever page is shown.
        self.training_banner = QLabel(
            ("TRAINING - demo mode" if demo else "TRAINING database")
            + ": simulated pumps and generated records. Nothing here is a real "
            "patient's record."
        )
        self.training_banner.setObjectName("trainingBanner")
        self.training_banner.setAccessibleName("Training mode")
        self.training_banner.setWordWrap(True)
        self.training_banner.setVisible(training)
        layout.addWidget(self.training_banner)
        layout.addWidget(self.device_bar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.user_label = QLabel(f"Signed in: {clinic.user.name} ({clinic.user.role.value})")
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.user_label)

        self._build_menus()
        self._connect_signals()
        # The list is read once the window shows (on a worker thread), so the window
        # appears at once however many patients there are. The serial ports are listed a
        # moment later: the link thread's imports (pyserial's port listing) would otherwise
        # compete with the window's first paint.
        self.patient_list.load_now = self.load_patients_now
        QTimer.singleShot(0, self.load_patients)
        self.refresh_ports(scan_after_ms=PORTS_AFTER_MS)
        self._restore_layout()
        self.statusBar().showMessage("Ready. Choose a patient or connect to a pump.", 8000)
        if demo and self.extra_ports:
            # Demo mode attaches the first simulated pump, so a newcomer can interrogate at once.
            QTimer.singleShot(0, lambda: self.connect_port(self.extra_ports[0].url))

    # ------------------------------------------------------------------ setup

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_patient_action = self._action(
            file_menu, "&New patient...", QKeySequence.StandardKey.New, self.new_patient
        )
        self._action(file_menu, "Patient &status...", None, self.set_patient_status)
        self._action(file_menu, "Screening &test dose...", None, self.record_screening_trial)
        file_menu.addSeparator()
        self._action(
            file_menu, "Print &emergency card...", QKeySequence("Ctrl+Shift+E"), self.print_card
        )
        self._action(
            file_menu, "Print tra&vel letter...", QKeySequence("Ctrl+Shift+T"), self.print_letter
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Back up database...", None, self.backup_database)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        pump_menu = self.menuBar().addMenu("&Pump")
        self.refill_action = self._action(
            pump_menu, "Start re&fill...", QKeySequence("Ctrl+R"), self.start_refill
        )
        self.program_action = self._action(
            pump_menu, "Change pro&gram...", QKeySequence("Ctrl+G"), self.edit_program
        )
        pump_menu.addSeparator()
        self.interrogate_action = self._action(
            pump_menu, "&Interrogate", QKeySequence("Ctrl+I"), self.interrogate
        )
        self.cancel_action = self._action(
            pump_menu, "&Cancel operation", QKeySequence("Esc"), self.cancel
        )
        self._action(pump_menu, "Record catheter &revision...", None, self.record_catheter_revision)
        self._action(pump_menu, "Refresh &ports", QKeySequence("F5"), self.refresh_ports)
        self._action(
            pump_menu, "Link &diagnostics...", QKeySequence("Ctrl+D"), self.show_diagnostics
        )
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Find patient", QKeySequence.StandardKey.Find, self.focus_search)
        self.worklist_action = self._action(
            view_menu, "&Worklist", QKeySequence("Ctrl+L"), self.show_worklist
        )
        self._action(view_menu, "&Patients", None, self.show_patients)
        self._action(
            view_menu, "&Lot search...", QKeySequence("Ctrl+Shift+F"), self.show_lot_search
        )
        tools_menu = self.menuBar().addMenu("&Tools")
        self.settings_action = self._action(
            tools_menu, "Clinic &settings...", None, self.edit_clinic_settings
        )
        self._action(tools_menu, "Sync &conflicts...", None, self.show_sync_conflicts)
        self._build_session_menu()
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About ITB Console", None, self.about)

    def _action(self, menu: Any, text: str, shortcut: Any, slot: Callable[[], Any]) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _connect_signals(self) -> None:
        self.device_bar.refresh_requested.connect(self.refresh_ports)
        self.device_bar.connect_requested.connect(self.connect_port)
        self.device_bar.disconnect_requested.connect(self.disconnect_port)
        self.device_bar.interrogate_requested.connect(self.interrogate)
        self.device_bar.cancel_requested.connect(self.cancel)
        self.device_bar.other_port_requested.connect(self.other_port)
        self.patient_list.patient_selected.connect(self.open_patient)
        self.patient_list.new_patient_requested.connect(self.new_patient)
        self.link.busy_changed.connect(self._on_busy_changed)
        self.link.job_progress.connect(self._on_progress)

    @property
    def patient_view(self) -> PatientView:
        """The open patient's record, made the first time it is asked for (a patient opened,
        a test, a screenshot) in the place the start left for it."""
        if self._patient_view is None:
            from ui.patient_view import PatientView

            view = PatientView(self.clinic.tz)
            self._patient_view = view
            placeholder = self._record_placeholder
            self.splitter.replaceWidget(self.splitter.indexOf(placeholder), view)
            placeholder.deleteLater()
            view.header.edit_requested.connect(self.edit_patient)
            view.header.register_pump_requested.connect(self.register_pump_for_open_patient)
            view.overview.set_clock_requested.connect(self.set_pump_clock)
            view.tabs.currentChanged.connect(self._on_tab_changed)
            view.header.refill_requested.connect(self.start_refill)
            view.header.program_requested.connect(self.edit_program)
        return self._patient_view

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 760)
        state = self.settings.value("window/splitter")
        if state is not None:
            self.splitter.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closed = True  # a list read still to come is dropped, a catch-up stopped
        self._list_generation += 1
        if self._catching_up is not None:
            self._catching_up.stop()
        if self._ahead is not None:
            self._ahead.stop()
        if self._saving is not None and not self._saving.wait(SAVE_WAIT_S):
            log.error("An interrogation was still being saved when the window closed")
        wizard_save = getattr(self.refill_wizard, "saving", None)  # the refill's step 1
        if wizard_save is not None and not wizard_save.wait(SAVE_WAIT_S):
            log.error("A refill's interrogation was still being saved when the window closed")
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.close_link()
        super().closeEvent(event)

    def close_link(self) -> None:
        """Stop the link thread (cancelling what runs), then close the port it owned; safe to
        call twice (window close and application quit)."""
        if not self.link.shutdown():
            log.error("The pump link thread did not stop in time; its port is left to the OS")
            return
        client = self.link.worker.state.pop("client", None)
        if client is not None:  # the thread has stopped: closing here races with nothing
            client.close()
        self.connected_identity = None

    # ------------------------------------------------------------------ patients

    def focus_search(self) -> None:
        self.show_patients()
        self.patient_list.search.setFocus()
        self.patient_list.search.selectAll()

    def show_worklist(self) -> None:
        """View > Worklist: the clinic day's lines, read afresh each time it is shown."""
        if self._catching_up is not None:
            self.statusBar().showMessage(
                "Working out every patient's dates first: open the worklist when it is done.",
                8000,
            )
            return
        self.pages.setCurrentWidget(self.worklist_view)
        if self._lines_still_ahead():
            # The lines are being made ahead, a short step per turn of the event loop:
            # made here at once they would hold the window a fifth of a second at 5,000
            # patients. The worklist fills when the steps have made them (a moment).
            self._worklist_waiting = True
            self.worklist_view.show_preparing()
            return
        self._open_worklist_now()

    def _lines_still_ahead(self) -> bool:
        """The work made ahead is running and has not yet made the worklist's lines."""
        return (
            self._ahead is not None and self._ahead.isActive() and not self.clinic.lines_made_ahead
        )

    def _open_worklist_now(self) -> None:
        self._worklist_waiting = False
        self.worklist_view.refresh()
        self.worklist_view.focus_table()

    def _worklist_may_open(self) -> None:
        """After a step made ahead: open the worklist waiting for its lines once they are
        made (or the steps ended), if it is still the page shown."""
        if not self._worklist_waiting or self._lines_still_ahead():
            return
        if self._worklist_view is not None and self.pages.currentWidget() is self._worklist_view:
            self._open_worklist_now()
        else:
            self._worklist_waiting = False

    @property
    def worklist_view(self) -> WorklistView:
        """The clinic day's worklist page, made the first time it is asked for: the window
        shows without it (and without the worklist's printing)."""
        if self._worklist_view is None:
            from ui.worklist_view import WorklistView

            view = WorklistView(self.clinic, now=lambda: self.now())
            view.patient_requested.connect(self.open_patient_from_worklist)
            view.back_requested.connect(self.show_patients)
            view.report_error = lambda title, text: self.prompts.error(title, text)
            self.pages.addWidget(view)
            self._worklist_view = view
        return self._worklist_view

    def show_patients(self) -> None:
        """View > Patients: the patient list and the open patient's record."""
        self.pages.setCurrentWidget(self.splitter)

    def open_patient_from_worklist(self, patient_id: int) -> None:
        """Enter (or a double-click) on a worklist line: that patient's record."""
        if self.refill_blocks("opening another patient", patient_id):
            return
        self.show_patients()
        self.patient_list.select_patient(patient_id, quiet=True)
        self.open_patient(patient_id)

    def edit_clinic_settings(self) -> None:
        """Show the clinic's settings; an administrator may change them (with a reason)."""
        from ui.settings_dialog import ClinicSettingsDialog

        editable = self.clinic.user.role is Role.ADMINISTRATOR
        answer = ClinicSettingsDialog(self.clinic.settings, editable=editable, parent=self).ask()
        if answer is None:
            return
        settings, note = answer
        try:
            self.clinic.update_settings(settings, note)
        except StoreError as exc:
            QMessageBox.warning(self, "Settings not saved", str(exc))
            return
        self.patient_view.overview.tz = self.clinic.tz
        self.refresh_patients()
        self._show_current_patient()
        self.statusBar().showMessage(
            "Clinic settings saved; every date and status is recomputed from them.", 6000
        )

    # ------------------------------------------------------------------ the workflows' host

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def host_widget(self) -> QWidget:
        return self

    def load_patients(self) -> None:
        """Read the whole patient list on a worker thread (the window keeps answering);
        the rows arrive in :meth:`_take_list`, with the pumps whose dates are out of date,
        which are then worked out (many of them behind a progress bar)."""
        if self._catching_up is not None or self._closed:
            return  # the list is read when the catch-up ends
        self._start_list_read()

    def _start_list_read(self, then: Callable[[], None] | None = None) -> None:
        """Start the worker's read; ``then`` runs once the rows are in."""
        if self._closed:
            return
        self._after_list = then
        reader = self.clinic.patient_list_reader(self.now())
        if reader is None:  # an in-memory database: only its own connection sees it
            if self._bring_forecasts_up_to_date() is not None:
                self._read_list_here()
            return
        self._list_generation += 1
        generation = self._list_generation
        key = self.clinic.inputs_key
        self._read_for_day(self.now())
        # The work made ahead from the previous list stops (it starts again from the new
        # rows): its database reads, a row at a time, would each wait for the worker
        # thread's hold on the interpreter, and hold the window a tenth of a second.
        if self._ahead is not None:
            self._ahead.stop()
        read = list_read(reader, self.patient_list.model.sort_order, self)
        read.done.connect(lambda result: self._take_list(result, generation, key))
        read.failed.connect(lambda error: self._list_failed(error, generation))
        self._list_read = read
        read.start()

    def _list_arrived(self) -> None:
        then, self._after_list = self._after_list, None
        if then is not None:
            then()

    def load_patients_now(self) -> None:
        """Read the whole list here and now (a caller needs a row before the worker's
        read has arrived); a read still under way is then dropped."""
        if self._catching_up is not None or self._bring_forecasts_up_to_date() is None:
            return  # a catch-up is under way; it reads the list when it ends
        self._read_list_here()

    def _read_list_here(self) -> None:
        self._list_generation += 1
        self._list_key = self.clinic.inputs_key
        now = self.now()
        self._read_for_day(now)
        found = self.clinic.patient_list(now)
        self.patient_list.set_rows(
            found.rows, keep_id=self.current_patient_id, serials=found.serials
        )
        keep_out_of_garbage_collection()
        self._list_read = None
        self._list_arrived()

    def _take_list(self, result: ListReadResult, generation: int, key: str) -> None:
        if generation != self._list_generation:
            return  # a newer read (or one made here) replaced it
        self._list_read = None
        if result.stale:
            # Some pumps' dates were out of date (a first start, an update, new settings):
            # work them out (many behind a progress bar) and read again, so the list is
            # never sorted on missing dates.
            after, self._after_list = self._after_list, None
            if after is not None:
                after()  # a catch-up that ended: its progress bar closes first
            if self._bring_forecasts_up_to_date() is not None:
                self._start_list_read()
            return
        self._list_key = key
        self.patient_list.set_rows(
            result.rows,
            keep_id=self.current_patient_id,
            serials=result.serials,
            keys=result.keys,
            presorted=True,
            positions=result.positions,
        )
        keep_out_of_garbage_collection()
        self._list_arrived()
        self._work_ahead(result.rows)
        if self._saved_during_read:  # brought in row by row
            self._saved_during_read = False
            self.refresh_patients()

    def _work_ahead(self, rows: Sequence[Any]) -> None:
        """Make the patient's record (:data:`RECORD_MODULES`), then the worklist's lines and
        drift ahead from the rows just read, one short step per turn of the event loop
        (``ClinicService.worklist_ahead``), so the first patient opened and the first View >
        Worklist of the day open at once; a newer list starts it again."""
        if self._ahead is not None:
            self._ahead.stop()
        steps = itertools.chain(self._record_ahead(), self.clinic.worklist_ahead(rows, self.now()))
        timer = QTimer(self)
        self._ahead = timer

        def step() -> None:
            try:
                next(steps)
            except StopIteration:
                timer.stop()
                # Every pump's delivery drift is known now: the list marks the drifting.
                self.patient_list.show_drifts(self.clinic.known_drifts())
            except StoreError as exc:  # only a head start: the worklist reads for itself
                log.warning("Making the worklist ahead stopped: %s", exc)
                timer.stop()
            self._worklist_may_open()

        timer.timeout.connect(step)
        timer.start(0)

    def _record_ahead(self) -> Iterator[None]:
        """The patient's record made ahead: its modules one a step, then the record."""
        if self._patient_view is not None:
            return
        for name in RECORD_MODULES:
            importlib.import_module(name)
            yield
        self.patient_view  # noqa: B018  (made in its place, once)
        yield

    def _list_failed(self, error: BaseException, generation: int) -> None:
        if generation != self._list_generation:
            return
        self._list_read = None
        log.warning("Reading the list on a worker failed (%s); reading it here", error)
        try:
            self._read_list_here()
        except StoreError as exc:
            self.prompts.error("Patient list not read", str(exc))

    def _bring_forecasts_up_to_date(self) -> list[str] | None:
        """Work out the dates of pumps whose stored forecast is missing or out of date
        (after a save, new settings or an update) and return their serials; None when
        there are so many that a catch-up behind a progress bar started instead."""
        stale = self.clinic.stale_pumps()
        if len(stale) > CATCH_UP_AT:
            self._catch_up(stale)
            return None
        for serial in stale:
            self.clinic.forecast_for(serial)
        return stale

    def _read_for_day(self, now: datetime) -> None:
        """Remember the clinic's day a list read is for, and read again when the next day
        starts (statuses are for a day: a window left open overnight would keep saying
        "on track" for a refill-by date that has passed)."""
        self._list_day = self.clinic.today(now)
        tz = self.clinic.tz
        midnight = datetime.combine(
            self._list_day + timedelta(days=1), time(0), tzinfo=tz
        ).astimezone(UTC)
        seconds = max((midnight - now.astimezone(UTC)).total_seconds(), 0.0)
        self._new_day_timer.start(int(min(seconds + 1.0, 86_400.0) * 1000))

    def refresh_patients(self) -> None:
        """Bring the list up to date after a save, after records came from another room, or
        when a new day starts. Only the rows whose dates changed are read again (the open
        patient's, and every pump whose stored forecast a write made out of date, here or
        by another program such as the sync), never the whole list (a 20,000-patient
        re-read held up the window for half a second), except on a new day, when every
        status changes. After new clinic settings every pump's dates are worked out again
        (many of them behind a progress bar). The open patient is shown again when its
        dates changed under it."""
        if self._catching_up is not None:
            return  # the list is read when the catch-up ends
        if not self.patient_list.loaded:
            self.load_patients_now()  # a read under way would miss what was just saved
            return
        if self._list_day is not None and self.clinic.today(self.now()) != self._list_day:
            self.load_patients()  # a new day: every status is for another day
            if self.current_patient_id is not None and self.open_refill() is None:
                self._show_current_patient()
            return
        if self._list_read is not None:
            self._saved_during_read = True  # the rows being read may not have it
        ids = {self.current_patient_id} if self.current_patient_id is not None else set()
        stale = self._bring_forecasts_up_to_date()
        if stale is None:
            return
        self._list_key = self.clinic.inputs_key
        model = self.patient_list.model
        moved: set[int] = set()
        for serial in stale:
            pid = model.patient_of_serial(serial)
            if pid is None:  # a pump registered since the list was read
                owner = self.clinic.owner_of(serial)
                pid = owner.id if owner is not None else None
            if pid is not None:
                moved.add(pid)
        ids |= moved
        for row in self.clinic.patient_rows_of(sorted(ids), self.now()):
            self.patient_list.update_row(row, select=False)
        if self.current_patient_id in moved and self.open_refill() is None:
            self._show_current_patient()  # its dates changed under it (another room's record)

    def _catch_up(self, serials: list[str]) -> None:
        """Work out many pumps' dates (after an update of the console or new clinic
        settings) a few at a time, so the window never stops answering, with a progress
        bar saying why."""
        progress = QProgressDialog(
            "Working out every patient's dates with the clinic's current settings...",
            "",
            0,
            len(serials),
            self,
        )
        progress.setWindowTitle("ITB Console")
        progress.setCancelButton(None)
        progress.setMinimumDuration(0)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        queue = list(serials)
        timer = QTimer(self)
        self._catching_up = timer

        def step() -> None:
            for _ in range(CATCH_UP_BATCH):
                if not queue:
                    break
                self.clinic.forecast_for(queue.pop())
            progress.setValue(len(serials) - len(queue))
            if not queue:
                timer.stop()
                progress.setLabelText("Reading the patient list...")

                def arrived() -> None:
                    progress.close()
                    self._catching_up = None

                self._start_list_read(arrived)

        timer.timeout.connect(step)
        timer.start(0)
        progress.show()

    def refresh_patient(self, patient_id: int | None) -> None:
        """Re-read one patient's row after a save, keep the rest of the list as it is."""
        if patient_id is None:
            return
        row = self.clinic.patient_row(patient_id, now=self.now())
        if row is not None:
            self.patient_list.update_row(row)

    def open_patient(self, patient_id: int) -> None:
        if self.refill_blocks("opening another patient", patient_id):
            return
        self.current_patient_id = patient_id
        self._show_current_patient()

    def open_refill(self) -> Any:
        """The refill wizard while it is open (one at a time), else None."""
        wizard = self.refill_wizard
        return wizard if wizard is not None and wizard.isVisible() else None

    def refill_blocks(self, what: str, patient_id: int | None = None) -> bool:
        """True (and the nurse told why, the refill brought to the front) when an open
        refill keeps ``what`` from starting: the refill is tied to its patient, so no other
        patient is opened and no program change starts until it is finished or cancelled.
        ``patient_id``: the patient ``what`` is about (the refill's own is allowed)."""
        wizard = self.open_refill()
        if wizard is None:
            return False
        refill_patient = wizard.session.patient_id
        if patient_id is not None and patient_id == refill_patient:
            return False
        name = self.clinic.patient(refill_patient).display_name
        self.prompts.error(
            "Refill in progress",
            f"The refill for {name} is still open. Finish it, or cancel it, before {what}.",
        )
        current = self.current_patient_id
        if current is not None:  # after the click that chose another row has settled
            QTimer.singleShot(0, lambda: self.patient_list.select_patient(current, quiet=True))
        wizard.raise_()
        wizard.activateWindow()
        return True

    def _show_current_patient(self) -> None:
        if self.current_patient_id is None:
            if self._patient_view is None:
                return  # the record's place already says that nobody is chosen
            self.patient_view.show_patient(None, None, None, self.clinic.today(self.now()))
            return
        patient, pump, overview = self.clinic.patient_screen(self.current_patient_id, self.now())
        history = "   ·   ".join(
            f"{fmt_day(on)} {text}"
            for on, text in self.clinic.device_history(self.current_patient_id)[-4:]
        )
        self.patient_view.show_patient(
            patient, pump, overview, self.clinic.today(self.now()), history=history
        )
        if self.patient_view.tabs.currentWidget() is self.patient_view.trends:
            self.patient_view.trends.show_patient(self.clinic, self.current_patient_id, self.now())

    def listed_patients(self) -> list[Patient]:
        """Every current patient, from the list kept in memory (read once)."""
        if not self.patient_list.loaded:
            self.load_patients_now()
        rows = self.patient_list.model.all_rows
        return [r.patient for r in sorted(rows, key=lambda r: r.patient.display_name.casefold())]

    def new_patient(self, dialog: PatientDialog | None = None) -> int | None:
        from ui.records_dialogs import PatientDialog

        if self.refill_blocks("adding a new patient"):
            return None
        dialog = dialog or PatientDialog(
            self, today=self.clinic.today(self.now()), check_identity=self.clinic.check_identity
        )
        patient = dialog.ask()
        if patient is None:
            return None
        try:
            saved = self.clinic.add_patient(patient)
        except (StoreError, DuplicatePatient) as exc:
            self.prompts.error("Patient not saved", str(exc))
            return None
        assert saved.id is not None
        self.current_patient_id = saved.id
        self.refresh_patient(saved.id)
        self._show_current_patient()
        self.statusBar().showMessage(f"Patient {saved.display_name} created.", 6000)
        return saved.id

    def edit_patient(self) -> None:
        from ui.records_dialogs import PatientDialog

        if self.current_patient_id is None:
            return
        patient = self.clinic.patient(self.current_patient_id)
        dialog = PatientDialog(
            self,
            patient=patient,
            today=self.clinic.today(self.now()),
            check_identity=self.clinic.check_identity,
        )
        changed = dialog.ask()
        if changed is None:
            return
        try:
            self.clinic.correct_patient(changed, dialog.reason.text().strip())
        except (StoreError, DuplicatePatient) as exc:
            self.prompts.error("Patient not saved", str(exc))
            return
        self.refresh_patient(self.current_patient_id)
        self._show_current_patient()

    def register_pump_for_open_patient(self) -> None:
        from ui.records_dialogs import PumpDialog

        if self.current_patient_id is None:
            return
        dialog = PumpDialog(self, today=self.clinic.today(self.now()))
        pump = dialog.ask()
        if pump is None:
            return
        self._register(pump, self.current_patient_id)

    def _register(
        self, pump: Any, patient_id: int, explant_dialog: ExplantDialog | None = None
    ) -> bool:
        """Register the pump; a patient who has a pump has it replaced, with the old
        pump's explant recorded first (never silently)."""
        from ui.records_dialogs import ExplantDialog

        current = self.clinic.pump_of(patient_id)
        try:
            if current is not None and current.serial != pump.serial:
                dialog = explant_dialog or ExplantDialog(
                    current.serial, self, today=self.clinic.today(self.now())
                )
                answer = dialog.ask()
                if answer is None:
                    return False
                when, reason, note = answer
                self.clinic.replace_pump(
                    patient_id, pump, explanted_on=when, reason=reason, note=note
                )
            else:
                self.clinic.register_pump(pump, patient_id)
        except (StoreError, PumpReplacementNeeded, ModelError) as exc:
            self.prompts.error("Pump not registered", str(exc))
            return False
        self.refresh_patient(patient_id)
        self._show_current_patient()
        return True

    def set_patient_status(self, dialog: PatientStatusDialog | None = None) -> bool:
        """File > Patient status: candidate, active, inactive or deceased (only active
        patients are on the worklist; the record is kept whatever the status)."""
        from ui.records_dialogs import PatientStatusDialog

        if self.current_patient_id is None:
            self.prompts.error("Patient status", "Open the patient's record first.")
            return False
        current, _since = self.clinic.patient_status(self.current_patient_id)
        dialog = dialog or PatientStatusDialog(current, self, today=self.clinic.today(self.now()))
        answer = dialog.ask()
        if answer is None:
            return False
        status, when, note = answer
        try:
            self.clinic.set_patient_status(
                self.current_patient_id, status, effective_on=when, note=note
            )
        except (StoreError, ValueError) as exc:
            self.prompts.error("Status not saved", str(exc))
            return False
        self.refresh_patient(self.current_patient_id)
        self.statusBar().showMessage(f"Patient status: {status}.", 6000)
        return True

    def record_screening_trial(self, dialog: ScreeningTrialDialog | None = None) -> bool:
        """File > Screening test dose: the trial before an implant, checked by the service
        (dose limits from the drug library, 24 hours apart, patient without a pump)."""
        from ui.records_dialogs import ScreeningTrialDialog

        if self.current_patient_id is None:
            self.prompts.error("Screening test dose", "Open the patient's record first.")
            return False
        dialog = dialog or ScreeningTrialDialog(
            self.current_patient_id,
            self.clinic.library.screening_products(),
            self.clinic.record_screening_trial,
            self,
            now=self.now(),
            tz=self.clinic.tz,
        )
        if not dialog.ask():
            return False
        self.refresh_patient(self.current_patient_id)
        self._show_current_patient()
        self.statusBar().showMessage("Screening test dose recorded.", 6000)
        return True

    def record_catheter_revision(self, dialog: CatheterRevisionDialog | None = None) -> bool:
        """Pump > Record catheter revision: the new catheter's details (dead volume) and
        the date that allows priming the catheter."""
        from ui.records_dialogs import CatheterRevisionDialog

        pump = self.clinic.pump_of(self.current_patient_id) if self.current_patient_id else None
        if pump is None:
            self.prompts.error(
                "Catheter revision", "Open the record of the patient whose pump it is."
            )
            return False
        dialog = dialog or CatheterRevisionDialog(pump, self, today=self.clinic.today(self.now()))
        answer = dialog.ask()
        if answer is None:
            return False
        when, length, per_cm, tip, note = answer
        try:
            self.clinic.record_catheter_revision(
                pump.serial,
                revised_on=when,
                catheter_length_cm=length,
                catheter_ul_per_cm=per_cm,
                tip_level=tip,
                note=note,
            )
        except (StoreError, ValueError) as exc:
            self.prompts.error("Catheter revision not recorded", str(exc))
            return False
        self.refresh_patient(self.current_patient_id)
        self._show_current_patient()
        self.statusBar().showMessage("Catheter revision recorded.", 6000)
        return True

    def start_refill(self) -> None:
        """The guided refill for the open patient (ui/refill)."""
        if self.current_patient_id is None:
            self.prompts.error("Start refill", "Open the patient's record first.")
            return
        from ui.refill import open_refill_wizard

        open_refill_wizard(self)

    def edit_program(self) -> None:
        """A program change for the open patient (ui/program)."""
        if self.current_patient_id is None:
            self.prompts.error("Change program", "Open the patient's record first.")
            return
        if self.refill_blocks("changing the program"):
            return
        from ui.program import open_program_editor

        open_program_editor(self)

    def _on_tab_changed(self, _index: int) -> None:
        if self.patient_view.tabs.currentWidget() is self.patient_view.trends:
            self.patient_view.trends.show_patient(self.clinic, self.current_patient_id, self.now())

    # ------------------------------------------------------------------ link

    def _remember_typed_port(self, url: str) -> None:
        """A port typed with "Other port..." stays in the port list."""
        if all(p.url != url for p in self.extra_ports):
            self.extra_ports.append(PortChoice(url, f"{url} (typed)", "A port typed by hand"))

    def refresh_ports(self, scan_after_ms: int = 0) -> None:
        """Offer the simulated pumps at once; scan serial ports on a thread of its own (the
        scan can be slow on some systems and must not hold up the window; it does not use
        the pump link, so it never makes a pump job wait or be refused as busy),
        ``scan_after_ms`` later (the window's start: not while it paints for the first
        time)."""
        preferred = self.settings.value("link/last_good_port")
        typed = str(self.settings.value("link/other_port", "") or "")
        if typed:
            self._remember_typed_port(typed)
        self.device_bar.set_ports(list(self.extra_ports), preferred_url=preferred)

        def found(ports: list[PortChoice]) -> None:
            self.device_bar.set_ports([*self.extra_ports, *ports], preferred_url=preferred)

        def failed(error: BaseException) -> None:
            log.warning("Port discovery failed: %s", error)

        def scan() -> None:
            if self._closed:
                return
            job = BackgroundCall(self.discover_ports, "find-ports", self)
            job.done.connect(found)
            job.failed.connect(failed)
            self._port_scan = job
            job.start()

        if scan_after_ms:
            QTimer.singleShot(scan_after_ms, scan)
        else:
            scan()

    def _update_link_state(self, text: str | None = None) -> None:
        busy = self.link.busy
        connected = self.connected_identity is not None
        if text is None:
            if connected:
                ident = self.connected_identity
                text = f"Connected: {ident.model} serial {ident.serial}"
            else:
                text = "Not connected"
            if self.last_interrogation is not None:
                when = fmt_moment(self.last_interrogation, self.clinic.tz, seconds=True)
                text += f" - last interrogation {when}"
        self.device_bar.set_state(connected=connected, busy=busy, text=text, saving=self.saving)
        self.interrogate_action.setEnabled(connected and not busy and not self.saving)
        self.cancel_action.setEnabled(busy)
        self.progress.setVisible(busy)

    def _on_progress(self, step: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self._progress_text = step
        self.statusBar().showMessage(step)

    def _on_busy_changed(self, busy: bool) -> None:
        """When a link job ends (done, failed or cancelled), its last step ("Reading the
        pump's event log") leaves the status bar; a message the job's result put there
        stays."""
        if not busy and self._progress_text is not None:
            if self.statusBar().currentMessage() == self._progress_text:
                self.statusBar().clearMessage()
            self._progress_text = None
        self._update_link_state()

    def other_port(self, dialog: OtherPortDialog | None = None) -> str | None:
        """Connect to a port typed by hand; it is remembered in the list."""
        last = str(self.settings.value("link/other_port", "") or "")
        url = (dialog or OtherPortDialog(self, last)).ask()
        if url is None:
            return None
        self.settings.setValue("link/other_port", url)
        self._remember_typed_port(url)
        self.device_bar.set_ports(list(self.extra_ports), preferred_url=url)
        self.connect_port(url)
        return url

    def connect_port(self, url: str) -> None:
        self._update_link_state(f"Connecting to {url}...")

        def ok(identity: Any) -> None:
            self.connected_identity = identity
            self.settings.setValue("link/last_good_port", url)
            self._update_link_state()
            self.statusBar().showMessage(f"Connected to pump {identity.serial}.", 6000)

        def failed(error: BaseException) -> None:
            self.connected_identity = None
            self._update_link_state()
            self._link_error("Could not connect", error)

        self.link.submit("connect", lambda ctx: pump_jobs.connect(ctx, url), ok, failed)

    def disconnect_port(self) -> None:
        def done(_result: object) -> None:
            self.connected_identity = None
            self._update_link_state()

        self.link.submit("disconnect", pump_jobs.disconnect, done, lambda _e: done(None))

    def cancel(self) -> None:
        if self.link.busy:
            self.link.cancel_all()
            self.statusBar().showMessage("Cancelling... the pump keeps its current program.", 6000)

    def interrogate(self) -> None:
        """Read the pump on the link thread; save on return, on a worker thread (see
        :meth:`save_interrogation_in_background`)."""
        if self.connected_identity is None or self.link.busy or self.saving:
            return
        serial = self.connected_identity.serial
        last_index = self._last_event_index()

        def failed(error: BaseException) -> None:
            if isinstance(error, pump_jobs.DifferentPump):
                # The head moved to another pump: follow it and read that pump from its own
                # place in the event log (nothing of the first attempt was saved).
                self.connected_identity = error.identity
                self._update_link_state()
                self.statusBar().showMessage(str(error) + " Reading that pump instead.", 8000)
                QTimer.singleShot(0, self.interrogate)
                return
            self._link_error("Interrogation failed", error)

        self.link.submit(
            "interrogate",
            lambda ctx: pump_jobs.interrogate(ctx, since_index=last_index, expected_serial=serial),
            self.save_interrogation_in_background,
            failed,
        )

    def _last_event_index(self) -> int:
        serial = getattr(self.connected_identity, "serial", None)
        return self.clinic.next_event_index(serial)

    @property
    def saving(self) -> bool:
        """An interrogation is being saved on its worker thread."""
        return self._saving is not None

    def save_interrogation_in_background(self, result: pump_jobs.InterrogationResult) -> None:
        """Save what the pump said on a worker thread with its own connection (thousands of
        new events take over a second to write, and the window must keep answering). The
        pump's owner is checked here first, so a refusal (wrong patient, unknown or training
        pump) is said at once and changes nothing; those go the way of
        :meth:`_save_interrogation`, which asks to register an unknown pump."""
        serial = result.reading.pump_serial
        try:
            self.clinic.check_pump_for(serial, self.current_patient_id, simulated=result.simulated)
        except (TrainingPump, WrongPatient, UnknownPump):
            self._save_interrogation(result)
            return
        saver = self.clinic.interrogation_saver(
            result.reading, result.events, self.current_patient_id, simulated=result.simulated
        )
        if saver is None:
            self._save_interrogation(result)
            return
        job = BackgroundCall(saver, "interrogation-save", self)
        job.done.connect(lambda outcome: self._saved_in_background(result, *outcome))
        job.failed.connect(lambda error: self._not_saved_in_background(result, error))
        self._saving = job
        self._update_link_state()
        self.statusBar().showMessage(
            f"Saving the interrogation of pump {serial} ({len(result.events)} new events)..."
        )
        job.start()

    def _saved_in_background(
        self, result: pump_jobs.InterrogationResult, saved: SavedInterrogation, fc: Any
    ) -> None:
        self._saving = None
        self.last_interrogation = self.now()
        self.clinic.keep_forecast(result.reading.pump_serial, fc)
        self._interrogation_saved(result, saved)

    def _not_saved_in_background(
        self, result: pump_jobs.InterrogationResult, error: BaseException
    ) -> None:
        self._saving = None
        self.last_interrogation = self.now()
        if isinstance(error, (TrainingPump, WrongPatient, UnknownPump)):
            self._save_interrogation(result)  # registration changed meanwhile: say why
            return
        self._update_link_state()
        if not isinstance(error, StoreError):
            log.error("Saving an interrogation failed", exc_info=error)
        self.statusBar().showMessage("Interrogation not saved.", 10000)
        self.prompts.error(
            "Interrogation not saved",
            f"{error}\n\nNothing of this interrogation was saved. Interrogate again.",
        )

    def _save_interrogation(
        self, result: pump_jobs.InterrogationResult, *, ask_unknown: bool = True
    ) -> SavedInterrogation | None:
        """Save on the GUI thread (the way for refusals, an unknown pump's registration and
        an in-memory database)."""
        from ui.records_dialogs import wrong_patient_message

        self.last_interrogation = self.now()
        serial = result.reading.pump_serial
        try:
            saved = self.clinic.save_interrogation(
                result.reading,
                result.events,
                self.current_patient_id,
                simulated=result.simulated,
            )
        except TrainingPump as exc:
            self._update_link_state()
            self.prompts.critical("Training pump - nothing saved", str(exc))
            return None
        except WrongPatient as exc:
            self._update_link_state()
            self.prompts.critical(
                "Wrong patient - nothing saved",
                wrong_patient_message(
                    exc.open_patient.display_name, exc.owner.display_name, serial
                ),
            )
            return None
        except UnknownPump:
            self._update_link_state()
            if ask_unknown and self.register_unknown_pump(result):
                return self._save_interrogation(result, ask_unknown=False)
            self.statusBar().showMessage(
                "Pump not registered: the interrogation was not saved.", 8000
            )
            return None
        except StoreError as exc:
            self.prompts.error("Interrogation not saved", str(exc))
            return None
        self._interrogation_saved(result, saved)
        return saved

    def _interrogation_saved(
        self, result: pump_jobs.InterrogationResult, saved: SavedInterrogation
    ) -> None:
        """After a save: that patient's row and record, and what the save settled."""
        self.current_patient_id = saved.patient.id
        self.refresh_patient(saved.patient.id)
        self._show_current_patient()
        self._update_link_state()
        if saved.still_uncertain:
            self.prompts.error(
                "Program change still uncertain",
                f"The pump runs a program that is neither the old nor the new one of "
                f"{saved.still_uncertain} uncertain program change(s). Check the program on the "
                "Overview with a clinician before anything else.",
            )
        if result.events_missing:
            self.prompts.error(
                "Pump event log not read to the end",
                f"The reading is saved with {saved.new_events} new pump events, but the link "
                f"broke before the rest of the pump's event log could be read "
                f"({result.events_error}). Interrogate again to read the rest: it continues "
                "where it stopped.",
            )
        message = f"Interrogation saved for {saved.patient.display_name}: {saved.new_events} new pump events."
        if saved.settled_refills:
            message += f" {saved.settled_refills} pending refill(s) settled."
        if saved.settled_changes:
            message += f" {saved.settled_changes} uncertain program change(s) settled."
        self.statusBar().showMessage(message, 8000)

    def register_unknown_pump(
        self,
        result: pump_jobs.InterrogationResult,
        choose: UnknownPumpDialog | None = None,
        new_patient_dialog: PatientDialog | None = None,
        pump_dialog: PumpDialog | None = None,
        explant_dialog: ExplantDialog | None = None,
    ) -> bool:
        from ui.records_dialogs import PatientDialog, PumpDialog, UnknownPumpDialog

        ident = result.identity
        choose = choose or UnknownPumpDialog(
            ident.serial, ident.model, self.listed_patients(), self
        )
        answer = choose.ask()
        if answer is None:
            return False
        kind, patient_id = answer
        new_patient: Patient | None = None
        if kind == "new":
            # The new patient is saved only together with the pump (one record): cancelling
            # the pump form, or the confirmation, leaves nothing behind.
            dialog = new_patient_dialog or PatientDialog(
                self, today=self.clinic.today(self.now()), check_identity=self.clinic.check_identity
            )
            new_patient = dialog.ask()
            if new_patient is None:
                return False
        pump_dialog = pump_dialog or PumpDialog(
            self,
            serial=ident.serial,
            capacity_ul=result.capacity_ul,
            model=ident.model,
            today=self.clinic.today(self.now()),
            lock_serial=True,
            alarm_ml=f"{ul_to_ml(result.reading.alarm_volume_ul):f}".rstrip("0").rstrip("."),
        )
        pump = pump_dialog.ask()
        if pump is None:
            return False
        patient = new_patient or self.clinic.patient(patient_id or 0)
        born = f"born {fmt_day(patient.date_of_birth)}, hospital no. {patient.hospital_number}"
        if not self.prompts.confirm(
            "Register pump",
            f"Register pump {pump.model}, serial {pump.serial}, to "
            f"{'the new patient ' if new_patient else ''}{patient.display_name}, {born}?\n\n"
            "From now on this pump's readings are saved to this patient's record.",
        ):
            return False
        if new_patient is not None:
            try:
                saved = self.clinic.add_patient_with_pump(new_patient, pump)
            except (StoreError, DuplicatePatient, ModelError) as exc:
                self.prompts.error("Patient and pump not saved", str(exc))
                return False
            assert saved.id is not None
            self.current_patient_id = saved.id
            self.refresh_patient(saved.id)
            self._show_current_patient()
            return True
        assert patient_id is not None
        self.current_patient_id = patient_id
        return self._register(pump, patient_id, explant_dialog)

    def set_pump_clock(self) -> None:
        if self.connected_identity is None:
            self.prompts.error("Not connected", "Connect to the pump before setting its clock.")
            return
        pump = self.clinic.pump_of(self.current_patient_id) if self.current_patient_id else None
        if pump is None:
            self.prompts.error("Set pump clock", "Open the record of the patient whose pump it is.")
            return
        if not self.prompts.confirm(
            "Set pump clock",
            "Set the pump's clock to this computer's time (the pump keeps UTC)? Flex steps will "
            "then start at the pump-clock times shown in the program. This is recorded.",
        ):
            return
        serial, user = pump.serial, self.clinic.user

        def failed(error: BaseException) -> None:
            # The user's consent and the attempt are recorded whatever happened.
            self.clinic.record_action(
                "pump_clock_set_failed",
                {"pump_serial": serial, "error": pump_jobs.plain_message(error)},
            )
            self._link_error("Pump clock not set", error)

        self.link.submit(
            "set clock",
            lambda ctx: pump_jobs.set_clock(ctx, expected_serial=serial, user=user),
            lambda change: self._clock_set(change),
            failed,
        )

    def _clock_set(self, change: dict[str, str]) -> None:
        self.clinic.record_action("pump_clock_set", change)
        if change.get("outcome") != ChangeOutcome.SUCCEEDED:
            self.prompts.error("Pump clock: outcome unknown", change.get("message", ""))
        else:
            self.statusBar().showMessage("Pump clock set. Interrogate again to confirm.", 8000)
        QTimer.singleShot(0, self.interrogate)

    def _link_error(self, title: str, error: BaseException) -> None:
        message = pump_jobs.plain_message(error)
        self._update_link_state()
        if pump_jobs.is_disconnect(error):
            self.connected_identity = None
            self._update_link_state()
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        self.prompts.error(title, message)

    def show_diagnostics(self) -> None:
        from ui.diagnostics import DiagnosticsDialog

        DiagnosticsDialog(self.link, self).exec()

    # ------------------------------------------------------------------ misc

    # The printouts and the lot search load Qt's print support when first used, not at start.

    def print_card(self) -> None:
        from ui.emergency_card import print_emergency_card

        print_emergency_card(self)

    def print_letter(self) -> None:
        from ui.travel_letter import print_travel_letter

        print_travel_letter(self)

    def show_sync_conflicts(self) -> None:
        """Tools > Sync conflicts: what other rooms' records clashed with here, for an
        administrator to put right (others may look)."""
        from ui.sync_conflicts_view import open_sync_conflicts

        open_sync_conflicts(self)

    def show_lot_search(self) -> None:
        from ui.lot_search_view import open_lot_search

        open_lot_search(self)

    def backup_database(self) -> None:
        path = ask_save_path(
            self, "Back up database", "itbconsole-backup.sqlite", "SQLite (*.sqlite)"
        )
        if path:
            self.start_backup(path)

    def start_backup(self, path: str) -> BackupRun:
        """Back up on a worker thread with a progress dialog and Cancel (ui/backup_job.py):
        the window keeps responding however big the database is."""
        from ui.backup_job import BackupRun

        self.backup_run = BackupRun(
            self,
            self.clinic,
            path,
            report_error=self.prompts.error,
            show_status=self.statusBar().showMessage,
        )
        self.backup_run.start()
        return self.backup_run

    def about(self) -> None:
        show_about(self, self.clinic.database_path, str(self.log_path))

    # ------------------------------------------------------------------ session (issue 18)
    # Lock, switch user, sign out and accounts: ui/lock.py and ui/accounts_dialogs.py over
    # itbconsole.services.accounts. The app installs the session (install_session).

    session: Any = None  # ui.lock.SessionController once installed

    def _build_session_menu(self) -> None:
        menu = self.menuBar().addMenu("&Session")
        self.lock_action = self._action(
            menu, "&Lock screen", QKeySequence("Ctrl+Shift+L"), self.lock_screen
        )
        self._action(menu, "S&witch user...", None, self.switch_user)
        self._action(menu, "Sign &out", None, self.sign_out)
        menu.addSeparator()
        self._action(menu, "&Change my password...", None, self.change_password)
        self.accounts_action = self._action(menu, "&Manage accounts...", None, self.manage_accounts)

    def install_session(
        self,
        *,
        demo_users: Any = (),
        ms_per_minute: int = 60_000,
        ask_new_password: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Lock after the clinic's idle time, and Session > Lock, Switch user, Sign out
        (ui.lock.SessionController); ``demo_users``: demo mode, no passwords."""
        from ui.lock import SessionController

        self.session = SessionController(
            self,
            demo_users=demo_users,
            ms_per_minute=ms_per_minute,
            ask_new_password=ask_new_password,
        )
        self.show_signed_in(self.clinic.user, demo=bool(demo_users))
        return self.session

    def show_signed_in(self, user: Any, *, demo: bool = False) -> None:
        from ui.lock import user_text

        self.user_label.setText(f"Signed in: {user_text(user, demo)}")
        self.accounts_action.setEnabled(user.role is Role.ADMINISTRATOR and not demo)

    def _no_session(self, title: str) -> bool:
        if self.session is None:
            self.prompts.error(title, "Sign-in is not set up in this window.")
            return True
        return False

    def lock_screen(self) -> None:
        """Session > Lock screen (Ctrl+Shift+L): cover the window until a password."""
        if not self._no_session("Lock screen"):
            self.session.lock("locked by the user")

    def switch_user(self) -> None:
        """Session > Switch user: someone else signs in; this user's work is not theirs."""
        if not self._no_session("Switch user"):
            self.session.switch_user()

    def sign_out(self) -> bool:
        """Session > Sign out: discard the work in progress (recorded) and lock."""
        if self._no_session("Sign out"):
            return False
        return bool(self.session.sign_out())

    def change_password(self, dialog: Any = None) -> bool:
        """Session > Change my password."""
        from ui.accounts_dialogs import ChangePasswordDialog

        if self.clinic.user.account_id is None:
            self.prompts.error("Change password", "This session has no account (demo mode).")
            return False
        dialog = dialog or ChangePasswordDialog(self.clinic.accounts, self.clinic.user, self)
        if not dialog.ask():
            return False
        self.statusBar().showMessage("Your password was changed.", 6000)
        return True

    def manage_accounts(self, dialog: Any = None) -> None:
        """Session > Manage accounts (administrators)."""
        from ui.accounts_dialogs import AccountsDialog

        if self.clinic.user.role is not Role.ADMINISTRATOR or self.clinic.user.account_id is None:
            self.prompts.error(
                "Accounts", "Only an administrator signed in with their account manages accounts."
            )
            return
        (dialog or AccountsDialog(self.clinic.accounts, self.clinic.user, self)).exec()
