"""Battery trend: the voltage over the years, and how it stands against ERI and End of Service.

Why: replacement surgery is planned months ahead (Medtronic advises replacing about 6
months before shut-off). The ERI and End of Service dates every screen shows are the
forecast's (:mod:`itbconsole.forecast`: the pump's own dates, or the reading that first
showed ERI); the Trends tab shows those and no other (:func:`with_forecast_dates`).

Before the pump shows ERI, the tab draws a least-squares straight line through the readings
of the last ``fit_days`` days (binary floating point, numpy; rounded down to the whole second
so it errs early). Where it meets the ERI voltage is an extrapolation, said to be one and
checked against the battery's 5 to 7 years from the implant: a voltage falling a little
more slowly than usual puts the crossing decades out, which no battery lasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from itbconsole.display import fmt_local_day
from itbconsole.forecast import Forecast
from itbconsole.settings import DEFAULT_SETTINGS

#: The clinic's default (itbconsole.settings): End of Service about 90 days after ERI.
ERI_TO_EOS = DEFAULT_SETTINGS.eri_to_eos

#: Volts at which the demo and the simulated pump raise ERI; a clinic setting per pump model.
DEFAULT_ERI_THRESHOLD_MV = 2900
#: How long a pump battery lasts, in years from the implant (shared/domain.md: "5 to 7 years"):
#: a voltage line reaching ERI outside this window is said to be out of step with it.
BATTERY_LIFE_YEARS = (5, 7)
#: A projection further out than this (30 years, beyond any pump battery) is not made.
MAX_PROJECTION_DAYS = 30 * 365

if TYPE_CHECKING:  # numpy is imported where it is used: the worklist reads this module at
    # every start and never draws a battery line
    import numpy as np
    import numpy.typing as npt

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
    line_eri_at: datetime | None = None
    """Where the straight line through the voltages meets the ERI level: an extrapolation,
    never an ERI date (those are the forecast's, see :func:`with_forecast_dates`)."""
    life_from: datetime | None = None
    life_to: datetime | None = None
    """The implant date + :data:`BATTERY_LIFE_YEARS`: when ERI is to be expected."""
    line_note: str = ""
    """What the line says, in words, with how far to trust it."""


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
    tz: tzinfo = UTC,
) -> BatteryOutlook:
    """ERI and End of Service from readings (epoch seconds, mV, flags; oldest first); the
    note names days in ``tz``, the clinic's zone.

    * Observed ERI: the first reading with the pump's ERI flag or a voltage at or below
      ``threshold_mv``.
    * Otherwise projected: fit mV = a + b x days over readings within ``fit_days`` of the
      latest (at least ``min_points`` readings spanning ``min_span_days``); ERI is where
      the line meets the threshold, when the voltage is falling (b < 0).
    * End of Service: ERI + ``eos_after_eri`` (absolute time); a pump that reports End of
      Service gives that reading's time as ``eos_reported_at``.
    """
    import numpy as np

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
        note = f"ERI reached: first shown by the reading of {fmt_local_day(eri, tz)} (observed)."
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
        f"{fmt_local_day(fit.first, tz)} ({fit.slope_mv_per_day * 365.25:+.0f} mV a year)."
    )
    return BatteryOutlook(threshold_mv, fit, eri, False, eri + eos_after_eri, eos_reported, note)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def with_forecast_dates(
    outlook: BatteryOutlook, fc: Forecast, tz: tzinfo, implant_at: datetime | None = None
) -> BatteryOutlook:
    """The outlook with the forecast's ERI and End of Service (itbconsole.forecast, the one
    home of those dates: the pump's own dates, or the reading that first showed ERI).

    The voltage line's crossing of the ERI level becomes :attr:`BatteryOutlook.line_eri_at`,
    an extrapolation: it is never shown as the ERI date, and it is checked against the
    battery's 5 to 7 years from the implant (a slowly falling voltage can put it decades
    out). ``tz`` is the clinic's zone for the dates in the notes."""
    fit_eri = None if outlook.eri_observed else outlook.eri_at
    life_from = life_to = None
    if implant_at is not None:
        implant_day = implant_at.astimezone(tz).date()
        life_from = _midnight(_years_after(implant_day, BATTERY_LIFE_YEARS[0]), tz)
        life_to = _midnight(_years_after(implant_day, BATTERY_LIFE_YEARS[1]), tz)
    if fc.eri is not None or fc.end_of_service is not None:
        eri_at = _midnight(fc.eri.day, tz) if fc.eri is not None else None
        eos_at = _midnight(fc.end_of_service.day, tz) if fc.end_of_service is not None else None
        notes = [e.note for e in (fc.eri, fc.end_of_service) if e is not None]
        return replace(
            outlook,
            eri_at=eri_at,
            eri_observed=fc.eri is not None and not fc.eri.projected,
            eos_at=eos_at,
            eos_projected=fc.end_of_service is None or fc.end_of_service.projected,
            note="; ".join(notes) + ".",
            line_eri_at=None,
            life_from=life_from,
            life_to=life_to,
        )
    life = ""
    if life_from is not None and life_to is not None and implant_at is not None:
        life = (
            f" A battery lasts {BATTERY_LIFE_YEARS[0]} to {BATTERY_LIFE_YEARS[1]} years: "
            f"implanted {fmt_local_day(implant_at, tz)}, ERI is to be expected between "
            f"{fmt_local_day(life_from, tz)} and {fmt_local_day(life_to, tz)}."
        )
    line_note = ""
    if fit_eri is not None and outlook.fit is not None:
        line_note = (
            f"The voltage line ({outlook.fit.slope_mv_per_day * 365.25:+.0f} mV a year through "
            f"{outlook.fit.points} readings since {fmt_local_day(outlook.fit.first, tz)}) reaches "
            f"{outlook.threshold_mv} mV on {fmt_local_day(fit_eri, tz)}: an extrapolation, not a date"
        )
        if life_to is not None and fit_eri > life_to:
            line_note += ", and later than the battery's life allows; plan by the battery life"
        elif life_from is not None and fit_eri < life_from:
            line_note += ", and earlier than the battery's life; interrogate the pump more often"
        line_note += "."
    elif outlook.eri_observed and outlook.eri_at is not None:
        line_note = (
            f"The voltage was at or below {outlook.threshold_mv} mV on "
            f"{fmt_local_day(outlook.eri_at, tz)}, but the pump has not shown ERI: check its battery."
        )
    return replace(
        outlook,
        eri_at=None,
        eri_observed=False,
        eos_at=None,
        note="No ERI date yet: the pump has not reported ERI." + life,
        line_eri_at=fit_eri,
        life_from=life_from,
        life_to=life_to,
        line_note=line_note or outlook.note,
    )


def _instant(epoch_s: float) -> datetime:
    """Whole seconds, rounded down (a projected date errs early, never late)."""
    return datetime.fromtimestamp(math.floor(epoch_s), UTC)


def _fit(
    times_s: FloatArray, mv: FloatArray, fit_days: int, min_points: int, min_span_days: int
) -> BatteryFit | None:
    import numpy as np

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


__all__ = [
    "BATTERY_LIFE_YEARS",
    "DEFAULT_ERI_THRESHOLD_MV",
    "BatteryFit",
    "BatteryOutlook",
    "battery_outlook",
    "with_forecast_dates",
]
