"""``itbconsole calc discrepancy``: withdrawn vs expected residual at a refill, flagged."""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Any

from itbconsole import dosing
from itbconsole.cli.calc.inputs import (
    InputError,
    _opt,
    _setting_limit_ul,
    _setting_percent,
    _volume_ul,
)
from itbconsole.cli.calc.output import ML_PLACES, PCT_PLACES, Report, _add, _dec, _jnum, _ml
from itbconsole.units import UL_PER_ML


def _discrepancy(args: argparse.Namespace) -> Report:
    if args.capacity_ul <= 0:
        raise InputError("--capacity-ml: the reservoir capacity must be more than 0 mL")
    for name, value in (("--expected-ml", args.expected_ul), ("--withdrawn-ml", args.withdrawn_ul)):
        if value > args.capacity_ul:
            raise InputError(
                f"{name}: {_ml(value)} is more than the capacity {_ml(args.capacity_ul)}"
            )
    defaults = dosing.DiscrepancyThresholds()
    thresholds = dosing.DiscrepancyThresholds(
        small_reservoir_limit_ul=defaults.small_reservoir_limit_ul
        if args.small_limit_ul is None
        else args.small_limit_ul,
        large_reservoir_limit_ul=defaults.large_reservoir_limit_ul
        if args.large_limit_ul is None
        else args.large_limit_ul,
        accuracy_low_pct=defaults.accuracy_low_pct
        if args.accuracy_low_pct is None
        else Fraction(args.accuracy_low_pct),
        accuracy_high_pct=defaults.accuracy_high_pct
        if args.accuracy_high_pct is None
        else Fraction(args.accuracy_high_pct),
    )
    r = dosing.refill_discrepancy(
        expected_residual_ul=args.expected_ul,
        withdrawn_ul=args.withdrawn_ul,
        capacity_ul=args.capacity_ul,
        expected_delivered_ul=args.delivered_expected_ul,
        thresholds=thresholds,
        after_refill=args.after_refill,
    )
    report = Report("Refill discrepancy", data={"calculation": "discrepancy"})
    report.inputs += [
        ("expected residual", _ml(r.expected_residual_ul)),
        ("withdrawn", _ml(r.withdrawn_ul)),
        ("reservoir capacity", _ml(r.capacity_ul)),
        (
            "expected delivered",
            "not given" if r.expected_delivered_ul is None else _ml(r.expected_delivered_ul),
        ),
        ("volume limit", f"more than {_ml(r.limit_ul)} off (for this reservoir size)"),
        (
            "accuracy range",
            f"{_dec(thresholds.accuracy_low_pct, PCT_PLACES)} to "
            f"{_dec(thresholds.accuracy_high_pct, PCT_PLACES)} %",
        ),
    ]
    report.formulas.append(
        "discrepancy = withdrawn - expected = "
        f"{_ml(r.withdrawn_ul)} - {_ml(r.expected_residual_ul)} = {_ml(r.discrepancy_ul)}"
    )
    if r.actual_delivered_ul is not None and r.expected_delivered_ul is not None:
        report.formulas.append(
            "actual delivered = expected residual + expected delivered - withdrawn"
            f" = {_ml(r.actual_delivered_ul)}"
        )
        if r.accuracy_pct is not None:
            report.formulas.append(
                f"accuracy = actual delivered / expected delivered = {_ml(r.actual_delivered_ul)}"
                f" / {_ml(r.expected_delivered_ul)} = {_dec(r.accuracy_pct, PCT_PLACES)} %"
            )
    report.results += [
        ("discrepancy", _ml(r.discrepancy_ul)),
        (
            "accuracy",
            "not computed" if r.accuracy_pct is None else f"{_dec(r.accuracy_pct, PCT_PLACES)} %",
        ),
        ("direction", r.direction),
        ("flag", "YES, review" if r.flag else "no"),
        ("meaning", r.meaning),
    ]
    report.data.update(
        {
            "inputs": {
                "expected_ml": _jnum(Fraction(r.expected_residual_ul, UL_PER_ML), ML_PLACES),
                "withdrawn_ml": _jnum(Fraction(r.withdrawn_ul, UL_PER_ML), ML_PLACES),
                "capacity_ml": _jnum(Fraction(r.capacity_ul, UL_PER_ML), ML_PLACES),
                "delivered_expected_ml": None
                if r.expected_delivered_ul is None
                else _jnum(Fraction(r.expected_delivered_ul, UL_PER_ML), ML_PLACES),
                "after_refill": r.after_refill,
                "limit_ml": _jnum(Fraction(r.limit_ul, UL_PER_ML), ML_PLACES),
                "accuracy_low_pct": _jnum(thresholds.accuracy_low_pct, PCT_PLACES),
                "accuracy_high_pct": _jnum(thresholds.accuracy_high_pct, PCT_PLACES),
            },
            "discrepancy_ml": _jnum(Fraction(r.discrepancy_ul, UL_PER_ML), ML_PLACES),
            "actual_delivered_ml": None
            if r.actual_delivered_ul is None
            else _jnum(Fraction(r.actual_delivered_ul, UL_PER_ML), ML_PLACES),
            "accuracy_pct": _jnum(r.accuracy_pct, PCT_PLACES),
            "flag": r.flag,
            "volume_flag": r.volume_flag,
            "accuracy_flag": r.accuracy_flag,
            "direction": r.direction,
            "meaning": r.meaning,
        }
    )
    return report


def register(calc_sub: Any) -> None:
    """Add ``calc discrepancy`` (``calc_sub``: the ``calc`` subparsers)."""
    p = _add(
        calc_sub, "discrepancy", "withdrawn vs expected residual at a refill, flagged", _discrepancy
    )
    _opt(
        p,
        "--expected-ml",
        dest="expected_ul",
        type=_volume_ul,
        required=True,
        help="expected residual (mL)",
    )
    _opt(
        p,
        "--withdrawn-ml",
        dest="withdrawn_ul",
        type=_volume_ul,
        required=True,
        help="volume withdrawn (mL)",
    )
    _opt(
        p,
        "--capacity-ml",
        dest="capacity_ul",
        type=_volume_ul,
        required=True,
        help="reservoir capacity (mL)",
    )
    _opt(
        p,
        "--delivered-expected-ml",
        dest="delivered_expected_ul",
        type=_volume_ul,
        help="volume expected to be delivered since the last fill (mL)",
    )
    _opt(
        p,
        "--after-refill",
        action="store_true",
        help="the comparison is just after a refill (pocket-fill check)",
    )
    _opt(
        p,
        "--small-limit-ml",
        dest="small_limit_ul",
        type=_setting_limit_ul("small_reservoir_limit_ul"),
        help="limit for reservoirs up to 20 mL (default 1.0)",
    )
    _opt(
        p,
        "--large-limit-ml",
        dest="large_limit_ul",
        type=_setting_limit_ul("large_reservoir_limit_ul"),
        help="limit for larger reservoirs (default 2.0)",
    )
    _opt(
        p,
        "--accuracy-low-pct",
        type=_setting_percent("accuracy_low_pct"),
        help="lowest accepted accuracy (default 85)",
    )
    _opt(
        p,
        "--accuracy-high-pct",
        type=_setting_percent("accuracy_high_pct"),
        help="highest accepted accuracy (default 115)",
    )
    _opt(p, "--json", action="store_true", help="print one JSON object")
