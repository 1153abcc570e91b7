"""A patient's history as one table, and the clinic's refill log (drug recalls).

Why one package: the History tab, its CSV and ``itbconsole export csv`` must say the same
thing about the same records. The timeline is built here once, Qt-free, from the patient's
records (:class:`itbconsole.store.queries.PatientHistory` for the effective records and
:class:`itbconsole.store.queries.PatientRecords` for every version with its stamp); the
tab only shows it and the CLI only writes it.

Figures come from their homes: the discrepancy and delivery accuracy from
:mod:`itbconsole.dosing` through :func:`itbconsole.trends.refill_accuracies` (as the
Trends tab computes them), doses per 24 h and their change from :mod:`itbconsole.dosing`,
display text from :mod:`itbconsole.display`, CSV rules from :mod:`itbconsole.exports`.

One concept per module; everything public is re-exported here, so callers import from
``itbconsole.services.history`` and need not know the layout:

* ``row``: what a row is (:class:`TimelineRow`, :class:`Kind`, :data:`KIND_LABELS`);
* ``text``: how times, volumes, programs and a correction's changes are written
  (:func:`when_text`);
* ``builder``: one row, a record's correction chain and its correction rows;
* one module per family of records, each a mixin over the builder: ``patient_rows`` (the
  patient record, status, screening test doses), ``pump_life_rows`` (registration,
  explant, catheter revision), ``pump_record_rows`` (readings, the pump's alarm log
  (:data:`ALARM_EVENTS`), its clock), ``refill_rows``, ``program_change_rows``;
* ``timeline``: :func:`build_timeline`, the kinds put together and sorted, and
  :func:`kinds_in` for the kind filter;
* ``history_csv``: :data:`HISTORY_COLUMNS`, :func:`history_columns`,
  :func:`history_csv_rows`;
* ``refill_log``: :data:`REFILL_LOG_COLUMNS`, :func:`refill_log_rows`.
"""

from __future__ import annotations

from itbconsole.services.history.history_csv import (
    HISTORY_COLUMNS,
    history_columns,
    history_csv_rows,
)
from itbconsole.services.history.pump_record_rows import ALARM_EVENTS
from itbconsole.services.history.refill_log import REFILL_LOG_COLUMNS, refill_log_rows
from itbconsole.services.history.row import KIND_LABELS, Kind, TimelineRow
from itbconsole.services.history.text import when_text
from itbconsole.services.history.timeline import build_timeline, kinds_in

__all__ = [
    "ALARM_EVENTS",
    "HISTORY_COLUMNS",
    "KIND_LABELS",
    "REFILL_LOG_COLUMNS",
    "Kind",
    "TimelineRow",
    "build_timeline",
    "history_columns",
    "history_csv_rows",
    "kinds_in",
    "refill_log_rows",
    "when_text",
]
