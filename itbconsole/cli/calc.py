"""``itbconsole calc``: the dosing arithmetic at a terminal, for clinicians and scripts.

Every subcommand prints its inputs, the formula with the numbers put in, and the result
with units; ``--json`` prints exactly one JSON object instead (numbers as JSON numbers,
rounded for display; instants in ISO 8601 with their UTC offset). The arithmetic itself
lives in :mod:`itbconsole.dosing`; this module only parses, checks and shows.

Bad input (not a number, digits of another script, negative, zero concentration, a value
beyond what any pump model, drug library product or clinic setting allows, volume over
capacity, alarm at or above the reservoir volume, an unknown zone, an unparsable or
ambiguous date, a date outside the pump clock's range) prints one line naming the field on
stderr, nothing on stdout, and exits with status 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from itbconsole import dosing
from itbconsole.cli import EXIT_BAD_INPUT, EXIT_OK, CliArgumentParser
from itbconsole.cli import args as argtypes
from itbconsole.druglib import DrugLibrary, DrugLibraryError, DrugProduct, load_drug_library
from itbconsole.model import Mode, ModelError, PatientBolus, Program
from itbconsole.pump_models import (
    CATHETER_LENGTH_MAX_CM,
    CATHETER_UL_PER_CM_MAX,
    PUMP_DEAD_MAX_UL,
    pump_models,
)
from itbconsole.settings import DEFAULT_SETTINGS, ClinicSettings, SettingsError
from itbconsole.units import (
    UL_PER_ML,
    QuantityError,
    decimal_mcg,
    ml_to_ul,
    round_decimal,
)

DEFAULT_TZ = "Europe/London"

# Display precision (the arithmetic is exact; only the shown figure is rounded).
ML_PLACES = 3
MCG_PLACES = 3
DAYS_PLACES = 2
HOURS_PLACES = 2
PCT_PLACES = 1


class CalcArgumentParser(CliArgumentParser):
    """Like :class:`CliArgumentParser` (status 2 on bad input) but prints only the one-line
    message: the usage of a calculation with a dozen options would bury it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = argtypes.shorten_message(message)
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)


class InputError(ValueError):
    """Input that parses but makes no clinical sense; the message names the field."""


# --------------------------------------------------------------------------- argument types
#
# Each number is read by itbconsole.cli.args (digits 0-9 only, no NaN or Infinity) and
# bounded by the home of its concept: volumes by the pump-model catalogue, doses,
# concentrations and intervals by the drug library, margins and discrepancy thresholds by
# the clinic settings' ranges. A value no pump, product or setting can hold is a slip.


@functools.cache
def _library() -> DrugLibrary:
    return load_drug_library()


def _library_max(what: str, value: Callable[[DrugProduct], Decimal | int]) -> Decimal:
    """The largest ``value`` over the drug library's products (the bound of ``what``)."""
    try:
        return Decimal(max(value(product) for product in _library()))
    except DrugLibraryError as exc:
        raise argparse.ArgumentTypeError(f"cannot check {what}: {exc}") from None


def _volume(text: str) -> Decimal:
    value = argtypes.decimal(text, "mL")
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{argtypes.shown(text)} is negative; enter a volume of 0 mL or more"
        )
    return value


def _to_ul(text: str, value: Decimal) -> int:
    try:
        return ml_to_ul(value)
    except QuantityError:
        raise argparse.ArgumentTypeError(
            f"{argtypes.shown(text)} is more precise than 0.001 mL"
        ) from None


def _volume_ul(text: str) -> int:
    """A volume typed in mL, 0 up to the largest reservoir in the pump-model catalogue, at
    most 0.001 mL precise -> integer µL."""
    value = _volume(text)
    largest = Decimal(max(model.reservoir_ul for model in pump_models())) / UL_PER_ML
    argtypes.check_range(
        text, value, None, largest, unit=" mL", why="the largest reservoir of any pump model"
    )
    return _to_ul(text, value)


def _dead_volume_ul(text: str) -> int:
    """Pump internal plus catheter volume in mL, up to the most a pump record may hold."""
    value = _volume(text)
    most_ul = PUMP_DEAD_MAX_UL + CATHETER_LENGTH_MAX_CM * CATHETER_UL_PER_CM_MAX
    argtypes.check_range(
        text,
        value,
        None,
        most_ul / UL_PER_ML,
        unit=" mL",
        why="the largest pump dead volume plus the longest catheter's volume",
    )
    return _to_ul(text, value)


def _mcg(text: str, bound: Callable[[DrugProduct], Decimal], what: str) -> Decimal:
    value = argtypes.decimal(text, "mcg")
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{argtypes.shown(text)} is negative; enter a dose of 0 mcg or more"
        )
    argtypes.check_range(
        text,
        value,
        None,
        _library_max(what, bound),
        unit=" mcg",
        why=f"the drug library's highest {what}",
    )
    try:
        return decimal_mcg(value)
    except QuantityError:
        raise argparse.ArgumentTypeError(
            f"{argtypes.shown(text)} is more precise than 0.001 mcg"
        ) from None


def _dose_mcg(text: str) -> Decimal:
    """A daily dose in mcg, 0 up to the drug library's highest hard limit."""
    return _mcg(text, lambda p: p.limits.daily_dose_mcg.hard_max, "daily dose")


def _bolus_mcg(text: str) -> Decimal:
    """A patient bolus in mcg, 0 up to the drug library's highest hard limit."""
    return _mcg(text, lambda p: p.limits.bolus_dose_mcg.hard_max, "patient bolus dose")


def _concentration(text: str) -> Decimal:
    """A concentration in mcg/mL, more than 0 (a zero or negative one is never real) and at
    most the drug library's strongest product."""
    value = argtypes.decimal(text, "mcg/mL")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{argtypes.shown(text)} must be more than 0 mcg/mL")
    strongest = _library_max("the concentration", lambda p: p.concentration_mcg_ml)
    argtypes.check_range(
        text, value, None, strongest, unit=" mcg/mL", why="the drug library's strongest product"
    )
    return value


def _boluses_per_day(text: str) -> int:
    value = argtypes.whole(text)
    most = _library_max("boluses per day", lambda p: p.limits.boluses_per_day.hard_max)
    argtypes.check_range(text, value, 0, most, why="the drug library's highest hard limit")
    return value


def _max_interval_days(text: str) -> int:
    value = argtypes.whole(text)
    longest = _library_max("the refill interval", lambda p: p.max_refill_interval_days)
    argtypes.check_range(
        text, value, 1, longest, why="the longest maximum refill interval in the drug library"
    )
    return value


def _within_setting(name: str, text: str, value: int | Decimal) -> None:
    """Refuse a value the clinic setting ``name`` may not hold: itbconsole.settings is the
    one home of its range. The range is of whole numbers, so a decimal is checked on both
    sides (its floor and its ceiling)."""
    for probe in {math.floor(value), math.ceil(value)}:
        try:
            ClinicSettings.from_dict({**DEFAULT_SETTINGS.to_dict(), name: probe})
        except SettingsError as exc:
            reason = str(exc).split(";")[0].rstrip(".")
            raise argparse.ArgumentTypeError(
                f"{argtypes.shown(text)} is out of range: {reason}"
            ) from None


def _setting_days(name: str) -> Callable[[str], int]:
    """Whole days, 0 or more, within the range of the clinic setting ``name``."""

    def parse(text: str) -> int:
        value = argtypes.whole(text)
        argtypes.check_range(text, value, 0, None)
        _within_setting(name, text, value)
        return value

    parse.__name__ = "whole number"
    return parse


def _setting_limit_ul(name: str) -> Callable[[str], int]:
    """A discrepancy limit typed in mL, within the range of the clinic setting ``name``."""

    def parse(text: str) -> int:
        ul = _to_ul(text, _volume(text))
        _within_setting(name, text, ul)
        return ul

    parse.__name__ = "_volume_ul"
    return parse


def _setting_percent(name: str) -> Callable[[str], Decimal]:
    """A percentage, 0 or more, within the range of the clinic setting ``name``."""

    def parse(text: str) -> Decimal:
        value = argtypes.decimal(text, "%")
        if value < 0:
            raise argparse.ArgumentTypeError(
                f"{argtypes.shown(text)} is negative; enter a percentage of 0 or more"
            )
        _within_setting(name, text, value)
        return value

    parse.__name__ = "_percent"
    return parse


_zone = argtypes.zone
_date = argtypes.calendar_date
#: ISO 8601 date-time; the zone is applied later (a naive time is local in --tz).
_moment_text = argtypes.moment(
    zone_required=False, example="2026-03-01T09:00 or 2026-03-01T09:00+00:00"
)


def _localise(moment: datetime, tz: tzinfo, field_name: str) -> datetime:
    """Give a naive time the zone ``tz``, refusing times the clock skips or repeats.

    Why: on the spring-forward night 01:30 in London never happens, and on the fall-back
    night it happens twice; guessing would shift every date computed from it by an hour.
    """
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment
    first = moment.replace(tzinfo=tz, fold=0)
    second = moment.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != moment:
        raise InputError(
            f"{field_name}: {moment.isoformat()} does not exist in {tz} (the clocks go "
            "forward); enter a time outside the skipped hour"
        )
    if first.utcoffset() != second.utcoffset():
        raise InputError(
            f"{field_name}: {moment.isoformat()} happens twice in {tz} (the clocks go back); "
            "add the UTC offset, for example +01:00 or +00:00"
        )
    return first


# --------------------------------------------------------------------------- output


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


# --------------------------------------------------------------------------- refill and trip


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
    report.results += [
        ("needed until", check.needed_until.astimezone(forecast.tz).isoformat()),
        ("lasts", "yes" if check.ok else "NO"),
        ("shortfall", f"{_dec(check.shortfall_days, DAYS_PLACES)} days"),
    ]
    if not check.ok:
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
        }
    )
    return report


# --------------------------------------------------------------------------- discrepancy


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


# --------------------------------------------------------------------------- bridge, dose change


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


# --------------------------------------------------------------------------- registration


#: Metavariables shown in ``--help``, by argument type: the unit the user types.
_METAVARS = {
    "_volume_ul": "ML",
    "_dead_volume_ul": "ML",
    "_dose_mcg": "MCG",
    "_bolus_mcg": "MCG",
    "_concentration": "MCG_ML",
    "_percent": "PCT",
    "whole number": "N",
    "_boluses_per_day": "N",
    "_max_interval_days": "N",
    "zone": "ZONE",
    "calendar_date": "YYYY-MM-DD",
}


def _opt(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> None:
    """``add_argument`` with the unit as the metavariable (``--reservoir-ml ML``)."""
    kind = kwargs.get("type")
    if kind is not None and "metavar" not in kwargs:
        kwargs["metavar"] = _METAVARS.get(getattr(kind, "__name__", ""))
    parser.add_argument(flag, **kwargs)


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


def _add(
    sub: Any, name: str, help_text: str, build: Callable[[argparse.Namespace], Report]
) -> argparse.ArgumentParser:
    # argparse %-formats a help string (not a description): "%" must be doubled there.
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text.replace("%", "%%"), description=help_text
    )
    parser.set_defaults(handler=_guarded(build), calc_prog=parser.prog)
    return parser


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

    p = _add(
        calc_sub,
        "refill",
        "days to the low-reservoir alarm, alarm time and refill-by date",
        _refill,
    )
    _add_forecast_options(p)

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
