"""What ``itbconsole calc`` accepts: argument types, their bounds, and the parser.

Shared by every calculation. Each argument type keeps its function name (``_volume_ul``,
``_dose_mcg``...): argparse and :data:`_METAVARS` read it to name the unit in ``--help``.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from itbconsole.cli import EXIT_BAD_INPUT, CliArgumentParser
from itbconsole.cli import args as argtypes
from itbconsole.druglib import DrugLibrary, DrugLibraryError, DrugProduct, load_drug_library
from itbconsole.pump_models import (
    CATHETER_LENGTH_MAX_CM,
    CATHETER_UL_PER_CM_MAX,
    PUMP_DEAD_MAX_UL,
    pump_models,
)
from itbconsole.settings import DEFAULT_SETTINGS, ClinicSettings, SettingsError
from itbconsole.units import UL_PER_ML, QuantityError, decimal_mcg, ml_to_ul

DEFAULT_TZ = "Europe/London"


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


# --------------------------------------------------------------------------- options


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
