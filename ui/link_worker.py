"""The worker thread that owns the pump link, and its GUI-side bridge.

Why: serial I/O can take seconds (a slow programmer head, retries, 9600 baud). It must never
run on the GUI thread. One worker thread owns the port and runs one job at a time, like a
command queue; jobs are plain callables from the services layer, so this module knows no
protocol. Results, progress and errors come back as Qt signals, delivered on the GUI thread.

Cancel does not go through the queue (the worker is busy): it sets the running job's
``threading.Event`` directly, which the driver checks between reads.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a job gets: a cancel flag, a progress callback, and the worker's shared state
    (``state["client"]`` holds the open pump client between jobs)."""

    cancel: threading.Event
    progress: Callable[[str, int, int], None]
    state: dict[str, Any] = field(default_factory=dict)


JobFn = Callable[[JobContext], Any]


@dataclass
class _Job:
    id: int
    name: str
    fn: JobFn
    cancel: threading.Event


class LinkWorker(QObject):
    """Lives on the link thread. Runs jobs in order; never touches widgets."""

    started = Signal(int, str)
    progress = Signal(int, str, int, int)
    succeeded = Signal(int, object)
    failed = Signal(int, object)

    def __init__(self) -> None:
        super().__init__()
        self.state: dict[str, Any] = {}

    @Slot(object)
    def run(self, job: _Job) -> None:
        self.started.emit(job.id, job.name)
        if job.cancel.is_set():
            self.failed.emit(job.id, JobCancelled(f"{job.name} was cancelled before it started."))
            return

        def progress(step: str, done: int, total: int) -> None:
            self.progress.emit(job.id, step, done, total)

        ctx = JobContext(cancel=job.cancel, progress=progress, state=self.state)
        try:
            result = job.fn(ctx)
        except Exception as exc:  # every failure goes back to the GUI as a value
            log.info("Link job %s failed: %s", job.name, exc, exc_info=not _is_expected(exc))
            self.failed.emit(job.id, exc)
        else:
            self.succeeded.emit(job.id, result)


class JobCancelled(Exception):
    """The user pressed Cancel before the job started."""


def _is_expected(exc: BaseException) -> bool:
    """Driver errors are expected (pump not answering...); others are logged with a traceback."""
    return type(exc).__module__.startswith("drivers") or isinstance(exc, JobCancelled)


class LinkBridge(QObject):
    """GUI-thread handle on the link thread: submit jobs, cancel, know when it is busy."""

    busy_changed = Signal(bool)
    job_progress = Signal(str, int, int)
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("pump-link")
        self.worker = LinkWorker()
        self.worker.moveToThread(self._thread)
        self._submit.connect(self.worker.run)
        self.worker.succeeded.connect(self._on_succeeded)
        self.worker.failed.connect(self._on_failed)
        self.worker.progress.connect(self._on_progress)
        self._ids = itertools.count(1)
        self._pending: dict[
            int, tuple[_Job, Callable[[Any], object], Callable[[BaseException], None]]
        ] = {}
        self._thread.start()

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def submit(
        self,
        name: str,
        fn: JobFn,
        on_success: Callable[[Any], object],
        on_failure: Callable[[BaseException], None],
    ) -> int:
        """Queue ``fn`` on the link thread; the callbacks run later on the GUI thread."""
        job = _Job(next(self._ids), name, fn, threading.Event())
        was_busy = self.busy
        self._pending[job.id] = (job, on_success, on_failure)
        if not was_busy:
            self.busy_changed.emit(True)
        self._submit.emit(job)
        return job.id

    def cancel_all(self) -> None:
        """Ask every queued and running job to stop (safe from the GUI thread)."""
        for job, _, _ in self._pending.values():
            job.cancel.set()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and stop the thread; True when it has stopped."""
        self.cancel_all()
        self._thread.quit()
        return bool(self._thread.wait(timeout_ms))

    @Slot(int, object)
    def _on_succeeded(self, job_id: int, result: object) -> None:
        entry = self._pending.pop(job_id, None)
        if not self._pending:
            self.busy_changed.emit(False)
        if entry is not None:
            entry[1](result)

    @Slot(int, object)
    def _on_failed(self, job_id: int, error: object) -> None:
        entry = self._pending.pop(job_id, None)
        if not self._pending:
            self.busy_changed.emit(False)
        if entry is not None:
            assert isinstance(error, BaseException)
            entry[2](error)

    @Slot(int, str, int, int)
    def _on_progress(self, job_id: int, step: str, done: int, total: int) -> None:
        self.job_progress.emit(step, done, total)


class BackgroundCall(QObject):
    """One call on a daemon thread of its own, its result (or exception) delivered on the
    GUI thread as ``done`` (or ``failed``): the patient list read, an interrogation's save.

    Why not the link thread: these read or write the database, not the pump, and must not
    wait in line behind a slow pump job (nor hold one up). Whatever ``fn`` touches in the
    database it opens itself (a connection never moves between threads); it touches no
    widget. A daemon thread, so quitting the app mid-call still ends the process."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[], Any], name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn: Callable[[], Any] | None = fn
        self._name = name
        self.running = False
        self._thread: threading.Thread | None = None
        self.done.connect(self._settled)
        self.failed.connect(self._settled)

    def start(self) -> None:
        self.running = True
        self._thread = threading.Thread(
            target=self._run, name=f"itbconsole-{self._name}", daemon=True
        )
        self._thread.start()

    def wait(self, seconds: float) -> bool:
        """Wait for the call to end (the app is closing and must not cut a save short);
        True when it ended. Its result is then no longer delivered."""
        if self._thread is not None:
            self._thread.join(seconds)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        fn, self._fn = self._fn, None  # what it holds (5,000 events) goes with the call
        try:
            assert fn is not None, "a BackgroundCall runs once"
            result = fn()
        except Exception as exc:  # every failure goes back to the GUI as a value
            log.info("%s ended: %s", self._name, exc)
            self.failed.emit(exc)
        else:
            self.done.emit(result)

    @Slot(object)
    def _settled(self, _outcome: object) -> None:
        self.running = False
