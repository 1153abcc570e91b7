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
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from itbconsole.store.schema import MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 5_000


class StoreError(RuntimeError):
    """The record store refused or failed an operation. The message is for the user."""


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


def connect(path: str | Path) -> Database:
    """Open (creating if needed) the database at ``path`` with the store's settings.

    ``":memory:"`` gives a private in-memory database (tests). The schema is brought up to
    date before the database is returned.
    """
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    db = Database(conn, execute_plugins=False)
    configure(db)
    migrate(db)
    return db


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
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def schema_version(db: Database) -> int:
    """The highest migration applied (0 for an empty database)."""
    if "migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT COALESCE(MAX(id), 0) FROM migrations").fetchone()
    return int(row[0])


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction.

    Returns the ids applied now (empty when already up to date, so it is safe to call on
    every start). A database newer than this program is refused rather than guessed at.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations ("
        " id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied: list[int] = []
    known = max((m.id for m in migrations), default=0)
    current = schema_version(db)
    if current > known:
        raise StoreError(
            f"This database uses schema version {current}, newer than this version of ITB "
            f"Console understands ({known}). Update ITB Console before opening it."
        )
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
