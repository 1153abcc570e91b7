"""The installed ``itbconsole`` command.

Headless subcommands run without importing Qt (so ``itbconsole calc`` works on a server
with no display libraries); with no subcommand, the desktop app starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from itbconsole.cli import build_parser
from itbconsole.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is not None:
        return cli_main(args_list)
    from ui.app import run_app  # Qt is imported only here

    return run_app(db_path=args.db, demo=args.demo)


if __name__ == "__main__":
    sys.exit(main())
