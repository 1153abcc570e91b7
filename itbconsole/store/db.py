"""Opening the database: connection settings, transactions and schema migrations.

Why this module exists: every other store module relies on the same guarantees, so they are
set in one place. A connection here always has

* **WAL journal**: readers (the patient list) never wait for a writer (an interrogation
  being saved), and a crash leaves either the whole last transaction or none of it;
* **synchronous=FULL**: a committed clinical record survives a power cut, not only a crash;
* **foreign keys on**: a reading cannot name a pump that does not exist;
* **a busy timeout**: a second window or a backup waits briefly instead of failing;
* **a larger page cache**, so the patient list is served from memory.

The window's own connection (opened inside :func:`checkpoints_elsewhere`) does not copy the
write-ahead log back into the database itself: SQLite would do that inside whichever commit
takes the log past 1,000 pages, holding the window for the copy and the fsync of the
database file, as long as the disk takes (under 10 ms on an idle SSD; 0.4 s when the file
had much unwritten, as a freshly copied clinic does). A worker does it instead (:func:`checkpoint_wal`, run by ``ui/checkpoint.py``);
:data:`WINDOW_AUTOCHECKPOINT_PAGES` is only a backstop, so the log stays bounded even if
that worker never runs. Every other connection (the command line, background saves, the
sync) keeps SQLite's automatic checkpoint.

Transactions are explicit (``BEGIN IMMEDIATE`` ... ``COMMIT``): the Python driver's implicit
transactions are switched off so that nothing is committed half-way by accident.

Why the open is guarded: the file behind ``--db`` may be anything. A folder, a device, an
empty file, a file that is not a database, a damaged database, a read-only file or disk, a
full disk: each is refused *before* anything is written, with a :class:`StoreError`
subclass whose message says what happened and what to do. A damaged file is never
"initialised" or written to; an existing empty file is never silently turned into a new
database (only a path that does not exist is created, and atomically: built beside its
final name and linked into place, so a crash never leaves an empty or half-made database).

Why errors are translated: SQLite reports a full disk, a read-only file or a damaged page
as a generic ``sqlite3.OperationalError``. The connection :func:`connect` opens is
:class:`~itbconsole.store.errors.StoreConnection`, which turns those environmental errors
into typed :class:`StoreError` subclasses wherever they happen (open, save, read); the
errors and their translation live in :mod:`itbconsole.store.errors` and are re-exported
here, so ``from itbconsole.store.db import StoreError`` keeps working.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from itbconsole.paths import PRIVATE_FILE_MODE, create_private_file, private_dir
from itbconsole.store.errors import (
    BUSY_TIMEOUT_MS,
    SQLITE_BUSY,
    SQLITE_CANTOPEN,
    SQLITE_CORRUPT,
    SQLITE_FULL,
    SQLITE_INTERRUPT,
    SQLITE_IOERR,
    SQLITE_LOCKED,
    SQLITE_NOTADB,
    SQLITE_PERM,
    SQLITE_PROTOCOL,
    SQLITE_READONLY,
    BusyError,
    CannotOpenError,
    DamagedDatabaseError,
    DiskFullError,
    DiskIOError,
    EmptyDatabaseError,
    NewerSchemaError,
    NoDatabaseError,
    NotADatabaseError,
    ReadOnlyError,
    StoreConnection,
    StoreCursor,
    StoreError,
    StoreUnavailableError,
    _brief,
    _label,
    os_reason,
    translate,
    translate_os_error,
)
from itbconsole.store.schema import MIGRATIONS, Migration

#: This module's names, and the errors and their translation re-exported from
#: :mod:`itbconsole.store.errors` (so ``from itbconsole.store.db import StoreError`` works).
__all__ = [
    "BUSY_TIMEOUT_MS",
    "CHECKPOINT_AFTER_PAGES",
    "QUICK_CHECK_BUDGET_MS",
    "SIDE_SUFFIXES",
    "SQLITE_BUSY",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_FULL",
    "SQLITE_INTERRUPT",
    "SQLITE_IOERR",
    "SQLITE_LOCKED",
    "SQLITE_MAGIC",
    "SQLITE_NOTADB",
    "SQLITE_PERM",
    "SQLITE_PROTOCOL",
    "SQLITE_READONLY",
    "WINDOW_AUTOCHECKPOINT_PAGES",
    "BackgroundIntegrityCheck",
    "BusyError",
    "CannotOpenError",
    "CheckpointResult",
    "DamagedDatabaseError",
    "DiskFullError",
    "DiskIOError",
    "EmptyDatabaseError",
    "NewerSchemaError",
    "NoDatabaseError",
    "NotADatabaseError",
    "ReadOnlyError",
    "StoreConnection",
    "StoreCursor",
    "StoreError",
    "StoreUnavailableError",
    "check_integrity",
    "checkpoint_wal",
    "checkpoints_elsewhere",
    "configure",
    "connect",
    "fsync_folder",
    "integrity_check_after_open",
    "migrate",
    "os_reason",
    "pending_integrity_check",
    "refuse_newer",
    "remove_with_sides",
    "schema_version",
    "transaction",
    "translate",
    "translate_os_error",
    "utc_iso",
    "utc_now",
    "wal_size",
]

log = logging.getLogger(__name__)

#: How long the integrity check on open may run. ``PRAGMA quick_check`` reads every page:
#: on a 1.75 GB database (5,000 patients x 10 years) it takes about 1.1 s with the file in
#: the page cache and about 22 s from a cold disk, too long for every start. Within this
#: budget it covers a clinic database of a few hundred MB; beyond it the check stops there
#: and says so in the log. Backups run the full ``integrity_check`` and ``db verify`` runs
#: ``quick_check`` to the end, so damage further in is still found.
QUICK_CHECK_BUDGET_MS = 250

#: Files SQLite keeps beside a database; a backup must never be written onto one.
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")

SQLITE_MAGIC = b"SQLite format 3\x00"


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_iso(moment: datetime) -> str:
    """A timezone-aware moment as fixed-width ISO 8601 UTC text.

    Fixed width (always microseconds, always ``+00:00``) so that text order is time order
    and SQLite's date functions read it directly.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreError("Times must carry a timezone before they are stored.")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- opening


def connect(
    path: str | Path,
    *,
    create: bool = True,
    read_only: bool = False,
    full_check: bool = False,
    check_later: bool | None = None,
) -> Database:
    """Open the database at ``path`` with the store's settings, checked and up to date.

    ``":memory:"`` gives a private in-memory database (tests). A path that does not exist
    is created (with ``create``; otherwise :class:`NoDatabaseError`). An existing file must
    be a whole SQLite database: it passes ``PRAGMA quick_check`` (to the end with
    ``full_check``, else within :data:`QUICK_CHECK_BUDGET_MS`) before anything is written,
    and is then switched to WAL and migrated. With ``read_only`` nothing is ever written
    (no WAL switch, no migration), so a write-protected database can still be inspected.

    ``check_later`` (default: inside :func:`integrity_check_after_open`) lets a window
    show without waiting for ``quick_check``, when opening writes nothing (a WAL database
    at this program's schema): the check then runs on its own connection in the background
    (:class:`BackgroundIntegrityCheck`) and every write waits for it, so a damaged file is
    still refused before anything is written to it.
    """
    if check_later is None:
        check_later = _check_later.get()
    target = str(path)
    if target == ":memory:":
        conn = sqlite3.connect(
            ":memory:",
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            factory=StoreConnection,
        )
        db = Database(conn, execute_plugins=False)
        configure(db)
        migrate(db)
        return db
    file = Path(target)
    try:
        if not _existing_database(file, target):
            if read_only or not create:
                raise NoDatabaseError(target)
            _refuse_orphan_sides(file, target)
            _create(file, target)
        elif not read_only:
            _require_writable(file, target)
        conn = _open_file(file, target, read_only=read_only)
    except sqlite3.Error as exc:
        raise (translate(exc, target) or CannotOpenError(target, _brief(str(exc)))) from exc
    except OSError as exc:
        raise translate_os_error(exc, target) from exc
    except ValueError as exc:  # a NUL character in the path
        raise CannotOpenError(target, "its name contains a NUL character") from exc
    db = Database(conn, execute_plugins=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if check_later and not (read_only or full_check) and _opens_without_writing(db):
            configure(db)  # settings only: already WAL, and nothing to migrate
            conn.integrity_check = BackgroundIntegrityCheck(file, target)  # type: ignore[attr-defined]
            if not _start_check_later.get():
                conn.integrity_check.start()  # type: ignore[attr-defined]
            return db
        check_integrity(db, budget_ms=None if full_check else QUICK_CHECK_BUDGET_MS)
        if read_only:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA query_only = ON")
            refuse_newer(db)
        else:
            configure(db)
            migrate(db)
    except BaseException:
        conn.close()
        raise
    return db


def _existing_database(file: Path, label: str) -> bool:
    """False when nothing is at ``file``; True when a plausible SQLite database is there.

    Refuses, before SQLite sees it, anything that is not: a folder, a device or pipe, an
    empty file, a file without SQLite's header, a file whose size is not a whole number of
    pages or is shorter than its header says (cut short: damaged, not tampered).
    """
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return False  # other refusals (a name too long, not a folder) reach the caller
    if stat.S_ISDIR(st.st_mode):
        raise CannotOpenError(label, "it is a folder, not a database file")
    if not stat.S_ISREG(st.st_mode):
        raise CannotOpenError(label, "it is a device, pipe or socket, not a database file")
    if st.st_size == 0:
        raise EmptyDatabaseError(label)
    with open(file, "rb") as handle:
        header = handle.read(100)
    if not header.startswith(SQLITE_MAGIC):
        raise NotADatabaseError(label)
    if len(header) < 100:
        raise DamagedDatabaseError(label, "the file is shorter than a database header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise DamagedDatabaseError(label, "its header names an impossible page size")
    if st.st_size % page_size:
        raise DamagedDatabaseError(
            label,
            f"its size, {st.st_size:,} bytes, is not a whole number of {page_size:,}-byte "
            "pages: the file was cut short or added to",
        )
    header_pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    if header_valid and st.st_size < header_pages * page_size and not _journal_pending(file):
        raise DamagedDatabaseError(
            label,
            f"it holds {st.st_size // page_size:,} pages but its header says "
            f"{header_pages:,}: the file was cut short",
        )
    return True


def _refuse_orphan_sides(file: Path, label: str) -> None:
    """A -wal or -journal without its database belongs to a file that was moved or deleted.

    SQLite would replay it into a new database made at that name and damage it, so nothing
    is created until someone has looked at it (nothing is deleted here).
    """
    for suffix in SIDE_SUFFIXES:
        if os.path.lexists(f"{file}{suffix}"):
            raise CannotOpenError(
                label,
                f"its {suffix} file is there but the database file is not (moved or "
                "deleted?); restore the database, or move the side files aside, then try again",
            )


def _journal_pending(file: Path) -> bool:
    """Whether a -wal or -journal beside ``file`` still holds pages for it."""
    for suffix in ("-wal", "-journal"):
        with contextlib.suppress(OSError):
            if os.stat(f"{file}{suffix}").st_size > 0:
                return True
    return False


def _require_writable(file: Path, label: str) -> None:
    """Refuse a read-write open of a file the system will not let us change.

    ``os.access`` also reports a read-only disk (even to root). The folder must be writable
    for the -wal and -shm files unless both already exist.
    """
    if not os.access(file, os.W_OK):
        raise ReadOnlyError(label, "the file or its disk")
    sides_exist = all(os.path.exists(f"{file}{s}") for s in ("-wal", "-shm"))
    if not sides_exist and not os.access(file.parent, os.W_OK):
        raise ReadOnlyError(label, "its folder")


def _sqlite_connect(uri: str) -> StoreConnection:
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
        factory=StoreConnection,
    )
    assert isinstance(conn, StoreConnection)
    return conn


def _open_file(file: Path, label: str, *, read_only: bool) -> StoreConnection:
    """Connect without ever creating a file (``mode=rw`` or ``mode=ro``).

    A read-only WAL database whose folder cannot hold a -shm file is opened as immutable,
    which is safe only when no -wal file holds pages for it (checked).
    """
    uri = file.absolute().as_uri()
    conn = _sqlite_connect(f"{uri}?mode={'ro' if read_only else 'rw'}")
    conn.store_path = label
    if not read_only:
        return conn
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        _keep_sides_writable(file)
        return conn
    except StoreUnavailableError as exc:
        conn.close()
        if not isinstance(exc, (CannotOpenError, ReadOnlyError)) or _journal_pending(file):
            raise
    conn = _sqlite_connect(f"{uri}?mode=ro&immutable=1")
    conn.store_path = label
    return conn


def _keep_sides_writable(file: Path) -> None:
    """After a read-only open of our own database, give its -wal and -shm back to us (0600).

    SQLite gives a new or empty side file the database file's own mode, and a read-only
    connection cannot remove them when it closes: inspecting a write-protected (0444)
    database would leave a 0444 -wal or -shm that keeps it read only after write access is
    given back. Changing the mode does not disturb the descriptors SQLite already holds.
    """
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        if os.stat(file).st_uid != os.geteuid():
            return  # another account's database: SQLite's own rules apply
        for suffix in ("-wal", "-shm"):
            side = f"{file}{suffix}"
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(side)
                if st.st_uid == os.geteuid() and not st.st_mode & stat.S_IWUSR:
                    os.chmod(side, PRIVATE_FILE_MODE)


def _create(file: Path, label: str) -> None:
    """Create a new database at ``file``: built beside it, then linked into place.

    The new file is owner-only (see :func:`itbconsole.paths.create_private_file`) and is
    made in rollback-journal mode, so that when its connection closes it is one complete
    file; the normal open then switches it to WAL. A failure (a full disk, say) leaves
    nothing behind, and a process killed half-way leaves only a ``.NAME.creating-PID``
    file that the next open of the folder removes.
    """
    building = file.with_name(f".{file.name[:200]}.creating-{os.getpid()}")
    try:
        private_dir(file.parent)
        remove_with_sides(building)
        create_private_file(building)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ReadOnlyError(label, "its folder") from exc
        raise
    try:
        conn = _sqlite_connect(building.absolute().as_uri() + "?mode=rw")
        conn.store_path = label
        try:
            db = Database(conn, execute_plugins=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = FULL")
            migrate(db)
        except DiskFullError as exc:
            raise DiskFullError(label, "the database was not created") from exc
        finally:
            conn.close()
        try:
            os.link(building, file)  # never replaces a database another process just made
        except FileExistsError:
            log.info("%s was created by another process meanwhile; using it", label)
        except OSError:  # a disk without hard links
            if not file.exists():
                os.replace(building, file)
        fsync_folder(file.parent)
    finally:
        remove_with_sides(building)


def remove_with_sides(path: Path) -> None:
    """Remove ``path`` and any -wal, -shm or -journal beside it, if present."""
    for suffix in ("", *SIDE_SUFFIXES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def fsync_folder(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable (POSIX; a no-op where unsupported)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_check_later: ContextVar[bool] = ContextVar("check_later", default=False)
_start_check_later: ContextVar[bool] = ContextVar("start_check_later", default=False)


@contextmanager
def integrity_check_after_open(*, start_later: bool = False) -> Iterator[None]:
    """Opens within this block run the integrity check in the background (see
    :func:`connect`'s ``check_later``): the desktop start, where the check would otherwise
    hold the window back by up to :data:`QUICK_CHECK_BUDGET_MS`. ``start_later``: the
    check is made but not started; the caller starts it (:func:`pending_integrity_check`)
    once the window shows, and the first write starts it if nothing has."""
    token = _check_later.set(True)
    later = _start_check_later.set(start_later)
    try:
        yield
    finally:
        _start_check_later.reset(later)
        _check_later.reset(token)


def _opens_without_writing(db: Database) -> bool:
    """Whether opening read-write would write nothing: already WAL, every migration in.

    Only then may the integrity check wait; a switch to WAL or a migration writes, and
    nothing is written to a file before it is checked.
    """
    mode = db.conn.execute("PRAGMA journal_mode").fetchone()
    if mode is None or str(mode[0]).lower() != "wal":
        return False
    if "migrations" not in db.table_names():
        return False
    applied = {int(row[0]) for row in db.conn.execute("SELECT id FROM migrations")}
    return {m.id for m in MIGRATIONS} <= applied and max(applied, default=0) <= max(
        (m.id for m in MIGRATIONS), default=0
    )


class BackgroundIntegrityCheck:
    """``PRAGMA quick_check`` of a database already open for the window, on a thread.

    Why: the check reads pages for up to :data:`QUICK_CHECK_BUDGET_MS` (the same budget
    as an open that waits for it) and the window has nothing to wait for meanwhile: it only
    reads. Writing is what must not happen to a damaged file, so :func:`transaction` waits
    for the result and raises the check's error (a :class:`DamagedDatabaseError`, or
    whatever stopped the check) instead of writing; the window is told through
    :meth:`when_done` and says so to the user. The check has its own read-only connection,
    so it never holds up the window's reads or is interrupted by them.
    """

    def __init__(self, file: Path, label: str) -> None:
        self.file = file
        self.label = label
        #: What the check found wrong (None: nothing, or not finished yet).
        self.error: StoreError | None = None
        #: How much of the file was read ("whole file" or "the first N ms").
        self.checked = ""
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[BackgroundIntegrityCheck], None]] = []
        self._thread = threading.Thread(target=self._run, name="integrity-check", daemon=True)
        self._started = False

    def start(self) -> None:
        """Start the check (once; later calls do nothing). A window may start it a moment
        after it shows, so that the check does not compete with building the window; a
        write never waits for a check that has not started: it starts it."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the check has finished (found damage or not); a wait that can wait
        starts the check if nobody has."""
        if timeout != 0:
            self.start()
        return self._done.wait(timeout)

    def raise_if_damaged(self) -> None:
        """Wait for the check; raise what it found, so that nothing is written."""
        self.start()
        self._done.wait()
        if self.error is not None:
            raise self.error.with_traceback(None)

    def when_done(self, callback: Callable[[BackgroundIntegrityCheck], None]) -> None:
        """Call ``callback(check)`` when the check finishes (now, if it has), on the
        thread that finishes it: a window hands it on to its own thread."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _run(self) -> None:
        try:
            conn = _sqlite_connect(f"{self.file.absolute().as_uri()}?mode=ro")
            conn.store_path = self.label
            try:
                check_integrity(
                    Database(conn, execute_plugins=False), budget_ms=QUICK_CHECK_BUDGET_MS
                )
                self.checked = conn.store_checked
            finally:
                conn.close()
        except StoreError as exc:
            self.error = exc
        except sqlite3.Error as exc:
            self.error = translate(exc, self.label) or DamagedDatabaseError(
                self.label, _brief(str(exc))
            )
        except Exception as exc:  # never leave the writes waiting on a check that died
            log.exception("Integrity check of %s failed", self.label)
            self.error = CannotOpenError(self.label, _brief(str(exc)))
        if self.error is not None:
            log.error("Integrity check of %s: %s", self.label, self.error)
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("Integrity check callback failed")


def pending_integrity_check(db: Database) -> BackgroundIntegrityCheck | None:
    """The background check of ``db`` (see :func:`integrity_check_after_open`), if any."""
    check = getattr(db.conn, "integrity_check", None)
    return check if isinstance(check, BackgroundIntegrityCheck) else None


def check_integrity(db: Database, *, budget_ms: int | None = None) -> bool:
    """Run ``PRAGMA quick_check``; raise :class:`DamagedDatabaseError` if it finds damage.

    Returns True when the whole file was checked, False when the check reached
    ``budget_ms`` and was stopped there (found nothing so far). SQLite checks all b-trees
    in one step that a progress handler cannot stop, so a timer interrupts it; the lock
    makes sure the timer can only interrupt the check itself, never a later statement.
    """
    conn = db.conn
    running = True
    lock = threading.Lock()

    def stop() -> None:
        with lock:
            if running:
                conn.interrupt()

    timer = threading.Timer(budget_ms / 1000, stop) if budget_ms else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    complete = True
    try:
        rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF != SQLITE_INTERRUPT:
            raise
        rows, complete = [], False
    finally:
        with lock:
            running = False
        if timer is not None:
            timer.cancel()
    if rows and rows[0][0] != "ok":
        lines = [ln for r in rows for ln in str(r[0]).splitlines() if not ln.startswith("***")]
        raise DamagedDatabaseError(_label(conn), "integrity check: " + _brief("; ".join(lines)))
    if not complete:
        log.info(
            "Quick check of %s stopped after %s ms; backups and 'db verify' check the whole file",
            _label(conn),
            budget_ms,
        )
    if isinstance(conn, StoreConnection):
        conn.store_checked = "whole file" if complete else f"the first {budget_ms} ms"
    return complete


def configure(db: Database) -> None:
    """Apply the connection settings described in the module docstring."""
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    if not db.memory:
        db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    # 32 MB of page cache: the clinic-wide lists touch a few MB on every refresh.
    db.execute("PRAGMA cache_size = -32000")
    if not db.memory and _checkpoint_elsewhere.get():
        db.execute(f"PRAGMA wal_autocheckpoint = {WINDOW_AUTOCHECKPOINT_PAGES}")


#: The window's connection checkpoints the write-ahead log itself only past this many pages
#: (about 80 MB at 4 KB pages): a backstop, never reached while its checkpoint worker runs
#: (it starts at :data:`CHECKPOINT_AFTER_PAGES`). SQLite's default is 1,000 pages.
WINDOW_AUTOCHECKPOINT_PAGES = 20_000

#: Past this many pages in the write-ahead log the window's worker checkpoints it (SQLite's
#: own automatic checkpoint starts at the same size).
CHECKPOINT_AFTER_PAGES = 1_000

_checkpoint_elsewhere: ContextVar[bool] = ContextVar("checkpoint_elsewhere", default=False)


@contextmanager
def checkpoints_elsewhere() -> Iterator[None]:
    """Opens within this block leave the write-ahead log's checkpoints to a worker (see the
    module docstring): the desktop window's connection, whose commits run on the GUI
    thread. Whoever opens a connection this way must run :func:`checkpoint_wal` on
    another thread (``ui/checkpoint.py`` does)."""
    token = _checkpoint_elsewhere.set(True)
    try:
        yield
    finally:
        _checkpoint_elsewhere.reset(token)


@dataclass(frozen=True)
class CheckpointResult:
    """What :func:`checkpoint_wal` did: the log's pages, how many are now in the database,
    whether a reader or writer stopped it short, and the log file's size after."""

    log_pages: int
    checkpointed_pages: int
    busy: bool
    wal_bytes: int


def wal_size(path: str | Path) -> int:
    """The write-ahead log's size in bytes beside the database at ``path`` (0: none)."""
    try:
        return os.stat(f"{path}-wal").st_size
    except OSError:
        return 0


def checkpoint_wal(path: str | Path, *, truncate: bool = True) -> CheckpointResult:
    """Copy the write-ahead log of the database at ``path`` into the database, on a
    connection of its own (call it on a worker thread: it writes pages all over the
    database file and fsyncs it, as long as the disk takes).

    A PASSIVE checkpoint: it never waits for, nor blocks, the window's reads and writes
    (a reader still on an older snapshot leaves the pages it needs for the next time).
    Then, with ``truncate`` and only when every page was copied, the emptied log file is
    cut to nothing (TRUNCATE): that takes the write lock for a few milliseconds without
    waiting for anyone (busy: left for the next time). Never creates a database."""
    target = Path(path)
    if not target.exists():
        return CheckpointResult(0, 0, False, 0)
    conn = sqlite3.connect(
        f"{target.absolute().as_uri()}?mode=rw",
        uri=True,
        timeout=0,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        busy, log_pages, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if truncate and not busy and log_pages >= 0 and done == log_pages and log_pages:
            again = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            busy = busy or again[0]
    finally:
        conn.close()
    return CheckpointResult(int(log_pages), int(done), bool(busy), wal_size(target))


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

    IMMEDIATE takes the write lock at the start, so two writers never both read the audit
    chain's head and then collide; the second waits (busy timeout) instead. Inside an open
    transaction this joins it, so several records can be saved as one (all or none).
    """
    if db.conn.in_transaction:
        yield db  # the outer transaction commits or rolls back
        return
    check = pending_integrity_check(db)
    if check is not None:
        check.raise_if_damaged()  # nothing is written to a file that has not passed
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error, StoreError):
                db.conn.execute("ROLLBACK")
        db.audit_pending_head = None  # type: ignore[attr-defined]
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        db.audit_pending_head = None  # type: ignore[attr-defined]
        raise
    after = getattr(db, "after_commit", None)
    if after is not None:
        after()  # the audit log notes its sealed head outside the database


def schema_version(db: Database) -> int:
    """The highest migration applied (0 for an empty database)."""
    if "migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT COALESCE(MAX(id), 0) FROM migrations").fetchone()
    return int(row[0])


def refuse_newer(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    """A database newer than this program is refused rather than guessed at."""
    known = max((m.id for m in migrations), default=0)
    current = schema_version(db)
    if current > known:
        raise NewerSchemaError(current, known)


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction.

    Returns the ids applied now (empty when already up to date, so it is safe to call on
    every start). A database newer than this program is refused rather than guessed at.
    """
    refuse_newer(db, migrations)
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations ("
        " id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied: list[int] = []
    for migration in migrations:
        with transaction(db):
            # Re-check inside the write lock: another process may have just applied it.
            done = db.execute("SELECT 1 FROM migrations WHERE id = ?", [migration.id]).fetchone()
            if done:
                continue
            for statement in migration.statements:
                db.conn.execute(statement)
            db.conn.execute(
                "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                [migration.id, migration.name, utc_iso(utc_now())],
            )
        applied.append(migration.id)
    return applied
