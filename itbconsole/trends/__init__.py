"""Trends of one pump over the years, as plain arrays: reservoir saw-tooth and expected
depletion, low-reservoir projection, battery and ERI, daily dose, delivery accuracy and
drift, alarms and events. Built without Qt from the store's columns (the tab's path) or a
:class:`itbconsole.store.queries.PatientHistory`; ``ui/trends_view.py`` draws them.

* :mod:`itbconsole.trends.series`: building every series (:func:`build_trends` from a
  history, :func:`trends_from_records` from columns);
* :mod:`itbconsole.trends.reader`: one patient's trends read from the store as columns
  (:func:`load_patient_trends`, the Trends tab's path);
* :mod:`itbconsole.trends.accuracy`: accuracy per refill and drift detection;
* :mod:`itbconsole.trends.battery`: ERI and End of Service, observed or projected;
* :mod:`itbconsole.trends.timeaxis`: local-time ticks and labels, correct across DST.

Clinical arithmetic (delivery, residuals, alarm dates, discrepancy) stays in
:mod:`itbconsole.dosing`; these modules only call it.
"""

from typing import TYPE_CHECKING, Any

from itbconsole.trends.accuracy import (
    OVER,
    UNDER,
    Drift,
    DriftRule,
    RefillAccuracy,
    detect_drift,
    refill_accuracies,
)
from itbconsole.trends.battery import (
    BATTERY_LIFE_YEARS,
    DEFAULT_ERI_THRESHOLD_MV,
    BatteryFit,
    BatteryOutlook,
    battery_outlook,
    with_forecast_dates,
)
from itbconsole.trends.settings import TrendSettings
from itbconsole.trends.timeaxis import format_local, local_ticks, to_local

if TYPE_CHECKING:
    from itbconsole.trends.reader import load_patient_trends
    from itbconsole.trends.series import (
        AccuracyTrend,
        BatteryTrend,
        DoseStep,
        DoseTrend,
        Marker,
        PatientTrends,
        ReservoirTrend,
        TrendRecords,
        build_trends,
        empty_trends,
        expected_depletion,
        load_trends,
        trends_from_records,
    )

#: Names whose modules import numpy, loaded on first use: the worklist imports this package
#: at every start for the drift rule alone, and numpy costs about 45 ms of that start.
_LAZY = {
    "load_patient_trends": "itbconsole.trends.reader",
    **dict.fromkeys(
        (
            "AccuracyTrend",
            "BatteryTrend",
            "DoseStep",
            "DoseTrend",
            "Marker",
            "PatientTrends",
            "ReservoirTrend",
            "TrendRecords",
            "build_trends",
            "empty_trends",
            "expected_depletion",
            "load_trends",
            "trends_from_records",
        ),
        "itbconsole.trends.series",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BATTERY_LIFE_YEARS",
    "DEFAULT_ERI_THRESHOLD_MV",
    "OVER",
    "UNDER",
    "AccuracyTrend",
    "BatteryFit",
    "BatteryOutlook",
    "BatteryTrend",
    "DoseStep",
    "DoseTrend",
    "Drift",
    "DriftRule",
    "Marker",
    "PatientTrends",
    "RefillAccuracy",
    "ReservoirTrend",
    "TrendRecords",
    "TrendSettings",
    "battery_outlook",
    "build_trends",
    "detect_drift",
    "empty_trends",
    "expected_depletion",
    "format_local",
    "load_patient_trends",
    "load_trends",
    "local_ticks",
    "refill_accuracies",
    "to_local",
    "trends_from_records",
    "with_forecast_dates",
]
