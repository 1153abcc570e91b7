"""One patient's trends read straight from the store as columns: the Trends tab's fast path.

Why not :func:`itbconsole.trends.load_trends` over a :class:`PatientHistory`: that turns
every reading and pump event into an object (a ``datetime`` and two JSON documents a row),
over a second for ten years of hourly readings. Here the readings arrive as numpy columns
(:meth:`itbconsole.store.Store.trend_records`), only the rows where the program or the alarms
change are read in full, and the series are built by the same
:func:`itbconsole.trends.series.trends_from_records` as the history path, so both draw the
same figures.

It runs on whatever thread owns ``store`` (the tab's worker thread has a read-only store of
its own, :func:`itbconsole.store.columns.open_reader`); ``forecast_of`` gives the pump's
forecast from the one home of its dates (:func:`itbconsole.forecast.forecast` over the
clinic service's ``pump_facts``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from itbconsole.forecast import Forecast
from itbconsole.store import Store
from itbconsole.trends.series import (
    NO_PUMP,
    PatientTrends,
    empty_trends,
    trends_from_records,
)
from itbconsole.trends.settings import TrendSettings


def load_patient_trends(
    store: Store,
    patient_id: int,
    tz: tzinfo,
    now: datetime,
    settings: TrendSettings,
    forecast_of: Callable[[str], Forecast],
) -> PatientTrends:
    """The trends of the pump registered to patient ``patient_id`` now (the empty message
    when there is none). Raises LookupError for an unknown patient."""
    patient, records = store.trend_records(patient_id)
    if records is None:
        return empty_trends(tz, now, None, NO_PUMP, patient)
    has_data = len(records.readings) > 0 or bool(records.refills)
    forecast = forecast_of(records.pump.serial) if has_data else None
    return trends_from_records(records, tz, now, settings, forecast)


__all__ = ["load_patient_trends"]
