"""``itbconsole sync`` and ``itbconsole server``: the clinic server from a terminal.

``itbconsole sync --dsn DSN`` runs one sync pass for the room's database (as the app does in
the background) and prints what it did: uploaded, downloaded, applied, conflicts, pending.
``itbconsole sync room-id`` prints the id the server knows the room by (what the
administrator gives ``server add-room``). ``itbconsole sync conflicts`` lists the conflicts that wait for an administrator, and
``itbconsole sync resolve ID --admin NAME --note TEXT`` records that one was dealt with
(the administrator signs in; audited).
``itbconsole server init --dsn DSN`` creates the server's schema and the rooms' group role,
or brings them up to date; running it again changes nothing stored. ``itbconsole server
add-room --room ID --name NAME`` gives one room its own login role (only it may add that
room's records). ``itbconsole server rooms`` lists the rooms the server knows, how far each
has uploaded and when. Without ``--dsn`` the server is ``$ITBCONSOLE_SYNC_DSN``. Exit
status: 0 success, 1 the server is down or refused, 2 bad input. A server that is down is
one plain line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from itbconsole.cli import args as argtypes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: A libpq connection string or URL longer than this is a slip.
MAX_DSN_CHARS = 2_000
ROOM_NAME = argtypes.Text("a room's name", max_chars=200)
ADMIN_NAME = argtypes.Text("an account name", max_chars=argtypes.MAX_NAME_CHARS)
NOTE = argtypes.Text("a note", max_chars=argtypes.MAX_NOTE_CHARS)


def _room_id(text: str) -> str:
    from itbconsole.sync.server import check_room_id

    try:
        return check_room_id(text)
    except ValueError as exc:
        raise argtypes.refuse(str(exc)) from exc


def _conflict_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) < 1:
        raise argtypes.refuse(
            f"'{text[:40]}' is not a conflict number (as 'itbconsole sync conflicts' lists it)"
        )
    return int(text)


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
                "example: host=db.clinic.local dbname=itbconsole user=itbconsole_room_ROOMID) nor a "
                "postgresql:// URL"
            ) from exc
        return text


_dsn = ServerAddress()


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        type=_dsn,
        metavar="DSN",
        help="the clinic server, e.g. 'host=db.clinic.local dbname=itb user=itbconsole_room_ROOMID' "
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
    sync_actions = sync.add_subparsers(
        dest="sync_command", metavar="ACTION", parser_class=type(sync)
    )
    sync_actions.required = False
    room_id = sync_actions.add_parser(
        "room-id",
        help="print this room's id and the server role to ask for (no network)",
        description="Print the id the clinic server knows this room's database by, and the "
        "login role 'itbconsole server add-room' gives it.",
    )
    argtypes.add_db_argument(room_id)
    room_id.set_defaults(handler=cmd_sync_room_id)
    conflicts = sync_actions.add_parser(
        "conflicts",
        help="list the sync conflicts that wait for an administrator",
        description="Every conflict not yet resolved, oldest first: its number, when it was "
        "found, the table, and what happened in plain words.",
    )
    argtypes.add_db_argument(conflicts)
    conflicts.set_defaults(handler=cmd_sync_conflicts)
    resolve = sync_actions.add_parser(
        "resolve",
        help="record that a sync conflict was dealt with (administrators)",
        description="Record how a conflict was dealt with (the records were put right by "
        "hand first). The administrator signs in (password asked for); audited.",
    )
    argtypes.add_db_argument(resolve)
    resolve.add_argument("conflict", metavar="ID", type=_conflict_id, help="the conflict's number")
    resolve.add_argument(
        "--admin", required=True, metavar="NAME", type=ADMIN_NAME,
        help="the administrator who signs in for this (password asked for)",
    )  # fmt: skip
    resolve.add_argument(
        "--note", required=True, metavar="TEXT", type=NOTE, help="how it was resolved"
    )
    resolve.set_defaults(handler=cmd_sync_resolve)

    srv = subparsers.add_parser(
        "server",
        help="set up the clinic server (administrators)",
        description="The clinic's PostgreSQL server that the rooms sync with.",
    )
    srv.set_defaults(handler=lambda args: _usage(srv))
    actions = srv.add_subparsers(dest="server_command", metavar="ACTION", parser_class=type(srv))
    init = actions.add_parser(
        "init",
        help="create the schema and the rooms' group role (safe to run again)",
        description="Create the itbconsole schema, its chain checks and the rooms' group role "
        "(itbconsole_room: read and add, never change or delete; no login of its own: each "
        "room gets its own with 'server add-room'). Run as the database's owner. Running it "
        "again keeps everything stored.",
    )
    _add_dsn(init)
    init.set_defaults(handler=cmd_server_init)
    add_room = actions.add_parser(
        "add-room",
        help="give a room its own login role (only it may add that room's records)",
        description="Create the login role of one room (itbconsole_room_ and the room's id) "
        "and record that it owns the room: the server then refuses that room's records from "
        "any other role. The room's id is what 'itbconsole sync' prints on its console. Run "
        "as the database's owner; safe to run again (to rename the room or set a new "
        "password).",
    )
    _add_dsn(add_room)
    add_room.add_argument(
        "--room", required=True, metavar="ROOM_ID", type=_room_id, help="the room's id"
    )
    add_room.add_argument(
        "--name", required=True, metavar="NAME", type=ROOM_NAME,
        help="what the clinic calls the room, e.g. 'Refill room 2'",
    )  # fmt: skip
    add_room.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the room role's password from the first line of standard input",
    )
    add_room.set_defaults(handler=cmd_server_add_room)
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
    try:
        done = init_server(dsn)
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
            f"(anchor {room.head_seq}:{room.head_hash[:12]})  last upload {last}  "
            f"role {room.owner_role or '(none: itbconsole server add-room)'}"
        )
    return EXIT_OK


def cmd_server_add_room(args: argparse.Namespace) -> int:
    from itbconsole.sync.server import ServerError, add_room, room_role_name

    dsn = _chosen_dsn(args)
    if dsn is None:
        return EXIT_BAD_INPUT
    password: str | None = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("The room's password is empty: nothing was changed.", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        done = add_room(dsn, args.room, args.name, password)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except ServerError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    for line in done:
        print(line)
    print(f"On that room's console, log in as user={room_role_name(args.room)}.")
    return EXIT_OK


def cmd_sync_conflicts(args: argparse.Namespace) -> int:
    from itbconsole.store import Store, StoreError
    from itbconsole.sync.conflicts import open_conflicts

    path = argtypes.existing_database(args)
    if path is None:
        return EXIT_FAILED
    try:
        with Store.open(path) as store:
            waiting = open_conflicts(store.db)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(waiting)} open conflict(s).")
    for conflict in waiting:
        table = conflict.table_name or "(no table)"
        print(f"#{conflict.id}  {conflict.detected_at}  {table}  {conflict.message}")
    if waiting:
        print("Put the records right, then: itbconsole sync resolve ID --admin NAME --note TEXT")
    return EXIT_OK


def cmd_sync_resolve(args: argparse.Namespace) -> int:
    from itbconsole.cli.users import read_secret
    from itbconsole.services.accounts import AccountError, AccountService
    from itbconsole.store import Store, StoreError
    from itbconsole.sync.conflicts import resolve_conflict

    path = argtypes.existing_database(args)
    if path is None:
        return EXIT_FAILED
    try:
        with Store.open(path) as store:
            password = read_secret(f"Password for {args.admin.strip()}: ")
            admin = AccountService(store).sign_in(args.admin, password, via="command line")
            resolve_conflict(store.db, args.conflict, admin, args.note)
    except (AccountError, StoreError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Conflict #{args.conflict} resolved by {admin.name}: {args.note.strip()}")
    return EXIT_OK


def cmd_sync_room_id(args: argparse.Namespace) -> int:
    from itbconsole.store import Store, StoreError
    from itbconsole.sync.server import room_role_name

    path = argtypes.existing_database(args)
    if path is None:
        return EXIT_FAILED
    try:
        with Store.open(path) as store:
            room = store.store_id()
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if room is None:
        print("This database has no identity yet: open it with ITB Console once.", file=sys.stderr)
        return EXIT_FAILED
    print(f"Room {room}")
    print(f"Server role: {room_role_name(room)} (itbconsole server add-room --room {room} ...)")
    return EXIT_OK
