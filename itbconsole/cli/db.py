"""``itbconsole db``: create, inspect, verify and back up the record store.

Exit status: 0 success (and, for ``verify``, an intact audit trail), 1 when the operation
failed or ``verify`` found tampering, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    sub.add_parser(
        "verify", help="check the audit trail; exit 1 if any entry was edited, inserted or deleted"
    ).set_defaults(handler=cmd_verify)
    backup = sub.add_parser(
        "backup", help="make a consistent, checked copy (safe while the app is running)"
    )
    backup.add_argument("path", metavar="PATH", help="file to write the copy to")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(handler=cmd_backup)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def _path(args: argparse.Namespace) -> Path:
    return default_db_path(getattr(args, "db", None))


def _open_existing(args: argparse.Namespace) -> Any:
    """Open the store, refusing to create a new empty one by accident."""
    from itbconsole.store import Store

    path = _path(args)
    if not path.exists():
        print(
            f"There is no database at {path}. Run 'itbconsole db init' to create one, or "
            "pass --db PATH.",
            file=sys.stderr,
        )
        return None
    return Store.open(path)


def cmd_init(args: argparse.Namespace) -> int:
    from itbconsole.store import Store, StoreError

    path = _path(args)
    existed = path.exists()
    try:
        with Store.open(path) as store:
            version = store.schema_version()
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    state = "is up to date" if existed else "was created"
    print(f"Database {path} {state} (schema version {version}).")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    store = _open_existing(args)
    if store is None:
        return EXIT_FAILED
    with store:
        print(f"Database: {store.path}")
        print(f"Schema version: {store.schema_version()}")
        print(f"Size: {store.path.stat().st_size:,} bytes")
        for table, count in store.counts().items():
            print(f"  {table:<20} {count:>10,}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    store = _open_existing(args)
    if store is None:
        return EXIT_FAILED
    with store:
        report = store.verify()
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
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_backup(args: argparse.Namespace) -> int:
    from itbconsole.store import StoreError

    store = _open_existing(args)
    if store is None:
        return EXIT_FAILED
    with store:
        if Path(args.path).expanduser().resolve() == _path(args).resolve():
            print("The backup cannot overwrite the database itself.", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            result = store.backup(args.path, force=args.force)
        except StoreError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
    print(
        f"Backup written to {result.path} ({result.size_bytes:,} bytes); "
        f"integrity check: {result.integrity}."
    )
    return EXIT_OK
