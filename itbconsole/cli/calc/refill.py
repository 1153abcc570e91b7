"""``itbconsole calc refill``: days to the low-reservoir alarm, alarm time, refill-by date.

The forecast here (its inputs, checks and sections) is also the first half of ``calc trip``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from itbconsole import dosing
from itbconsole.cli.calc.inputs import (
    DEFAULT_TZ,
    InputError,
    _bolus_mcg,
    _boluses_per_day,
    _concentration,
    _dose_mcg,
    _localise,
    _max_interval_days,
    _moment_text,
    _opt,
    _setting_days,
    _volume_ul,
    _zone,
)
from itbconsole.cli.calc.output import (
    DAYS_PLACES,
    MCG_PLACES,
    ML_PLACES,
    Report,
    _add,
    _dec,
    _jnum,
    _local,
    _ml,
    _num,
)
from itbconsole.model import Mode, PatientBolus, Program
from itbconsole.units import UL_PER_ML


def _start(args: argparse.Namespace) -> datetime:
    if args.start is None:
        return datetime.now(UTC).replace(microsecond=0)
    return _localise(args.start, args.tz, "--from")


def _forecast(args: argparse.Namespace) -> dosing.RefillForecast:
    if args.capacity_ul is not None and args.reservoir_ul > args.capacity_ul:
        raise InputError(
            f"--reservoir-ml: {_ml(args.reservoir_ul)} is more than the capacity "
            f"{_ml(args.capacity_ul)}"
        )
    if args.alarm_ul >= args.reservoir_ul:
        raise InputError(
            f"--alarm-ml: the alarm volume {_ml(args.alarm_ul)} is not below the reservoir "
            f"volume {_ml(args.reservoir_ul)}; the reservoir is at its alarm: refill now"
        )
    if (args.bolus_mcg is None) != (args.boluses_per_day is None):
        raise InputError("--bolus-mcg and --boluses-per-day go together; give both or neither")
    bolus = None
    if args.bolus_mcg is not None and args.boluses_per_day:
        if args.bolus_mcg <= 0:
            raise InputError("--bolus-mcg: a patient bolus must be more than 0 mcg")
        bolus = PatientBolus(args.bolus_mcg, 0, 0, args.boluses_per_day)
    mode = Mode.SIMPLE_CONTINUOUS if args.dose_mcg > 0 or bolus else Mode.STOPPED
    program = Program(
        mode,
        daily_dose_mcg=args.dose_mcg if mode is not Mode.STOPPED else Decimal(0),
        patient_bolus=bolus,
    )
    return dosing.refill_forecast(
        reservoir_ul=args.reservoir_ul,
        alarm_volume_ul=args.alarm_ul,
        program=program,
        concentration_mcg_ml=args.concentration,
        start=_start(args),
        tz=args.tz,
        margin_days=args.margin_days,
        max_refill_interval_days=args.max_interval_days,
    )


def _forecast_sections(f: dosing.RefillForecast, report: Report, args: argparse.Namespace) -> None:
    tz = f.tz
    report.inputs += [
        ("reservoir volume", _ml(f.reservoir_ul)),
        ("low-reservoir alarm", _ml(f.alarm_volume_ul)),
        ("daily dose", f"{_num(f.programmed_dose_mcg_per_day, MCG_PLACES)} mcg/day"),
        ("concentration", f"{_num(f.concentration_mcg_ml, MCG_PLACES)} mcg/mL"),
        (
            "patient boluses",
            "none"
            if f.bolus_mcg_per_day == 0
            else f"{_num(args.bolus_mcg, MCG_PLACES)} mcg x {args.boluses_per_day}/day"
            f" = {_num(f.bolus_mcg_per_day, MCG_PLACES)} mcg/day",
        ),
        ("from", f"{f.start.astimezone(tz).isoformat()} ({tz})"),
        ("refill margin", f"{f.margin_days} days before the alarm date"),
        (
            "max refill interval",
            "not given"
            if f.max_refill_interval_days is None
            else f"{f.max_refill_interval_days} days",
        ),
    ]
    daily = _dec(f.daily_volume_ml, ML_PLACES)
    maximum = _dec(f.max_daily_volume_ml, ML_PLACES)
    report.formulas += [
        "daily volume     = dose / concentration = "
        f"{_num(f.programmed_dose_mcg_per_day, MCG_PLACES)} mcg/day"
        f" / {_num(f.concentration_mcg_ml, MCG_PLACES)} mcg/mL = {daily} mL/day",
        "max daily volume = (dose + bolus dose x boluses per day) / concentration"
        f" = {maximum} mL/day",
    ]
    if f.days_to_alarm is None:
        report.formulas.append("days to alarm    = nothing is delivered, so the alarm never sounds")
    else:
        report.formulas.append(
            f"days to alarm    = (reservoir - alarm) / max daily volume = ({_ml(f.reservoir_ul)}"
            f" - {_ml(f.alarm_volume_ul)}) / {maximum} mL/day"
            f" = {_dec(f.days_to_alarm, DAYS_PLACES)} days"
        )
        report.formulas.append("alarm at         = from + days to alarm (real elapsed time)")
    report.formulas.append(
        f"refill by        = earlier of (alarm date - {f.margin_days} days) and"
        " (from + max refill interval), not before the start date"
    )
    days_text = "never" if f.days_to_alarm is None else f"{_dec(f.days_to_alarm, DAYS_PLACES)} days"
    report.results += [
        ("daily volume", f"{daily} mL/day"),
        ("max daily volume", f"{maximum} mL/day"),
        ("days to alarm", days_text),
        ("alarm at", _local(f.alarm_at, tz) or "never (nothing is delivered)"),
        ("empty at", _local(f.empty_at, tz) or "never (nothing is delivered)"),
        (
            "refill by",
            "no date" if f.refill_by is None else f"{f.refill_by.isoformat()} ({f.refill_by_rule})",
        ),
    ]
    if f.stopped:
        report.notes.append("The pump delivers nothing: a stopped pump is a withdrawal risk.")
    report.data.update(
        {
            "inputs": {
                "reservoir_ml": _jnum(Fraction(f.reservoir_ul, UL_PER_ML), ML_PLACES),
                "alarm_ml": _jnum(Fraction(f.alarm_volume_ul, UL_PER_ML), ML_PLACES),
                "dose_mcg_day": _jnum(f.programmed_dose_mcg_per_day, MCG_PLACES),
                "concentration_mcg_ml": _jnum(f.concentration_mcg_ml, MCG_PLACES),
                "bolus_mcg": _jnum(args.bolus_mcg, MCG_PLACES),
                "boluses_per_day": args.boluses_per_day,
                "from": f.start.astimezone(tz).isoformat(),
                "tz": str(tz),
                "margin_days": f.margin_days,
                "max_interval_days": f.max_refill_interval_days,
            },
            "daily_volume_ml": _jnum(f.daily_volume_ml, ML_PLACES),
            "max_daily_volume_ml": _jnum(f.max_daily_volume_ml, ML_PLACES),
            "days_to_alarm": _jnum(f.days_to_alarm, DAYS_PLACES),
            "alarm_at": _local(f.alarm_at, tz),
            "days_to_empty": _jnum(f.days_to_empty, DAYS_PLACES),
            "empty_at": _local(f.empty_at, tz),
            "refill_by": None if f.refill_by is None else f.refill_by.isoformat(),
            "refill_by_rule": f.refill_by_rule,
        }
    )


def _refill(args: argparse.Namespace) -> Report:
    forecast = _forecast(args)
    report = Report("Refill forecast", data={"calculation": "refill"})
    _forecast_sections(forecast, report, args)
    return report


def _add_forecast_options(p: argparse.ArgumentParser) -> None:
    _opt(
        p,
        "--reservoir-ml",
        dest="reservoir_ul",
        type=_volume_ul,
        required=True,
        help="drug in the reservoir now (mL)",
    )
    _opt(
        p,
        "--alarm-ml",
        dest="alarm_ul",
        type=_volume_ul,
        required=True,
        help="low-reservoir alarm volume (mL)",
    )
    _opt(
        p,
        "--dose-mcg-day",
        dest="dose_mcg",
        type=_dose_mcg,
        required=True,
        help="programmed daily dose (mcg/day)",
    )
    _opt(
        p,
        "--concentration-mcg-ml",
        dest="concentration",
        type=_concentration,
        required=True,
        help="drug concentration (mcg/mL)",
    )
    _opt(
        p,
        "--capacity-ml",
        dest="capacity_ul",
        type=_volume_ul,
        help="reservoir capacity (mL), to check the volume",
    )
    _opt(
        p,
        "--from",
        dest="start",
        type=_moment_text,
        metavar="ISO_DATETIME",
        help="start time (default now); without an offset it is local time in --tz",
    )
    _opt(
        p,
        "--tz",
        type=_zone,
        default=ZoneInfo(DEFAULT_TZ),
        help=f"clinic time zone (default {DEFAULT_TZ})",
    )
    _opt(p, "--bolus-mcg", type=_bolus_mcg, help="patient bolus dose (mcg)")
    _opt(p, "--boluses-per-day", type=_boluses_per_day, help="patient boluses allowed per day")
    _opt(
        p,
        "--margin-days",
        type=_setting_days("refill_margin_days"),
        default=dosing.DEFAULT_REFILL_MARGIN_DAYS,
        help="refill this many days before the alarm date (default 7)",
    )
    _opt(
        p,
        "--max-interval-days",
        type=_max_interval_days,
        help="the drug's maximum refill interval (days)",
    )
    _opt(p, "--json", action="store_true", help="print one JSON object")


def register(calc_sub: Any) -> None:
    """Add ``calc refill`` (``calc_sub``: the ``calc`` subparsers)."""
    p = _add(
        calc_sub,
        "refill",
        "days to the low-reservoir alarm, alarm time and refill-by date",
        _refill,
    )
    _add_forecast_options(p)
