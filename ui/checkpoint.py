"""The write-ahead log's checkpoints, on a worker thread instead of inside a window's commit.

Why: SQLite copies its write-ahead log back into the database (a checkpoint) inside
whichever commit takes the log past 1,000 pages: pages written all over the database file,
then an fsync of it, as long as the disk takes. A sign-in, a lock or a patient's status
saved on the GUI thread then held the window for it (under 10 ms on an idle SSD; 0.4 s at
20,000 patients when the 1 GB file had much unwritten). The window's connection is opened
with its own automatic checkpoint pushed out to a backstop
(:func:`itbconsole.store.db.checkpoints_elsewhere`); this module does the work instead.

:func:`install_checkpoints` gives the window a :class:`Checkpointer`: every
:data:`CHECK_EVERY_MS` it looks at the log file's size (one ``stat``) and, past
:data:`~itbconsole.store.db.CHECKPOINT_AFTER_PAGES` pages, runs
:func:`~itbconsole.store.db.checkpoint_wal` on a worker thread with a connection of its
own (PASSIVE: the window's reads and writes go on meanwhile; then the emptied log is cut
to nothing). When the window closes, a last checkpoint runs (the window waits for it up
to :data:`FINAL_WAIT_S`), so no large log is left beside the database. The background
saves, the sync and the command line keep SQLite's own checkpoint on their connections:
they commit on threads and processes of their own.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from itbconsole.store.db import CHECKPOINT_AFTER_PAGES, CheckpointResult, checkpoint_wal, wal_size
from ui.link_worker import BackgroundCall

log = logging.getLogger(__name__)

#: How often the log file's size is looked at (a ``stat``; nothing else on the GUI thread).
CHECK_EVERY_MS = 2_000
#: How long a closing window waits for its last checkpoint.
FINAL_WAIT_S = 10.0
#: SQLite's page size when the database's header cannot be read.
DEFAULT_PAGE_SIZE = 4096


def page_size(path: str | Path) -> int:
    """The database's page size, from its header (bytes 16-17; 1 means 65,536)."""
    try:
        with open(path, "rb") as f:
            header = f.read(18)
    except OSError:
        return DEFAULT_PAGE_SIZE
    if len(header) < 18:
        return DEFAULT_PAGE_SIZE
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size or DEFAULT_PAGE_SIZE


class Checkpointer(QObject):
    """Checkpoints of one database's write-ahead log for the window it belongs to (its
    parent): past ``after_pages`` pages, on a worker thread; and a last one at close.

    ``checkpointed`` is emitted on the GUI thread with each
    :class:`~itbconsole.store.db.CheckpointResult` (or the error that stopped it)."""

    checkpointed = Signal(object)

    def __init__(
        self,
        window: QWidget,
        database_path: str | Path,
        *,
        every_ms: int = CHECK_EVERY_MS,
        after_pages: int = CHECKPOINT_AFTER_PAGES,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.path = Path(database_path)
        self.limit_bytes = after_pages * page_size(self.path)
        self.job: BackgroundCall | None = None
        self.closed = False
        self.timer = QTimer(self)
        self.timer.setInterval(every_ms)
        self.timer.timeout.connect(self.poll)
        window.installEventFilter(self)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.finish)

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start(self) -> None:
        self.timer.start()

    def poll(self) -> None:
        """The timer's look at the log: a checkpoint when it is past the limit."""
        if not self.running and wal_size(self.path) > self.limit_bytes:
            self.checkpoint()

    def checkpoint(self) -> BackgroundCall | None:
        """Start a checkpoint on a worker thread (None: one is running already)."""
        if self.running:
            return None
        path = self.path

        def run() -> CheckpointResult:
            began = time.perf_counter()
            result = checkpoint_wal(path)
            log.debug(
                "Checkpoint of %s: %s of %s pages in %.0f ms%s",
                path.name,
                result.checkpointed_pages,
                result.log_pages,
                (time.perf_counter() - began) * 1000,
                " (stopped short by a reader or writer)" if result.busy else "",
            )
            return result

        job = self.job = BackgroundCall(run, "checkpoint", self)
        job.done.connect(self.checkpointed)
        job.failed.connect(self._failed)
        job.start()
        return job

    def finish(self) -> None:
        """The window closes (or the app quits): the timer stops, a checkpoint running is
        waited for and a last one copies what the log still holds."""
        self.timer.stop()
        if self.closed and not wal_size(self.path):
            return
        self.closed = True
        if self.job is not None and not self.job.wait(FINAL_WAIT_S):
            log.error("A checkpoint of %s did not end in time", self.path.name)
            return
        self.job = None
        if not wal_size(self.path):
            return
        last = self.checkpoint()
        if last is not None and not last.wait(FINAL_WAIT_S):
            log.error("The last checkpoint of %s did not end in time", self.path.name)

    def _failed(self, error: object) -> None:
        log.warning("Checkpoint of %s failed: %s", self.path.name, error)
        self.checkpointed.emit(error)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.finish()
        return False


def install_checkpoints(
    window: QWidget,
    database_path: str | Path,
    *,
    every_ms: int = CHECK_EVERY_MS,
    after_pages: int = CHECKPOINT_AFTER_PAGES,
) -> Checkpointer | None:
    """Checkpoint the write-ahead log of the database at ``database_path`` for ``window``,
    whose connection was opened inside :func:`~itbconsole.store.db.checkpoints_elsewhere`.
    None for an in-memory database (no log); the one already installed if called twice."""
    if str(database_path) == ":memory:":
        return None
    existing = window.findChild(Checkpointer)
    if existing is not None:
        return existing
    checkpointer = Checkpointer(window, database_path, every_ms=every_ms, after_pages=after_pages)
    checkpointer.start()
    return checkpointer
