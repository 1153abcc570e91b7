"""``itbconsole users``: the console's accounts, headless (itbconsole.services.accounts).

Every action runs after an administrator's sign-in (``--admin NAME`` and their password):
``list`` the accounts, ``add`` one, ``disable`` or ``enable`` one, ``passwd`` (set a new
password, to be changed at the next sign-in) and ``role`` (give another role). On a new
database with no account, ``add NAME --role administrator`` without ``--admin`` makes the
first administrator.

Passwords are never command-line arguments (other users of the computer can read those):
each is asked for at the terminal without echo, or, when standard input is not a terminal
(a script), read from it one per line: the administrator's first, then the new password.
Wrong passwords count towards the same backoff as in the app. Every change is recorded
with the administrator's name in the audit log. Exit status: 0 done, 1 refused or failed,
2 bad input.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from itbconsole.cli import args as argtypes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
ROLES = ("nurse", "clinician", "administrator")
NAME = argtypes.Text("an account name", max_chars=argtypes.MAX_NAME_CHARS)
NOTE = argtypes.Text("a reason", max_chars=argtypes.MAX_NOTE_CHARS)
REGISTRATION = argtypes.Text("a registration number", max_chars=40)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users",
        help="list and manage the accounts that sign in (administrators)",
        description="The console's accounts: who signs in, with which role.",
    )
    argtypes.add_db_argument(parser)
    parser.set_defaults(handler=lambda args: _usage(parser))
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", parser_class=type(parser))

    def admin(p: argparse.ArgumentParser, required: bool = True) -> None:
        p.add_argument(
            "--admin",
            required=required,
            metavar="NAME",
            type=NAME,
            help="the administrator who signs in for this (password asked for)",
        )

    listing = sub.add_parser("list", help="print every account")
    admin(listing)
    listing.set_defaults(handler=cmd_list)

    add = sub.add_parser("add", help="add an account (its password is asked for)")
    add.add_argument("name", metavar="NAME", type=NAME, help="the person's full name")
    add.add_argument("--role", required=True, choices=ROLES, help="what they may do")
    add.add_argument(
        "--registration",
        metavar="NUMBER",
        type=REGISTRATION,
        default=None,
        help="professional registration number (optional)",
    )
    admin(add, required=False)
    add.set_defaults(handler=cmd_add)

    for action, text in (("disable", "disable an account"), ("enable", "enable it again")):
        p = sub.add_parser(action, help=text)
        p.add_argument("name", metavar="NAME", type=NAME, help="whose account")
        p.add_argument("--note", required=True, type=NOTE, help="why")
        admin(p)
        p.set_defaults(handler=cmd_disable if action == "disable" else cmd_enable)

    passwd = sub.add_parser(
        "passwd", help="set a new password for an account (changed at the next sign-in)"
    )
    passwd.add_argument("name", metavar="NAME", type=NAME, help="whose account")
    passwd.add_argument("--note", type=NOTE, default="password reset", help="why")
    admin(passwd)
    passwd.set_defaults(handler=cmd_passwd)

    role = sub.add_parser("role", help="give an account another role")
    role.add_argument("name", metavar="NAME", type=NAME, help="whose account")
    role.add_argument("--role", required=True, choices=ROLES, help="the new role")
    role.add_argument("--note", required=True, type=NOTE, help="why")
    admin(role)
    role.set_defaults(handler=cmd_role)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- passwords


def read_secret(prompt: str, *, confirm: bool = False) -> str:
    """A password: at a terminal without echo (twice when ``confirm``), otherwise the next
    line of standard input. Never from the command line."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != first:
            raise ValueError("The two passwords differ.")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise ValueError(f"{prompt.rstrip(': ')}: nothing on standard input.")
    return line.rstrip("\r\n")


# --------------------------------------------------------------------------- the commands


def _service(args: argparse.Namespace) -> Any:
    from itbconsole.services.accounts import AccountService
    from itbconsole.store import Store

    path = argtypes.existing_database(args)
    if path is None:
        return None
    return AccountService(Store.open(path))


def _run(args: argparse.Namespace, work: Callable[[Any, Any], str]) -> int:
    """Open the database, sign the administrator in, do ``work(service, admin)``."""
    from itbconsole.services.accounts import AccountError
    from itbconsole.store import StoreError

    try:
        service = _service(args)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if service is None:
        return EXIT_FAILED
    with service.store:
        try:
            admin = None
            if args.admin is not None:
                password = read_secret(f"Password for {args.admin.strip()}: ")
                admin = service.sign_in(args.admin, password, via="command line")
            print(work(service, admin))
        except (AccountError, StoreError) as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_OK


def _target(service: Any, name: str) -> Any:
    from itbconsole.services.accounts import AccountError

    account = service.find(name)
    if account is None:
        raise AccountError(f"There is no account named {name.strip()}.")
    return account


def cmd_list(args: argparse.Namespace) -> int:
    def work(service: Any, admin: Any) -> str:
        from itbconsole.services.accounts import AccountError

        if admin is None or admin.role.value != "administrator":
            raise AccountError("Only an administrator lists the accounts.")
        rows = [f"{'name':<32} {'role':<14} {'status':<9} registration"]
        for a in service.accounts():
            status = "active" if a.active else "disabled"
            flag = " (password to change)" if a.must_change_password else ""
            rows.append(f"{a.name:<32} {a.role.value:<14} {status:<9} {a.registration}{flag}")
        return "\n".join(rows)

    return _run(args, work)


def cmd_add(args: argparse.Namespace) -> int:
    from itbconsole.model import Role

    def work(service: Any, admin: Any) -> str:
        from itbconsole.services.accounts import AccountError

        role = Role(args.role)
        if admin is None:
            if service.has_accounts():
                raise AccountError(
                    "This database has accounts: an administrator adds one (--admin NAME)."
                )
            if role is not Role.ADMINISTRATOR:
                raise AccountError(
                    "The first account of a database is an administrator (--role administrator)."
                )
            from itbconsole.sync import configured_dsn

            dsn = configured_dsn()
            if dsn is not None:  # a clinic with a server: its accounts come first
                from itbconsole.sync.engine import needs_first_sync

                if needs_first_sync(service.store, dsn):
                    raise AccountError(
                        "This clinic has a server: run `itbconsole sync` first to bring in "
                        "its accounts (an administrator made here would be one in every room)."
                    )
            password = read_secret(f"New password for {args.name.strip()}: ", confirm=True)
            user = service.create_first_administrator(args.name, password, args.registration or "")
            return f"Added {user.name} (administrator), the first account of this database."
        password = read_secret(f"First password for {args.name.strip()}: ", confirm=True)
        account = service.create_account(
            admin, args.name, role, password, args.registration or "", "added at the command line"
        )
        return (
            f"Added {account.name} ({account.role.value}); they choose their own password at "
            "their first sign-in."
        )

    return _run(args, work)


def cmd_disable(args: argparse.Namespace) -> int:
    def work(service: Any, admin: Any) -> str:
        account = service.disable(admin, _target(service, args.name).id, args.note.strip())
        return f"Disabled {account.name}'s account (kept, with every record they made)."

    return _run(args, work)


def cmd_enable(args: argparse.Namespace) -> int:
    def work(service: Any, admin: Any) -> str:
        account = service.enable(admin, _target(service, args.name).id, args.note.strip())
        return f"Enabled {account.name}'s account."

    return _run(args, work)


def cmd_passwd(args: argparse.Namespace) -> int:
    def work(service: Any, admin: Any) -> str:
        target = _target(service, args.name)
        password = read_secret(f"New password for {target.name}: ", confirm=True)
        account = service.reset_password(admin, target.id, password, args.note.strip())
        if account.must_change_password:
            return f"New password set for {account.name}: they change it at their next sign-in."
        return f"New password set for {account.name}."

    return _run(args, work)


def cmd_role(args: argparse.Namespace) -> int:
    from itbconsole.model import Role

    def work(service: Any, admin: Any) -> str:
        target = _target(service, args.name)
        account = service.change_role(admin, target.id, Role(args.role), args.note.strip())
        return f"{account.name} is now a {account.role.value} (from their next sign-in)."

    return _run(args, work)
