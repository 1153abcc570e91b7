"""The installed ``itbconsole`` command.

Headless subcommands run without importing Qt (so ``itbconsole calc`` works on a server
with no display libraries); with no subcommand, the desktop app starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from itbconsole.cli import build_parser
from itbconsole.cli import main as cli_main


def import_sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils without the numpy import it makes for itself, to start faster.

    sqlite-utils imports numpy (about 45 ms) only to map numpy scalar types to column types
    when it creates a table from Python values; the store never does that (its tables come
    from SQL migrations, its rows from plain ints, floats and text), so the desktop start
    blocks numpy for the length of that one import. numpy is imported normally later, when
    a trend or forecast needs it. Nothing happens when either is already imported.
    """
    if "sqlite_utils" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # "not installed" to an import
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is not None:
        return cli_main(args_list)
    import_sqlite_utils_without_numpy()
    from ui.app import run_app  # Qt is imported only here

    return run_app(db_path=args.db, demo=args.demo)


if __name__ == "__main__":
    sys.exit(main())
