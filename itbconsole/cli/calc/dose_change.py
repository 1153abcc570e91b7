"""``itbconsole calc dose-change``: current vs new dose per 24 h, change in mcg and %."""

from __future__ import annotations

import argparse
from typing import Any

from itbconsole import dosing
from itbconsole.cli.calc.inputs import _dose_mcg, _opt
from itbconsole.cli.calc.output import (
    MCG_PLACES,
    PCT_PLACES,
    Report,
    _add,
    _dec,
    _jnum,
    _num,
    _signed,
)


def _dose_change(args: argparse.Namespace) -> Report:
    c = dosing.dose_change(args.current_mcg, args.new_mcg)
    report = Report("Dose change", data={"calculation": "dose-change"})
    report.inputs += [
        ("current dose", f"{_num(c.current_mcg_per_day, MCG_PLACES)} mcg/24 h"),
        ("new dose", f"{_num(c.new_mcg_per_day, MCG_PLACES)} mcg/24 h"),
    ]
    report.formulas += [
        f"change   = new - current = {_signed(c.change_mcg, MCG_PLACES)} mcg/24 h",
        "change % = change / current x 100",
    ]
    pct = (
        "undefined (current dose is 0)"
        if c.change_pct is None
        else f"{_dec(c.change_pct, PCT_PLACES):+} %"
    )
    report.results += [
        ("new total", f"{_num(c.new_mcg_per_day, MCG_PLACES)} mcg/24 h"),
        ("change", f"{_signed(c.change_mcg, MCG_PLACES)} mcg/24 h"),
        ("change %", pct),
    ]
    if c.note:
        report.notes.append(c.note)
    report.data.update(
        {
            "inputs": {
                "current_mcg_day": _jnum(c.current_mcg_per_day, MCG_PLACES),
                "new_mcg_day": _jnum(c.new_mcg_per_day, MCG_PLACES),
            },
            "new_total_mcg_day": _jnum(c.new_mcg_per_day, MCG_PLACES),
            "change_mcg": _jnum(c.change_mcg, MCG_PLACES),
            "change_pct": _jnum(c.change_pct, PCT_PLACES),
            "note": c.note or None,
        }
    )
    return report


def register(calc_sub: Any) -> None:
    """Add ``calc dose-change`` (``calc_sub``: the ``calc`` subparsers)."""
    p = _add(
        calc_sub, "dose-change", "current vs new dose per 24 h, change in mcg and %", _dose_change
    )
    _opt(
        p,
        "--current-mcg-day",
        dest="current_mcg",
        type=_dose_mcg,
        required=True,
        help="current dose (mcg/24 h)",
    )
    _opt(
        p,
        "--new-mcg-day",
        dest="new_mcg",
        type=_dose_mcg,
        required=True,
        help="new dose (mcg/24 h)",
    )
    _opt(p, "--json", action="store_true", help="print one JSON object")
