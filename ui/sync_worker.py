"""Background sync with the clinic server, and its line in the status bar.

Why a thread of its own: a sync pass talks to a server that may be slow or gone (a connect
can take the full timeout), and the GUI thread must never wait on the network: a refill
goes on whatever the server does. :class:`SyncWorker` lives on a ``QThread`` and runs
:func:`itbconsole.sync.engine.sync_once` every :data:`SYNC_INTERVAL_MS` and whenever
:meth:`SyncStatus.sync_now` asks, through its own SQLite connection, opened on that thread
at the first pass and closed there when the thread ends (a connection never moves between
threads). What it finds comes back as a
signal with the status-bar text, delivered on the GUI thread:

- ``Last sync 14:05, 3 waiting`` after a pass (3 local records not yet on the server),
  with ``, 2 to review`` whenever conflicts wait for an administrator (whichever pass
  found them; ``itbconsole sync conflicts`` lists them);
- ``Server unreachable since 13:40, 12 waiting`` while the server cannot be reached (the
  time of the first failure of this outage);
- ``Sync stopped: ...`` when the server refused this room's records (a gap or tampering),
  or this room's own audit trail does not verify (nothing is sent), which needs an
  administrator; the full text is the label's tooltip.

A click on the label syncs now; while conflicts wait, it opens the list of them instead
(:mod:`ui.sync_conflicts_view`, through :attr:`SyncStatus.review_requested`), since what
the clinic needs then is a person's decision, not another pass.

Wiring (in the window's start-up, once the clinic is open)::

    from ui.sync_worker import install_sync_status
    if not demo:  # a training database never syncs
        window.sync_status = install_sync_status(window, clinic.database_path(), tz=clinic.tz)
        if window.sync_status is not None:
            window.sync_status.records_arrived.connect(lambda _n: window.refresh_patients())

``install_sync_status`` does nothing and returns None when no server is configured
(``$ITBCONSOLE_SYNC_DSN`` unset), so a single-room clinic sees no change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from PySide6.QtCore import (
    QCoreApplication,
    QMetaMethod,
    QObject,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QMainWindow

from itbconsole.display import fmt_day_month
from itbconsole.store import Store, StoreError
from itbconsole.sync.conflicts import open_conflict_count
from itbconsole.sync.engine import (
    AuditTrailBroken,
    ServerError,
    ServerUnavailable,
    configured_dsn,
    pending_count,
    sync_once,
)

log = logging.getLogger(__name__)

#: How often the background pass runs (and how soon after start-up the first one does).
SYNC_INTERVAL_MS = 60_000
FIRST_PASS_DELAY_MS = 2_000
#: The longest a connection attempt may take before the server counts as unreachable.
CONNECT_TIMEOUT_S = 5

StoreOpener = Callable[[], Store]


def _opener(store_path_or_factory: str | Path | StoreOpener) -> StoreOpener:
    if callable(store_path_or_factory):
        return store_path_or_factory
    path = Path(store_path_or_factory)
    return lambda: Store.open(path, create=False)


def clock_text(moment: datetime, now: datetime, tz: tzinfo | None = None) -> str:
    """``14:05`` today, ``28 Nov 13:40`` on another day, in the clinic's zone (this
    computer's when none is given): an outage can last days. Month names from
    :mod:`itbconsole.display`, whatever the computer's locale."""
    local, today = moment.astimezone(tz), now.astimezone(tz)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    return clock if local.date() == today.date() else f"{fmt_day_month(local.date())} {clock}"


class SyncWorker(QObject):
    """Runs sync passes on its own thread. Touches no widget."""

    #: (status-bar text, detail for the tooltip), after every pass.
    status = Signal(str, str)
    #: The pass's SyncReport, or the exception that ended it.
    passed = Signal(object)
    #: How many conflicts wait for an administrator (emitted just before ``status``;
    #: -1 when they could not be counted).
    to_review = Signal(int)

    def __init__(
        self,
        open_store: StoreOpener,
        dsn: str,
        *,
        interval_ms: int = SYNC_INTERVAL_MS,
        timeout_s: int = CONNECT_TIMEOUT_S,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self._tz = tz
        self._open_store = open_store
        self._dsn = dsn
        self._interval_ms = interval_ms
        self._timeout_s = timeout_s
        self._timer: QTimer | None = None
        self._unreachable_since: datetime | None = None
        #: The worker's own connection, opened on its thread at the first pass.
        self._store: Store | None = None
        #: The thread the last pass ran on (the tests check it is not the GUI's).
        self.last_pass_thread: int | None = None

    @Slot()
    def begin(self) -> None:
        """On the worker thread: start the periodic passes."""
        self._timer = QTimer(self)
        self._timer.setInterval(self._interval_ms)
        self._timer.timeout.connect(self.run_pass)
        self._timer.start()
        QTimer.singleShot(min(FIRST_PASS_DELAY_MS, self._interval_ms), self.run_pass)

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    @Slot()
    def run_pass(self) -> None:
        """One pass; every outcome becomes a status signal, never an exception."""
        self.last_pass_thread = threading.get_ident()
        if self._store is None:
            try:
                self._store = self._open_store()
            except StoreError as exc:
                self._report_failure(exc, "Sync paused: the database cannot be opened", None)
                return
        store = self._store
        try:
            report = sync_once(store, self._dsn, timeout_s=self._timeout_s)
        except ServerUnavailable as exc:
            now = datetime.now(UTC)
            if self._unreachable_since is None:
                self._unreachable_since = now
            since = clock_text(self._unreachable_since, now, self._tz)
            text = f"Server unreachable since {since}"
            self._report_failure(exc, text, store)
        except AuditTrailBroken as exc:
            log.warning("Sync stopped: %s", exc)
            text = "Sync stopped: this room's audit trail does not verify"
            self._report_failure(exc, text, store)
        except ServerError as exc:
            log.warning("Sync refused: %s", exc)
            self._report_failure(exc, "Sync stopped: ask the administrator", store)
        except StoreError as exc:  # the database went away under us: open it afresh
            log.warning("Sync pass stopped by the database: %s", exc)
            self.close_store()
            self._report_failure(exc, "Sync paused: the database cannot be used", None)
        except Exception as exc:  # a pass must never take the thread down with it
            log.exception("Sync pass failed")
            self._report_failure(exc, "Sync failed", store)
        else:
            self._unreachable_since = None
            now = datetime.now(UTC)
            text = f"Last sync {clock_text(now, now, self._tz)}, {report.pending} waiting"
            detail = (
                f"Uploaded {report.uploaded}, downloaded {report.downloaded}, applied "
                f"{report.applied}, conflicts {report.conflicts} ({report.server})."
            )
            if report.open_conflicts:
                text += f", {report.open_conflicts} to review"
                detail += (
                    f"\n{report.open_conflicts} conflict(s) wait for an administrator "
                    "(Tools > Sync conflicts, or itbconsole sync conflicts)."
                )
            self.to_review.emit(report.open_conflicts)
            self.status.emit(text, detail)
            self.passed.emit(report)

    @Slot()
    def close_store(self) -> None:
        """On the worker thread, as it ends: close the worker's own connection."""
        if self._store is not None:
            store, self._store = self._store, None
            try:
                store.close()
            except Exception:  # closing is best effort at shutdown
                log.debug("sync store close failed", exc_info=True)

    def _report_failure(self, exc: Exception, text: str, store: Store | None) -> None:
        review = -1
        if store is not None:
            try:
                text += f", {pending_count(store, self._dsn)} waiting"
                review = open_conflict_count(store.db)
                if review:
                    text += f", {review} to review"
            except Exception:  # the counts are a nicety; the status is not
                log.debug("pending or conflict count unavailable", exc_info=True)
        self.to_review.emit(review)
        self.status.emit(text, str(exc))
        self.passed.emit(exc)


class SyncLabel(QLabel):
    """The status-bar label; a click asks for a pass now, or for the conflicts' list."""

    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class SyncStatus(QObject):
    """The GUI side: the worker's thread, the status-bar label, Sync now, shutdown."""

    #: Ask the worker for a pass now (queued to its thread).
    requested = Signal()
    #: The label's text changed (also for tests).
    changed = Signal(str)
    #: Records from other rooms were applied (how many): the window refreshes its lists.
    records_arrived = Signal(int)
    #: The label was clicked while conflicts wait: the window opens their list.
    review_requested = Signal()

    def __init__(
        self,
        open_store: StoreOpener,
        dsn: str,
        label: QLabel | None = None,
        *,
        interval_ms: int = SYNC_INTERVAL_MS,
        timeout_s: int = CONNECT_TIMEOUT_S,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.label = label if label is not None else SyncLabel("Sync starting")
        self.label.setToolTip("Sync with the clinic server (click to sync now)")
        #: Conflicts waiting for an administrator, as the last pass counted them.
        self.conflicts_to_review = 0
        if isinstance(self.label, SyncLabel):
            self.label.clicked.connect(self.label_clicked)
        self._thread = QThread()
        self._thread.setObjectName("itbconsole-sync")
        self.worker = SyncWorker(
            open_store, dsn, interval_ms=interval_ms, timeout_s=timeout_s, tz=tz
        )
        self.worker.moveToThread(self._thread)
        self._thread.started.connect(self.worker.begin)
        # Closed and deleted on its own thread as that thread ends (its timer with it).
        self._thread.finished.connect(self.worker.close_store)
        self._thread.finished.connect(self.worker.deleteLater)
        self.requested.connect(self.worker.run_pass)
        self.worker.to_review.connect(self._count_to_review)
        self.worker.status.connect(self._show)
        self.worker.passed.connect(self._passed)
        self._thread.start()

    def sync_now(self) -> None:
        """Run a pass as soon as the worker is free (returns at once)."""
        self.requested.emit()

    def label_clicked(self) -> None:
        """Conflicts wait: ask for their list (when the window listens); otherwise sync now."""
        if self.conflicts_to_review > 0 and self.isSignalConnected(
            QMetaMethod.fromSignal(self.review_requested)
        ):
            self.review_requested.emit()
        else:
            self.sync_now()

    @Slot(int)
    def _count_to_review(self, count: int) -> None:
        if count >= 0:  # -1: not counted this time; the last count stands
            self.conflicts_to_review = count

    @Slot(str, str)
    def _show(self, text: str, detail: str) -> None:
        self.label.setText(text)
        click = "Click to review them." if self.conflicts_to_review > 0 else "Click to sync now."
        self.label.setToolTip(f"{detail}\n{click}")
        self.changed.emit(text)

    @Slot(object)
    def _passed(self, outcome: object) -> None:
        applied = getattr(outcome, "applied", 0)
        if isinstance(applied, int) and applied > 0:
            self.records_arrived.emit(applied)

    def shutdown(self, wait_ms: int = (CONNECT_TIMEOUT_S + 2) * 1000) -> None:
        """Stop the passes and the thread (a pass under way finishes first, bounded by the
        connect timeout; an interrupted pass is completed by the next start's)."""
        if not self._thread.isRunning():
            return
        self._thread.quit()
        self._thread.wait(wait_ms)


def install_sync_status(
    window: QMainWindow,
    store_path_or_factory: str | Path | StoreOpener,
    dsn: str | None = None,
    *,
    interval_ms: int = SYNC_INTERVAL_MS,
    tz: tzinfo | None = None,
    open_review: Callable[[], object] | None = None,
) -> SyncStatus | None:
    """Add the sync label to ``window``'s status bar and start background sync with ``dsn``
    (default ``$ITBCONSOLE_SYNC_DSN``); None, and nothing added, when no server is set.
    Times are shown in ``tz`` (the clinic's zone; this computer's when None). The sync
    thread stops when the window is destroyed. A click on the label syncs now; while
    conflicts wait it calls ``open_review`` (by default, when the window has a clinic,
    :func:`ui.sync_conflicts_view.open_sync_conflicts`), and a conflict resolved there
    asks for a pass, so the label's count is put right."""
    chosen = configured_dsn(dsn)
    if chosen is None:
        return None
    status = SyncStatus(_opener(store_path_or_factory), chosen, interval_ms=interval_ms, tz=tz)
    status.setParent(window)
    window.statusBar().addPermanentWidget(status.label)
    if open_review is None and hasattr(window, "clinic"):
        open_review = lambda: _open_conflicts_of(window, status)  # noqa: E731
    if open_review is not None:
        status.review_requested.connect(open_review)
    window.destroyed.connect(lambda *_: status.shutdown())
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(status.shutdown)
    return status


def _open_conflicts_of(window: QMainWindow, status: SyncStatus) -> object:
    """The window's list of conflicts; each resolution there asks for a pass now."""
    from ui.sync_conflicts_view import open_sync_conflicts

    dialog = open_sync_conflicts(window)
    if not dialog.property("recountsSync"):  # once per dialog, however often it is raised
        dialog.setProperty("recountsSync", True)
        dialog.resolved.connect(lambda _id: status.sync_now())
    return dialog
