"""The store's errors: the :class:`StoreError` hierarchy and the translation of SQLite and
file-system errors into it.

Every failure a user can meet in the record store arrives as a :class:`StoreError` whose
message says what happened and what to do. Those caused by the database's file, folder or
disk are :class:`StoreUnavailableError` subclasses; the record rules' refusals (an unknown
pump, a pump on the wrong patient) are plain :class:`StoreError` subclasses.

Why errors are translated: SQLite reports a full disk, a read-only file or a damaged page
as a generic ``sqlite3.OperationalError`` that means nothing to a nurse and that the app
would show as an unexpected error. The connection and cursor classes here (the ones
:func:`itbconsole.store.db.connect` opens) turn those environmental errors into the same
typed :class:`StoreError` subclasses wherever they happen (open, save, read). Errors about
the request itself (a constraint, a trigger's refusal, bad SQL) keep their sqlite3 type.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

#: How long a connection waits for another writer before giving up with :class:`BusyError`
#: (applied by :mod:`itbconsole.store.db`, named in the error's message).
BUSY_TIMEOUT_MS = 5_000

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


class UnknownPumpError(StoreError):
    """The pump's serial is not in the store: register it to a patient first."""


class WrongPatientError(StoreError):
    """The pump belongs to another patient than the one the record was meant for."""


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
