"""The local record store: SQLite through sqlite-utils, append-only records, audit chain.

Open it with :meth:`Store.open`; see :mod:`itbconsole.store.schema` for the tables and
:mod:`itbconsole.store.audit` for the hash chain. Every failure a user can meet arrives as
a :class:`StoreError`; those caused by the database's file, folder or disk (read only, full,
damaged, not a database, newer schema, busy, cannot open) are
:class:`StoreUnavailableError` subclasses (all in :mod:`itbconsole.store.errors`; opening
the file is :mod:`itbconsole.store.db`). :class:`Store` is assembled in
:mod:`itbconsole.store.repository` from one class per record family (patients, pumps,
readings, refills, programs, forecasts, clinic settings).
"""

from itbconsole.store.audit import AuditProblem, AuditReport, verify_audit
from itbconsole.store.backup import BackupRefusedError, BackupResult, backup_database
from itbconsole.store.db import connect, migrate, schema_version, transaction
from itbconsole.store.errors import (
    BusyError,
    CannotOpenError,
    DamagedDatabaseError,
    DiskFullError,
    DiskIOError,
    EmptyDatabaseError,
    NewerSchemaError,
    NoDatabaseError,
    NotADatabaseError,
    ReadOnlyError,
    StoreError,
    StoreUnavailableError,
    UnknownPumpError,
    WrongPatientError,
)
from itbconsole.store.queries import PatientHistory, PatientOverview
from itbconsole.store.records import Recorded, Registration, Stamp
from itbconsole.store.repository import Store

__all__ = [
    "AuditProblem",
    "AuditReport",
    "BackupRefusedError",
    "BackupResult",
    "BusyError",
    "CannotOpenError",
    "DamagedDatabaseError",
    "DiskFullError",
    "DiskIOError",
    "EmptyDatabaseError",
    "NewerSchemaError",
    "NoDatabaseError",
    "NotADatabaseError",
    "PatientHistory",
    "PatientOverview",
    "ReadOnlyError",
    "Recorded",
    "Registration",
    "Stamp",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "UnknownPumpError",
    "WrongPatientError",
    "backup_database",
    "connect",
    "migrate",
    "schema_version",
    "transaction",
    "verify_audit",
]
