"""``itbconsole sync`` and ``itbconsole server init``: the clinic server from a terminal.

``itbconsole sync --dsn DSN`` runs one sync pass for the room's database (as the app does in
the background) and prints what it did: uploaded, downloaded, applied, conflicts, pending.
``itbconsole server init --dsn DSN`` creates the server's schema and the consoles' role, or
brings them up to date; running it again changes nothing stored. ``itbconsole server rooms``
lists the rooms the server knows, how far each has uploaded and when. Without ``--dsn`` the
server is ``$ITBCONSOLE_SYNC_DSN``. Exit status: 0 success, 1 the server is down or refused,
2 bad input. A server that is down is one plain line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from itbconsole.cli import args as argtypes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: A libpq connection string or URL longer than this is a slip.
MAX_DSN_CHARS = 2_000


class ServerAddress(argtypes.Text):
    """A libpq connection string (``host=... dbname=...``) or URL (``postgresql://...``),
    checked for its form when parsed, so a slip is a plain usage error and not a failed
    connection. Nothing is contacted here."""

    def __init__(self) -> None:
        super().__init__("the server address", max_chars=MAX_DSN_CHARS)

    def __call__(self, text: str) -> str:
        text = super().__call__(text).strip()
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(text)
        except ProgrammingError as exc:
            # libpq's reason quotes the text it stumbled on, which may be part of a password.
            raise argtypes.refuse(
                "the server address is neither key=value pairs separated by spaces (for "
                "example: host=db.clinic.local dbname=itbconsole user=itbconsole_room) nor a "
                "postgresql:// URL"
            ) from exc
        return text


_dsn = ServerAddress()


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        type=_dsn,
        metavar="DSN",
        help="the clinic server, e.g. 'host=db.clinic.local dbname=itb user=itbconsole_room' "
        "or postgresql://... (default: $ITBCONSOLE_SYNC_DSN)",
    )


def register(subparsers: Any) -> None:
    sync = subparsers.add_parser(
        "sync",
        help="one sync pass with the clinic server (upload, download, apply) (headless)",
        description="Send this room's new records to the clinic server and bring in the other "
        "rooms' records, once, then print what was done.",
    )
    argtypes.add_db_argument(sync)
    _add_dsn(sync)
    sync.set_defaults(handler=cmd_sync)

    srv = subparsers.add_parser(
        "server",
        help="set up the clinic server (administrators)",
        description="The clinic's PostgreSQL server that the rooms sync with.",
    )
    srv.set_defaults(handler=lambda args: _usage(srv))
    actions = srv.add_subparsers(dest="server_command", metavar="ACTION", parser_class=type(srv))
    init = actions.add_parser(
        "init",
        help="create the schema and the consoles' role (safe to run again)",
        description="Create the itbconsole schema, its chain checks and the role the consoles "
        "use (itbconsole_room: read and add, never change or delete). Run as the database's "
        "owner. Running it again keeps everything stored.",
    )
    _add_dsn(init)
    init.add_argument(
        "--console-password-stdin",
        action="store_true",
        help="read the consoles' role password from the first line of standard input",
    )
    init.set_defaults(handler=cmd_server_init)
    listing = actions.add_parser(
        "rooms",
        help="list the rooms the server knows: how far each has uploaded, and when",
        description="Every room that has uploaded, the longest silent first: its id, name, "
        "the newest entry the server holds (an anchor for that room's 'db verify --anchor') "
        "and when it last uploaded.",
    )
    _add_dsn(listing)
    listing.set_defaults(handler=cmd_server_rooms)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _chosen_dsn(args: argparse.Namespace) -> str | None:
    from itbconsole.sync.engine import DSN_ENVIRONMENT_VARIABLE, configured_dsn

    dsn = configured_dsn(args.dsn)
    if dsn is None:
        print(
            f"No clinic server given: use --dsn DSN or set {DSN_ENVIRONMENT_VARIABLE}.",
            file=sys.stderr,
        )
    return dsn


def cmd_sync(args: argparse.Namespace) -> int:
    from itbconsole.store import Store, StoreError
    from itbconsole.sync.engine import ServerError, sync_once

    dsn = _chosen_dsn(args)
    if dsn is None:
        return EXIT_BAD_INPUT
    path = argtypes.existing_database(args)
    if path is None:
        return EXIT_FAILED
    try:
        with Store.open(path) as store:
            report = sync_once(store, dsn)
    except ServerError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    print(report.summary())
    for message in report.conflict_messages:
        print(f"  conflict: {message}")
    return EXIT_OK


def cmd_server_init(args: argparse.Namespace) -> int:
    from itbconsole.sync.server import ServerError, init_server

    dsn = _chosen_dsn(args)
    if dsn is None:
        return EXIT_BAD_INPUT
    password: str | None = None
    if args.console_password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("The consoles' password is empty: nothing was changed.", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        done = init_server(dsn, console_password=password)
    except ServerError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    for line in done:
        print(line)
    return EXIT_OK


def cmd_server_rooms(args: argparse.Namespace) -> int:
    from itbconsole.sync.server import ServerError, connect, first_line, rooms

    dsn = _chosen_dsn(args)
    if dsn is None:
        return EXIT_BAD_INPUT
    try:
        with connect(dsn) as conn:
            known = rooms(conn)
    except ServerError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # psycopg's errors: a schema not set up, no right to read it
        print(f"The server could not list its rooms: {first_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(known)} room(s).")
    for room in known:
        last = room.last_upload_at.isoformat(timespec="minutes") if room.last_upload_at else "-"
        print(
            f"{room.room_id}  {room.name or '(no name)'}  through #{room.head_seq} "
            f"(anchor {room.head_seq}:{room.head_hash[:12]})  last upload {last}"
        )
    return EXIT_OK
