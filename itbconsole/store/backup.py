"""Consistent backups with SQLite's online backup API.

Why not copy the file: while the app is running, the database file and its WAL are being
written, and a plain copy can catch them half-way. The backup API copies a consistent
snapshot through SQLite itself, so it is safe while a refill is being saved. The copy is
written beside the destination and renamed into place only after ``PRAGMA integrity_check``
passes, so a failed backup never leaves a half-written file under the chosen name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from itbconsole.store.db import StoreError


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    integrity: str  # "ok" or SQLite's first complaint


def backup_database(
    source: sqlite3.Connection, destination: Path, *, force: bool = False
) -> BackupResult:
    """Copy the database behind ``source`` to ``destination`` and check the copy.

    Refuses to replace an existing file unless ``force``. Raises :class:`StoreError` with a
    plain message when the copy cannot be made or fails its integrity check.
    """
    destination = destination.expanduser()
    if destination.exists() and not force:
        raise StoreError(
            f"{destination} already exists. Choose another name, or add --force to replace it."
        )
    if destination.is_dir():
        raise StoreError(f"{destination} is a folder: give a file name for the backup.")
    if not destination.parent.is_dir():
        raise StoreError(f"The folder {destination.parent} does not exist.")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        target = sqlite3.connect(partial)
        try:
            source.backup(target)  # one step: a single consistent snapshot
            # A backup is one self-contained file, not a WAL database with side files.
            target.execute("PRAGMA journal_mode = DELETE")
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            target.close()
        if check != "ok":
            raise StoreError(f"The backup copy failed its integrity check: {check}")
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        raise StoreError(f"The backup could not be made: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(destination, destination.stat().st_size, check)
