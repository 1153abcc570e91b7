"""The record store's typed API: :class:`Store`.

Why one class: the UI and the services need a single object that hides SQL, stamps every
record with its author, writes its audit entry in the same transaction, and refuses writes
that would put a pump's data on the wrong patient's record.

Its methods live with their record family, one module each; :class:`Store` combines them:

* :mod:`itbconsole.store.store_base`: open and close, audit keys, backups, transactions,
  the write helpers (stamp, audit, correct, the wrong-patient guard), generic reads;
* :mod:`itbconsole.store.patients_store`: patients, their status, screening trials;
* :mod:`itbconsole.store.pumps_store`: pumps, registrations, explants, catheter revisions;
* :mod:`itbconsole.store.readings_store`: readings and pump events from interrogations;
* :mod:`itbconsole.store.refills_store`: refills and their bridge boluses;
* :mod:`itbconsole.store.programs_store`: program changes and prepared programs;
* :mod:`itbconsole.store.forecasts_store`: the forecast cache and what a forecast rests on;
* :mod:`itbconsole.store.settings_store`: the clinic's settings.
"""

from __future__ import annotations

from itbconsole.store.errors import StoreError, UnknownPumpError, WrongPatientError
from itbconsole.store.forecasts_store import ForecastRecords
from itbconsole.store.patients_store import PatientRecords
from itbconsole.store.programs_store import OUTCOMES, PREPARED_STATUSES, ProgramRecords
from itbconsole.store.pumps_store import PumpRecords
from itbconsole.store.readings_store import ReadingRecords
from itbconsole.store.refills_store import REFILL_STATUSES, RefillRecords
from itbconsole.store.settings_store import ClinicSettingsRecords
from itbconsole.store.store_base import StoreBase

__all__ = [
    "OUTCOMES",
    "PREPARED_STATUSES",
    "REFILL_STATUSES",
    "ClinicSettingsRecords",
    "ForecastRecords",
    "PatientRecords",
    "ProgramRecords",
    "PumpRecords",
    "ReadingRecords",
    "RefillRecords",
    "Store",
    "StoreBase",
    "StoreError",
    "UnknownPumpError",
    "WrongPatientError",
]


class Store(
    PatientRecords,
    PumpRecords,
    ReadingRecords,
    RefillRecords,
    ProgramRecords,
    ForecastRecords,
    ClinicSettingsRecords,
):
    """Clinical records on one SQLite database. Open with :meth:`open`."""
