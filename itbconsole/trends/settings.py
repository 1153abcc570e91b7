"""The clinic settings the trends depend on, in a module of their own.

Why apart from :mod:`itbconsole.trends.series`: the worklist reads the drift rule from
here at every start, and ``series`` pulls in numpy (about 45 ms of the start); these
settings need none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from itbconsole import dosing
from itbconsole.settings import ClinicSettings
from itbconsole.trends.accuracy import DriftRule
from itbconsole.trends.battery import DEFAULT_ERI_THRESHOLD_MV


@dataclass(frozen=True)
class TrendSettings:
    """Clinic settings the trends depend on, with the console's defaults."""

    eri_threshold_mv: int = DEFAULT_ERI_THRESHOLD_MV
    battery_fit_days: int = 730
    thresholds: dosing.DiscrepancyThresholds = field(default_factory=dosing.DiscrepancyThresholds)
    drift: DriftRule = field(default_factory=DriftRule)
    clinic: ClinicSettings = field(default_factory=ClinicSettings)
    """The clinic's settings, for the forecast when the caller does not hand one in."""


__all__ = ["TrendSettings"]
