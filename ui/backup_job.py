"""File > Back up database, made on a worker thread with progress and Cancel (issue 14).

Why: copying a clinic's database and running the full integrity check on the copy takes
seconds (8 s for 5,000 patients on a quiet PC), and the GUI thread must never block longer
than about 50 ms. The backup runs on a thread of its own through its own SQLite connection
to the database file (``Store.backup`` with ``BackupSteps``; a connection never moves
between threads), a few pages per step. Progress, the result and errors come back as Qt
signals, delivered on the GUI thread. Cancel sets a ``threading.Event`` that the backup
looks at between steps; the partial copy is then removed and nothing is written. The
integrity check of the copy is one SQLite statement and cannot be stopped part-way: the
dialog says so while it runs, and Cancel takes effect when it ends.

A plain daemon thread, not a QThread: if the app quits mid-backup the process can still
end (a running QThread aborts it), and the partial copy is removed at the next start
(``itbconsole.store.backup`` leaves a marker for it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from itbconsole.services.clinic import ClinicService
from itbconsole.store import StoreError
from itbconsole.store.backup import (
    CHECKING,
    BackupCancelledError,
    BackupResult,
    BackupSteps,
)

log = logging.getLogger(__name__)

BackupFn = Callable[[BackupSteps], BackupResult]

CHECKING_TEXT = (
    "Checking the copy (full integrity check).\n"
    "This step cannot be interrupted: Cancel takes effect when it ends."
)


class BackupJob(QObject):
    """Runs one backup on a worker thread; its signals arrive on the GUI thread."""

    progress = Signal(str, int, int)  # stage (COPYING or CHECKING), pages done, pages in all
    succeeded = Signal(object)  # BackupResult
    failed = Signal(object)  # the exception; BackupCancelledError after Cancel

    def __init__(self, backup: BackupFn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._backup = backup
        self.cancel_flag = threading.Event()
        self.stage = ""
        #: True from :meth:`start` until the result has been delivered on the GUI thread.
        self.running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.running = True
        self.succeeded.connect(self._settled)
        self.failed.connect(self._settled)
        self._thread = threading.Thread(target=self._run, name="itbconsole-backup", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop at the next step (or when the integrity check ends); nothing is written."""
        self.cancel_flag.set()

    def _run(self) -> None:  # on the worker thread: touches no widget
        steps = BackupSteps(cancel=self.cancel_flag, progress=self._report)
        try:
            result = self._backup(steps)
        except Exception as exc:  # every failure goes back to the GUI as a value
            expected = isinstance(exc, (StoreError, OSError))
            log.info("Backup ended: %s", exc, exc_info=not expected)
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)

    def _report(self, stage: str, done: int, total: int) -> None:
        self.progress.emit(stage, done, total)

    @Slot(object)
    def _settled(self, _outcome: object) -> None:
        self.running = False


class BackupRun(QObject):
    """One backup as the window shows it: a progress dialog with Cancel, then a status
    message, or the error in plain words."""

    def __init__(
        self,
        parent: QWidget,
        clinic: ClinicService,
        path: str,
        *,
        report_error: Callable[[str, str], None],
        show_status: Callable[[str, int], None],
    ) -> None:
        super().__init__(parent)
        self.path = path
        self._report_error = report_error
        self._show_status = show_status
        self.job = BackupJob(lambda steps: clinic.backup(path, steps=steps), self)
        self.job.progress.connect(self._progress)
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(self._failed)
        self.dialog = QProgressDialog("Starting the backup...", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Back up database")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.setMinimumDuration(0)
        self.dialog.canceled.connect(self.cancel)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.job.cancel)

    @property
    def running(self) -> bool:
        return self.job.running

    def start(self) -> None:
        self.dialog.show()
        self.job.start()

    @Slot()
    def cancel(self) -> None:
        if not self.job.running:
            return
        self.job.cancel()
        if self.job.stage == CHECKING:
            self.dialog.setLabelText(
                "Cancelling: the integrity check of the copy cannot be interrupted; the "
                "copy is removed when it ends."
            )
        else:
            self.dialog.setLabelText("Cancelling: removing the partial copy...")

    @Slot(str, int, int)
    def _progress(self, stage: str, done: int, total: int) -> None:
        self.job.stage = stage
        if self.job.cancel_flag.is_set():
            return  # the dialog says it is cancelling
        if stage == CHECKING:
            self.dialog.setRange(0, 0)  # busy: one statement, no progress to report
            self.dialog.setLabelText(CHECKING_TEXT)
            return
        self.dialog.setRange(0, max(total, 1))
        self.dialog.setValue(done)
        percent = 100 * done // total if total else 0
        self.dialog.setLabelText(
            f"Copying the database: {percent}% ({done:,} of {total:,} pages).\n"
            "Then the copy is checked."
        )

    @Slot(object)
    def _succeeded(self, result: BackupResult) -> None:
        self.dialog.close()
        size_mb = result.size_bytes / 1_000_000
        self._show_status(
            f"Backup written to {result.path} ({size_mb:.1f} MB, checked); keep it with "
            f"{result.path.name}.audit-keys",
            10000,
        )

    @Slot(object)
    def _failed(self, exc: Exception) -> None:
        self.dialog.close()
        if isinstance(exc, BackupCancelledError):
            self._show_status(f"Backup cancelled: nothing was written to {self.path}.", 10000)
            return
        if isinstance(exc, (StoreError, OSError)):
            self._report_error("Backup failed", str(exc))
        else:
            self._report_error(
                "Backup failed",
                f"The backup could not be finished ({exc}). See the log for details, and "
                "try again.",
            )
