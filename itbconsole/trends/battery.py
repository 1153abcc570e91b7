"""Battery trend: when the Elective Replacement Indicator (ERI) and End of Service are due.

Why a projection: replacement surgery is planned months ahead (Medtronic advises replacing
about 6 months before shut-off), so the clinic needs the ERI date before the pump reports
it. Once the pump reports ERI (or its voltage is at or below the threshold) the date is
observed, not projected. When the pump reports its own ERI and End of Service dates, or a
reading has shown ERI, those dates are the forecast's (itbconsole.forecast) and the Trends
tab shows them instead; this fit only projects a date the forecast does not have yet.

The projection is a least-squares straight line through the readings of the last
``fit_days`` days, computed in binary floating point (numpy): it is an estimate of a
future date from noisy voltages, rounded down to the whole second so it errs early, and is
always shown as "projected".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from itbconsole.settings import DEFAULT_SETTINGS

#: The clinic's default (itbconsole.settings): End of Service about 90 days after ERI.
ERI_TO_EOS = DEFAULT_SETTINGS.eri_to_eos

#: Volts at which the demo and the simulated pump raise ERI; a clinic setting per pump model.
DEFAULT_ERI_THRESHOLD_MV = 2900
#: A projection further out than this (30 years, beyond any pump battery) is not made.
MAX_PROJECTION_DAYS = 30 * 365

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BatteryFit:
    """The straight line through recent readings: mV = intercept + slope x days since
    ``origin``."""

    origin: datetime
    slope_mv_per_day: float
    intercept_mv: float
    points: int
    first: datetime
    last: datetime

    def mv_at(self, epoch_s: FloatArray) -> FloatArray:
        days = (epoch_s - self.origin.timestamp()) / 86_400.0
        return self.intercept_mv + self.slope_mv_per_day * days


@dataclass(frozen=True)
class BatteryOutlook:
    """ERI and End of Service, observed or projected, with how they were found."""

    threshold_mv: int
    fit: BatteryFit | None
    eri_at: datetime | None
    eri_observed: bool
    eos_at: datetime | None
    eos_reported_at: datetime | None
    note: str
    eos_projected: bool = True


def battery_outlook(
    times_s: FloatArray,
    battery_mv: FloatArray,
    eri_flags: npt.NDArray[np.bool_],
    eos_flags: npt.NDArray[np.bool_],
    *,
    threshold_mv: int = DEFAULT_ERI_THRESHOLD_MV,
    fit_days: int = 730,
    min_points: int = 3,
    min_span_days: int = 30,
    eos_after_eri: timedelta = ERI_TO_EOS,
) -> BatteryOutlook:
    """ERI and End of Service from readings (epoch seconds, mV, flags; oldest first).

    * Observed ERI: the first reading with the pump's ERI flag or a voltage at or below
      ``threshold_mv``.
    * Otherwise projected: fit mV = a + b x days over readings within ``fit_days`` of the
      latest (at least ``min_points`` readings spanning ``min_span_days``); ERI is where
      the line meets the threshold, when the voltage is falling (b < 0).
    * End of Service: ERI + ``eos_after_eri`` (absolute time); a pump that reports End of
      Service gives that reading's time as ``eos_reported_at``.
    """
    n = len(times_s)
    if n == 0:
        return BatteryOutlook(
            threshold_mv, None, None, False, None, None, "No battery readings yet."
        )
    reported = np.flatnonzero(eos_flags)
    eos_reported = _instant(float(times_s[reported[0]])) if len(reported) else None
    at_eri = np.flatnonzero(eri_flags | (battery_mv <= threshold_mv))
    fit = _fit(times_s, battery_mv, fit_days, min_points, min_span_days)
    if len(at_eri):
        eri = _instant(float(times_s[at_eri[0]]))
        note = f"ERI reached: first shown by the reading of {eri:%d %b %Y} (observed)."
        return BatteryOutlook(threshold_mv, fit, eri, True, eri + eos_after_eri, eos_reported, note)
    if fit is None:
        note = (
            f"No ERI projection yet: it needs at least {min_points} readings over "
            f"{min_span_days} days or more in the last {fit_days} days."
        )
        return BatteryOutlook(threshold_mv, None, None, False, None, eos_reported, note)
    # A flat line (a slope of -1e-14 mV a day from rounding) would put ERI past the year
    # 9999: a voltage that falls less than this reaches ERI in no useful time.
    if fit.slope_mv_per_day >= 0 or (
        (threshold_mv - fit.intercept_mv) / fit.slope_mv_per_day > MAX_PROJECTION_DAYS
    ):
        note = "No ERI projection: the battery voltage is not falling in recent readings."
        return BatteryOutlook(threshold_mv, fit, None, False, None, eos_reported, note)
    days = (threshold_mv - fit.intercept_mv) / fit.slope_mv_per_day
    eri_s = fit.origin.timestamp() + days * 86_400.0
    eri = _instant(max(eri_s, float(times_s[-1])))
    note = (
        f"ERI projected from a straight line through {fit.points} readings since "
        f"{fit.first:%d %b %Y} ({fit.slope_mv_per_day * 365.25:+.0f} mV a year)."
    )
    return BatteryOutlook(threshold_mv, fit, eri, False, eri + eos_after_eri, eos_reported, note)


def _instant(epoch_s: float) -> datetime:
    """Whole seconds, rounded down (a projected date errs early, never late)."""
    return datetime.fromtimestamp(int(np.floor(epoch_s)), UTC)


def _fit(
    times_s: FloatArray, mv: FloatArray, fit_days: int, min_points: int, min_span_days: int
) -> BatteryFit | None:
    recent = times_s >= times_s[-1] - fit_days * 86_400.0
    x, y = times_s[recent], mv[recent]
    if len(x) < min_points or (x[-1] - x[0]) < min_span_days * 86_400.0:
        return None
    origin = _instant(float(x[-1]))
    days = (x - origin.timestamp()) / 86_400.0  # small, centred numbers keep the fit precise
    slope, intercept = np.polyfit(days, y, 1)
    return BatteryFit(
        origin,
        float(slope),
        float(intercept),
        len(x),
        _instant(float(x[0])),
        _instant(float(x[-1])),
    )


__all__ = ["DEFAULT_ERI_THRESHOLD_MV", "BatteryFit", "BatteryOutlook", "battery_outlook"]
