"""The ``itbconsole`` command line.

Without a subcommand the desktop app opens (see ``ui/launcher.py``, the installed entry
point). Subcommands do headless work; each lives in its own module here and registers itself
with :func:`build_parser`. Exit status: 0 success, 1 operation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from itbconsole import __version__
from itbconsole.cli.args import PATH, shorten_message

#: Subcommand modules, in the order ``--help`` lists them. Each has ``register(subparsers)``.
SUBCOMMAND_MODULES = (
    "itbconsole.cli.calc",
    "itbconsole.cli.db",
    "itbconsole.cli.worklist",
    "itbconsole.cli.export",
    "itbconsole.cli.settings",
    "itbconsole.cli.users",
    "itbconsole.cli.sim",
    "itbconsole.cli.link",
    "itbconsole.cli.sync",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class CliArgumentParser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a plain one-line message on bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {shorten_message(message)}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = CliArgumentParser(
        prog="itbconsole",
        description=(
            "ITB Console: desktop console for intrathecal baclofen pumps. "
            "With no command, opens the desktop app."
        ),
    )
    parser.add_argument("--version", action="version", version=f"itbconsole {__version__}")
    parser.add_argument(
        "--db",
        metavar="PATH",
        type=PATH,
        help="database file (default: user data folder, or $ITBCONSOLE_DB)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="open the app on a demo database with a simulated pump"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliArgumentParser)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # subcommand not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a headless subcommand. Returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    if args.demo and not getattr(args, "reads_demo", False):
        print(
            f"itbconsole {args.command}: error: --demo opens the app on a demo clinic (and is "
            f"read by 'worklist' and 'export fhir'); '{args.command}' works on a clinic's "
            "database: leave out --demo",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    result: int = args.handler(args)
    return result
