"""``itbconsole settings``: show or change the clinic's settings (itbconsole.settings).

``show`` prints every setting with its value; ``set NAME=VALUE ...`` stores a new version
(administrators only: ``--admin NAME``; the change is audited with who and why), after
which every forecast is recomputed. Exit status: 0 success, 1 failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from itbconsole.cli import args as argtypes

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: ``NAME=VALUE`` as typed: every setting name, zone name and the clinic's address line
#: (160 characters) fit with room to spare.
MAX_ASSIGNMENT_CHARS = 200


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "settings",
        help="show or change the clinic's settings (margin, due-soon days, zone, thresholds)",
        description="The clinic's numbers that every date and status is computed with.",
    )
    argtypes.add_db_argument(parser)
    parser.set_defaults(handler=lambda args: _usage(parser))
    sub = parser.add_subparsers(
        dest="settings_command", metavar="ACTION", parser_class=type(parser)
    )
    show = sub.add_parser("show", help="print the settings in force")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_show)
    change = sub.add_parser("set", help="store new values (administrators)")
    change.add_argument(
        "values",
        nargs="+",
        metavar="NAME=VALUE",
        type=_assignment,
        help="for example refill_margin_days=10, zone=Europe/London, paper_size=Letter, "
        "clinic_name='Neuro Rehab Unit' or clinic_phone_24h='+44 20 7946 0000' (quote "
        "values with spaces)",
    )
    change.add_argument(
        "--admin",
        required=True,
        metavar="NAME",
        type=argtypes.Text("the administrator's name", max_chars=argtypes.MAX_NAME_CHARS),
        help="the administrator",
    )
    change.add_argument(
        "--note",
        required=True,
        type=argtypes.Text("a reason", max_chars=argtypes.MAX_NOTE_CHARS),
        help="why the clinic changes it",
    )
    change.set_defaults(handler=cmd_set)


def _assignment(text: str) -> str:
    """``NAME=VALUE`` as typed: a plain ASCII name (numbers written with the digits 0-9), a
    value on one line (the clinic's name and address may be in any script) and short. Which
    names and values are allowed is checked with the stored settings, in :func:`cmd_set`."""
    if len(text) > MAX_ASSIGNMENT_CHARS:
        raise argtypes.refuse(f"{argtypes.shown(text)} is too long for NAME=VALUE")
    name, _sep, value = text.partition("=")
    if not text.isprintable():
        raise argtypes.refuse(f"{argtypes.shown(text)} is not one line of plain NAME=VALUE")
    from itbconsole.settings import TEXT_SETTINGS

    if name.strip() in TEXT_SETTINGS - {"zone"} and value.isprintable():
        return text
    if not text.isascii():
        raise argtypes.refuse(
            f"{argtypes.shown(text)} is not plain NAME=VALUE; write numbers with the digits 0-9 "
            "(for example refill_margin_days=10)"
        )
    return text


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def _store(args: argparse.Namespace) -> Any:
    from itbconsole.store import Store

    path = argtypes.existing_database(args)
    if path is None:
        return None
    return Store.open(path)


def cmd_show(args: argparse.Namespace) -> int:
    from itbconsole.settings import ClinicSettings

    store = _store(args)
    if store is None:
        return EXIT_FAILED
    with store:
        stored = store.clinic_settings()
    settings = stored or ClinicSettings()
    data = settings.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print("Clinic settings" + ("" if stored else " (defaults: none stored yet)") + ":")
    for name, value in data.items():
        blank = "(this computer's zone)" if name == "zone" else "(not set)"
        shown = value if value != "" else blank
        print(f"  {name:<26} {shown}")
    if not (settings.clinic_name and settings.clinic_phone_24h):
        print(
            "Printouts say 'Clinic contact not set - ask the clinic' until clinic_name and "
            "clinic_phone_24h are set."
        )
    return EXIT_OK


def _administrator(store: Any, name: str) -> Any:
    """The administrator making the change, signed in with their password (asked without
    echo, or read from standard input): a typed name alone is not an administrator."""
    from itbconsole.cli.users import read_secret
    from itbconsole.model import Role
    from itbconsole.services.accounts import AccountError, AccountService

    service = AccountService(store)
    if not service.has_accounts():
        raise AccountError(
            "This database has no accounts yet: make the first administrator with "
            "'itbconsole users add NAME --role administrator', then try again."
        )
    user = service.sign_in(name, read_secret(f"Password for {name.strip()}: "), via="command line")
    if user.role is not Role.ADMINISTRATOR:
        raise AccountError(f"{user.name} is not an administrator: only one changes the settings.")
    return user


def cmd_set(args: argparse.Namespace) -> int:
    from itbconsole.services.accounts import AccountError
    from itbconsole.settings import ClinicSettings, SettingsError, parse_setting
    from itbconsole.store import StoreError

    changes: dict[str, Any] = {}
    try:
        for item in args.values:
            name, sep, text = item.partition("=")
            if not sep:
                raise SettingsError(
                    f"'{item}' is not NAME=VALUE (for example refill_margin_days=10)."
                )
            value = parse_setting(name.strip(), text)
            if isinstance(value, int) and not argtypes.is_whole_text(text):
                # int() also reads '1_0' as 10; a setting is written with the digits 0-9.
                raise SettingsError(f"{name.strip()} must be a whole number; '{text}' is not.")
            changes[name.strip()] = value
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    if len(args.note.strip()) < 5:
        print("Say why the setting changes (--note, at least 5 characters).", file=sys.stderr)
        return EXIT_BAD_INPUT
    store = _store(args)
    if store is None:
        return EXIT_FAILED
    with store:
        try:
            new = replace(store.clinic_settings() or ClinicSettings(), **changes)
        except SettingsError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            admin = _administrator(store, args.admin)
            store.save_clinic_settings(new, admin, args.note.strip())
        except (StoreError, AccountError) as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_BAD_INPUT
    print(
        "Saved: "
        + ", ".join(f"{k}={v}" for k, v in changes.items())
        + ". Every forecast is recomputed from them."
    )
    return EXIT_OK
