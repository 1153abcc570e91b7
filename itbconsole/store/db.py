"""Opening the database: connection settings, transactions and schema migrations.

Why this module exists: every other store module relies on the same guarantees, so they are
set in one place. A connection here always has

* **WAL journal**: readers (the patient list) never wait for a writer (an interrogation
  being saved), and a crash leaves either the whole last transaction or none of it;
* **synchronous=FULL**: a committed clinical record survives a power cut, not only a crash;
* **foreign keys on**: a reading cannot name a pump that does not exist;
* **a busy timeout**: a second window or a backup waits briefly instead of failing;
* **a larger page cache**, so the patient list is served from memory.

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
as a generic ``sqlite3.OperationalError`` that means nothing to a nurse and that the app
would show as an unexpected error. The connection class below turns those environmental
errors into the same typed :class:`StoreError` subclasses wherever they happen (open,
save, read). Errors about the request itself (a constraint, a trigger's refusal, bad SQL)
keep their sqlite3 type.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from itbconsole.paths import PRIVATE_FILE_MODE, create_private_file, private_dir
from itbconsole.store.schema import MIGRATIONS, Migration

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000

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

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_INTERRUPT = 9
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_PROTOCOL = 15
SQLITE_NOTADB = 26


class StoreError(RuntimeError):
    """The record store refused or failed an operation. The message is for the user."""


class NoDatabaseError(StoreError):
    """No database at the path, and this operation does not create one."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"There is no database at {path}. Run 'itbconsole db init' to create one, "
            "or pass --db PATH."
        )


class StoreUnavailableError(StoreError):
    """The database cannot be used as it stands: its file, folder or disk is at fault, not
    the request. The ``itbconsole db`` commands exit 2 on these; the app shows the message."""


def _restore_steps(path: str) -> str:
    return (
        f"close ITB Console, move the file aside for IT, copy the latest backup to {path} "
        "and run 'itbconsole db verify'"
    )


class CannotOpenError(StoreUnavailableError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"The database {path} cannot be opened: {reason}. Check the database path "
            "(--db or ITBCONSOLE_DB) and that this account may use it."
        )


class ReadOnlyError(StoreUnavailableError):
    def __init__(self, path: str, where: str = "the file, its folder or its disk") -> None:
        super().__init__(
            f"The database {path} is read only ({where} does not allow changes), so "
            "nothing can be saved to it. Ask IT to give this account write access; "
            "'itbconsole db info', 'db verify' and 'db backup' still work on it."
        )


class DiskFullError(StoreUnavailableError):
    def __init__(self, path: str, what: str = "the change was not saved") -> None:
        super().__init__(
            f"The disk holding {path} is full: {what}. Free some space on that disk "
            "(or choose another folder), then try again."
        )


class DiskIOError(StoreUnavailableError):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"The disk holding {path} reported an error ({detail}); the change was not "
            "saved. Check the disk or network share, then run 'itbconsole db verify'."
        )


class NotADatabaseError(StoreUnavailableError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is not an ITB Console database (it is not an SQLite database file). "
            "Check the database path; if this is the clinic's database, it is damaged: "
            f"{_restore_steps(path)}."
        )


class EmptyDatabaseError(StoreUnavailableError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is an empty file, not a database, and ITB Console does not turn an "
            "existing file into a new database. If the clinic's database should be here, "
            f"restore the latest backup to {path}; to start a new database, delete the "
            "empty file and run 'itbconsole db init'."
        )


class DamagedDatabaseError(StoreUnavailableError):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"The database {path} is damaged ({detail}). This is corruption of the file "
            "(a disk, copy or power fault), not tampering with records. Stop using it: "
            f"{_restore_steps(path)}."
        )


class NewerSchemaError(StoreUnavailableError):
    def __init__(self, current: int, known: int) -> None:
        super().__init__(
            f"This database uses schema version {current}, newer than this version of ITB "
            f"Console understands ({known}). Update ITB Console before opening it."
        )


class BusyError(StoreUnavailableError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"The database {path} is busy: another ITB Console window, command or backup "
            f"has held it for more than {BUSY_TIMEOUT_MS // 1000} seconds. Wait for it to "
            "finish, then try again."
        )


def _brief(text: str, limit: int = 160) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def translate(exc: sqlite3.Error, path: str) -> StoreError | None:
    """The typed store error for an environmental SQLite error, or None for the others
    (constraints, trigger refusals, SQL mistakes), which keep their own type."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    detail = _brief(str(exc))
    if primary == SQLITE_FULL:
        return DiskFullError(path)
    if primary == SQLITE_READONLY:
        return ReadOnlyError(path)
    if primary in (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL):
        return BusyError(path)
    if primary == SQLITE_CORRUPT:
        return DamagedDatabaseError(path, detail)
    if primary == SQLITE_NOTADB:
        return NotADatabaseError(path)
    if primary == SQLITE_CANTOPEN:
        return CannotOpenError(path, detail)
    if primary == SQLITE_PERM:
        return CannotOpenError(path, "this account is not allowed to use it")
    if primary == SQLITE_IOERR:
        return DiskIOError(path, detail)
    return None


def os_reason(exc: OSError) -> str:
    """Why the file system refused, in plain words."""
    reasons = {
        errno.ENAMETOOLONG: "its name is too long for this disk",
        errno.ENOTDIR: "part of its path is a file, not a folder",
        errno.EISDIR: "it is a folder, not a file",
        errno.EACCES: "this account is not allowed to use it or its folder",
        errno.EPERM: "this account is not allowed to use it or its folder",
        errno.ELOOP: "a symbolic link in its path points back on itself",
        errno.EROFS: "its disk is read only",
        errno.ENOSPC: "its disk is full",
    }
    return reasons.get(exc.errno or 0) or _brief(exc.strerror or str(exc))


def translate_os_error(exc: OSError, path: str) -> StoreError:
    """The typed store error for a file-system refusal met while opening or creating."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DiskFullError(path, "nothing was written")
    if exc.errno == errno.EROFS:
        return ReadOnlyError(path, "its disk")
    return CannotOpenError(path, os_reason(exc))


def _label(conn: sqlite3.Connection) -> str:
    return str(getattr(conn, "store_path", "the database"))


class StoreCursor(sqlite3.Cursor):
    """A cursor whose environmental errors arrive as :class:`StoreError` subclasses."""

    def _raise(self, exc: sqlite3.Error) -> None:
        typed = translate(exc, _label(self.connection))
        if typed is not None:
            raise typed from exc

    def execute(self, sql: str, parameters: Any = (), /) -> StoreCursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self._raise(exc)
            raise
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> StoreCursor:
        try:
            super().executemany(sql, seq_of_parameters)
        except sqlite3.Error as exc:
            self._raise(exc)
            raise
        return self

    def executescript(self, sql_script: str, /) -> StoreCursor:
        try:
            super().executescript(sql_script)
        except sqlite3.Error as exc:
            self._raise(exc)
            raise
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as exc:
            self._raise(exc)
            raise

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.Error as exc:
            self._raise(exc)
            raise

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as exc:
            self._raise(exc)
            raise

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.Error as exc:
            self._raise(exc)
            raise


class StoreConnection(sqlite3.Connection):
    """A connection that names its database in errors and hands out :class:`StoreCursor`.

    ``Connection.execute`` in C bypasses an overridden ``cursor()``, so the shortcuts are
    routed through it here.
    """

    store_path = "the database"
    #: How much of the file the integrity check on open covered (see ``check_integrity``).
    store_checked = ""

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or StoreCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            typed = translate(exc, _label(self))
            if typed is not None:
                raise typed from exc
            raise


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
) -> Database:
    """Open the database at ``path`` with the store's settings, checked and up to date.

    ``":memory:"`` gives a private in-memory database (tests). A path that does not exist
    is created (with ``create``; otherwise :class:`NoDatabaseError`). An existing file must
    be a whole SQLite database: it passes ``PRAGMA quick_check`` (to the end with
    ``full_check``, else within :data:`QUICK_CHECK_BUDGET_MS`) before anything is written,
    and is then switched to WAL and migrated. With ``read_only`` nothing is ever written
    (no WAL switch, no migration), so a write-protected database can still be inspected.
    """
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
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error, StoreError):
                db.conn.execute("ROLLBACK")
        db.audit_pending_head = None  # type: ignore[attr-defined]
        raise
    db.conn.execute("COMMIT")
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
