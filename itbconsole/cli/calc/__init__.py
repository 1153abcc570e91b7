"""``itbconsole calc``: the dosing arithmetic at a terminal, for clinicians and scripts.

Every subcommand prints its inputs, the formula with the numbers put in, and the result
with units; ``--json`` prints exactly one JSON object instead (numbers as JSON numbers,
rounded for display; instants in ISO 8601 with their UTC offset). The arithmetic itself
lives in :mod:`itbconsole.dosing`; this package only parses, checks and shows.

Bad input (not a number, digits of another script, negative, zero concentration, a value
beyond what any pump model, drug library product or clinic setting allows, volume over
capacity, alarm at or above the reservoir volume, an unknown zone, an unparsable or
ambiguous date, a date outside the pump clock's range) prints one line naming the field on
stderr, nothing on stdout, and exits with status 2.

One module per calculation (:mod:`.refill`, :mod:`.trip`, :mod:`.discrepancy`,
:mod:`.bridge`, :mod:`.dose_change`), each with its ``register``; what they share is in
:mod:`.inputs` (argument types, the parser, the options' metavariables) and :mod:`.output`
(rounding for display, the report, the handler that turns a bad input into status 2).
"""

from __future__ import annotations

from typing import Any

from itbconsole.cli.calc import bridge, discrepancy, dose_change, refill, trip
from itbconsole.cli.calc.inputs import DEFAULT_TZ, CalcArgumentParser, InputError
from itbconsole.cli.calc.output import (
    DAYS_PLACES,
    HOURS_PLACES,
    MCG_PLACES,
    ML_PLACES,
    PCT_PLACES,
    Report,
)

__all__ = [
    "DAYS_PLACES",
    "DEFAULT_TZ",
    "HOURS_PLACES",
    "MCG_PLACES",
    "ML_PLACES",
    "PCT_PLACES",
    "CalcArgumentParser",
    "InputError",
    "Report",
    "register",
]

#: The calculations, in the order ``itbconsole calc --help`` lists them.
CALCULATIONS = (refill, trip, discrepancy, bridge, dose_change)


def register(subparsers: Any) -> None:
    """Add ``calc`` and its subcommands to the ``itbconsole`` command."""
    calc = subparsers.add_parser(
        "calc",
        help="dosing arithmetic: refill date, discrepancy, bridge bolus, dose change, trip",
        description=(
            "Dosing arithmetic with inputs, formula and result. Add --json for one JSON object."
        ),
    )
    calc_sub = calc.add_subparsers(
        dest="calc_command", metavar="CALCULATION", required=True, parser_class=CalcArgumentParser
    )
    for calculation in CALCULATIONS:
        calculation.register(calc_sub)
