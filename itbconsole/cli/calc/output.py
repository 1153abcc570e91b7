"""What ``itbconsole calc`` shows: display rounding, the report, and the guarded handler.

Shared by every calculation. The arithmetic is exact; only the figure shown is rounded.
A calculation builds a :class:`Report`; :func:`_guarded` prints it (text or ``--json``) or
turns a clinical input error into one line on stderr and status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any

from itbconsole import dosing
from itbconsole.cli import EXIT_BAD_INPUT, EXIT_OK
from itbconsole.cli.calc.inputs import InputError
from itbconsole.model import ModelError
from itbconsole.units import UL_PER_ML, QuantityError, round_decimal

# Display precision (the arithmetic is exact; only the shown figure is rounded).
ML_PLACES = 3
MCG_PLACES = 3
DAYS_PLACES = 2
HOURS_PLACES = 2
PCT_PLACES = 1


def _dec(value: Fraction | Decimal | int, places: int) -> Decimal:
    return round_decimal(value, places)


def _jnum(value: Fraction | Decimal | int | None, places: int) -> int | float | None:
    """A JSON number rounded for display: an integer when the rounded value is whole."""
    if value is None:
        return None
    rounded = round_decimal(value, places)
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def _num(value: Fraction | Decimal | int, places: int) -> str:
    """A number for reading: rounded to ``places`` and without trailing zeros (500, 0.25)."""
    text = format(round_decimal(value, places), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _signed(value: Fraction | Decimal | int, places: int) -> str:
    """Like :func:`_num` with an explicit sign, so a decrease is never read as an increase."""
    text = _num(value, places)
    return text if text.startswith("-") else f"+{text}"


def _ml(ul: Fraction | int) -> str:
    return f"{_dec(Fraction(ul) / UL_PER_ML, ML_PLACES)} mL"


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat()


@dataclass
class Report:
    """A calculation to show: title, inputs, formulas, results, and the JSON form."""

    title: str
    inputs: list[tuple[str, str]] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        width = max((len(label) for label, _ in self.inputs + self.results), default=0)
        lines = [self.title, "", "Inputs"]
        lines += [f"  {label:<{width}}  {value}" for label, value in self.inputs]
        lines += ["", "Formula"]
        lines += [f"  {formula}" for formula in self.formulas]
        lines += ["", "Result"]
        for label, value in self.results:
            wrapped = textwrap.wrap(value, width=max(40, 96 - width)) or [""]
            lines.append(f"  {label:<{width}}  {wrapped[0]}")
            lines += [f"  {'':<{width}}  {more}" for more in wrapped[1:]]
        if self.notes:
            lines += [""] + [f"Note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _emit(report: Report, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(report.data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report.render())
    return EXIT_OK


def _fail(args: argparse.Namespace, message: str) -> int:
    prog = getattr(args, "calc_prog", "itbconsole calc")
    sys.stderr.write(f"{prog}: error: {message}\n")
    return EXIT_BAD_INPUT


def _guarded(build: Callable[[argparse.Namespace], Report]) -> Callable[[argparse.Namespace], int]:
    """Run a calculation; a clinical input error becomes one line on stderr and status 2."""

    def handler(args: argparse.Namespace) -> int:
        try:
            report = build(args)
        except (InputError, dosing.DosingError, ModelError, QuantityError) as exc:
            return _fail(args, str(exc))
        except OverflowError:
            # A tiny dose from a full reservoir: the alarm is tens of thousands of years away.
            return _fail(
                args,
                "a date in the result falls after the year 9999; check the daily dose, "
                "the volumes and the concentration",
            )
        return _emit(report, args.json)

    return handler


def _add(
    sub: Any, name: str, help_text: str, build: Callable[[argparse.Namespace], Report]
) -> argparse.ArgumentParser:
    # argparse %-formats a help string (not a description): "%" must be doubled there.
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text.replace("%", "%%"), description=help_text
    )
    parser.set_defaults(handler=_guarded(build), calc_prog=parser.prog)
    return parser
