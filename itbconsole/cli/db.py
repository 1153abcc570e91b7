"""``itbconsole db``: create, inspect, verify and back up the record store.

Exit status: 0 success (and, for ``verify``, an intact audit trail), 1 when the operation
failed or ``verify`` found tampering, 2 for bad input, an unsafe backup destination, or a
database that cannot be used as it is (read only for ``init``, disk full, empty, not a
database, damaged, newer schema, busy, cannot be opened). Every failure is one plain line on
stderr, never a traceback.

Only ``init`` creates a database, and only where no file exists. ``info``, ``verify`` and
``backup`` never write a schema into a missing or empty file, and fall back to a read-only
open when the database cannot be written, so a write-protected copy can still be checked.
"""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from itbconsole.cli.args import ANCHOR, PATH
from itbconsole.paths import default_db_path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add ``db`` and its subcommands to the top-level parser."""
    parser = subparsers.add_parser(
        "db",
        help="create, inspect, verify or back up the record store",
        description="Work with the local record store (see --db for which file).",
    )
    parser.set_defaults(handler=lambda args: _usage(parser))
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(parser))
    sub.add_parser(
        "init", help="create the database (or bring its schema up to date)"
    ).set_defaults(handler=cmd_init)
    sub.add_parser("info", help="show the file, schema version and record counts").set_defaults(
        handler=cmd_info
    )
    verify = sub.add_parser(
        "verify",
        help="check the audit trail and its seals; exit 0 only when it is proven intact",
        description=(
            "Check the audit chain, every entry's seal (with this database's keys on this "
            "computer), the newest entry this computer sealed, the protective triggers, and "
            "every record against its entry. Exit 0 intact and proven; 1 tampered, or not "
            "proven (a seal whose key is not on this computer)."
        ),
    )
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        type=ANCHOR,
        metavar="SEQ:HASH",
        help="an audit head taken earlier (printed on records, beside backups), e.g. "
        "1234:3f2a9c1d; the trail must still contain it (repeatable)",
    )
    verify.set_defaults(handler=cmd_verify)
    keys = sub.add_parser(
        "import-keys",
        help="take the audit keys from a backup's .audit-keys file (after moving or restoring)",
    )
    keys.add_argument("path", metavar="FILE", type=PATH, help="the backup's NAME.audit-keys file")
    keys.add_argument(
        "--restored",
        action="store_true",
        help="this database was just restored from that backup: its last entry becomes the "
        "newest this computer knows of",
    )
    keys.set_defaults(handler=cmd_import_keys)
    backup = sub.add_parser(
        "backup", help="make a consistent, checked copy (safe while the app is running)"
    )
    backup.add_argument("path", metavar="PATH", type=PATH, help="file to write the copy to")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(handler=cmd_backup)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def _path(args: argparse.Namespace) -> Path:
    return default_db_path(getattr(args, "db", None))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn every store failure into one line on stderr and an exit status (module doc)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from itbconsole.store import BackupRefusedError, StoreError, StoreUnavailableError

        try:
            return handler(args)
        except (StoreUnavailableError, BackupRefusedError) as exc:
            print(_one_line(str(exc)), file=sys.stderr)
            return EXIT_BAD_INPUT
        except StoreError as exc:
            print(_one_line(str(exc)), file=sys.stderr)
            return EXIT_FAILED
        except (sqlite3.Error, OSError) as exc:  # not foreseen above: still no traceback
            print(_one_line(f"The database could not be used: {exc}"), file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def _open_existing(args: argparse.Namespace, *, full_check: bool = False) -> Any:
    """Open the store without ever creating one; read only when it cannot be written."""
    from itbconsole.store import ReadOnlyError, Store

    path = _path(args)
    try:
        return Store.open(path, create=False, full_check=full_check)
    except ReadOnlyError:
        return Store.open(path, create=False, read_only=True, full_check=full_check)


def _outdated(store: Any) -> bool:
    """A read-only database older than this program: its newer tables do not exist."""
    from itbconsole.store.schema import MIGRATIONS

    return bool(store.read_only) and store.schema_version() < MIGRATIONS[-1].id


@_guarded
def cmd_init(args: argparse.Namespace) -> int:
    from itbconsole.store import Store

    path = _path(args)
    existed = os.path.lexists(path)
    with Store.open(path) as store:
        version = store.schema_version()
    state = "is up to date" if existed else "was created"
    print(f"Database {path} {state} (schema version {version}).")
    return EXIT_OK


@_guarded
def cmd_info(args: argparse.Namespace) -> int:
    with _open_existing(args) as store:
        print(f"Database: {store.path}")
        version = store.schema_version()
        print(f"Schema version: {version}")
        print(f"Size: {store.path.stat().st_size:,} bytes")
        checked = getattr(store.db.conn, "store_checked", "")
        if checked == "whole file":
            print("Quick integrity check: ok (whole file)")
        elif checked:
            print(f"Quick integrity check: nothing found in {checked}; 'db verify' checks it all")
        if store.read_only:
            print("Access: read only (nothing can be saved to this file)")
        if _outdated(store):
            print(
                "Record counts: not shown; this read-only database has an older schema that "
                "ITB Console cannot bring up to date without write access."
            )
            return EXIT_OK
        for table, count in store.counts().items():
            print(f"  {table:<20} {count:>10,}")
    return EXIT_OK


class _VerifyProgress:
    """How far ``db verify`` has gone, on stderr (stdout keeps the report alone): a line
    each tenth of a stage, so a large database shows it is working without flooding a log."""

    STEPS = 10

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        step = self.STEPS if total <= 0 else min(self.STEPS, done * self.STEPS // total)
        if step <= self.shown.get(stage, 0):
            return
        self.shown[stage] = step
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        print(f"Checking {stage}: {percent}% ({done:,} of {max(done, total):,})", file=self.stream)
        self.stream.flush()


@_guarded
def cmd_verify(args: argparse.Namespace) -> int:
    # The whole integrity check first: a damaged file is reported as damaged (exit 2),
    # never as tampered records. Read only: verifying never writes (nor seals) anything.
    from itbconsole.store import Store, StoreUnavailableError

    with Store.open(_path(args), create=False, read_only=True, full_check=True) as store:
        if _outdated(store):
            raise StoreUnavailableError(
                f"The database {store.path} is read only and has an older schema (version "
                f"{store.schema_version()}), so its records cannot be verified here. Verify "
                "a copy in a writable folder, or give this account write access."
            )
        report = store.verify(tuple(args.anchor), progress=_VerifyProgress(sys.stderr))
        duplicates = store.duplicate_identities()
    print(f"Database: {store.path}")
    print(report.summary())
    if duplicates:
        print(
            "Patients sharing an identity (recorded before the one-patient-per-number rule); "
            "an administrator resolves each by correcting one record or marking it entered "
            "in error:"
        )
        for kind, number, ids in duplicates:
            print(f"  {kind} {number}: patients {', '.join(str(i) for i in ids)}")
    return EXIT_OK if report.proven else EXIT_FAILED


@_guarded
def cmd_backup(args: argparse.Namespace) -> int:
    from itbconsole.store.audit_keys import key_file_for

    with _open_existing(args) as store:
        result = store.backup(args.path, force=args.force)
        head = store.audit_head()
        has_keys = store.audit_keys is not None
    print(
        f"Backup written to {result.path} ({result.size_bytes:,} bytes); "
        f"integrity check: {result.integrity}."
    )
    print(f"Audit head at the backup: {head} (an anchor for 'db verify --anchor').")
    if has_keys:
        print(
            f"Audit keys written to {key_file_for(result.path)}: keep it with the backup, "
            "as private as the backup itself."
        )
    return EXIT_OK


@_guarded
def cmd_import_keys(args: argparse.Namespace) -> int:
    from itbconsole.store import Store

    with Store.open(_path(args), create=False) as store:
        added = store.import_keys(args.path, restored=args.restored)
        where = store.audit_keys.where if store.audit_keys is not None else ""
    print(f"{added} audit key(s) kept in {where}.")
    return EXIT_OK
