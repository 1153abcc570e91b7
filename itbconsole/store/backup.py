"""Consistent backups with SQLite's online backup API.

Why not copy the file: while the app is running, the database file and its WAL are being
written, and a plain copy can catch them half-way. The backup API copies a consistent
snapshot through SQLite itself, so it is safe while a refill is being saved.

Why the copy is made the way it is:

* it is written beside the destination under a hidden name (``.NAME.partial-PID``),
  owner-only (0600), checked with the full ``PRAGMA integrity_check`` and only then renamed
  into place, so a failed backup never leaves a half-written file under the chosen name
  and never destroys the previous backup;
* a partial copy is removed on failure; one left by a killed backup (a full copy of patient
  data) is removed by the next backup into that folder or the next open of the store, once
  the process that made it has gone (a marker in the data folder remembers where it was);
* a backup is never written onto the live database, its -wal, -shm or -journal file, a file
  with such a name, a file that has such side files beside it (a database in use), a
  device, a folder or anything that is not a regular file, with or without ``force``.

A backup made in steps (:class:`BackupSteps`, what the desktop app uses) copies a few pages
at a time through its own connection to the database file (:func:`backup_file`), so it can
run on a worker thread, report progress and stop on Cancel between steps; a cancelled backup
removes its partial copy like a failed one. The integrity check of the copy is one SQLite
statement and cannot be stopped part-way: Cancel takes effect when it has finished.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from itbconsole.paths import create_private_file, data_dir, private_dir
from itbconsole.store.db import (
    BUSY_TIMEOUT_MS,
    SIDE_SUFFIXES,
    SQLITE_CORRUPT,
    SQLITE_FULL,
    SQLITE_NOTADB,
    DamagedDatabaseError,
    DiskFullError,
    StoreError,
    fsync_folder,
    os_reason,
    remove_with_sides,
    translate,
)

#: Hidden work files of this module and of ``db.connect``: ``.NAME.partial-PID`` (a backup
#: being written) and ``.NAME.creating-PID`` (a new database being built).
WORK_FILE = re.compile(r"^\..+\.(?:partial|creating)-(\d+)$")

#: A work file this old is abandoned even if its process id is in use again.
ABANDONED_AFTER_S = 24 * 3600

#: Folder in the data folder holding one marker per backup in progress.
MARKERS = "backups-in-progress"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    integrity: str  # "ok" or SQLite's first complaint


class BackupRefusedError(StoreError):
    """The destination is not a place a backup may be written. The CLI exits 2."""


class BackupCancelledError(StoreError):
    """The user cancelled a backup made in steps; nothing was written."""


#: Stages a backup made in steps reports: copying pages, then checking the copy.
COPYING = "copying"
CHECKING = "checking"

#: Pages copied per step: a few milliseconds of work, so Cancel is felt at once and a
#: writer on another connection waits at most that long for the database.
STEP_PAGES = 256


def _no_progress(stage: str, done: int, total: int) -> None:
    """Progress is optional."""


@dataclass(frozen=True)
class BackupSteps:
    """How a backup is made in steps: pages per step, where progress goes (stage, pages
    done, pages in all; called on the thread making the backup) and the Cancel flag, looked
    at between steps and after the integrity check."""

    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int, int], None] = _no_progress
    pages: int = STEP_PAGES


def backup_file(
    database: Path, destination: Path, *, force: bool = False, steps: BackupSteps
) -> BackupResult:
    """:func:`backup_database` in steps through a connection of its own to ``database``,
    opened read only and closed here: call it on the thread that makes the backup (a
    connection never moves between threads)."""
    try:
        source = sqlite3.connect(
            f"{database.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        typed = translate(exc, str(database))
        raise (typed or StoreError(f"The backup could not be made: {exc}")) from exc
    try:
        source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        source.close()
        typed = translate(exc, str(database))
        raise (typed or StoreError(f"The backup could not be made: {exc}")) from exc
    try:
        return backup_database(source, destination, force=force, steps=steps)
    finally:
        source.close()


def backup_database(
    source: sqlite3.Connection,
    destination: Path,
    *,
    force: bool = False,
    steps: BackupSteps | None = None,
) -> BackupResult:
    """Copy the database behind ``source`` to ``destination`` and check the copy.

    Refuses to replace an existing file unless ``force``, and refuses unsafe destinations
    always (module docstring). Raises :class:`StoreError` subclasses with plain messages
    when the copy cannot be made or fails its integrity check, and
    :class:`BackupCancelledError` when ``steps`` was cancelled before the copy was renamed
    into place. Without ``steps`` the copy is made in one step.
    """
    destination = destination.expanduser()
    label = str(destination)
    try:
        _refuse_unsafe(source, destination, force=force)
    except OSError as exc:
        raise BackupRefusedError(f"{label} cannot be used for a backup: {os_reason(exc)}.") from exc
    except ValueError as exc:  # a NUL character in the name
        raise BackupRefusedError(f"{label} cannot be used for a backup: not a file name.") from exc
    folder = destination.parent
    remove_abandoned_work_files(folder)
    partial = folder / f".{destination.name[:200]}.partial-{os.getpid()}"
    marker = _mark(partial)
    try:
        remove_with_sides(partial)
        create_private_file(partial)
        check = _copy(source, partial, label, steps)
        if check != "ok":
            raise DamagedDatabaseError(
                _source_label(source),
                f"the backup copy failed its integrity check: {check}; nothing was written "
                f"to {label}",
            )
        if steps is not None and steps.cancel.is_set():
            raise BackupCancelledError(f"The backup was cancelled; nothing was written to {label}.")
        os.replace(partial, destination)
        fsync_folder(folder)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise BackupRefusedError(
                f"The folder {folder} does not allow changes (read only): the backup was not "
                "written. Choose another folder."
            ) from exc
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise DiskFullError(label, "the backup was not written") from exc
        raise BackupRefusedError(f"{label} cannot be written: {os_reason(exc)}.") from exc
    finally:
        remove_with_sides(partial)
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.unlink()
    return BackupResult(destination, destination.stat().st_size, check)


class _Stop(Exception):
    """Raised from the progress callback to end SQLite's backup between two steps."""


def _copy(source: sqlite3.Connection, partial: Path, label: str, steps: BackupSteps | None) -> str:
    """Copy ``source`` into ``partial`` as one self-contained file; return its check.

    In steps, a write to the database by another connection between two steps makes SQLite
    start the copy again, so the copy is still one consistent snapshot.
    """
    try:
        target = open_copy(partial)
        try:
            if steps is None:
                source.backup(target)  # one step: a single consistent snapshot
            else:
                _copy_in_steps(source, target, steps, label)
            # A backup is one self-contained file, not a WAL database with side files.
            target.execute("PRAGMA journal_mode = DELETE")
            if steps is not None:
                steps.progress(CHECKING, 0, 0)
            return str(target.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            target.close()
    except StoreError:
        raise
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == SQLITE_FULL:  # the destination's disk
            raise DiskFullError(label, "the backup was not written") from exc
        damaged = code in (SQLITE_CORRUPT, SQLITE_NOTADB)  # the source, copied page by page
        typed = translate(exc, _source_label(source) if damaged else label)
        raise (typed or StoreError(f"The backup could not be made: {exc}")) from exc


def _copy_in_steps(
    source: sqlite3.Connection, target: sqlite3.Connection, steps: BackupSteps, label: str
) -> None:
    def step_done(_status: int, remaining: int, total: int) -> None:
        if steps.cancel.is_set():
            raise _Stop
        steps.progress(COPYING, total - remaining, total)

    cancelled = BackupCancelledError(f"The backup was cancelled; nothing was written to {label}.")
    if steps.cancel.is_set():
        raise cancelled
    try:
        source.backup(target, pages=max(1, steps.pages), progress=step_done)
    except _Stop:
        raise cancelled from None


def open_copy(path: Path) -> sqlite3.Connection:
    """The connection the copy is written through (a seam: tests limit its size)."""
    return sqlite3.connect(path)


def open_finished_copy(path: Path) -> sqlite3.Connection:
    """A read-only connection to a finished backup, to read what it holds (its audit head
    for the key file) on whichever thread made it."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)


def _source_label(source: sqlite3.Connection) -> str:
    """The path of the database being backed up, for messages."""
    label = getattr(source, "store_path", None)
    if label:
        return str(label)
    with contextlib.suppress(sqlite3.Error, StoreError):
        for row in source.execute("PRAGMA database_list").fetchall():
            if row[1] == "main" and row[2]:
                return str(row[2])
    return "the database"


def _live_files(source: sqlite3.Connection) -> list[Path]:
    """The database file behind ``source`` and its side files (some may not exist)."""
    rows = source.execute("PRAGMA database_list").fetchall()
    main = next((str(r[2]) for r in rows if r[1] == "main"), "")
    if not main:
        return []
    return [Path(main + suffix) for suffix in ("", *SIDE_SUFFIXES)]


def _refuse_unsafe(source: sqlite3.Connection, destination: Path, *, force: bool) -> None:
    label = str(destination)
    real = os.path.realpath(destination)
    for live in _live_files(source):
        same = real == os.path.realpath(live)
        if not same and destination.exists() and live.exists():
            same = os.path.samefile(destination, live)
        if same:
            raise BackupRefusedError(
                f"{label} is the database in use (or one of its side files); a backup "
                "cannot be written onto it. Choose another file name."
            )
    if destination.name.endswith(SIDE_SUFFIXES):
        raise BackupRefusedError(
            f"{label} is named like a database's side file (-wal, -shm or -journal); SQLite "
            "would mistake a backup with that name for part of another database. Choose a "
            "name such as itbconsole-backup.sqlite."
        )
    try:
        st = os.stat(destination)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise BackupRefusedError(f"{label} is a folder: give a file name for the backup.")
        if not stat.S_ISREG(st.st_mode):
            raise BackupRefusedError(
                f"{label} is a device, pipe or socket, not a file; a backup is only written "
                "to a regular file. Choose another file name."
            )
        if not force:
            raise StoreError(
                f"{label} already exists. Choose another name, or add --force to replace it."
            )
    for suffix in SIDE_SUFFIXES:
        if os.path.lexists(f"{destination}{suffix}"):
            raise BackupRefusedError(
                f"{label} has a {suffix} file beside it: it may be a database in use, and a "
                "backup put in its place would be mixed with that file. Choose another name."
            )
    if not destination.parent.is_dir():
        raise BackupRefusedError(f"The folder {destination.parent} does not exist.")


# --------------------------------------------------------------------------- left-overs


def _gone(pid: int, mtime: float) -> bool:
    """Whether the process that made a work file (or its marker) has finished with it.

    POSIX asks the system whether the process still exists; elsewhere, and when a process
    id may have been reused, a file untouched for a day counts as abandoned.
    """
    if pid == os.getpid():
        return False  # ours: another thread may be writing it now
    if time.time() - mtime > ABANDONED_AFTER_S:
        return True
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by another account
    return False


def _abandoned(path: Path) -> bool:
    match = WORK_FILE.match(path.name)
    if match is None:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and _gone(int(match.group(1)), st.st_mtime)


def remove_abandoned_work_files(folder: Path) -> list[Path]:
    """Remove partial backups and half-built databases whose process has gone.

    Best effort: a folder that cannot be listed or written is left alone. Returns what was
    removed (for tests and the log).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        if _abandoned(path):
            with contextlib.suppress(OSError):
                remove_with_sides(path)
                removed.append(path)
    return removed


def _markers() -> Path:
    return private_dir(data_dir() / MARKERS)


def _mark(partial: Path) -> Path | None:
    """Remember where this backup's partial copy is, so the next start can remove it if
    this process is killed; best effort (no marker, no cleanup at start)."""
    try:
        marker = _markers() / f"{os.getpid()}-{time.monotonic_ns()}"
        create_private_file(marker)
        marker.write_text(str(partial.absolute()), encoding="utf-8")
        return marker
    except OSError:
        return None


def remove_abandoned_backups() -> list[Path]:
    """At start: remove partial copies left by killed backups, wherever they were written."""
    removed: list[Path] = []
    try:
        markers = list(_markers().iterdir())
    except OSError:
        return removed
    for marker in markers:
        pid = marker.name.split("-", 1)[0]
        try:
            if not pid.isdigit() or not _gone(int(pid), marker.stat().st_mtime):
                continue
        except OSError:
            continue
        with contextlib.suppress(OSError, ValueError):
            partial = Path(marker.read_text(encoding="utf-8"))
            if WORK_FILE.match(partial.name):
                remove_with_sides(partial)
                removed.append(partial)
        with contextlib.suppress(OSError):
            marker.unlink()
    return removed
