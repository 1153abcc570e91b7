"""The installed ``itbconsole`` command.

Headless subcommands run without importing Qt (so ``itbconsole calc`` works on a server
with no display libraries); with no subcommand, the desktop app starts.

The plain start (``itbconsole``, ``itbconsole --demo``) does not load the command line's
parser, which imports every subcommand: it is read only when there is something else to
read (a subcommand, ``--db``, ``--help``, ``--version``, a mistake).
"""

from __future__ import annotations

import gc
import importlib
import sys
import types
from collections.abc import Sequence
from typing import Any

#: The arguments that start the desktop app without the full command line's parser.
PLAIN_STARTS: tuple[list[str], ...] = ([], ["--demo"])


def prepare_desktop_start() -> None:
    """What the desktop start does before it imports the app (``main``, and the start-up
    benchmark, which starts the window the same way).

    Python's cyclic garbage collector is paused for the app's imports
    (``ui.app.build_window`` resumes it, before any sign-in): they make a few hundred
    thousand objects that live for the whole session and hardly any garbage, and the
    hundred or so collections that would walk them cost some 10 ms of the start. Then
    sqlite-utils is imported without numpy (below).
    """
    gc.disable()
    import_sqlite_utils_without_numpy()


def import_sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils without the numpy import it makes for itself, nor the date
    parser it imports for its command line, to start faster.

    sqlite-utils imports numpy (about 45 ms) only to map numpy scalar types to column types
    when it creates a table from Python values; the store never does that (its tables come
    from SQL migrations, its rows from plain ints, floats and text), so the desktop start
    blocks numpy for the length of that one import. numpy is imported normally later, when
    a trend or forecast needs it. Nothing happens when either is already imported.

    Its date conversion recipes (``sqlite-utils convert``) hold dateutil's parser (about
    9 ms with the time zones it loads), which the store never calls: they get a stand-in
    that imports the real parser the first time one of its names is used.
    """
    if "sqlite_utils" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # "not installed" to an import
    stand_in = "dateutil.parser" not in sys.modules
    if stand_in:
        sys.modules["dateutil.parser"] = ImportedOnUse("dateutil.parser")
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]
        if stand_in:
            del sys.modules["dateutil.parser"]  # the next import is the real one


class ImportedOnUse(types.ModuleType):
    """A module's stand-in that imports the module itself (once it is out of
    ``sys.modules``) when one of its names is first read, and hands that name on."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in PLAIN_STARTS:
        db, demo = None, bool(args_list)
    else:
        from itbconsole.cli import build_parser
        from itbconsole.cli import main as cli_main

        args = build_parser().parse_args(args_list)
        if args.command is not None:
            return cli_main(args_list)
        db, demo = args.db, args.demo
    prepare_desktop_start()
    from ui.app import run_app  # Qt is imported only here

    return run_app(db_path=db, demo=demo)


if __name__ == "__main__":
    sys.exit(main())
