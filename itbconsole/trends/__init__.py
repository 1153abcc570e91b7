"""Trends of one pump over the years, as plain arrays: reservoir saw-tooth and expected
depletion, low-reservoir projection, battery and ERI, daily dose, delivery accuracy and
drift, alarms and events. Built from :class:`itbconsole.store.queries.PatientHistory`
without Qt; ``ui/trends.py`` draws them.

* :mod:`itbconsole.trends.series`: building every series (:func:`build_trends`);
* :mod:`itbconsole.trends.accuracy`: accuracy per refill and drift detection;
* :mod:`itbconsole.trends.battery`: ERI and End of Service, observed or projected;
* :mod:`itbconsole.trends.timeaxis`: local-time ticks and labels, correct across DST.

Clinical arithmetic (delivery, residuals, alarm dates, discrepancy) stays in
:mod:`itbconsole.dosing`; these modules only call it.
"""

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
    DEFAULT_ERI_THRESHOLD_MV,
    BatteryFit,
    BatteryOutlook,
    battery_outlook,
)
from itbconsole.trends.series import (
    AccuracyTrend,
    BatteryTrend,
    DoseStep,
    DoseTrend,
    Marker,
    PatientTrends,
    ReservoirTrend,
    TrendSettings,
    build_trends,
    expected_depletion,
    load_trends,
)
from itbconsole.trends.timeaxis import format_local, format_local_date, local_ticks, to_local

__all__ = [
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
    "TrendSettings",
    "battery_outlook",
    "build_trends",
    "detect_drift",
    "expected_depletion",
    "format_local",
    "format_local_date",
    "load_trends",
    "local_ticks",
    "refill_accuracies",
    "to_local",
]
