"""The Trends tab's series, built on a worker thread so the window never waits for them.

Why: ten years of hourly readings take a few hundred milliseconds to read and turn into
series even as columns (:func:`itbconsole.trends.load_patient_trends`); on the GUI thread
that is a frozen window each time a patient is opened with the tab showing. Here one daemon
thread reads through a read-only store of its own (:func:`itbconsole.store.columns.open_reader`;
a connection never moves between threads) and the pump's forecast comes from the clinic
service's own ``pump_facts`` and :func:`itbconsole.forecast.forecast` over that store, so
the dates are the ones every other screen shows.

Each request carries a number; only the newest one counts. A request waiting behind a newer
one is skipped, and a result that arrives after another patient was asked for is dropped
on the GUI thread (:meth:`TrendsWorker.is_current`), so a slow read can never draw one
patient's trends under another's name.

A plain daemon thread, not a QThread, as ``ui/backup_job.py``: quitting mid-read does not
wait for it. A database held only in memory (``:memory:``, tests) cannot be opened twice;
its trends are built on the GUI thread by the clinic service instead.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, Signal, SignalInstance

from itbconsole.druglib import DrugLibrary
from itbconsole.forecast import forecast
from itbconsole.model import User
from itbconsole.services.clinic import ClinicService
from itbconsole.settings import ClinicSettings
from itbconsole.store import Store
from itbconsole.store.columns import open_reader
from itbconsole.trends import PatientTrends, TrendSettings, load_patient_trends

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrendsRequest:
    """What one build needs, copied on the GUI thread (nothing shared is read later)."""

    number: int
    database_path: str
    library: DrugLibrary
    user: User
    settings: ClinicSettings
    patient_id: int
    now: datetime


class TrendsWorker(QObject):
    """Builds one patient's trends at a time on its own thread; results arrive on the GUI
    thread as ``built(number, PatientTrends)`` or ``failed(number, exception)``."""

    built = Signal(int, object)
    failed = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._requests: queue.Queue[TrendsRequest] = queue.Queue()
        self._latest = 0
        self._thread: threading.Thread | None = None
        # Owned by the worker thread only.
        self._store: Store | None = None
        self._store_path = ""

    @staticmethod
    def can_run(clinic: ClinicService) -> bool:
        """Whether ``clinic``'s database can be opened a second time (a file)."""
        return clinic.database_path != ":memory:"

    def request(self, clinic: ClinicService, patient_id: int, now: datetime) -> int:
        """Ask for ``patient_id``'s trends; every earlier request is now stale. Returns the
        request's number."""
        self._latest += 1
        self._requests.put(
            TrendsRequest(
                self._latest,
                clinic.database_path,
                clinic.library,
                clinic.user,
                clinic.settings,
                patient_id,
                now,
            )
        )
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="itbconsole-trends", daemon=True)
            self._thread.start()
        return self._latest

    def cancel(self) -> None:
        """Make every request made so far stale (its result, if any, is dropped)."""
        self._latest += 1

    def is_current(self, number: int) -> bool:
        return number == self._latest

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:  # touches no widget
        while True:
            request = self._requests.get()
            while not self._requests.empty():  # only the newest waiting request counts
                request = self._requests.get_nowait()
            if request.number != self._latest:
                continue
            try:
                trends = self._build(request)
            except Exception as exc:  # every failure goes back to the GUI as a value
                log.info("Trends not built: %s", exc, exc_info=True)
                if not self._emit(self.failed, request.number, exc):
                    return
                continue
            if not self._emit(self.built, request.number, trends):
                return

    def _emit(self, signal: SignalInstance, number: int, value: object) -> bool:
        """Send a result to the GUI thread; False when the tab has been closed meanwhile
        (its Qt object is gone): the thread then ends."""
        try:
            signal.emit(number, value)
        except RuntimeError:  # the C++ side of this QObject was deleted
            return False
        return True

    def _reader(self, path: str) -> Store:
        if self._store is None or self._store_path != path:
            if self._store is not None:
                self._store.db.close()
            self._store = open_reader(path)
            self._store_path = path
        return self._store

    def _build(self, request: TrendsRequest) -> PatientTrends:
        store = self._reader(request.database_path)
        service = ClinicService(store, request.library, request.user, settings=request.settings)
        settings = service.settings
        # One read transaction: every figure comes from the same moment of the database,
        # however the window writes meanwhile (WAL readers see a snapshot).
        store.db.execute("BEGIN")
        try:
            return load_patient_trends(
                store,
                request.patient_id,
                settings.tz,
                request.now,
                TrendSettings(thresholds=settings.thresholds, clinic=settings),
                lambda serial: forecast(service.pump_facts(serial), settings),
            )
        finally:
            store.db.execute("ROLLBACK")


__all__ = ["TrendsRequest", "TrendsWorker"]
