"""``itbconsole calc bridge``: the bridge bolus after a concentration change."""

from __future__ import annotations

import argparse
from typing import Any

from itbconsole import dosing
from itbconsole.cli.calc.inputs import InputError, _concentration, _dead_volume_ul, _dose_mcg, _opt
from itbconsole.cli.calc.output import (
    HOURS_PLACES,
    MCG_PLACES,
    ML_PLACES,
    Report,
    _add,
    _dec,
    _jnum,
    _ml,
    _num,
)


def _bridge(args: argparse.Namespace) -> Report:
    if args.dose_mcg <= 0:
        raise InputError("--dose-mcg-day: a bridge needs a daily dose of more than 0 mcg")
    b = dosing.bridge_bolus(
        args.dose_mcg, args.old_concentration, args.new_concentration, args.dead_volume_ul
    )
    report = Report("Bridge bolus (concentration change)", data={"calculation": "bridge"})
    report.inputs += [
        ("daily dose", f"{_num(b.dose_mcg_per_day, MCG_PLACES)} mcg/day"),
        ("old concentration", f"{_num(b.old_concentration_mcg_ml, MCG_PLACES)} mcg/mL"),
        ("new concentration", f"{_num(b.new_concentration_mcg_ml, MCG_PLACES)} mcg/mL"),
        ("dead volume", _ml(b.dead_volume_ul)),
    ]
    report.formulas += [
        "bridge volume    = dead volume (pump internal + catheter), old drug",
        "bridge rate      = dose / old concentration = "
        f"{_dec(b.bridge_rate_ml_per_day, ML_PLACES)} mL/day",
        "bridge duration  = dead volume / bridge rate x 24 = "
        f"{_dec(b.bridge_hours, HOURS_PLACES)} h",
        "without a bridge = dose x old concentration / new concentration"
        f" = {_num(b.unbridged_dose_mcg_day, MCG_PLACES)} mcg/day"
        f" for {_dec(b.unbridged_hours, HOURS_PLACES)} h",
    ]
    report.results += [
        ("bridge volume", _ml(b.dead_volume_ul)),
        ("bridge duration", f"{_dec(b.bridge_hours, HOURS_PLACES)} h"),
        (
            "dose during bridge",
            f"{_num(b.dose_during_bridge_mcg_day, MCG_PLACES)} mcg/day (as prescribed)",
        ),
        ("dose without bridge", f"{_num(b.unbridged_dose_mcg_day, MCG_PLACES)} mcg/day"),
    ]
    if not b.needed:
        report.notes.append(
            "The concentration does not change (or there is no dead volume): no bridge needed."
        )
    elif b.new_concentration_mcg_ml > b.old_concentration_mcg_ml:
        report.notes.append(
            "Stronger refill: without a bridge the patient is UNDER-dosed (withdrawal risk)."
        )
    else:
        report.notes.append("Weaker refill: without a bridge the patient is OVER-dosed.")
    report.data.update(
        {
            "inputs": {
                "dose_mcg_day": _jnum(b.dose_mcg_per_day, MCG_PLACES),
                "old_concentration_mcg_ml": _jnum(b.old_concentration_mcg_ml, MCG_PLACES),
                "new_concentration_mcg_ml": _jnum(b.new_concentration_mcg_ml, MCG_PLACES),
                "dead_volume_ml": _jnum(b.bridge_volume_ml, ML_PLACES),
            },
            "bridge_needed": b.needed,
            "bridge_volume_ml": _jnum(b.bridge_volume_ml, ML_PLACES),
            "bridge_rate_ml_day": _jnum(b.bridge_rate_ml_per_day, ML_PLACES),
            "bridge_hours": _jnum(b.bridge_hours, HOURS_PLACES),
            "bridge_mcg": _jnum(b.bridge_mcg, MCG_PLACES),
            "dose_during_bridge_mcg_day": _jnum(b.dose_during_bridge_mcg_day, MCG_PLACES),
            "unbridged_dose_mcg_day": _jnum(b.unbridged_dose_mcg_day, MCG_PLACES),
            "unbridged_hours": _jnum(b.unbridged_hours, HOURS_PLACES),
        }
    )
    return report


def register(calc_sub: Any) -> None:
    """Add ``calc bridge`` (``calc_sub``: the ``calc`` subparsers)."""
    p = _add(calc_sub, "bridge", "bridge bolus after a concentration change", _bridge)
    _opt(
        p,
        "--dose-mcg-day",
        dest="dose_mcg",
        type=_dose_mcg,
        required=True,
        help="prescribed daily dose (mcg/day)",
    )
    _opt(
        p,
        "--old-concentration-mcg-ml",
        dest="old_concentration",
        type=_concentration,
        required=True,
        help="concentration in the pump before the refill",
    )
    _opt(
        p,
        "--new-concentration-mcg-ml",
        dest="new_concentration",
        type=_concentration,
        required=True,
        help="concentration of the new drug",
    )
    _opt(
        p,
        "--dead-volume-ml",
        dest="dead_volume_ul",
        type=_dead_volume_ul,
        required=True,
        help="pump internal + catheter volume (mL)",
    )
    _opt(p, "--json", action="store_true", help="print one JSON object")
