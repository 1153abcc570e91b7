"""``itbconsole calc trip``: does the drug last until a return date plus a margin.

Built on the refill forecast (:mod:`.refill`): the same inputs, plus the return date.
"""

from __future__ import annotations

import argparse
from typing import Any

from itbconsole import dosing
from itbconsole.cli.calc.inputs import _date, _opt, _setting_days
from itbconsole.cli.calc.output import DAYS_PLACES, Report, _add, _dec, _jnum
from itbconsole.cli.calc.refill import _add_forecast_options, _forecast, _forecast_sections


def _trip(args: argparse.Namespace) -> Report:
    forecast = _forecast(args)
    check = dosing.trip_check(forecast, args.return_date, args.trip_margin_days)
    report = Report("Trip check", data={"calculation": "trip"})
    _forecast_sections(forecast, report, args)
    report.inputs += [
        ("return date", args.return_date.isoformat()),
        ("trip margin", f"{check.margin_days} days after return"),
    ]
    report.formulas.append(
        "drug lasts       = alarm at >= end of (return date + trip margin) in local time"
    )
    if forecast.max_refill_interval_days is not None:
        report.formulas.append(
            "             and start day + maximum refill interval >= return date + trip margin"
        )
    report.results += [
        ("needed until", check.needed_until.astimezone(forecast.tz).isoformat()),
        ("lasts", "yes" if check.ok else "NO"),
        ("shortfall", f"{_dec(check.shortfall_days, DAYS_PLACES)} days"),
    ]
    if check.governing == "maximum refill interval":
        report.notes.append(
            "Refill before the trip: the drug reaches its time limit in the pump "
            "(maximum refill interval) first."
        )
    elif not check.ok:
        report.notes.append("Refill before the trip: the low-reservoir alarm would sound first.")
    if check.empties_before_needed:
        report.notes.append("The reservoir would run EMPTY before then: withdrawal risk.")
    report.data["inputs"].update(
        {"return_date": args.return_date.isoformat(), "trip_margin_days": check.margin_days}
    )
    report.data.update(
        {
            "needed_until": check.needed_until.astimezone(forecast.tz).isoformat(),
            "lasts": check.ok,
            "shortfall_days": _jnum(check.shortfall_days, DAYS_PLACES),
            "empties_before_needed": check.empties_before_needed,
            "governing": check.governing or None,
        }
    )
    return report


def register(calc_sub: Any) -> None:
    """Add ``calc trip`` (``calc_sub``: the ``calc`` subparsers)."""
    p = _add(calc_sub, "trip", "does the drug last until a return date plus a margin", _trip)
    _add_forecast_options(p)
    _opt(p, "--return-date", type=_date, required=True, help="day the patient is back (YYYY-MM-DD)")
    _opt(
        p,
        "--trip-margin-days",
        type=_setting_days("trip_margin_days"),
        default=dosing.DEFAULT_TRIP_MARGIN_DAYS,
        help="days after return the drug must still last (default 7)",
    )
