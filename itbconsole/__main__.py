"""``python -m itbconsole``: the headless command line (no desktop app)."""

import sys

from itbconsole.cli import main

sys.exit(main())
